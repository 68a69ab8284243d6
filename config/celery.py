"""The Celery app. With no REDIS_URL, settings make every task run in-process (eager).

Workers and beat log like the web processes (Django's LOGGING: one JSON object a line), one line
per task run with the request id of the request that queued it; a worker keeps its metrics where
the web processes of its host read them (``core.metrics_dir``).
"""

from __future__ import annotations

import logging
import os
import time
from logging.config import dictConfig

from celery import Celery, signals
from django.conf import settings

from core.logs import log_context, log_context_end, log_context_start
from core.metrics_dir import MULTIPROC_VARIABLE, process_dead, process_group_start

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("sso")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

logger = logging.getLogger("sso.task")
_running: dict[str, tuple[object, float]] = {}


@signals.setup_logging.connect
def _logging(**kwargs) -> None:
    dictConfig(settings.LOGGING)
    logging.captureWarnings(True)  # as Django does for the web processes: warnings as JSON too


@signals.worker_init.connect
def _metrics_directory(sender=None, **kwargs) -> None:
    # Before the pool forks: its processes write their samples where /metrics reads them.
    if os.environ.get(MULTIPROC_VARIABLE):
        process_group_start(f"worker-{sender.hostname}")
    else:
        logger.warning(
            "%s is not set: this worker's metrics stay in its own processes", MULTIPROC_VARIABLE
        )


@signals.worker_process_shutdown.connect
def _metrics_process_gone(pid=None, **kwargs) -> None:
    process_dead(pid or os.getpid())


@signals.before_task_publish.connect
def _carry_request_id(headers=None, **kwargs) -> None:
    request_id = log_context().get("request_id")
    if request_id and headers is not None:
        headers.setdefault("request_id", request_id)


@signals.task_prerun.connect
def _task_started(task_id=None, task=None, **kwargs) -> None:
    request_id = (
        getattr(task.request, "request_id", None) or log_context().get("request_id") or task_id
    )
    context = log_context_start(request_id=request_id, task=task.name, task_id=task_id)
    _running[task_id] = (context, time.perf_counter())


@signals.task_postrun.connect
def _task_finished(task_id=None, task=None, state=None, **kwargs) -> None:
    context, started = _running.pop(task_id, (None, None))
    if started is not None:
        logger.info(
            "task %s %s",
            task.name,
            state,
            extra={
                "state": state,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                "retries": task.request.retries,
            },
        )
    if context is not None:
        log_context_end(context)

"""Deprovisioning through a real Redis broker and a real Celery worker (issue 7, "Tests").

Runs where ``REDIS_URL`` is set, with a database server the worker can share (the CI's second
pass: PostgreSQL and Redis). Each test starts ``celery -A config worker`` as a subprocess on a
queue of its own, against pytest-django's test database, and stops it at the end. Tests are
transactional so that what the test run writes is committed and visible to the worker.

1. A person signed in twice through SAML, with a personal OAuth token, is deactivated by SCIM:
   the worker (not the test process) ends both sessions and revokes the token; a new login is
   refused.
2. The process running the task is killed in the middle of it (SIGKILL on the pool process):
   acks_late + reject_on_worker_lost put the message back and the task completes, once.
3. The whole worker is killed mid-task (SIGKILL on its process group); a new worker picks the
   unacknowledged message up again and completes the task, once.

The task is made to block mid-way by a test-only session engine (``tests.session_backends.held``)
that the worker's settings module (``tests.worker_settings``) installs; nothing of ours is mocked.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from django.conf import settings

from audit.models import AuditEvent
from config import celery_app
from provisioning.models import Deprovisioning
from tests.processes import Process, database_url, wait_for
from tests.provisioning.deprovisioning_helpers import (
    Footprint,
    assert_deprovisioned,
    footprint,
    session_exists,
)
from tests.provisioning.scim_helpers import patch_op

REDIS_URL = os.environ.get("REDIS_URL", "")
EMAIL = "dee.parted@acme.com"
COMPLETION_SECONDS = 30
# How long the second worker of test 3 waits before it takes back a message another worker took
# and never acknowledged (see tests/worker_settings.py). Redis keeps the unacknowledged messages
# of all queues together, so that worker also hands back another run's message held that long, to
# its own queue: a redelivery, which the tasks of this project are built to take.
VISIBILITY_TIMEOUT = 3

pytestmark = [
    pytest.mark.redis("a real Celery worker on a real Redis broker"),
    pytest.mark.postgres("the worker is another process: it shares the test run's database"),
    pytest.mark.django_db(transaction=True),
]


# --- a real worker -------------------------------------------------------------------------------


def worker_command(queue: str, name: str) -> list[str]:
    return [
        sys.executable, "-m", "celery", "-A", "config", "worker",
        "--loglevel=INFO", "--pool=prefork", "--concurrency=1",
        "-Q", queue, "-n", f"{name}@%h",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip


def worker_ready(worker: Process) -> bool:
    return " ready." in worker.text()


def _forget_queue(queue: str) -> None:
    """Leave nothing of this test's queue in Redis (messages, bindings, unacknowledged ones)."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        for tag, payload in client.hscan_iter("unacked"):
            _message, exchange, routing_key = json.loads(payload)
            if queue in (exchange, routing_key):
                client.hdel("unacked", tag)
                client.zrem("unacked_index", tag)
        keys = list(client.scan_iter(match=f"{queue}*"))
        keys += list(client.scan_iter(match=f"_kombu.binding*{queue}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def queue() -> str:
    """A queue of this test's own: no other test run's worker takes its messages, nor ours
    theirs, when several runs share the Redis server."""
    name = f"deprovisioning-test-{uuid.uuid4().hex[:12]}"
    yield name
    _forget_queue(name)


@pytest.fixture
def start_worker(queue, tmp_path) -> Iterator[Callable[..., Process]]:
    workers: list[Process] = []

    def start(*, hold_dir: Path | None = None, visibility_timeout: int | None = None) -> Process:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.worker_settings",
            "DATABASE_URL": database_url(),
            "REDIS_URL": REDIS_URL,
            # The same key and origin as the test run (sessions, SCIM grant resources).
            "DJANGO_SECRET_KEY": settings.SECRET_KEY,
            "BASE_URL": settings.BASE_URL,
        }
        env.pop("DEPROVISIONING_TEST_HOLD_DIR", None)
        env.pop("DEPROVISIONING_TEST_VISIBILITY_TIMEOUT", None)
        if hold_dir is not None:
            env["DEPROVISIONING_TEST_HOLD_DIR"] = str(hold_dir)
        if visibility_timeout is not None:
            env["DEPROVISIONING_TEST_VISIBILITY_TIMEOUT"] = str(visibility_timeout)
        log = tmp_path / f"worker-{len(workers) + 1}.log"
        worker = Process(worker_command(queue, log.stem), log=log, env=env)
        workers.append(worker)
        return worker.start(worker_ready)

    yield start
    for worker in workers:
        worker.stop()


@pytest.fixture
def broker(settings, queue) -> None:
    """This test run's Celery app publishes to the broker, on the test's queue, instead of running
    tasks in-process (config/test_settings.py). The app reads its CELERY_* settings from
    django.conf.settings when it needs them; checked, so that this cannot silently stay eager."""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    assert celery_app.conf.task_always_eager is False
    assert celery_app.conf.task_default_queue == queue


# --- helpers -------------------------------------------------------------------------------------


def deactivate_by_scim(person: Footprint) -> Deprovisioning:
    status, body = person.scim.patch(
        f"Users/{person.user.scim_id}", patch_op({"op": "replace", "value": {"active": False}})
    )
    assert status == 200, body
    # In effect when the request returns, whatever the worker does.
    assert person.reload().is_active is False
    return Deprovisioning.objects.get(user=person.user)


def wait_until_completed(job: Deprovisioning, seconds: float = COMPLETION_SECONDS, log=None):
    def completed():
        job.refresh_from_db()
        return job.completed_at is not None

    wait_for(
        completed,
        seconds,
        lambda: f"deprovisioning not completed: {job.__dict__}\n" + (log() if log else ""),
    )
    return job


def held_pid(hold_dir: Path, worker: Process) -> int:
    """The pid of the process blocked in the middle of the task (the held session delete)."""
    marker = hold_dir / "held"
    wait_for(marker.exists, COMPLETION_SECONDS, lambda: f"the task never started:\n{worker.text()}")
    return int(marker.read_text())


def parent_of(pid: int) -> int:
    # /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may hold spaces, so split after ")".
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def completions() -> int:
    return AuditEvent.objects.filter(action="user.deprovisioning_completed").count()


# --- the tests -----------------------------------------------------------------------------------


def test_a_worker_ends_both_sessions_and_the_personal_token_of_a_user_deactivated_by_scim(
    acme, broker, start_worker
):
    worker = start_worker()
    person = footprint(acme, EMAIL)
    assert celery_app.conf.task_always_eager is False

    job = deactivate_by_scim(person)

    job = wait_until_completed(job, log=worker.text)
    # The worker did it, not the test process.
    assert "Task provisioning.tasks.deprovisioning_run[" in worker.text()
    assert " succeeded in " in worker.text()
    assert job.attempts == 1
    assert_deprovisioned(person)  # sessions gone, token fails, login refused, grant kept
    assert completions() == 1


def test_a_task_whose_process_is_killed_mid_way_is_redelivered_and_completes_once(
    acme, broker, start_worker, tmp_path
):
    hold_dir = tmp_path / "hold"
    hold_dir.mkdir()
    worker = start_worker(hold_dir=hold_dir)
    person = footprint(acme, EMAIL)

    job = deactivate_by_scim(person)
    pid = held_pid(hold_dir, worker)
    assert parent_of(pid) == worker.pid  # a pool process of this worker, in the middle of it
    job.refresh_from_db()
    assert (job.completed_at, job.attempts) == (None, 1)
    assert all(session_exists(key) for key in person.session_keys)

    os.kill(pid, signal.SIGKILL)

    job = wait_until_completed(job, log=worker.text)
    assert "WorkerLostError" in worker.text()
    assert job.attempts == 2  # the killed attempt, then the redelivered one
    assert completions() == 1
    assert_deprovisioned(person)


def test_a_task_whose_worker_is_killed_mid_way_is_completed_once_by_the_next_worker(
    acme, broker, start_worker, tmp_path
):
    hold_dir = tmp_path / "hold"
    hold_dir.mkdir()
    first = start_worker(hold_dir=hold_dir)
    person = footprint(acme, EMAIL)

    job = deactivate_by_scim(person)
    held_pid(hold_dir, first)
    first.kill()  # the main process and its pool: the message is never acknowledged

    job.refresh_from_db()
    assert (job.completed_at, job.attempts) == (None, 1)
    assert all(session_exists(key) for key in person.session_keys)

    second = start_worker(hold_dir=hold_dir, visibility_timeout=VISIBILITY_TIMEOUT)
    job = wait_until_completed(job, VISIBILITY_TIMEOUT + COMPLETION_SECONDS, log=second.text)
    assert "Task provisioning.tasks.deprovisioning_run[" in second.text()
    assert job.attempts == 2
    assert completions() == 1
    assert_deprovisioned(person)

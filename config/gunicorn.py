"""gunicorn settings for the Procfile's ``web`` line: ``gunicorn --config config/gunicorn.py
config.wsgi``.

- binds ``0.0.0.0:$PORT`` with ``$WEB_CONCURRENCY`` synchronous workers (the work is short and
  CPU-bound: XML signatures; about two per core);
- on SIGTERM stops accepting, lets requests in flight finish for up to 25 seconds, then exits:
  within the 30 seconds platforms wait before they kill;
- logs as the application does (one JSON object a line on stdout); the request lines come from
  Django (``core.middleware``), so gunicorn writes no access log of its own;
- loads the SAML adapter and its schema in each worker before it takes requests
  (``post_worker_init``), so no sign-in waits for them, then freezes what is loaded so the
  garbage collector's full passes no longer walk it;
- gives its workers a metrics directory of their own (``core.metrics_dir``; before any of them
  imports prometheus_client, which this file must not import) and refuses to start when the
  static files were not collected (``manage.py collectstatic``, the release step).
"""

from __future__ import annotations

import gc
import socket
import sys
from pathlib import Path

from gunicorn.glogging import Logger

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config.env import read_int  # noqa: E402 - the project root is put on the path first
from config.settings import LOGGING, STATIC_ROOT  # noqa: E402 - reads the environment only
from core.metrics_dir import process_dead, process_group_start  # noqa: E402

PORT = read_int("PORT", default=8000, minimum=1, maximum=65535)
bind = f"0.0.0.0:{PORT}"
workers = read_int("WEB_CONCURRENCY", default=2, minimum=1, maximum=64)
worker_class = "sync"
timeout = 30
graceful_timeout = 25
keepalive = 5
# Recycle workers now and then (what a slow leak would cost stays bounded); the jitter keeps
# them from restarting together. A recycled worker's counters stay in the metrics directory.
max_requests = 2000
max_requests_jitter = 200

accesslog = None
errorlog = "-"


class RequestLinesFromDjango(Logger):
    """gunicorn's logger without its access log: the request lines come from Django
    (``core.middleware.RequestLogMiddleware``). Stock ``access()`` sees ``logconfig_dict`` below
    and formats every request's line (its atoms, from the whole WSGI environ) for a logger set
    to drop it: about a tenth of a millisecond a request, for nothing."""

    def access(self, resp, req, environ, request_time) -> None:
        return None


logger_class = RequestLinesFromDjango
# The service's own logging (config.settings: JSON lines on stdout) for gunicorn's loggers too.
logconfig_dict = {
    **LOGGING,
    "loggers": {
        **LOGGING["loggers"],
        # gunicorn made these two non-propagating: they get the handler themselves.
        "gunicorn.error": {"level": "INFO", "handlers": ["stdout"], "propagate": False},
        "gunicorn.access": {"level": "WARNING", "handlers": ["stdout"], "propagate": False},
    },
}


def on_starting(server) -> None:
    process_group_start(f"web-{socket.gethostname()}-{PORT}")
    if not (Path(STATIC_ROOT) / "staticfiles.json").exists():
        server.log.error(
            "static files are not collected in %s: run `python manage.py collectstatic "
            "--noinput` (the Procfile's release step) first",
            STATIC_ROOT,
        )
        raise SystemExit(1)


def post_worker_init(worker) -> None:
    # The SAML adapter's imports and the schema, loaded before the worker takes requests rather
    # than by the first sign-in it serves (a sync worker serves on this very thread).
    from connections import saml

    saml.warm_up()
    # Everything loaded so far (Django, pysaml2, the schema: some 130,000 objects) lives as long
    # as the worker. Frozen, the garbage collector's full passes skip it: without this, one
    # request in a few hundred paid a full pass over all of it (about 60 ms on our 2-core VM).
    gc.collect()
    gc.freeze()


def child_exit(server, worker) -> None:
    process_dead(worker.pid)

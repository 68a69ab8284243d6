"""``/healthz`` (the process answers) and ``/readyz`` (the database and Redis answer, within a
short timeout). Both are served before the https redirect, the Host check and the session, so a
load balancer can probe each process by its own address over plain http."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor, wait

import redis
from django.conf import settings
from django.db import connections
from django.http import HttpRequest, HttpResponse, JsonResponse

logger = logging.getLogger("sso.health")

READY_TIMEOUT_SECONDS = 2.0
_checks = ThreadPoolExecutor(max_workers=4, thread_name_prefix="readyz")


def _database() -> None:
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
    finally:
        connections.close_all()  # this thread's own connection


def _redis() -> None:
    client = redis.Redis.from_url(
        settings.REDIS_URL,
        socket_timeout=READY_TIMEOUT_SECONDS / 2,
        socket_connect_timeout=READY_TIMEOUT_SECONDS / 2,
    )
    try:
        client.ping()
    finally:
        client.close()


def readiness() -> dict[str, str]:
    """``{"database": "ok", "redis": "ok"}``, or the reason each one is down. Redis is checked
    only where it is configured (without REDIS_URL nothing depends on it)."""
    checks = {"database": _database}
    if settings.REDIS_URL:
        checks["redis"] = _redis
    futures = {name: _checks.submit(check) for name, check in checks.items()}
    wait(futures.values(), timeout=READY_TIMEOUT_SECONDS)
    results = {}
    for name, future in futures.items():
        if not future.done():
            results[name] = f"no answer within {READY_TIMEOUT_SECONDS:g}s"
        elif future.exception() is not None:
            results[name] = f"down: {type(future.exception()).__name__}"
        else:
            results[name] = "ok"
    return results


class HealthCheckMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path == "/healthz":
            return JsonResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})
        if request.path == "/readyz":
            checks = readiness()
            down = sorted(name for name, result in checks.items() if result != "ok")
            if down:
                logger.warning("not ready: %s", ", ".join(down), extra={"checks": checks})
                body = {"status": "unavailable", "down": down, "checks": checks}
                return JsonResponse(body, status=503, headers={"Cache-Control": "no-store"})
            body = {"status": "ok", "checks": checks}
            return JsonResponse(body, headers={"Cache-Control": "no-store"})
        return self.get_response(request)

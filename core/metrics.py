"""The service's Prometheus metrics, and ``/metrics`` for ``Authorization: Bearer $METRICS_TOKEN``.

Counters live in each process; under gunicorn and Celery they are kept in files
(``core.metrics_dir``) and every scrape, whichever web process answers it, adds up the files
of all of them. Metrics that describe data rather than work (a certificate's expiry) are read
from the database at scrape time by collectors the apps register (``collector_register``).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector

from core.metrics_dir import sample_files

SSO_LOGINS = Counter(
    "sso_logins",
    "SAML sign-ins by connection and result: ok, or the error code of the refusal.",
    ["connection", "result"],
)
SCIM_REQUESTS = Counter(
    "scim_requests", "SCIM requests by method and response status.", ["method", "status"]
)
DEPROVISIONINGS = Counter(
    "deprovisionings",
    "Deprovisioning task runs by outcome: completed, retried (a transient failure) or failed.",
    ["outcome"],
)
HTTP_REQUESTS = Counter(
    "http_requests", "HTTP requests by method, view and status.", ["method", "view", "status"]
)
HTTP_REQUEST_DURATION = Histogram(
    "http_request_duration_seconds",
    "Time from receiving a request to handing back the response, by method and view.",
    ["method", "view"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

_collectors: list[Callable[[], Iterable[Metric]]] = []


def collector_register(collect: Callable[[], Iterable[Metric]]) -> None:
    if collect not in _collectors:
        _collectors.append(collect)


class _Scrape:
    def collect(self) -> Iterable[Metric]:
        files = sample_files()
        if files is None:
            yield from REGISTRY.collect()
        else:
            yield from MultiProcessCollector.merge(files, accumulate=True)
        for collect in _collectors:
            yield from collect()


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "replace")).digest()


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    token = settings.METRICS_TOKEN
    if not token:
        raise Http404("No metrics here.")
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    # Digests of equal length, compared in constant time: the answer says nothing about how
    # much of a guess was right, nor how long the token is.
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        _digest(presented.strip()), _digest(token)
    ):
        response = HttpResponse(
            "A valid bearer token is required.\n", status=401, content_type="text/plain"
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Scrape())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

"""Connection metrics read from the database at each scrape (the same for every process)."""

from __future__ import annotations

from collections.abc import Iterable

from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

from connections.selectors import certificate_last_expiries
from core.logs import log_context_update
from core.metrics import SSO_LOGINS


def signing_certificate_expiry() -> Iterable[GaugeMetricFamily]:
    gauge = GaugeMetricFamily(
        "signing_certificate_expiry_days",
        "Days until the last signing certificate of each enabled connection expires "
        "(negative once it has).",
        labels=["connection"],
    )
    now = timezone.now()
    for name, expires in certificate_last_expiries():
        gauge.add_metric([name], round((expires - now).total_seconds() / 86400, 3))
    yield gauge


def sign_in_observe(*, connection_name: str, result: str) -> None:
    """A sign-in ended: ``ok`` or the error code. Counted per connection (only connections that
    exist: an unknown name is the caller's text and would make labels unbounded) and added to
    the request's log line."""
    SSO_LOGINS.labels(connection_name, result).inc()
    log_context_update(connection=connection_name, error_code="" if result == "ok" else result)

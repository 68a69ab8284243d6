from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from audit.models import AuditEvent, RefusalTally, Severity
from core.compiled import insert_row


def audit_record(
    *,
    action: str,
    company: Any = None,
    connection: Any = None,
    actor: Any = None,
    actor_label: str = "",
    target: str = "",
    details: dict[str, Any] | None = None,
    severity: str = Severity.INFO,
    error_code: str = "",
    read_key: bool = True,
) -> AuditEvent:
    """Write one audit event. Callers run it inside their own transaction so the event and the
    change it describes commit (or roll back) together. With ``read_key=False`` the event's id
    is not read back (it stays unset), so the write can be one of
    ``core.batched_writes.writes_batched()``."""
    # The connection's company by its id: the company row need not be read for this.
    company_id = company.pk if company is not None else getattr(connection, "company_id", None)
    if actor is not None and not actor.is_authenticated:
        actor = None
    if not actor_label:
        actor_label = actor.email if actor is not None else "system"
    # Written on every sign-in: the INSERT compiled once per process (core.compiled).
    event = AuditEvent(
        action=action,
        company_id=company_id,
        connection=connection,
        actor=actor,
        actor_label=actor_label,
        target=str(target)[:255],
        details=details or {},
        severity=severity,
        error_code=error_code,
    )
    return insert_row(event, read_key=read_key)


#: Distinct names tallied one by one per day; beyond, they share the "other names" row.
TALLY_NAMES_PER_DAY = 500
TALLY_RETENTION_DAYS = 30


def refusal_tally(*, code: str, endpoint: str, name: str) -> None:
    """Count one refused request that named something unknown (see ``RefusalTally``)."""
    now = timezone.now()
    day = now.date()
    name_hash = hashlib.sha256(name.encode("utf-8", "replace")).hexdigest()[:16]
    label = name[:63]
    if _tally_bump(day, code, endpoint, name_hash, now):
        return
    if RefusalTally.objects.filter(day=day).exclude(name_hash="").count() >= TALLY_NAMES_PER_DAY:
        name_hash, label = "", RefusalTally.OTHER_NAMES
        if _tally_bump(day, code, endpoint, name_hash, now):
            return
    try:
        with transaction.atomic():
            RefusalTally.objects.create(
                day=day, code=code, endpoint=endpoint, name_hash=name_hash, name=label, count=1,
                first_seen=now, last_seen=now,
            )  # fmt: skip
    except IntegrityError:  # another request created the row first
        _tally_bump(day, code, endpoint, name_hash, now)


def _tally_bump(day, code: str, endpoint: str, name_hash: str, now) -> bool:
    return bool(
        RefusalTally.objects.filter(
            day=day, code=code, endpoint=endpoint, name_hash=name_hash
        ).update(count=F("count") + 1, last_seen=now)
    )


def refusal_tallies_purge() -> int:
    """Forget tallies older than ``TALLY_RETENTION_DAYS``."""
    cutoff = timezone.now().date() - timedelta(days=TALLY_RETENTION_DAYS)
    return RefusalTally.objects.filter(day__lt=cutoff).delete()[0]

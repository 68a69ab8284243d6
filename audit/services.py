from __future__ import annotations

from typing import Any

from audit.models import AuditEvent, Severity


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
) -> AuditEvent:
    """Write one audit event. Callers run it inside their own transaction so the event and the
    change it describes commit (or roll back) together."""
    if connection is not None and company is None:
        company = connection.company
    if actor is not None and not actor.is_authenticated:
        actor = None
    if not actor_label:
        actor_label = actor.email if actor is not None else "system"
    return AuditEvent.objects.create(
        action=action,
        company=company,
        connection=connection,
        actor=actor,
        actor_label=actor_label,
        target=str(target)[:255],
        details=details or {},
        severity=severity,
        error_code=error_code,
    )

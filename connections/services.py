"""Writes for connections and their certificates. Validated, atomic, audited."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import Company, Team, User
from audit.models import AuditEvent, Severity
from audit.services import audit_record, refusal_tallies_purge
from connections.certificates import parse_certificate
from connections.models import (
    Connection,
    ConnectionStatus,
    PendingAuthnRequest,
    PendingLogoutRequest,
    Provisioning,
    SeenAssertion,
    SeenLogoutMessage,
    SigningCertificate,
    SpKeyUse,
    VerifiedSignIn,
)
from connections.selectors import certificate_describe, certificates_expiring
from connections.sp_keys import sp_key_ensure
from core.exceptions import Conflict, ValidationFailed
from core.persistence import apply_changes, save_or_conflict, validated


@transaction.atomic
def connection_create(
    *,
    company: Company,
    name: str,
    sign_on_url: str,
    certificate_data: bytes | str | None,
    idp_entity_id: str = "",
    provisioning: str = Provisioning.JIT,
    default_team: Team | None = None,
    allow_idp_initiated: bool = True,
    status: str = ConnectionStatus.ACTIVE,
    attribute_mapping: dict[str, str] | None = None,
    acting_user: User | None = None,
    actor_label: str = "",
) -> Connection:
    """A connection. A draft may start with its name alone (``sign_on_url=""``,
    ``certificate_data=None``): the customer's admin completes it through a setup link."""
    if certificate_data is None and status != ConnectionStatus.DRAFT:
        raise ValidationFailed(
            "A signing certificate is required unless the connection is a draft."
        )
    parsed = parse_certificate(certificate_data) if certificate_data is not None else None
    connection = Connection(
        company=company,
        name=name,
        sign_on_url=sign_on_url.strip(),
        idp_entity_id=idp_entity_id.strip(),
        provisioning=provisioning,
        default_team=default_team,
        allow_idp_initiated=allow_idp_initiated,
        status=status,
        attribute_mapping=attribute_mapping or {},
    )
    # Uniqueness is left to the database so that a taken name is a Conflict (409), not a
    # validation message, and so that two concurrent creates cannot both pass a check.
    validated(connection, validate_unique=False)
    save_or_conflict(connection, f"A connection named '{name}' already exists.")
    details = {
        "sign_on_url": connection.sign_on_url,
        "idp_entity_id": connection.idp_entity_id,
        "provisioning": connection.provisioning,
        "status": connection.status,
    }
    if parsed is not None:
        certificate = store_certificate(connection, parsed)
        details["certificate_sha256"] = certificate.fingerprint_sha256
        details["certificate_expires"] = certificate.not_after.isoformat()
    audit_record(
        action="connection.created",
        connection=connection,
        actor=acting_user,
        actor_label=actor_label,
        target=connection.name,
        details=details,
    )
    return connection


def store_certificate(connection: Connection, parsed: Any) -> SigningCertificate:
    """Save a parsed certificate on the connection (the caller audits and locks)."""
    certificate = SigningCertificate(
        connection=connection,
        pem=parsed.pem,
        fingerprint_sha256=parsed.fingerprint_sha256,
        subject=parsed.subject[:500],
        not_before=parsed.not_before,
        not_after=parsed.not_after,
    )
    validated(certificate)
    certificate.save()
    return certificate


def _touch(connection: Connection) -> None:
    """Bump ``updated_at``: the cached SAML configuration of the connection keys on it."""
    connection.updated_at = timezone.now()
    connection.save(update_fields=["updated_at"])


@transaction.atomic
def connection_add_certificate(
    *,
    connection: Connection,
    certificate_data: bytes | str,
    acting_user: User | None = None,
    actor_label: str = "",
) -> SigningCertificate:
    """Trust one more certificate (a rotation): the old ones stay until removed."""
    parsed = parse_certificate(certificate_data)
    connection = Connection.objects.select_for_update().get(pk=connection.pk)
    if connection.certificates.filter(fingerprint_sha256=parsed.fingerprint_sha256).exists():
        raise Conflict("This certificate is already on the connection.")
    certificate = store_certificate(connection, parsed)
    _touch(connection)
    audit_record(
        action="connection.certificate_added",
        connection=connection,
        actor=acting_user,
        actor_label=actor_label,
        target=connection.name,
        details={
            "certificate_sha256": certificate.fingerprint_sha256,
            "certificate_expires": certificate.not_after.isoformat(),
        },
    )
    return certificate


@transaction.atomic
def connection_remove_certificate(
    *, certificate: SigningCertificate, acting_user: User | None = None, actor_label: str = ""
) -> None:
    connection = Connection.objects.select_for_update().get(pk=certificate.connection_id)
    if connection.certificates.count() <= 1:
        raise ValidationFailed("A connection keeps at least one signing certificate.")
    fingerprint = certificate.fingerprint_sha256
    certificate.delete()
    _touch(connection)
    audit_record(
        action="connection.certificate_removed",
        connection=connection,
        actor=acting_user,
        actor_label=actor_label,
        target=connection.name,
        details={"certificate_sha256": fingerprint},
    )


@transaction.atomic
def connection_set_status(
    *, connection: Connection, status: str, acting_user: User | None = None, actor_label: str = ""
) -> Connection:
    """Enable, disable or return to draft. Returns early when nothing changes."""
    if status not in ConnectionStatus.values:
        raise ValidationFailed(f"Unknown status '{status}'.")
    connection = Connection.objects.select_for_update().get(pk=connection.pk)
    if connection.status == status:
        return connection
    if status != ConnectionStatus.DRAFT:
        require_configured(connection)
    previous = connection.status
    connection.status = status
    connection.updated_at = timezone.now()
    connection.save(update_fields=["status", "updated_at"])
    audit_record(
        action="connection.status_changed",
        connection=connection,
        actor=acting_user,
        actor_label=actor_label,
        target=connection.name,
        details={"from": previous, "to": status},
    )
    return connection


_EDITABLE_FIELDS = (
    "sign_on_url",
    "idp_entity_id",
    "provisioning",
    "default_team",
    "allow_idp_initiated",
    "status",
    "attribute_mapping",
    "metadata_url",  # only cleared here (refreshes stop); a URL is set by importing from it
    "sign_requests",
    "require_encryption",
    "slo_url",
)


@transaction.atomic
def connection_update(
    *,
    connection: Connection,
    acting_user: User | None = None,
    actor_label: str = "",
    **changes: Any,
) -> Connection:
    """Change editable fields; the audit event lists each field's old and new value."""
    unknown = set(changes) - set(_EDITABLE_FIELDS)
    if unknown:
        raise ValidationFailed(f"These fields cannot be changed: {', '.join(sorted(unknown))}.")
    if changes.get("metadata_url"):
        raise ValidationFailed("A metadata URL is set by importing the metadata from it.")
    connection = Connection.objects.select_for_update().get(pk=connection.pk)
    diff = apply_changes(connection, changes)
    if not diff:
        return connection
    validated(connection)
    if connection.status != ConnectionStatus.DRAFT:
        require_configured(connection)
    connection.updated_at = timezone.now()
    connection.save()
    # What the new choices need is made in the same transaction, or nothing changes (no key
    # encryption key configured, say): signing needs the SP signing key, and an IdP told to
    # encrypt needs the encryption certificate (every connection has one once it is needed).
    for use, needed in (
        (SpKeyUse.SIGNING, connection.sign_requests),
        (SpKeyUse.ENCRYPTION, connection.require_encryption),
    ):
        if needed:
            sp_key_ensure(
                connection=connection, use=use, acting_user=acting_user, actor_label=actor_label
            )
    audit_record(
        action="connection.updated",
        connection=connection,
        actor=acting_user,
        actor_label=actor_label,
        target=connection.name,
        details={"changes": diff},
    )
    return connection


def require_configured(connection: Connection) -> None:
    """Only a draft may lack its IdP side (sign-on URL and a signing certificate)."""
    if not connection.is_configured:
        raise ValidationFailed(
            f"{connection.name} cannot be enabled before its IdP is configured: it needs the "
            "IdP's sign-on URL and signing certificate (or its metadata)."
        )


EXPIRY_WARNING_DAYS = (30, 7)


def certificates_expiry_warn() -> int:
    """A warning event for each certificate that crosses 30, then 7 days before expiry (the same
    selection as ``connection check-certs``); each threshold is reported once per certificate."""
    written = 0
    for certificate in certificates_expiring(within_days=max(EXPIRY_WARNING_DAYS)):
        info = certificate_describe(certificate)
        threshold = min(days for days in EXPIRY_WARNING_DAYS if info["days_left"] <= days)
        already = AuditEvent.objects.filter(
            action="connection.certificate_expiring",
            connection=certificate.connection,
            details__fingerprint_sha256=certificate.fingerprint_sha256,
            details__threshold_days=threshold,
        ).exists()
        if already:
            continue
        audit_record(
            action="connection.certificate_expiring",
            connection=certificate.connection,
            actor_label="system",
            target=certificate.connection.name,
            severity=Severity.WARNING,
            details={
                "fingerprint_sha256": certificate.fingerprint_sha256,
                "not_after": info["not_after"],
                "days_left": info["days_left"],
                "threshold_days": threshold,
            },
        )
        written += 1
    return written


def saml_state_purge() -> int:
    """Forget expired sign-ins and logouts in flight and replay entries (lookups ignore them
    already), and old tallies of requests for unknown connections."""
    now = timezone.now()
    # A verified sign-in is kept (its assertion ID: replay) until its assertion expires; what
    # the IdP said is dropped as soon as it can no longer be finished.
    VerifiedSignIn.objects.filter(expires_at__lte=now).update(identity={}, token_hash=None)
    return (
        refusal_tallies_purge()
        + VerifiedSignIn.objects.filter(remember_until__lte=now).delete()[0]
        + sum(
            model.objects.filter(expires_at__lte=now).delete()[0]
            for model in (
                PendingAuthnRequest,
                SeenAssertion,
                PendingLogoutRequest,
                SeenLogoutMessage,
            )
        )
    )

"""Writes that take an IdP's metadata onto a connection: import (file, pasted XML or URL) and the
refresh from the URL (daily, by command, from the admin). Validated, atomic, audited.

What a refresh does, in one transaction: a certificate new in the metadata is trusted at once, a
certificate that left the metadata is dropped (never the last one), a changed sign-on URL or
entity ID is applied; every change is its own audit event. A refresh that fails (unreachable, not
metadata) changes nothing but the failure record on the connection, which the admin shows; the
third failure in a row writes a warning event, as an expiring certificate does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import Company, Team, User
from audit.models import Severity
from audit.services import audit_record
from connections.idp_metadata import IdpMetadata, parse_idp_metadata
from connections.metadata_fetch import fetch_metadata
from connections.models import Connection, ConnectionStatus, Provisioning, SigningCertificate
from connections.services import connection_create, store_certificate
from core.exceptions import ApplicationError, ValidationFailed
from core.persistence import apply_changes, validated

# Failures in a row after which a refresh failure is a warning for support.
FAILURES_BEFORE_WARNING = 3


def is_url(source: str) -> bool:
    return source.strip().lower().startswith(("https://", "http://"))


def metadata_from_url(url: str, *, entity_id: str | None = None) -> IdpMetadata:
    return parse_idp_metadata(fetch_metadata(url), entity_id=entity_id)


@dataclass
class MetadataChanges:
    """What an import or refresh changed, for the command's output and the admin's message."""

    fields: dict[str, dict] = field(default_factory=dict)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def any(self) -> bool:
        return bool(self.fields or self.added or self.removed)

    def lines(self) -> list[str]:
        lines = [
            f"{name}: {change['from'] or '-'} -> {change['to'] or '-'}"
            for name, change in self.fields.items()
        ]
        lines += [f"certificate trusted: {fingerprint}" for fingerprint in self.added]
        lines += [f"certificate dropped (no longer in the metadata): {fp}" for fp in self.removed]
        lines += [f"certificate left out: {reason}" for reason in self.skipped]
        return lines


@transaction.atomic
def connection_create_from_metadata(
    *,
    company: Company,
    name: str,
    metadata: IdpMetadata,
    metadata_url: str = "",
    provisioning: str = Provisioning.JIT,
    default_team: Team | None = None,
    allow_idp_initiated: bool = True,
    status: str = ConnectionStatus.ACTIVE,
    acting_user: User | None = None,
    actor_label: str = "",
) -> Connection:
    """A connection whose issuer, sign-on URL and certificates come from the IdP's metadata."""
    first, *others = metadata.certificates
    connection = connection_create(
        company=company,
        name=name,
        sign_on_url=metadata.sign_on_url,
        certificate_data=first.pem,
        idp_entity_id=metadata.entity_id,
        provisioning=provisioning,
        default_team=default_team,
        allow_idp_initiated=allow_idp_initiated,
        status=status,
        acting_user=acting_user,
        actor_label=actor_label,
    )
    for parsed in others:
        _trust(connection, parsed, source="metadata", actor=(acting_user, actor_label))
    taken_after = {}
    if metadata.slo_url:
        taken_after["slo_url"] = metadata.slo_url
    if metadata_url:
        taken_after.update(metadata_url=metadata_url, metadata_refreshed_at=timezone.now())
    if taken_after:
        for field, value in taken_after.items():
            setattr(connection, field, value)
        validated(connection)
        connection.save(update_fields=list(taken_after))
    audit_record(
        action="connection.metadata_imported",
        connection=connection,
        actor=acting_user,
        actor_label=actor_label,
        target=connection.name,
        details={"source": metadata_url or "file", **_summary(metadata)},
    )
    return connection


@transaction.atomic
def connection_apply_metadata(
    *,
    connection: Connection,
    metadata: IdpMetadata,
    metadata_url: str | None,
    source: str,
    acting_user: User | None = None,
    actor_label: str = "",
) -> MetadataChanges:
    """Make the connection's IdP side what the metadata says.

    ``metadata_url``: the URL it came from (kept for refreshes), ``""`` for a file (refreshes
    stop: the file overrides the URL), ``None`` to leave the URL as it is. ``source`` says on
    each audit event where the change came from ("import", "refresh", "setup link").
    """
    connection = Connection.objects.select_for_update().get(pk=connection.pk)
    actor = (acting_user, actor_label)
    requested = {"idp_entity_id": metadata.entity_id, "sign_on_url": metadata.sign_on_url}
    if metadata.slo_url:
        # Metadata without a logout endpoint leaves the connection's as it is: support may have
        # set one by hand, and an IdP's metadata often omits it until logout is switched on.
        requested["slo_url"] = metadata.slo_url
    if metadata_url is not None:
        requested["metadata_url"] = metadata_url
    changes = MetadataChanges(skipped=list(metadata.skipped_certificates))
    changes.fields = apply_changes(connection, requested)
    validated(connection)

    existing = {c.fingerprint_sha256: c for c in connection.certificates.all()}
    wanted = {c.fingerprint_sha256: c for c in metadata.certificates}
    for fingerprint, parsed in wanted.items():
        if fingerprint not in existing:
            _trust(connection, parsed, source=source, actor=actor)
            changes.added.append(fingerprint)
    for fingerprint, certificate in existing.items():
        # ``wanted`` is never empty (the parser refuses metadata without a usable certificate),
        # so the certificates just trusted remain: the last one is never dropped.
        if fingerprint not in wanted and connection.certificates.count() > 1:
            certificate.delete()
            changes.removed.append(fingerprint)
            _audit(connection, "connection.certificate_removed", actor, source=source,
                   certificate_sha256=fingerprint, reason="no longer in the IdP's metadata")  # fmt: skip

    now = timezone.now()
    if changes.any:
        connection.updated_at = now  # the cached SAML configuration keys on it
    if connection.metadata_url:
        connection.metadata_refreshed_at = now
    connection.metadata_failures = 0
    connection.metadata_last_error = ""
    connection.save()
    if changes.fields:
        _audit(connection, "connection.updated", actor, source=source, changes=changes.fields)
    if source != "refresh" or changes.any:
        _audit(connection, "connection.metadata_imported", actor, source=source,
               url=connection.metadata_url, changed=changes.lines(), **_summary(metadata))  # fmt: skip
    return changes


def connection_refresh_metadata(
    *, connection: Connection, acting_user: User | None = None, actor_label: str = "system"
) -> MetadataChanges:
    """Fetch the connection's metadata URL again and apply it. A failure is recorded on the
    connection (and raised); it changes nothing else."""
    if not connection.metadata_url:
        raise ValidationFailed(
            f"{connection.name} was not imported from a metadata URL, so there is nothing to "
            "refresh from; import the metadata from its URL first."
        )
    try:
        metadata = parse_idp_metadata(
            fetch_metadata(connection.metadata_url), prefer_entity_id=connection.idp_entity_id
        )
        return connection_apply_metadata(
            connection=connection,
            metadata=metadata,
            metadata_url=None,
            source="refresh",
            acting_user=acting_user,
            actor_label=actor_label,
        )
    except ApplicationError as error:
        _record_failure(connection, error, (acting_user, actor_label))
        raise


@transaction.atomic
def _record_failure(connection: Connection, error: ApplicationError, actor) -> None:
    Connection.objects.filter(pk=connection.pk).update(
        metadata_failures=F("metadata_failures") + 1,
        metadata_last_error=error.message[:2000],
    )
    connection.refresh_from_db(fields=["metadata_failures", "metadata_last_error"])
    details = {"url": connection.metadata_url, "error": error.message,
               "failures_in_a_row": connection.metadata_failures}  # fmt: skip
    _audit(
        connection, "connection.metadata_refresh_failed", actor, error_code=error.code, **details
    )
    if connection.metadata_failures == FAILURES_BEFORE_WARNING:
        _audit(connection, "connection.metadata_refresh_failing", actor,
               severity=Severity.WARNING, error_code=error.code, **details)  # fmt: skip


def metadata_refresh_due() -> list[int]:
    """Connections to refresh daily: imported from a URL and not disabled."""
    return list(
        Connection.objects.exclude(metadata_url="")
        .exclude(status=ConnectionStatus.DISABLED)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _trust(connection: Connection, parsed, *, source: str, actor) -> SigningCertificate:
    certificate = store_certificate(connection, parsed)
    _audit(connection, "connection.certificate_added", actor, source=source,
           certificate_sha256=certificate.fingerprint_sha256,
           certificate_expires=certificate.not_after.isoformat())  # fmt: skip
    return certificate


def _audit(connection, action, actor, *, severity=Severity.INFO, error_code="", **details) -> None:
    acting_user, actor_label = actor
    audit_record(
        action=action,
        connection=connection,
        actor=acting_user,
        actor_label=actor_label,
        target=connection.name,
        severity=severity,
        error_code=error_code,
        details=details,
    )


def _summary(metadata: IdpMetadata) -> dict:
    return {
        "entity_id": metadata.entity_id,
        "sign_on_url": metadata.sign_on_url,
        "slo_url": metadata.slo_url,
        "certificates": [c.fingerprint_sha256 for c in metadata.certificates],
    }

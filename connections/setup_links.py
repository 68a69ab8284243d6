"""Self-serve setup links: support starts a draft connection, sends a link, and the customer's IT
admin completes the IdP side, tests a sign-in and activates the connection, without an account.

The link carries a 256-bit random token; only its SHA-256 is stored, so neither the database nor
the admin ever shows it again. A link reaches exactly one connection (everything below takes the
connection from the link, never from the request), and every step through it is an audit event
whose actor is "setup link #<id>".
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import Team, User
from audit.services import audit_record
from connections.certificates import parse_certificate
from connections.idp_metadata import IdpMetadata
from connections.metadata import connection_apply_metadata
from connections.models import Connection, ConnectionStatus, SetupLink
from connections.services import (
    connection_add_certificate,
    connection_remove_certificate,
    connection_set_status,
    connection_update,
)
from connections.sign_in import secret_hash
from core.exceptions import ApplicationError, NotFound, ValidationFailed

DEFAULT_DAYS = 7
MAX_DAYS = 30
TOKEN_BYTES = 32  # 256 bits: guessing is hopeless, with or without rate limits

_REASONS = {
    "expired": "This setup link has expired. Ask your contact at support for a new one.",
    "revoked": "This setup link was revoked. Ask your contact at support for a new one.",
    "used": "This setup link has done its job: the connection is active. Nothing more to do here.",
}


class SetupLinkInvalid(ApplicationError):
    code = "setup_link_invalid"
    http_status = 404


@dataclass(frozen=True)
class IssuedLink:
    link: SetupLink
    url: str


def link_actor_label(link: SetupLink) -> str:
    return f"setup link #{link.pk}"


@transaction.atomic
def setup_link_issue(
    *,
    connection: Connection,
    days: int = DEFAULT_DAYS,
    acting_user: User | None = None,
    actor_label: str = "",
) -> IssuedLink:
    """A new link for a draft connection; any earlier live link of it is revoked (one at a time)."""
    if not 1 <= days <= MAX_DAYS:
        raise ValidationFailed(f"A setup link lasts 1 to {MAX_DAYS} days; {days} was asked.")
    connection = Connection.objects.select_for_update().get(pk=connection.pk)
    if connection.status != ConnectionStatus.DRAFT:
        raise ValidationFailed(
            f"{connection.name} is {connection.status}; setup links are for draft connections."
        )
    _revoke_live(connection, acting_user, actor_label, reason="replaced by a new link")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = timezone.now()
    link = SetupLink.objects.create(
        connection=connection,
        token_hash=secret_hash(token),
        created_at=now,
        expires_at=now + timedelta(days=days),
        created_by=acting_user
        if acting_user is not None and acting_user.is_authenticated
        else None,
        created_by_label=actor_label or (acting_user.email if acting_user else "system"),
    )
    audit_record(
        action="connection.setup_link_issued",
        connection=connection,
        actor=acting_user,
        actor_label=actor_label,
        target=connection.name,
        details={"link": link.pk, "expires_at": link.expires_at.isoformat(), "days": days},
    )
    url = f"{settings.BASE_URL}{reverse('setup-open', args=[token])}"
    return IssuedLink(link=link, url=url)


@transaction.atomic
def setup_link_revoke(
    *, connection: Connection, acting_user: User | None = None, actor_label: str = ""
) -> int:
    """Revoke the connection's live links; returns how many."""
    connection = Connection.objects.select_for_update().get(pk=connection.pk)
    return _revoke_live(connection, acting_user, actor_label, reason="revoked")


def _revoke_live(connection: Connection, acting_user, label: str, *, reason: str) -> int:
    now = timezone.now()
    live = list(
        connection.setup_links.filter(
            revoked_at__isnull=True, used_at__isnull=True, expires_at__gt=now
        )
    )
    for link in live:
        link.revoked_at = now
        link.save(update_fields=["revoked_at"])
        audit_record(
            action="connection.setup_link_revoked",
            connection=connection,
            actor=acting_user,
            actor_label=label,
            target=connection.name,
            details={"link": link.pk, "reason": reason},
        )
    return len(live)


def setup_link_from_token(token: str) -> SetupLink:
    """The live link a token opens, or ``SetupLinkInvalid`` (one message for unknown tokens)."""
    if not token or len(token) > 100:
        raise SetupLinkInvalid("This setup link is not valid. Check that it was copied whole.")
    digest = secret_hash(token)
    link = SetupLink.objects.select_related("connection__company").filter(token_hash=digest).first()
    if link is None or not hmac.compare_digest(link.token_hash, digest):
        raise SetupLinkInvalid("This setup link is not valid. Check that it was copied whole.")
    return setup_link_check(link)


def setup_link_get(link_id: int | None) -> SetupLink:
    """The live link a browser's session holds (after it opened the link), or refuse."""
    link = (
        SetupLink.objects.select_related("connection__company", "connection__default_team")
        .filter(pk=link_id)
        .first()
        if link_id
        else None
    )
    if link is None:
        raise SetupLinkInvalid("Open the setup link you were sent to continue.")
    return setup_link_check(link)


def setup_link_check(link: SetupLink) -> SetupLink:
    state = link.state
    if state != "live":
        raise SetupLinkInvalid(_REASONS[state], http_status=410, extra={"state": state})
    return link


def setup_link_opened(*, link: SetupLink) -> None:
    _audit(link, "connection.setup_link_opened")


@transaction.atomic
def setup_link_configure(
    *,
    link: SetupLink,
    metadata: IdpMetadata | None,
    metadata_url: str = "",
    sign_on_url: str = "",
    certificate_data: bytes | None = None,
    provisioning: str,
    default_team: Team | None,
) -> SetupLink:
    """Save what the customer's admin entered: the IdP side (metadata, or a sign-on URL and a
    certificate) and the provisioning choices. Any earlier test no longer counts."""
    link = SetupLink.objects.select_for_update().select_related("connection").get(pk=link.pk)
    setup_link_check(link)
    connection = link.connection
    label = link_actor_label(link)
    if default_team is not None and default_team.company_id != connection.company_id:
        raise NotFound("No such team.")  # the form offers only the company's teams
    if metadata is not None:
        connection_apply_metadata(connection=connection, metadata=metadata,
                                  metadata_url=metadata_url, source="setup link",
                                  actor_label=label)  # fmt: skip
    elif certificate_data is not None:
        connection_update(connection=connection, actor_label=label, sign_on_url=sign_on_url,
                          idp_entity_id="", metadata_url="")  # fmt: skip
        fingerprint = parse_certificate(certificate_data).fingerprint_sha256
        if not connection.certificates.filter(fingerprint_sha256=fingerprint).exists():
            connection_add_certificate(
                connection=connection, certificate_data=certificate_data, actor_label=label
            )
        # A draft being set up, not a rotation: the certificate given is the one trusted.
        for other in connection.certificates.exclude(fingerprint_sha256=fingerprint):
            connection_remove_certificate(certificate=other, actor_label=label)
    connection.refresh_from_db()
    connection_update(connection=connection, actor_label=label, provisioning=provisioning,
                      default_team=default_team)  # fmt: skip
    idp_changed = metadata is not None or certificate_data is not None
    if idp_changed:
        link.configured_at = timezone.now()
        link.save(update_fields=["configured_at"])
    _audit(link, "connection.setup_link_configured", idp_changed=idp_changed,
           provisioning=provisioning, default_team=default_team.name if default_team else None)  # fmt: skip
    return link


def setup_link_test_started(*, link: SetupLink) -> None:
    _audit(link, "connection.setup_link_test_started")


def setup_link_record_test(*, link: SetupLink, report: dict) -> None:
    """A test sign-in through the link reached us and passed every SAML check."""
    SetupLink.objects.filter(pk=link.pk).update(tested_at=timezone.now(), last_test=report)
    _audit(link, "connection.setup_link_tested", outcome=report.get("outcome", ""),
           error_code=report.get("error_code", ""))  # fmt: skip


@transaction.atomic
def setup_link_activate(*, link: SetupLink) -> Connection:
    link = SetupLink.objects.select_for_update().select_related("connection").get(pk=link.pk)
    setup_link_check(link)
    if not link.connection.is_configured:
        raise ValidationFailed("Enter your identity provider's details first (step 2).")
    if link.tested_at is None or (link.configured_at and link.tested_at < link.configured_at):
        raise ValidationFailed(
            "Run a test sign-in after your last change first (step 3): it proves that your "
            "identity provider and this connection trust each other."
        )
    connection = connection_set_status(
        connection=link.connection,
        status=ConnectionStatus.ACTIVE,
        actor_label=link_actor_label(link),
    )
    link.used_at = timezone.now()
    link.save(update_fields=["used_at"])
    _audit(link, "connection.setup_link_used")
    return connection


def _audit(link: SetupLink, action: str, **details) -> None:
    audit_record(
        action=action,
        connection=link.connection,
        actor_label=link_actor_label(link),
        target=link.connection.name,
        details={"link": link.pk, **details},
    )

"""SCIM bearer tokens: issued once, stored as a hash, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from audit.services import audit_record
from connections.models import Connection
from core.exceptions import NotFound
from provisioning.models import ScimToken

TOKEN_PREFIX = "scim_"


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


@transaction.atomic
def scim_token_issue(
    *,
    connection: Connection,
    label: str = "",
    acting_user: User | None = None,
    actor_label: str = "",
) -> tuple[ScimToken, str]:
    """Returns the token row and the token itself, which is never stored and never shown again."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ScimToken.objects.create(
        connection=connection,
        label=label.strip()[:100],
        token_hash=_hash(raw),
        prefix=raw[:12],
        created_by=acting_user if acting_user and acting_user.is_authenticated else None,
    )
    audit_record(
        action="scim_token.issued",
        connection=connection,
        actor=acting_user,
        actor_label=actor_label,
        target=token.prefix,
        details={"token_id": token.pk, "label": token.label},
    )
    return token, raw


@transaction.atomic
def scim_token_revoke(
    *, token_id: int, acting_user: User | None = None, actor_label: str = ""
) -> ScimToken:
    token = (
        ScimToken.objects.select_for_update()
        .select_related("connection")
        .filter(pk=token_id)
        .first()
    )
    if token is None:
        raise NotFound(f"No SCIM token has the id {token_id}.")
    if token.revoked_at is not None:
        return token
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    audit_record(
        action="scim_token.revoked",
        connection=token.connection,
        actor=acting_user,
        actor_label=actor_label,
        target=token.prefix,
        details={"token_id": token.pk},
    )
    return token


def scim_token_find(raw: str) -> ScimToken | None:
    """The active token ``raw`` names, or None. The lookup is by hash (an index), and the hash is
    compared again in constant time so timing says nothing about how close a guess was."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 100:
        return None
    digest = _hash(raw)
    token = (
        ScimToken.objects.select_related("connection", "connection__company")
        .filter(token_hash=digest, revoked_at__isnull=True)
        .first()
    )
    if token is None or not hmac.compare_digest(token.token_hash, digest):
        return None
    now = timezone.now()
    # Written at most once a minute per token, so a busy sync does not write on every request.
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ScimToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token

"""Revoking the OAuth grants that authorize SCIM for a connection (Okta's "Authenticate with …").
A grant is a live refresh token bound to the connection; ``provisioning.selectors.scim_grants``
lists them."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from oauth2_provider.models import get_refresh_token_model
from oauth2_provider.settings import oauth2_settings

from accounts.models import User
from audit.models import Severity
from audit.services import audit_record
from provisioning.models import AuthorizationCodeUse
from provisioning.oauth import connection_from_resources


@transaction.atomic
def scim_grant_revoke(*, token, acting_user: User | None = None, actor_label: str = "") -> None:
    """Revoke one grant: its refresh token and the access token issued with it stop working, and
    Okta must be re-authorized ("Authenticate with …" again) to provision."""
    connection = connection_from_resources(token.resource)
    if token.revoked is not None:
        return
    token.revoke()
    audit_record(
        action="oauth.scim_grant_revoked",
        connection=connection,
        actor=acting_user,
        actor_label=actor_label,
        target=token.application.name if token.application else "",
        details={"authorized_by": token.user.email if token.user else None, "grant_id": token.pk},
    )


def _code_hash(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8", "replace")).hexdigest()


def authorization_code_used(*, code: str, client_id: str, token_family) -> None:
    """Remember an exchanged code and the token family it issued, for as long as the refresh
    tokens of that family may live (and forget the codes whose tokens are all gone)."""
    lifetime = oauth2_settings.REFRESH_TOKEN_EXPIRE_SECONDS or 0
    AuthorizationCodeUse.objects.filter(expires_at__lte=timezone.now()).delete()
    AuthorizationCodeUse.objects.create(
        code_hash=_code_hash(code),
        client_id=client_id[:100],
        token_family=token_family,
        expires_at=timezone.now()
        + timedelta(seconds=max(lifetime, oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS)),
    )


@transaction.atomic
def authorization_code_replayed(*, code: str, token_families: tuple = ()) -> bool:
    """A code was presented again (RFC 6749 4.1.2): revoke every token issued from it, in every
    family (those it issued and ``token_families`` issued by a concurrent exchange of it).
    Returns whether ``code`` was a code we had issued."""
    use = AuthorizationCodeUse.objects.filter(code_hash=_code_hash(code)).first()
    families = {family for family in (*token_families, use.token_family if use else None) if family}
    if use is None and not families:
        return False
    revoked = get_refresh_token_model().objects.filter(
        token_family__in=families, revoked__isnull=True
    )
    connections = set()
    count = 0
    for token in revoked:
        connections.add(connection_from_resources(token.resource))
        token.revoke()
        count += 1
    for connection in sorted(connections - {None}, key=lambda c: c.name) or [None]:
        audit_record(
            action="oauth.code_replayed",
            connection=connection,
            actor_label="oauth",
            target=use.client_id if use else "",
            severity=Severity.WARNING,
            details={
                "message": "An authorization code was presented twice; the tokens issued from "
                "it are revoked. Okta must be re-authorized.",
                "tokens_revoked": count,
            },
        )
    return True

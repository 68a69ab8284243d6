"""Revoking the OAuth grants that authorize SCIM for a connection (Okta's "Authenticate with …").
A grant is a live refresh token bound to the connection; ``provisioning.selectors.scim_grants``
lists them."""

from __future__ import annotations

from django.db import transaction

from accounts.models import User
from audit.services import audit_record
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

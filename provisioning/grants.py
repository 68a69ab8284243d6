"""The OAuth grants that authorize SCIM for a connection (Okta's "Authenticate with …"): who
authorized each, and revocation. A grant is a live refresh token bound to the connection."""

from __future__ import annotations

from django.db import transaction
from oauth2_provider.models import get_refresh_token_model

from accounts.models import User
from audit.services import audit_record
from connections.models import Connection
from provisioning.oauth import connection_from_resources, connection_resource_uri


def scim_grants(*, connection: Connection, include_revoked: bool = False) -> list:
    """Refresh tokens bound to ``connection`` (filtered in Python: the resource list is JSON,
    which SQLite cannot search inside, and a connection has a handful of grants)."""
    uri = connection_resource_uri(connection)
    tokens = (
        get_refresh_token_model().objects.select_related("user", "application").order_by("-created")
    )
    if not include_revoked:
        tokens = tokens.filter(revoked__isnull=True)
    return [token for token in tokens if uri in (token.resource or [])]


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

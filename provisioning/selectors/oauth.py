"""Reads of OAuth for SCIM: a connection's grants, registered clients, issued tokens."""

from __future__ import annotations

import hashlib

from oauth2_provider.models import (
    get_access_token_model,
    get_application_model,
    get_refresh_token_model,
)

from connections.models import Connection
from provisioning.oauth import connection_resource_uri


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


def oauth_client_find(*, client_id: str):
    """The registered OAuth client (django-oauth-toolkit Application) with this id, or None."""
    return get_application_model().objects.filter(client_id=client_id).first()


def oauth_token_issued_to(*, token: str, client) -> bool:
    """Whether the access token ``token`` (looked up by its checksum, as the toolkit stores it)
    was issued to ``client``."""
    checksum = hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()
    return (
        get_access_token_model()
        .objects.filter(token_checksum=checksum, application=client)
        .exists()
    )

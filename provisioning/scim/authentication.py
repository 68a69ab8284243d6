"""Bearer-token authentication for SCIM. No session or password ever authorizes SCIM."""

from __future__ import annotations

from dataclasses import dataclass

from rest_framework.authentication import BaseAuthentication, get_authorization_header

from accounts.models import Company
from connections.models import Connection, ConnectionStatus
from core.authentication import HeaderBearerAuthentication
from provisioning.oauth import SCIM_SCOPE, connection_from_resources
from provisioning.scim.errors import Unauthorized
from provisioning.tokens import TOKEN_PREFIX, scim_token_find


@dataclass(frozen=True)
class ScimPrincipal:
    """Who is calling: always exactly one connection, and so one company."""

    connection: Connection
    company: Company
    label: str

    is_authenticated = True

    @property
    def actor_label(self) -> str:
        return f"scim:{self.label}"


def scim_principal(connection: Connection, *, label: str) -> ScimPrincipal:
    """The caller a valid credential (static token or OAuth grant) makes, unless its connection
    is disabled: then every SCIM request is refused with 401, like every sign-in, until the
    connection is enabled again (a draft connection provisions: that is how a setup starts)."""
    if connection.status == ConnectionStatus.DISABLED:
        raise Unauthorized("This connection is disabled; SCIM works again once it is enabled.")
    return ScimPrincipal(connection=connection, company=connection.company, label=label)


class ScimBearerAuthentication(BaseAuthentication):
    keyword = b"bearer"

    def authenticate(self, request) -> tuple[ScimPrincipal, object] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword or len(parts) != 2:
            return None
        try:
            raw = parts[1].decode("ascii")
        except UnicodeDecodeError:
            return None
        token = scim_token_find(raw)
        if token is None:
            return None
        return scim_principal(token.connection, label=f"token {token.prefix}"), token

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="scim"'


class ScimOAuthAuthentication(BaseAuthentication):
    """An OAuth access token from the "Authenticate with …" flow: valid (django-oauth-toolkit
    checks expiry and revocation), with the ``scim`` scope and bound to one connection."""

    def authenticate(self, request) -> tuple[ScimPrincipal, object] | None:
        parts = get_authorization_header(request).split()
        if len(parts) == 2 and parts[1].startswith(TOKEN_PREFIX.encode()):
            return None  # a static SCIM token, not ours to judge
        result = HeaderBearerAuthentication().authenticate(request)
        if result is None:
            return None
        _user, access_token = result
        if not access_token.allow_scopes([SCIM_SCOPE]):
            return None
        connection = connection_from_resources(access_token.resource)
        if connection is None:
            return None
        return scim_principal(
            connection, label=f"oauth {access_token.application.name}"
        ), access_token

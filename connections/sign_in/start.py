"""Start: an SP-initiated AuthnRequest over HTTP-Redirect (signed when the connection signs
requests), bound to the browser that asked."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.utils import timezone

from connections.connection_cache import insert_while_current
from connections.exceptions import ConnectionDisabled
from connections.models import (
    Connection,
    PendingAuthnRequest,
)
from connections.redirects import safe_next_path
from connections.saml_bindings import redirect_url
from connections.saml_messages import authn_request, serialize
from connections.sign_in.common import (
    PENDING_REQUEST_LIFETIME,
    require_usable,
    secret_hash,
)
from connections.sp_keys import sp_request_signer


@dataclass(frozen=True)
class StartedSignIn:
    redirect_url: str
    request_id: str
    browser_secret: str


def sign_in_start(
    *, connection: Connection, next_path: str | None, test_login: bool = False
) -> StartedSignIn:
    require_usable(connection, test_login=test_login)
    if not connection.sign_on_url:
        # A draft still waiting for its IdP's details (a setup link fills them in).
        raise ConnectionDisabled(
            "This connection is not set up yet: its identity provider's details are missing.",
            extra={"status": connection.status, "reason": "no sign-on URL"},
        )
    request = authn_request(connection)
    request_id = request.get("ID")
    redirect = redirect_url(
        connection.sign_on_url,
        "SAMLRequest",
        serialize(request),
        sign=sp_request_signer(connection),
    )
    browser_secret = secrets.token_urlsafe(32)
    pending = PendingAuthnRequest(
        request_id=request_id,
        connection=connection,
        browser_binding=secret_hash(browser_secret),
        next_path=safe_next_path(next_path),
        test_login=test_login,
        expires_at=timezone.now() + PENDING_REQUEST_LIFETIME,
    )
    # Written only while a remembered connection row is current (connections.connection_cache).
    insert_while_current(connection, pending)
    return StartedSignIn(
        redirect_url=redirect, request_id=request_id, browser_secret=browser_secret
    )

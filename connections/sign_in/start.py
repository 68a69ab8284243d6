"""Start: an SP-initiated AuthnRequest, bound to the browser that asked."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.utils import timezone

from connections.exceptions import ConnectionDisabled
from connections.models import (
    Connection,
    PendingAuthnRequest,
)
from connections.redirects import safe_next_path
from connections.sign_in.common import (
    PENDING_REQUEST_LIFETIME,
    require_usable,
    saml_adapter,
    secret_hash,
)


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
    request_id, redirect_url = saml_adapter().authn_request_redirect(connection)
    browser_secret = secrets.token_urlsafe(32)
    PendingAuthnRequest.objects.create(
        request_id=request_id,
        connection=connection,
        browser_binding=secret_hash(browser_secret),
        next_path=safe_next_path(next_path),
        test_login=test_login,
        expires_at=timezone.now() + PENDING_REQUEST_LIFETIME,
    )
    return StartedSignIn(
        redirect_url=redirect_url, request_id=request_id, browser_secret=browser_secret
    )

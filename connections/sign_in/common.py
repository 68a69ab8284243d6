"""What every step of the sign-in flow shares: lifetimes, cookies, the usable-connection rule."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from audit.models import Severity
from audit.services import audit_record, refusal_tally
from connections.exceptions import ConnectionDisabled, ConnectionUnknown, SignInRefused
from connections.models import (
    Connection,
    ConnectionStatus,
)
from connections.sp_metadata import sp_metadata
from core.untrusted import clip, clip_fields

PENDING_REQUEST_LIFETIME = timedelta(minutes=10)


def saml_adapter():
    """The pysaml2 adapter, imported on first use: pysaml2 takes about a second to import, and
    every management command (which loads the URLs, and so this module) would pay for it."""
    from connections import saml

    return saml


def refusal_record(
    *,
    error: SignInRefused,
    connection: Connection | None,
    action: str,
    endpoint: str,
    target: object,
    context: dict | None = None,
) -> None:
    """The audit event of a refused SAML message (a sign-in, a logout): the code, and what
    support needs to fix it, every value clipped (``core.untrusted``: the message refused is
    anyone's). A request for a connection that does not exist is only counted
    (``audit.services.refusal_tally``): its name is the caller's invention, and one row per
    request would let anyone fill the trail."""
    if connection is None and isinstance(error, ConnectionUnknown):
        refusal_tally(code=error.code, endpoint=endpoint, name=str(error.extra.get("name", "")))
        return
    audit_record(
        action=action,
        connection=connection,
        actor_label="idp",
        target=clip(str(target)),
        severity=Severity.WARNING,
        error_code=error.code,
        details=clip_fields({**error.extra, **(context or {})}),
    )


def sp_metadata_document(connection: Connection) -> bytes:
    return sp_metadata(connection)


VERIFIED_SIGN_IN_LIFETIME = timedelta(minutes=2)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def binding_cookie_name(request_id: str) -> str:
    """One cookie per started request, so two sign-ins in two tabs don't overwrite each other."""
    return f"sso_bind_{secret_hash(request_id)[:16]}"


FINISH_COOKIE = "sso_finish"

#: A test login shows what the IdP sends and works on a draft: for staff who may change
#: connections (the admin hides the button from the others, and the login view ignores
#: ``?test=1`` from them).
TEST_LOGIN_PERMISSION = "connections.change_connection"


def may_test_login(user) -> bool:
    return bool(user.is_authenticated and user.is_staff and user.has_perm(TEST_LOGIN_PERMISSION))


def require_usable(connection: Connection, *, test_login: bool = False) -> None:
    if connection.status == ConnectionStatus.DISABLED:
        raise ConnectionDisabled(extra={"status": connection.status})
    if connection.status == ConnectionStatus.DRAFT and not test_login:
        raise ConnectionDisabled(
            "This connection is not active yet. Contact your IT team.",
            extra={"status": connection.status},
        )

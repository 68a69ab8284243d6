"""Our side of a signed-in session (``SamlSession``, kept at sign-in) and the LogoutRequest
that signing out sends to the IdP."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.db.models.constants import OnConflict
from django.utils import timezone

from accounts.models import User
from audit.services import audit_record
from connections import saml_messages
from connections.models import (
    Connection,
    ConnectionStatus,
    PendingLogoutRequest,
    SamlSession,
)
from connections.saml_bindings import redirect_url
from connections.sp_keys import sp_request_signer
from core.compiled import insert_row

PENDING_LOGOUT_LIFETIME = timedelta(minutes=15)


def saml_session_record(*, session_key: str, connection: Connection, identity: dict) -> None:
    """Keep how the IdP named the person of this (just signed-in) session. One statement; a
    second sign-in in the same session replaces it."""
    insert_row(
        SamlSession(
            user_session_id=session_key,
            connection=connection,
            name_id=identity["name_id"][:1000],
            name_id_format=identity.get("name_id_format", "")[:200],
            name_qualifier=identity.get("name_qualifier", "")[:1000],
            sp_name_qualifier=identity.get("sp_name_qualifier", "")[:1000],
            session_index=identity.get("session_index", "")[:1000],
        ),
        on_conflict=OnConflict.UPDATE,
        unique_fields=("user_session",),
        update_fields=(
            "connection",
            "name_id",
            "name_id_format",
            "name_qualifier",
            "sp_name_qualifier",
            "session_index",
            "created_at",
        ),
    )


def logout_start(*, session_key: str | None, user: User) -> str | None:
    """Before the session ends here: the URL that takes the browser to the IdP with a
    LogoutRequest, when the session came through a connection with an SLO URL; else None."""
    if not session_key:
        return None
    session = (
        SamlSession.objects.select_related("connection", "connection__company")
        .filter(user_session_id=session_key)
        .first()
    )
    if session is None:
        return None
    connection = session.connection
    if not connection.slo_url or connection.status == ConnectionStatus.DISABLED:
        return None
    request = saml_messages.logout_request(connection, session)
    url = redirect_url(
        connection.slo_url,
        "SAMLRequest",
        saml_messages.serialize(request),
        sign=sp_request_signer(connection),
    )
    with transaction.atomic():
        PendingLogoutRequest.objects.create(
            request_id=request.get("ID"),
            connection=connection,
            name_id=session.name_id,
            expires_at=timezone.now() + PENDING_LOGOUT_LIFETIME,
        )
        audit_record(
            action="sso.logout_requested",
            connection=connection,
            actor=user,
            target=user.email,
            details={
                "request_id": request.get("ID"),
                "name_id": session.name_id[:200],
                "session_index": session.session_index[:200],
                "signed": connection.sign_requests,
            },
        )
    return url

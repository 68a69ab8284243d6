"""A logout message from the IdP at ``/sso/<name>/slo/``: a LogoutRequest (IdP-initiated: its
sessions end and it is answered) or the LogoutResponse that ends an SP-initiated logout."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from lxml import etree

from accounts.models import User
from accounts.services import user_sessions_end
from audit.services import audit_record
from connections import saml_messages, saml_sp_crypto
from connections.exceptions import (
    SamlInResponseToMismatch,
    SamlMalformed,
    SamlStatusFailure,
    SamlUnknownPrincipal,
    SignInRefused,
)
from connections.logout.checks import (
    NCNAME,
    check_logout_message,
    remember_message_id,
    requested_name_id,
)
from connections.models import (
    Connection,
    PendingLogoutRequest,
    SamlSession,
)
from connections.saml_bindings import MAX_RELAY_STATE, Received, post_fields, redirect_url
from connections.saml_inspection import SAMLP, parse_message, text_of
from connections.sign_in.common import refusal_record
from connections.sp_keys import sp_request_signer, sp_signing_key_pair


@dataclass
class Answer:
    """Our LogoutResponse, in the binding the request came in: a URL to redirect the browser
    to, or the fields of a form to post to ``url``."""

    url: str
    fields: dict[str, str] | None = None


@dataclass
class SloOutcome:
    kind: str  # "request" (IdP-initiated) or "response" (the end of an SP-initiated logout)
    refusal: SignInRefused | None = None
    answer: Answer | None = None


def slo_receive(*, connection: Connection, received: Received) -> SloOutcome:
    """A logout message from the connection's IdP: checked, acted on, audited, and (for a
    LogoutRequest) answered."""
    kind = "request" if received.parameter == "SAMLRequest" else "response"
    root = None
    try:
        root = parse_message(
            received.xml, expected=("LogoutRequest",) if kind == "request" else ("LogoutResponse",)
        )
        if kind == "request":
            return _logout_request(connection, received, root)
        return _logout_response(connection, received, root)
    except SignInRefused as refusal:
        logout_refusal_record(
            error=refusal,
            connection=connection,
            context={"message": f"Logout{kind.capitalize()}", "binding": received.binding},
        )
        outcome = SloOutcome(kind=kind, refusal=refusal)
        if kind == "request" and root is not None:
            outcome.answer = _answer(connection, received, root, refusal)
        return outcome


def logout_refusal_record(
    *, error: SignInRefused, connection: Connection | None, context: dict | None = None
) -> None:
    """The audit event of a refused logout message, its target the NameID it named."""
    refusal_record(
        error=error,
        connection=connection,
        action="sso.logout_refused",
        endpoint="slo",
        target=error.extra.get("name_id", ""),
        context=context,
    )


def _logout_request(connection: Connection, received: Received, root: etree._Element) -> SloOutcome:
    forget_at = check_logout_message(connection, received, root)
    name_id = requested_name_id(connection, root)
    session_indexes = [text_of(node) or "" for node in root.iterfind(f"{{{SAMLP}}}SessionIndex")]
    with transaction.atomic():
        remember_message_id(connection, root.get("ID", ""), forget_at)
        named = SamlSession.objects.filter(connection=connection, name_id=name_id)
        users = list(
            User.objects.filter(recorded_sessions__saml__in=named).distinct().order_by("pk")
        )
        if not users:
            raise SamlUnknownPrincipal(
                extra={"name_id": name_id[:200], "session_indexes": session_indexes[:5]}
            )
        # Every session of that person (or persons: a NameID names one) from this connection,
        # whatever SessionIndex the IdP listed: the SPEC ends them all.
        keys = SamlSession.objects.filter(
            connection=connection, user_session__user__in=users
        ).values_list("user_session_id", flat=True)
        ended = user_sessions_end(session_keys=keys)
        for user in users:
            audit_record(
                action="sso.logout",
                connection=connection,
                actor=user,
                target=user.email,
                details={
                    "flow": "idp-initiated",
                    "request_id": root.get("ID", ""),
                    "name_id": name_id[:200],
                    "session_indexes": session_indexes[:5],
                    "sessions_ended": ended,
                    "binding": received.binding,
                },
            )
    outcome = SloOutcome(kind="request")
    outcome.answer = _answer(connection, received, root, None)
    return outcome


def _logout_response(
    connection: Connection, received: Received, root: etree._Element
) -> SloOutcome:
    forget_at = check_logout_message(connection, received, root)
    status = root.find(f"{{{SAMLP}}}Status/{{{SAMLP}}}StatusCode")
    if status is None or not status.get("Value"):
        raise SamlMalformed(extra={"reason": "the LogoutResponse has no StatusCode"})
    in_response_to = root.get("InResponseTo") or ""
    with transaction.atomic():
        remember_message_id(connection, root.get("ID", ""), forget_at)
        pending = PendingLogoutRequest.objects.filter(
            request_id=in_response_to, connection=connection, expires_at__gt=timezone.now()
        ).first()
        if pending is None or not PendingLogoutRequest.objects.filter(pk=pending.pk).delete()[0]:
            raise SamlInResponseToMismatch(
                "This logout response does not answer a sign-out started here.",
                extra={"in_response_to": in_response_to[:200]},
            )
        if status.get("Value") != saml_messages.STATUS_SUCCESS:
            nested = status.find(f"{{{SAMLP}}}StatusCode")
            message = text_of(root.find(f"{{{SAMLP}}}Status/{{{SAMLP}}}StatusMessage")) or ""
            raise SamlStatusFailure(
                "You are signed out here, but your identity provider reported that it could not "
                "sign you out of every application. Close your browser to be sure.",
                extra={
                    "status": status.get("Value", "")[:200],
                    "sub_status": (nested.get("Value", "") if nested is not None else "")[:200],
                    "status_message": message[:300],
                    "name_id": pending.name_id[:200],
                },
            )
        audit_record(
            action="sso.logout_completed",
            connection=connection,
            actor_label="idp",
            target=pending.name_id[:200],
            details={"request_id": in_response_to, "binding": received.binding},
        )
    return SloOutcome(kind="response")


# Refusals of a LogoutRequest as its LogoutResponse says them (saml-core 3.2.2.2).
_STATUS_OF_REFUSAL = {
    SamlUnknownPrincipal.code: (
        saml_messages.STATUS_RESPONDER,
        saml_messages.STATUS_UNKNOWN_PRINCIPAL,
    ),
}


def _answer(
    connection: Connection,
    received: Received,
    root: etree._Element,
    refusal: SignInRefused | None,
) -> Answer | None:
    """Our LogoutResponse to the connection's SLO URL (never an address the message names), in
    the binding the request came in; signed when the connection signs requests."""
    if not connection.slo_url:
        return None
    request_id = root.get("ID", "")
    if refusal is None:
        status, sub_status = saml_messages.STATUS_SUCCESS, None
    else:
        status, sub_status = _STATUS_OF_REFUSAL.get(
            refusal.code,
            (saml_messages.STATUS_REQUESTER, saml_messages.STATUS_REQUEST_DENIED),
        )
    response = saml_messages.logout_response(
        connection,
        in_response_to=request_id if NCNAME.match(request_id) else None,
        status=status,
        sub_status=sub_status,
    )
    relay_state = received.relay_state
    if relay_state and len(relay_state.encode("utf-8")) > MAX_RELAY_STATE:
        relay_state = None
    if received.binding == "redirect":
        url = redirect_url(
            connection.slo_url,
            "SAMLResponse",
            saml_messages.serialize(response),
            relay_state=relay_state,
            sign=sp_request_signer(connection),
        )
        return Answer(url=url)
    if connection.sign_requests:
        saml_sp_crypto.sign_enveloped(response, sp_signing_key_pair(connection))
    return Answer(
        url=connection.slo_url,
        fields=post_fields("SAMLResponse", saml_messages.serialize(response), relay_state),
    )

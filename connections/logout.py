"""Single Logout (saml-profiles 4.4), both ways, over HTTP-Redirect and HTTP-POST.

- The session of a SAML sign-in keeps how the IdP named the person (``SamlSession``: NameID,
  its format and qualifiers, SessionIndex), recorded with the session at the finish step.
- SP-initiated: signing out of a session that came through a connection with an SLO URL ends
  the session here, then sends the browser to the IdP with a LogoutRequest for that NameID and
  SessionIndex (signed when the connection signs requests); the IdP's LogoutResponse comes back
  to ``/sso/<name>/slo/`` and must answer that request.
- IdP-initiated: a LogoutRequest at ``/sso/<name>/slo/`` ends every session of that person from
  that connection and is answered with a LogoutResponse (to the connection's SLO URL, in the
  binding it came in, signed when the connection signs requests).

A logout message from the IdP must be signed (the HTTP-Redirect query signature, or an XML
signature on the message over HTTP-POST) with a certificate configured on the connection, come
from its issuer, be addressed to this connection's SLO service, be fresh and be new. Every
refusal is an audit event (``sso.logout_refused``) with its code; a refused LogoutRequest is still
answered, with the status that says why (RequestDenied, UnknownPrincipal), when the connection
has an SLO URL to answer to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models.constants import OnConflict
from django.utils import timezone
from lxml import etree

from accounts.models import User
from accounts.services import user_sessions_end
from audit.models import Severity
from audit.services import audit_record, refusal_tally
from connections import saml_crypto, saml_messages, saml_sp_crypto
from connections.exceptions import (
    ConnectionUnknown,
    SamlDestinationMismatch,
    SamlExpired,
    SamlInResponseToMismatch,
    SamlIssuerMismatch,
    SamlMalformed,
    SamlNotYetValid,
    SamlReplayed,
    SamlSignatureAlgorithmRefused,
    SamlSignatureInvalid,
    SamlSignatureMissing,
    SamlStatusFailure,
    SamlUnknownPrincipal,
    SignInRefused,
)
from connections.models import (
    Connection,
    ConnectionStatus,
    PendingLogoutRequest,
    SamlSession,
    SeenLogoutMessage,
)
from connections.saml_bindings import MAX_RELAY_STATE, Received, post_fields, redirect_url
from connections.saml_inspection import DS, SAML, SAMLP, parse_instant, parse_message, text_of
from connections.sign_in.common import saml_adapter
from connections.sign_in.receive import algorithm_refused
from connections.sp_keys import sp_decrypt, sp_request_signer, sp_signing_key_pair
from core.compiled import insert_row
from core.untrusted import clip, clip_fields

# A logout message is delivered by the browser right after it is issued.
LOGOUT_MESSAGE_LIFETIME = timedelta(minutes=5)
PENDING_LOGOUT_LIFETIME = timedelta(minutes=15)
_NCNAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,199}$")


# --- the session's SAML side ----------------------------------------------------------------


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


# --- SP-initiated ---------------------------------------------------------------------------


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


# --- receiving at /sso/<name>/slo/ ----------------------------------------------------------


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
    """The audit event of a refused logout message, every value clipped (the message is
    anyone's); for a connection that does not exist, only a count (``refusal_tally``), as for
    sign-ins."""
    if connection is None and isinstance(error, ConnectionUnknown):
        refusal_tally(code=error.code, endpoint="slo", name=str(error.extra.get("name", "")))
        return
    audit_record(
        action="sso.logout_refused",
        connection=connection,
        actor_label="idp",
        target=clip(str(error.extra.get("name_id", ""))),
        severity=Severity.WARNING,
        error_code=error.code,
        details=clip_fields({**error.extra, **(context or {})}),
    )


def _expected_issuer(connection: Connection) -> str:
    return connection.idp_entity_id or connection.observed_idp_entity_id


def _check_common(connection: Connection, received: Received, root: etree._Element) -> datetime:
    """What every logout message must be: signed by a configured certificate, from the IdP,
    to our SLO service, fresh. Returns when its ID may be forgotten."""
    _check_signature(connection, received, root)
    issuer = text_of(root.find(f"{{{SAML}}}Issuer")) or ""
    expected = _expected_issuer(connection)
    if expected and issuer != expected:
        raise SamlIssuerMismatch(
            "This logout message comes from a different identity provider than configured.",
            extra={"expected": expected, "received": issuer[:300]},
        )
    destination = root.get("Destination")
    if destination != connection.slo_service_url:
        raise SamlDestinationMismatch(
            "This logout message was sent to a different address.",
            extra={
                "destination": (destination or "")[:300],
                "expected": connection.slo_service_url,
            },
        )
    now = timezone.now()
    skew = timedelta(seconds=settings.SAML_CLOCK_SKEW_SECONDS)
    issued = parse_instant(root.get("IssueInstant"))
    if issued is None:
        raise SamlMalformed(extra={"reason": "the logout message has no IssueInstant"})
    if issued > now + skew:
        raise SamlNotYetValid(
            "This logout message is not valid yet; the identity provider's clock may be ahead.",
            extra={"issue_instant": issued.isoformat(), "now": now.isoformat()},
        )
    if issued < now - skew - LOGOUT_MESSAGE_LIFETIME:
        raise SamlExpired(
            "This logout message is too old.",
            extra={"issue_instant": issued.isoformat(), "now": now.isoformat()},
        )
    ends = parse_instant(root.get("NotOnOrAfter"))
    if ends is not None and now - skew >= ends:
        raise SamlExpired(
            "This logout request has expired.",
            extra={"not_on_or_after": ends.isoformat(), "now": now.isoformat()},
        )
    return issued + LOGOUT_MESSAGE_LIFETIME + 2 * skew


def _check_signature(connection: Connection, received: Received, root: etree._Element) -> None:
    trusted = saml_adapter().trusted_keys(connection)
    signatures = list(root.iter(f"{{{DS}}}Signature"))
    try:
        if received.binding == "redirect":
            if received.signature is None:
                raise SamlSignatureMissing(
                    "This logout message is not signed.",
                    extra={"reason": "no Signature in the HTTP-Redirect query"},
                )
            saml_sp_crypto.verify_octets(
                received.signed_octets, received.signature, received.sig_alg or "", trusted
            )
            return
        if not signatures:
            raise SamlSignatureMissing(
                "This logout message is not signed.",
                extra={"reason": "no XML signature on the HTTP-POST message"},
            )
        if len(signatures) != 1 or signatures[0].getparent() is not root:
            raise SamlMalformed(extra={"reason": "a signature stands outside the logout message"})
        saml_crypto.verify_enveloped(root, trusted)
    except saml_crypto.WeakAlgorithm as error:
        raise algorithm_refused(
            connection,
            SamlSignatureAlgorithmRefused(
                extra={
                    "reason": error.reason,
                    "algorithm": error.algorithm,
                    "algorithm_name": error.name,
                    "where": error.what,
                }
            ),
        ) from None
    except saml_crypto.SignatureMisplaced as error:
        raise SamlMalformed(extra={"reason": error.reason}) from None
    except saml_crypto.SignatureRefused as error:
        raise SamlSignatureInvalid(
            "This logout message's signature does not match the certificate we have for this "
            "connection.",
            extra={"reason": error.reason, "configured_certificates": trusted.fingerprints},
        ) from None


def _remember(connection: Connection, message_id: str, expires_at: datetime) -> None:
    """Inside the caller's transaction: a message ID seen before refuses the whole step."""
    if not _NCNAME.match(message_id):
        raise SamlMalformed(extra={"reason": "the logout message's ID is not an xs:ID"})
    try:
        with transaction.atomic():
            SeenLogoutMessage.objects.create(
                connection=connection, message_id=message_id, expires_at=expires_at
            )
    except IntegrityError:
        raise SamlReplayed(
            "This logout message was already used.", extra={"message_id": message_id}
        ) from None


def _name_id(connection: Connection, root: etree._Element) -> str:
    """The NameID the request names: in clear, or an EncryptedID decrypted with our keys."""
    name_id = root.find(f"{{{SAML}}}NameID")
    encrypted = root.find(f"{{{SAML}}}EncryptedID")
    if encrypted is not None and name_id is None:
        try:
            plaintext = sp_decrypt(connection=connection, container=encrypted)
        except saml_sp_crypto.DecryptionRefused as error:
            raise SamlMalformed(extra={"reason": f"EncryptedID: {error.reason}"}) from None
        wrapper = _name_id_fragment(plaintext)
        name_id = wrapper.find(f"{{{SAML}}}NameID")
    value = text_of(name_id) if name_id is not None else None
    if not value:
        raise SamlMalformed(extra={"reason": "the logout request names nobody (no NameID)"})
    if len(name_id) or any(isinstance(node, etree._Comment) for node in name_id.iter()):
        raise SamlMalformed(extra={"reason": "the NameID is not plain text"})
    return value


def _name_id_fragment(plaintext: bytes) -> etree._Element:
    """A decrypted NameID, through the same gate and parser as a received message."""
    try:
        wrapper = saml_crypto.parse(
            f'<decrypted xmlns:saml="{SAML}">'.encode() + plaintext + b"</decrypted>"
        )
    except saml_crypto.XmlRefused as error:
        raise SamlMalformed(extra={"reason": f"EncryptedID: XML refused: {error}"}) from None
    if [child.tag for child in wrapper] != [f"{{{SAML}}}NameID"]:
        raise SamlMalformed(extra={"reason": "the EncryptedID does not hold one NameID"})
    return wrapper


def _logout_request(connection: Connection, received: Received, root: etree._Element) -> SloOutcome:
    forget_at = _check_common(connection, received, root)
    name_id = _name_id(connection, root)
    session_indexes = [text_of(node) or "" for node in root.iterfind(f"{{{SAMLP}}}SessionIndex")]
    with transaction.atomic():
        _remember(connection, root.get("ID", ""), forget_at)
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
    forget_at = _check_common(connection, received, root)
    status = root.find(f"{{{SAMLP}}}Status/{{{SAMLP}}}StatusCode")
    if status is None or not status.get("Value"):
        raise SamlMalformed(extra={"reason": "the LogoutResponse has no StatusCode"})
    in_response_to = root.get("InResponseTo") or ""
    with transaction.atomic():
        _remember(connection, root.get("ID", ""), forget_at)
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
        in_response_to=request_id if _NCNAME.match(request_id) else None,
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

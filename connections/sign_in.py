"""The SAML sign-in flow: start (SP-initiated), receive at the ACS, finish in the same browser.

Every acceptance rule of the SPEC is checked here, in a fixed order so each failure gets its own
error code; pysaml2 (behind ``connections.saml``) verifies signatures and the rules it knows.
A refusal raises ``SignInRefused``; the view records it and renders the error page. Nothing is
written by a refused response: each write happens in one transaction after every check passed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from audit.models import Severity
from audit.services import audit_record
from connections.exceptions import (
    AttributeMissing,
    ConnectionDisabled,
    SamlAudienceMismatch,
    SamlDestinationMismatch,
    SamlExpired,
    SamlInResponseToMismatch,
    SamlIssuerMismatch,
    SamlMalformed,
    SamlNotYetValid,
    SamlReplayed,
    SamlSignatureInvalid,
    SamlStatusFailure,
    SamlUnsolicited,
    SignInRefused,
)
from connections.models import (
    Connection,
    ConnectionStatus,
    PendingAuthnRequest,
    SeenAssertion,
    VerifiedSignIn,
)
from connections.redirects import safe_next_path
from connections.saml_inspection import InspectedResponse, decode_post, inspect_response
from provisioning.attributes import map_identity
from provisioning.jit import saml_user_resolve

PENDING_REQUEST_LIFETIME = timedelta(minutes=10)


def _saml():
    """The pysaml2 adapter, imported on first use: pysaml2 takes about a second to import, and
    every management command (which loads the URLs, and so this module) would pay for it."""
    from connections import saml

    return saml


def sp_metadata_document(connection: Connection) -> bytes:
    return _saml().sp_metadata(connection)


VERIFIED_SIGN_IN_LIFETIME = timedelta(minutes=2)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def binding_cookie_name(request_id: str) -> str:
    """One cookie per started request, so two sign-ins in two tabs don't overwrite each other."""
    return f"sso_bind_{secret_hash(request_id)[:16]}"


FINISH_COOKIE = "sso_finish"


def _require_usable(connection: Connection, *, test_login: bool = False) -> None:
    if connection.status == ConnectionStatus.DISABLED:
        raise ConnectionDisabled(extra={"status": connection.status})
    if connection.status == ConnectionStatus.DRAFT and not test_login:
        raise ConnectionDisabled(
            "This connection is not active yet. Contact your IT team.",
            extra={"status": connection.status},
        )


# --- start -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StartedSignIn:
    redirect_url: str
    request_id: str
    browser_secret: str


def sign_in_start(
    *, connection: Connection, next_path: str | None, test_login: bool = False
) -> StartedSignIn:
    _require_usable(connection, test_login=test_login)
    request_id, redirect_url = _saml().authn_request_redirect(connection)
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


# --- the ACS ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedSignIn:
    finish_token: str
    verified: VerifiedSignIn


def acs_receive(
    *, connection: Connection, saml_response: str | None, relay_state: str | None
) -> ReceivedSignIn:
    if connection.status == ConnectionStatus.DISABLED:
        raise ConnectionDisabled(extra={"status": connection.status})
    try:
        inspected = inspect_response(decode_post(saml_response))
    except SamlSignatureInvalid as error:
        error.extra["configured_certificates"] = _configured_fingerprints(connection)
        raise
    if not inspected.status_ok:
        raise SamlStatusFailure(
            extra={"status": inspected.status_code, "message": inspected.status_message[:500]}
        )
    issuer = _check_issuer(connection, inspected)
    _check_destination(connection, inspected)
    _check_audience(connection, inspected)
    expires_at = _check_times(inspected)
    pending = _pending_request(connection, inspected)
    _require_usable(connection, test_login=bool(pending and pending.test_login))

    try:
        verified = _saml().verify_response(
            connection,
            inspected.xml,
            issuer=issuer,
            request_id=pending.request_id if pending else None,
        )
    except SamlSignatureInvalid as error:
        error.extra.update(_fingerprints(connection, inspected))
        raise
    if (
        verified.assertion_id != inspected.assertion_id
        or verified.issuer != inspected.assertion_issuer
    ):
        # The verified assertion is not the one we inspected: a wrapping trick we did not foresee.
        raise SamlMalformed(extra={"reason": "verified assertion differs from the inspected one"})

    with transaction.atomic():
        if (
            pending is not None
            and not PendingAuthnRequest.objects.filter(pk=pending.pk).delete()[0]
        ):
            raise SamlInResponseToMismatch(extra={"reason": "the request was already answered"})
        _remember_assertion(connection, verified.assertion_id, expires_at)
        if not connection.idp_entity_id and not connection.observed_idp_entity_id:
            # No issuer configured: the certificate is the trust anchor; the first issuer seen is
            # recorded for support (without touching updated_at, which keys the SAML config).
            Connection.objects.filter(pk=connection.pk).update(observed_idp_entity_id=issuer)
            audit_record(
                action="connection.issuer_recorded",
                connection=connection,
                actor_label="idp",
                target=connection.name,
                details={"issuer": issuer},
            )
        token = secrets.token_urlsafe(32)
        record = VerifiedSignIn.objects.create(
            token_hash=secret_hash(token),
            connection=connection,
            identity=asdict(verified),
            request_id=pending.request_id if pending else "",
            browser_binding=pending.browser_binding if pending else "",
            next_path=pending.next_path if pending else safe_next_path(relay_state),
            test_login=bool(pending and pending.test_login),
            expires_at=timezone.now() + VERIFIED_SIGN_IN_LIFETIME,
        )
    return ReceivedSignIn(finish_token=token, verified=record)


def _check_issuer(connection: Connection, inspected: InspectedResponse) -> str:
    """The issuer the certificates are filed under. With ``idp_entity_id`` set every Issuer must
    equal it; without, the certificate is the trust anchor, but Response and Assertion must
    still agree with each other."""
    issuers = {inspected.assertion_issuer}
    if inspected.response_issuer is not None:
        issuers.add(inspected.response_issuer)
    expected = connection.idp_entity_id
    if expected and issuers != {expected}:
        raise SamlIssuerMismatch(extra={"expected": expected, "received": sorted(issuers)})
    if len(issuers) != 1 or not inspected.assertion_issuer:
        raise SamlIssuerMismatch(
            extra={"reason": "missing or conflicting issuers", "received": sorted(issuers)}
        )
    return inspected.assertion_issuer


def _check_destination(connection: Connection, inspected: InspectedResponse) -> None:
    expected = connection.acs_url
    if inspected.destination != expected:
        raise SamlDestinationMismatch(
            extra={"destination": inspected.destination, "expected": expected}
        )
    if not inspected.recipients or any(recipient != expected for recipient in inspected.recipients):
        raise SamlDestinationMismatch(
            extra={"recipient": list(inspected.recipients), "expected": expected}
        )


def _check_audience(connection: Connection, inspected: InspectedResponse) -> None:
    if connection.sp_entity_id not in inspected.audiences:
        raise SamlAudienceMismatch(
            extra={"audiences": list(inspected.audiences), "expected": connection.sp_entity_id}
        )


def _check_times(inspected: InspectedResponse) -> datetime:
    """The validity window within the clock skew; returns when the assertion stops being
    usable (how long its ID must be remembered)."""
    now = timezone.now()
    skew = timedelta(seconds=settings.SAML_CLOCK_SKEW_SECONDS)
    if inspected.not_before and now + skew < inspected.not_before:
        raise SamlNotYetValid(
            extra={"not_before": inspected.not_before.isoformat(), "now": now.isoformat()}
        )
    ends = [t for t in (inspected.not_on_or_after, *inspected.confirmation_not_on_or_after) if t]
    if not ends:
        raise SamlMalformed(extra={"reason": "the assertion has no NotOnOrAfter"})
    for end in ends:
        if now - skew >= end:
            raise SamlExpired(extra={"not_on_or_after": end.isoformat(), "now": now.isoformat()})
    return max(ends) + skew


def _pending_request(
    connection: Connection, inspected: InspectedResponse
) -> PendingAuthnRequest | None:
    request_id = inspected.in_response_to
    if not request_id:
        if not connection.allow_idp_initiated:
            raise SamlUnsolicited()
        return None
    pending = PendingAuthnRequest.objects.filter(
        request_id=request_id, connection=connection, expires_at__gt=timezone.now()
    ).first()
    if pending is not None:
        return pending
    if SeenAssertion.objects.filter(
        connection=connection, assertion_id=inspected.assertion_id
    ).exists():
        raise SamlReplayed(extra={"assertion_id": inspected.assertion_id})
    # An InResponseTo that names no request of ours (another connection's, an expired one, or an
    # "unsolicited" response that claims to answer something) is refused even where
    # IdP-initiated logins are allowed.
    raise SamlInResponseToMismatch(extra={"in_response_to": request_id})


def _remember_assertion(connection: Connection, assertion_id: str, expires_at: datetime) -> None:
    try:
        with transaction.atomic():
            SeenAssertion.objects.create(
                connection=connection, assertion_id=assertion_id, expires_at=expires_at
            )
    except IntegrityError:
        raise SamlReplayed(extra={"assertion_id": assertion_id}) from None


def _configured_fingerprints(connection: Connection) -> list[str]:
    return list(connection.certificates.values_list("fingerprint_sha256", flat=True))


def _fingerprints(connection: Connection, inspected: InspectedResponse) -> dict:
    return {
        "configured_certificates": _configured_fingerprints(connection),
        "certificates_in_message": list(inspected.key_info_fingerprints),
    }


# --- finish ----------------------------------------------------------------------------------


def verified_sign_in_get(*, connection: Connection, finish_token: str | None) -> VerifiedSignIn:
    record = None
    if finish_token:
        record = VerifiedSignIn.objects.filter(
            token_hash=secret_hash(finish_token),
            connection=connection,
            expires_at__gt=timezone.now(),
        ).first()
    if record is None:
        raise SamlExpired(
            "This sign-in is no longer pending (it expired or was already used). Please sign in again.",
            extra={"reason": "no pending verified sign-in for this browser"},
        )
    try:
        # The connection may have been disabled between the ACS and now: every login refused.
        _require_usable(connection, test_login=record.test_login)
    except ConnectionDisabled:
        sign_in_discard(record=record)
        raise
    return record


def sign_in_identity(record: VerifiedSignIn):
    identity = record.identity
    mapped = map_identity(
        attributes=identity["attributes"],
        name_id=identity["name_id"],
        overrides=record.connection.attribute_mapping,
    )
    if mapped is None:
        raise AttributeMissing(
            extra={"name_id": identity["name_id"], "attributes": sorted(identity["attributes"])}
        )
    return mapped


def sign_in_complete(*, record: VerifiedSignIn, browser_secret: str | None) -> User:
    """Consume the verified sign-in and return the user it signs in (JIT-creating them)."""
    connection = record.connection
    with transaction.atomic():
        if not VerifiedSignIn.objects.filter(pk=record.pk).delete()[0]:
            raise SamlExpired(extra={"reason": "the verified sign-in was already used"})
    _check_browser_binding(record, browser_secret)
    identity = sign_in_identity(record)
    with transaction.atomic():
        user = saml_user_resolve(connection=connection, identity=identity)
        audit_record(
            action="sso.login",
            connection=connection,
            actor=user,
            target=user.email,
            details={
                "flow": "sp-initiated" if record.request_id else "idp-initiated",
                "assertion_id": record.identity["assertion_id"],
                "issuer": record.identity["issuer"],
                "session_index": record.identity["session_index"],
            },
        )
    return user


def sign_in_test_report(*, record: VerifiedSignIn, browser_secret: str | None) -> dict:
    """A staff member's test login: every check of a real sign-in, and what would happen to the
    user, without signing anyone in or keeping any change."""
    with transaction.atomic():
        VerifiedSignIn.objects.filter(pk=record.pk).delete()
    _check_browser_binding(record, browser_secret)
    report = {"identity": record.identity, "outcome": "", "error_code": ""}
    try:
        mapped = sign_in_identity(record)
        report["mapped"] = asdict(mapped)
        existed = User.objects.filter(email=mapped.email).exists()
        with transaction.atomic():
            user = saml_user_resolve(connection=record.connection, identity=mapped)
            team = f" in team {user.team.name}" if user.team else " with no team"
            created = "" if existed else " (JIT would create this user now)"
            report["outcome"] = f"{user.email} would sign in as {user.role}{team}{created}."
            transaction.set_rollback(True)
    except SignInRefused as error:
        report["outcome"] = error.message
        report["error_code"] = error.code
    audit_record(
        action="sso.test_login",
        connection=record.connection,
        details={"outcome": report["outcome"], "error_code": report["error_code"]},
    )
    return report


def sign_in_discard(*, record: VerifiedSignIn) -> None:
    """The person chose to stay signed in as who they were: drop the pending sign-in."""
    VerifiedSignIn.objects.filter(pk=record.pk).delete()


def _check_browser_binding(record: VerifiedSignIn, browser_secret: str | None) -> None:
    if not record.browser_binding:
        return  # IdP-initiated: there was no request to bind
    if not browser_secret or not hmac.compare_digest(
        secret_hash(browser_secret), record.browser_binding
    ):
        raise SamlInResponseToMismatch(
            extra={"reason": "the response answers a sign-in started in another browser"}
        )


def sign_in_refusal_record(
    *, error: SignInRefused, connection: Connection | None, context: dict | None = None
) -> None:
    """The audit event of a refused sign-in: the code, and what support needs to fix it."""
    audit_record(
        action="sso.login_refused",
        connection=connection,
        actor_label="idp",
        target=str(error.extra.get("email", "")),
        severity=Severity.WARNING,
        error_code=error.code,
        details={**error.extra, **(context or {})},
    )

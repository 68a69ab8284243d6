"""The ACS: every acceptance rule of the SPEC, in a fixed order so each failure has its own code."""

from __future__ import annotations

import secrets
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db import connection as database
from django.utils import timezone

from audit.services import audit_record
from connections.connection_cache import ConnectionChanged, insert_while_current, remembered
from connections.exceptions import (
    ConnectionDisabled,
    SamlAudienceMismatch,
    SamlDestinationMismatch,
    SamlEncryptionRequired,
    SamlExpired,
    SamlInResponseToMismatch,
    SamlIssuerMismatch,
    SamlMalformed,
    SamlNotYetValid,
    SamlReplayed,
    SamlSignatureAlgorithmRefused,
    SamlSignatureInvalid,
    SamlStatusFailure,
    SamlUnsolicited,
    SignInRefused,
)
from connections.idp_hints import idp_product
from connections.models import (
    Connection,
    ConnectionStatus,
    PendingAuthnRequest,
    SeenAssertion,
    VerifiedSignIn,
)
from connections.redirects import safe_next_path
from connections.saml_inspection import InspectedResponse, decode_post, inspect_response
from connections.sign_in.common import (
    VERIFIED_SIGN_IN_LIFETIME,
    require_usable,
    saml_adapter,
    secret_hash,
)
from connections.sign_in.finish import sign_in_lookup_for
from connections.sp_keys import sp_decrypt
from core.compiled import CompiledQuery

# A Response or Assertion issued longer ago than this is refused whatever its validity window
# says (pysaml2 refuses the same; an IdP issues them seconds before they are posted).
ISSUED_AT_MOST_AGO = timedelta(days=1)


@dataclass(frozen=True)
class ReceivedSignIn:
    finish_token: str
    verified: VerifiedSignIn


def acs_receive(
    *, connection: Connection, saml_response: str | None, relay_state: str | None
) -> ReceivedSignIn:
    """Every check of the SPEC on the response, in a fixed order, and in one transaction: the
    SP-initiated request it answers consumed (before the signatures are verified, as the order
    of the checks has it; a refusal rolls the consumption back), the verified sign-in recorded
    for the finish step with its assertion ID (remembered: replay). A refusal writes nothing
    (the view records the audit event).

    ``connection`` may be a remembered row (``connections.connection_cache``): the verified
    sign-in is then written only if that row is still current, and ``ConnectionChanged`` says
    it was not (nothing written: do the step again with the row read now)."""
    first_issuer = not connection.idp_entity_id and not connection.observed_idp_entity_id
    if first_issuer and remembered(connection):
        raise ConnectionChanged()  # recording the first issuer updates the row: read it now
    if connection.status == ConnectionStatus.DISABLED:
        raise ConnectionDisabled(extra={"status": connection.status})
    adapter = saml_adapter()
    try:
        inspected = inspect_response(
            decode_post(saml_response),
            decrypt=lambda container: sp_decrypt(connection=connection, container=container),
        )
    except SamlSignatureAlgorithmRefused as error:
        raise algorithm_refused(connection, error) from None
    except SamlSignatureInvalid as error:
        error.extra["configured_certificates"] = adapter.configured_fingerprints(connection)
        raise
    if not inspected.status_ok:
        raise SamlStatusFailure(
            extra={"status": inspected.status_code, "message": inspected.status_message[:500]}
        )
    if connection.require_encryption and not inspected.encrypted:
        raise SamlEncryptionRequired(extra={"assertion_id": inspected.assertion_id[:200]})
    issuer = _check_issuer(connection, inspected)
    _check_destination(connection, inspected)
    _check_audience(connection, inspected)
    expires_at = _check_times(inspected)
    if not inspected.in_response_to and not connection.allow_idp_initiated:
        raise SamlUnsolicited()

    # An IdP-initiated response writes one row, the verified sign-in (its unique assertion ID is
    # the replay check): one statement, no transaction to open. An SP-initiated one also
    # consumes the request it answers, with that row or not at all: on PostgreSQL the request is
    # read here and deleted by the insert's statement (connection_cache.insert_while_current);
    # elsewhere, or where a first issuer is recorded too, in a transaction around the step.
    # Inside a caller's transaction (the tests') a savepoint keeps a refused insert from
    # breaking it.
    consume_with_insert = (
        bool(inspected.in_response_to) and database.vendor == "postgresql" and not first_issuer
    )
    together = (
        (inspected.in_response_to and not consume_with_insert)
        or first_issuer
        or transaction.get_connection().in_atomic_block
    )
    with transaction.atomic() if together else nullcontext():
        pending = _pending_request(connection, inspected, consume=not consume_with_insert)
        require_usable(connection, test_login=bool(pending and pending.test_login))
        try:
            verified = adapter.verify_response(connection, inspected, issuer=issuer)
        except SamlSignatureInvalid as error:
            error.extra.update(_fingerprints(adapter, connection, inspected))
            raise
        if first_issuer:
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
        pending_sign_in = VerifiedSignIn(
            token_hash=secret_hash(token),
            connection=connection,
            assertion_id=verified.assertion_id,
            identity=verified.as_identity(),
            request_id=pending.request_id if pending else "",
            browser_binding=pending.browser_binding if pending else "",
            next_path=pending.next_path if pending else safe_next_path(relay_state),
            test_login=bool(pending and pending.test_login),
            expires_at=timezone.now() + VERIFIED_SIGN_IN_LIFETIME,
            remember_until=expires_at,
        )
        pending_sign_in.user_lookup = sign_in_lookup_for(pending_sign_in)
        record = _verified_sign_in_record(
            connection, pending_sign_in, consuming=pending if consume_with_insert else None
        )
    return ReceivedSignIn(finish_token=token, verified=record)


def algorithm_refused(
    connection: Connection, error: SamlSignatureAlgorithmRefused
) -> SamlSignatureAlgorithmRefused:
    """SHA-1: the message names the algorithm and the fix in the IdP the connection is
    configured with; the detail for support says the same, and no certificate is blamed."""
    product = idp_product(connection)
    name = error.extra["algorithm_name"]
    used = f"{name} digests" if error.extra["where"] == "digest algorithm" else name
    message = (
        f"This was refused because {product.name} signs with {used}, which is no longer safe. "
        f"Ask your IT team to {product.sha256_steps}."
    )
    return SamlSignatureAlgorithmRefused(
        message, extra={**error.extra, "idp_product": product.name, "fix": product.sha256_steps}
    )


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
    starts = [
        t
        for t in (
            inspected.not_before,
            *inspected.confirmation_not_before,
            *inspected.issue_instants,
        )
        if t
    ]
    for start in starts:
        if now + skew < start:
            raise SamlNotYetValid(extra={"not_before": start.isoformat(), "now": now.isoformat()})
    ends = [t for t in (inspected.not_on_or_after, *inspected.confirmation_not_on_or_after) if t]
    if not ends:
        raise SamlMalformed(extra={"reason": "the assertion has no NotOnOrAfter"})
    for end in (*ends, inspected.session_not_on_or_after):
        if end and now - skew >= end:
            raise SamlExpired(extra={"not_on_or_after": end.isoformat(), "now": now.isoformat()})
    for issued in inspected.issue_instants:
        if issued < now - ISSUED_AT_MOST_AGO - skew:
            raise SamlExpired(extra={"issue_instant": issued.isoformat(), "now": now.isoformat()})
    return max(ends) + skew


def _pending_requests(request_id: str, connection_id: int, now):
    return PendingAuthnRequest.objects.filter(
        request_id=request_id, connection_id=connection_id, expires_at__gt=now
    )


# Compiled once per process (core.compiled): read, or fetched and deleted in one statement.
_PENDING_READ = CompiledQuery(_pending_requests)
_PENDING_CONSUME = CompiledQuery(_pending_requests, delete=True)


def _pending_request(
    connection: Connection, inspected: InspectedResponse, *, consume: bool
) -> PendingAuthnRequest | None:
    """The SP-initiated request the response answers; None for an IdP-initiated one. With
    ``consume``, consumed here (fetched and deleted in one statement, so two responses cannot
    both answer it); without, read, and consumed by the verified sign-in's insert
    (``_verified_sign_in_record``)."""
    request_id = inspected.in_response_to
    if not request_id:
        return None
    query = _PENDING_CONSUME if consume else _PENDING_READ
    pending = query.first(request_id=request_id, connection_id=connection.pk, now=timezone.now())
    if pending is None:
        raise _request_gone(connection, assertion_id=inspected.assertion_id, request_id=request_id)
    return pending


def _request_gone(connection: Connection, *, assertion_id: str, request_id: str) -> SignInRefused:
    """The refusal of a response whose request is not (or no longer) pending."""
    if _assertion_seen(connection, assertion_id):
        return SamlReplayed(extra={"assertion_id": assertion_id})
    # An InResponseTo that names no request of ours (another connection's, an expired one, or an
    # "unsolicited" response that claims to answer something) is refused even where
    # IdP-initiated logins are allowed.
    return SamlInResponseToMismatch(extra={"in_response_to": request_id})


def _verified_sign_in_record(
    connection: Connection,
    record: VerifiedSignIn,
    *,
    consuming: PendingAuthnRequest | None = None,
) -> VerifiedSignIn:
    """Inside the caller's transaction, if any, without a savepoint: an assertion ID this
    connection has seen (unique per connection) refuses the whole step. ``consuming``: the
    request the response answers, deleted in the same statement (PostgreSQL); if another
    response took it meanwhile, refused as if it had been gone from the start. Its id is not
    read back: the finish step finds it by its token."""
    try:
        if not insert_while_current(connection, record, consuming=consuming):
            raise _request_gone(
                connection, assertion_id=record.assertion_id, request_id=consuming.request_id
            )
    except IntegrityError:
        raise SamlReplayed(extra={"assertion_id": record.assertion_id}) from None
    return record


def _assertion_seen(connection: Connection, assertion_id: str) -> bool:
    """Received here before (its verified sign-in is kept until the assertion expires), or
    signed someone in (``SeenAssertion``, durable)."""
    return (
        VerifiedSignIn.objects.filter(connection=connection, assertion_id=assertion_id).exists()
        or SeenAssertion.objects.filter(connection=connection, assertion_id=assertion_id).exists()
    )


def _fingerprints(adapter, connection: Connection, inspected: InspectedResponse) -> dict:
    return {
        "configured_certificates": adapter.configured_fingerprints(connection),
        "certificates_in_message": list(inspected.key_info_fingerprints),
    }

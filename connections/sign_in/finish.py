"""Finish: the verified sign-in completes in the browser it belongs to."""

from __future__ import annotations

import hmac
from dataclasses import asdict

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.selectors import SignInRead, sign_in_lookup, team_lookup, user_find_for_sign_in
from audit.services import audit_record
from connections.attributes import describe_sent, map_identity
from connections.exceptions import (
    AttributeMissing,
    SamlExpired,
    SamlInResponseToMismatch,
    SamlReplayed,
    SignInRefused,
)
from connections.models import (
    Connection,
    Provisioning,
    VerifiedSignIn,
)
from connections.sign_in.common import refusal_record, require_usable, secret_hash
from connections.sign_in.identity import jit_role, saml_user_resolve
from connections.sign_in.take import Taken, pending_sign_ins, takes_in_one_statement
from core.compiled import CompiledQuery

# Compiled once per process (core.compiled): the pending sign-in, read and left pending.
_PENDING_PEEK = CompiledQuery(pending_sign_ins)


def _no_longer_pending() -> SamlExpired:
    return SamlExpired(
        "This sign-in is no longer pending (it expired or was already used). Please sign in again.",
        extra={"reason": "no pending verified sign-in for this browser"},
    )


def verified_sign_in_get(*, connection: Connection, finish_token: str | None) -> VerifiedSignIn:
    """The pending sign-in of this browser, left pending: read only to ask a browser signed in
    as someone else before switching (``verified_sign_in_consume`` finishes it)."""
    record = (
        _PENDING_PEEK.first(
            token_hash=secret_hash(finish_token), connection_id=connection.pk, now=timezone.now()
        )
        if finish_token
        else None
    )
    if record is None:
        raise _no_longer_pending()
    require_usable(connection, test_login=record.test_login)
    record.connection = connection
    return record


def verified_sign_in_consume(taken: Taken) -> VerifiedSignIn:
    """The pending sign-in ``pending_take`` took for this browser (only one request can take
    it), refused unless its assertion was newly recorded as used there. Run both in the finish
    step's transaction; on a refusal the view discards the pending sign-in
    (``sign_in_discard``), since the rollback puts it back."""
    record = taken.record
    if record is None:
        raise _no_longer_pending()
    if not taken.newly_used:
        # Used already: the ACS refused any second use (the verified sign-in's unique assertion
        # ID); this holds where that memory is lost (PostgreSQL keeps verified sign-ins in an
        # unlogged table, which a server crash empties). The refusal rolls the use back.
        raise SamlReplayed(extra={"assertion_id": record.assertion_id})
    # The connection may have been disabled between the ACS and now: every login refused.
    require_usable(taken.connection, test_login=record.test_login)
    record.connection = taken.connection  # read with the take (connections.sign_in.take)
    return record


def sign_in_identity(record: VerifiedSignIn):
    identity = record.identity
    friendly_names = identity.get("friendly_names") or {}
    mapped = map_identity(
        attributes=identity["attributes"],
        name_id=identity["name_id"],
        overrides=record.connection.attribute_mapping,
        friendly_names=friendly_names,
    )
    if mapped is None:
        raise attribute_missing(
            name_id=identity["name_id"],
            name_id_format=identity.get("name_id_format", ""),
            sent=describe_sent(identity["attributes"], friendly_names),
            overrides=record.connection.attribute_mapping,
        )
    return mapped


# How many attribute names a refusal lists, and how much of each (an IdP may send hundreds of
# group claims; the names are the IdP's, but nothing unbounded goes on a page or in a record).
_LISTED_ATTRIBUTES = 25
_NAME_CHARS = 120


def attribute_missing(
    *, name_id: str, name_id_format: str, sent: list[str], overrides: dict
) -> AttributeMissing:
    """The refusal when no email can be read: it says what the IdP did send (the NameID's
    format and the attribute names, never their values) and where we looked."""
    listed = [name[:_NAME_CHARS] for name in sent[:_LISTED_ATTRIBUTES]]
    more = len(sent) - len(listed)
    seen = ", ".join(listed) + (f" and {more} more" if more > 0 else "")
    format_name = (name_id_format or "unspecified").rsplit(":", 1)[-1]
    where = (
        f"in the attribute '{overrides['email']}' (this connection's mapping)"
        if overrides.get("email")
        else "in an attribute named 'email'"
    )
    message = (
        "The identity provider sent no usable email address: its NameID (format "
        f"'{format_name}') is not one, and "
        + (f"it sent these attributes: {seen}. " if sent else "it sent no attributes. ")
        + f"Ask your IT team to send the email address {where}, or as the NameID."
    )
    return AttributeMissing(
        message,
        extra={
            "name_id": name_id[:_NAME_CHARS],
            "name_id_format": name_id_format[:_NAME_CHARS],
            "attributes": listed,
            "attributes_not_listed": max(more, 0),
            "looked_for": overrides.get("email") or "the default email names",
        },
    )


def sign_in_user(
    *, record: VerifiedSignIn, browser_secret: str | None, read: SignInRead | None = None
) -> User:
    """Every check of the finish step on a consumed verified sign-in, and the user it signs in
    (JIT-creating them); in the caller's transaction (the finish step's one). ``read``: what
    the take read ahead (``Taken.read``)."""
    _check_browser_binding(record, browser_secret)
    return saml_user_resolve(
        connection=record.connection, identity=sign_in_identity(record), read=read
    )


def sign_in_lookup_for(record: VerifiedSignIn) -> dict:
    """At the ACS: the keys the finish step's take will read the user by (``sign_in_lookup`` of
    the email the connection's mapping reads from the identity now); none if no email is there
    (the finish step refuses that, with the connection's mapping as it is then), or where the
    take reads no user (``takes_in_one_statement``: the ACS need not map the identity there)."""
    if not takes_in_one_statement():
        return {}
    try:
        return sign_in_lookup(sign_in_identity(record).email)
    except AttributeMissing:
        return {}


def sign_in_audit(*, record: VerifiedSignIn, user: User) -> None:
    """The audit event of a sign-in ``sign_in_user`` accepted; its id is not read back, so it is
    one of the finish step's batched writes (``core.batched_writes.writes_batched``)."""
    audit_record(
        action="sso.login",
        connection=record.connection,
        actor=user,
        target=user.email,
        details={
            "flow": "sp-initiated" if record.request_id else "idp-initiated",
            "assertion_id": record.identity["assertion_id"],
            "issuer": record.identity["issuer"],
            "session_index": record.identity["session_index"],
        },
        read_key=False,
    )


def sign_in_test_report(
    *, record: VerifiedSignIn, browser_secret: str | None, actor_label: str = ""
) -> dict:
    """A test login (a staff member's, or a customer's admin through a setup link; its verified
    sign-in consumed): every check of a real sign-in, how the attributes map and what would
    happen to the user, without signing anyone in or keeping any change."""
    _check_browser_binding(record, browser_secret)
    report = {"identity": record.identity, "outcome": "", "error_code": "", "warnings": []}
    try:
        mapped = sign_in_identity(record)
        report["mapped"] = asdict(mapped)
        report["warnings"] = mapping_warnings(record.connection, mapped)
        existed = user_find_for_sign_in(email=mapped.email) is not None
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
        actor_label=actor_label,
        details={"outcome": report["outcome"], "error_code": report["error_code"]},
    )
    return report


def mapping_warnings(connection: Connection, mapped) -> list[str]:
    """What in the attributes will not do what the IdP's admin probably meant."""
    warnings = []
    role, known = jit_role(mapped.role)
    if not known:
        warnings.append(
            f"userType '{mapped.role}' is not a role (admin, department_admin, manager, sender): "
            f"the person would get '{role}'."
        )
    default = connection.default_team.name if connection.default_team else None
    if mapped.team:
        exact, near_miss = team_lookup(company=connection.company, name=mapped.team)
        if exact is None:
            hint = (
                f" Did you mean '{near_miss.name}'? Team names must match exactly."
                if near_miss
                else ""
            )
            fallback = (
                f" The person would join the default team '{default}'."
                if connection.provisioning == Provisioning.JIT and default
                else " The person would join no team."
            )
            warnings.append(f"division '{mapped.team}' matches no team.{hint}{fallback}")
    elif connection.provisioning == Provisioning.JIT:
        warnings.append(
            "No division was sent: the person would join "
            + (f"the default team '{default}'." if default else "no team.")
        )
    return warnings


def sign_in_discard(*, connection: Connection, finish_token: str | None) -> None:
    """Drop this browser's pending sign-in, if any: the person chose to stay signed in as who
    they were, or the finish step refused it (a refused sign-in is used up)."""
    if finish_token:
        # Used up, and kept (its assertion ID) for the ACS's replay check.
        VerifiedSignIn.objects.filter(
            token_hash=secret_hash(finish_token), connection=connection
        ).update(token_hash=None)


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
    *,
    error: SignInRefused,
    connection: Connection | None,
    endpoint: str = "",
    context: dict | None = None,
) -> None:
    """The audit event of a refused sign-in, its target the email the response named."""
    refusal_record(
        error=error,
        connection=connection,
        action="sso.login_refused",
        endpoint=endpoint,
        target=error.extra.get("email", ""),
        context=context,
    )

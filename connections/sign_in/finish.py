"""Finish: the verified sign-in completes in the browser it belongs to."""

from __future__ import annotations

import hmac
from dataclasses import asdict

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from accounts.selectors import team_lookup, user_find_for_sign_in
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
    SeenAssertion,
    VerifiedSignIn,
)
from connections.sign_in.common import refusal_record, require_usable, secret_hash
from connections.sign_in.identity import jit_role, saml_user_resolve
from core.compiled import CompiledQuery, insert_row


def _pending(connection: Connection, finish_token: str | None):
    return _pending_query(secret_hash(finish_token or ""), connection.pk, timezone.now())


def _pending_query(token_hash: str, connection_id: int, now):
    return VerifiedSignIn.objects.filter(
        token_hash=token_hash, connection_id=connection_id, expires_at__gt=now
    )


# Every finish step takes one: compiled once per process (core.compiled). Taken, not deleted:
# the row stays (token emptied) as the ACS's replay memory until the assertion expires.
_PENDING_TAKE = CompiledQuery(_pending_query, update={"token_hash": None})


def _no_longer_pending() -> SamlExpired:
    return SamlExpired(
        "This sign-in is no longer pending (it expired or was already used). Please sign in again.",
        extra={"reason": "no pending verified sign-in for this browser"},
    )


def verified_sign_in_get(*, connection: Connection, finish_token: str | None) -> VerifiedSignIn:
    """The pending sign-in of this browser, left pending: read only to ask a browser signed in
    as someone else before switching (``verified_sign_in_consume`` finishes it)."""
    record = _pending(connection, finish_token).first() if finish_token else None
    if record is None:
        raise _no_longer_pending()
    require_usable(connection, test_login=record.test_login)
    record.connection = connection
    return record


def verified_sign_in_consume(*, connection: Connection, finish_token: str | None) -> VerifiedSignIn:
    """The pending sign-in of this browser, taken in one statement (``UPDATE ... RETURNING``:
    only one request can finish it), its assertion recorded as used (``SeenAssertion``,
    durable). Run it in the finish step's transaction; on a refusal the view discards it
    (``sign_in_discard``), since the rollback puts it back."""
    consumed = (
        _PENDING_TAKE.fetch(
            token_hash=secret_hash(finish_token),
            connection_id=connection.pk,
            now=timezone.now(),
        )
        if finish_token
        else []
    )
    if not consumed:
        raise _no_longer_pending()
    record = consumed[0]
    # The connection may have been disabled between the ACS and now: every login refused.
    require_usable(connection, test_login=record.test_login)
    record.connection = connection  # fetched once per request, by the view
    _assertion_used(record)
    return record


def _assertion_used(record: VerifiedSignIn) -> None:
    """The durable record that this assertion was used. The ACS refused any second use already
    (the verified sign-in's unique assertion ID); this one also holds where that memory is lost
    (PostgreSQL keeps verified sign-ins in an unlogged table, emptied by a server crash).
    Without a savepoint: a clash refuses the whole step."""
    try:
        insert_row(
            SeenAssertion(
                connection=record.connection,
                assertion_id=record.assertion_id,
                expires_at=record.remember_until,
            )
        )
    except IntegrityError:
        raise SamlReplayed(extra={"assertion_id": record.assertion_id}) from None


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


def sign_in_complete(*, record: VerifiedSignIn, browser_secret: str | None) -> User:
    """The user a consumed verified sign-in signs in (JIT-creating them), with the audit event;
    in the caller's transaction (the finish step's one)."""
    _check_browser_binding(record, browser_secret)
    connection = record.connection
    user = saml_user_resolve(connection=connection, identity=sign_in_identity(record))
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

"""Refused sign-ins: saml_expired, saml_not_yet_valid, saml_replayed, saml_unsolicited,
saml_in_response_to_mismatch, saml_status_failure; and saml_malformed for what the Web SSO
profile requires of an assertion (one AuthnStatement, bearer confirmations, SAML 2.0...).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from django.test import Client
from lxml import etree

from audit.models import AuditEvent
from connections.models import PendingAuthnRequest
from connections.services import connection_update
from tests.connections.refusals.cases import (
    NEW,
    Act,
    Given,
    Refusal,
    accepted,
    acme_response,
    at_acs,
    details_say,
    on_acme,
    serialized,
    skew,
)
from tests.connections.saml_helpers import (
    finish,
    idp_for,
    idp_response,
    post_to_acs,
    signed_in_email,
    start_login,
)
from tests.saml_idp import (
    NS_SAML,
    STATUS_AUTHN_FAILED,
    STATUS_REQUESTER,
    STATUS_RESPONDER,
    okta_attributes,
    saml_time,
    sign_element,
    tamper,
)

CASES: list[Refusal] = []

# --- saml_expired and saml_not_yet_valid (the clock skew) ---------------------------------------


def _subject_confirmation_expired(given: Given) -> bytes:
    ended = datetime.now(UTC) - skew() - timedelta(seconds=60)
    return idp_response(given.acme, NEW, subject_not_on_or_after=ended)


def _ahead_beyond_the_skew(given: Given) -> bytes:
    # The IdP's clock is ahead by more than the skew.
    issued = datetime.now(UTC) + skew() + timedelta(seconds=60)
    return idp_response(given.acme, NEW, issue_instant=issued, not_before=timedelta(0))


CASES += [
    Refusal(
        "saml_expired",
        "response",
        at_acs(
            lambda given: idp_response(
                given.acme, NEW, issue_instant=datetime.now(UTC) - timedelta(hours=1)
            )
        ),
        never_created=(NEW,),
    ),
    Refusal(
        "saml_expired",
        "subject-confirmation",
        at_acs(_subject_confirmation_expired),
        never_created=(NEW,),
    ),
    Refusal(
        "saml_not_yet_valid",
        "beyond-the-clock-skew",
        at_acs(_ahead_beyond_the_skew),
        never_created=(NEW,),
    ),
]


def _signed_after(edit: Callable[[etree._Element, etree._Element], None]):
    """acme's response for ``NEW`` with ``edit(response, assertion)`` made before the assertion
    is signed: the IdP itself sent it so."""

    def make(given: Given) -> bytes:
        root = etree.fromstring(idp_response(given.acme, NEW, sign_assertion=False))
        assertion = root.find(f"{{{NS_SAML}}}Assertion")
        edit(root, assertion)
        sign_element(assertion, given.acme.connection.keypair)
        return serialized(root)

    return make


def _q(name: str) -> str:
    return f"{{{NS_SAML}}}{name}"


def _confirmation_data(assertion: etree._Element) -> etree._Element:
    return assertion.find(
        f"{_q('Subject')}/{_q('SubjectConfirmation')}/{_q('SubjectConfirmationData')}"
    )


def _session_ended(root: etree._Element, assertion: etree._Element) -> None:
    ended = datetime.now(UTC) - skew() - timedelta(seconds=60)
    assertion.find(_q("AuthnStatement")).set("SessionNotOnOrAfter", saml_time(ended))


def _confirmation_starts_later(root: etree._Element, assertion: etree._Element) -> None:
    later = datetime.now(UTC) + skew() + timedelta(seconds=60)
    data = _confirmation_data(assertion)
    data.set("NotBefore", saml_time(later))
    data.set("NotOnOrAfter", saml_time(later + timedelta(minutes=5)))


def _issued_two_days_ago(given: Given) -> bytes:
    """Issued long ago, though its validity window (explicit dates) still holds."""
    now = datetime.now(UTC)
    return idp_response(
        given.acme,
        NEW,
        issue_instant=now - timedelta(days=2),
        not_before=now - timedelta(minutes=5),
        not_on_or_after=now + timedelta(minutes=5),
    )


CASES += [
    Refusal(
        "saml_expired",
        "issued-more-than-a-day-ago",
        at_acs(_issued_two_days_ago),
        never_created=(NEW,),
        then=details_say("issue_instant"),
    ),
    Refusal(
        "saml_expired",
        "session-not-on-or-after-passed",
        at_acs(_signed_after(_session_ended)),
        never_created=(NEW,),
    ),
    Refusal(
        "saml_not_yet_valid",
        "subject-confirmation-not-before",
        at_acs(_signed_after(_confirmation_starts_later)),
        never_created=(NEW,),
    ),
]


# --- saml_malformed: what the Web SSO profile requires of a response ----------------------------


def _version(where: str) -> Callable[[etree._Element, etree._Element], None]:
    return lambda root, assertion: (root if where == "response" else assertion).set(
        "Version", "1.1"
    )


def _second_authn_statement(root: etree._Element, assertion: etree._Element) -> None:
    statement = assertion.find(_q("AuthnStatement"))
    statement.addnext(etree.fromstring(etree.tostring(statement)))


def _no_authn_statement(root: etree._Element, assertion: etree._Element) -> None:
    assertion.remove(assertion.find(_q("AuthnStatement")))


def _holder_of_key_beside_bearer(root: etree._Element, assertion: etree._Element) -> None:
    bearer = assertion.find(f"{_q('Subject')}/{_q('SubjectConfirmation')}")
    other = etree.fromstring(etree.tostring(bearer))
    other.set("Method", "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key")
    bearer.addnext(other)


def _address(root: etree._Element, assertion: etree._Element) -> None:
    _confirmation_data(assertion).set("Address", "not-an-address")


def _unknown_condition(root: etree._Element, assertion: etree._Element) -> None:
    etree.SubElement(assertion.find(_q("Conditions")), _q("Condition"))


def _encrypted_name_id(root: etree._Element, assertion: etree._Element) -> None:
    name_id = assertion.find(f"{_q('Subject')}/{_q('NameID')}")
    name_id.addprevious(etree.Element(_q("EncryptedID")))
    name_id.getparent().remove(name_id)


def _unknown_element(root: etree._Element, assertion: etree._Element) -> None:
    assertion.find(_q("Subject")).addnext(etree.Element(_q("Unknown")))


PROFILE = {
    "schema-invalid": (_unknown_element, "schema"),
    "response-version-not-2-0": (_version("response"), "Response Version"),
    "assertion-version-not-2-0": (_version("assertion"), "Assertion Version"),
    "two-authn-statements": (_second_authn_statement, "2 AuthnStatements"),
    "no-authn-statement": (_no_authn_statement, "0 AuthnStatements"),
    "holder-of-key-beside-bearer": (_holder_of_key_beside_bearer, "subject confirmation"),
    "bad-subject-address": (_address, "bad Address"),
    "unknown-condition": (_unknown_condition, "Condition is not supported"),
    "encrypted-name-id": (_encrypted_name_id, "EncryptedID is not supported"),
}

CASES += [
    *(
        Refusal(
            "saml_malformed",
            name,
            at_acs(_signed_after(edit)),
            never_created=(NEW,),
            then=details_say("reason", reason),
        )
        for name, (edit, reason) in PROFILE.items()
    ),
    Refusal(
        "saml_malformed",
        "empty-validity-window",
        at_acs(acme_response(not_before=timedelta(0), not_on_or_after=timedelta(0))),
        never_created=(NEW,),
        then=details_say("reason", "NotOnOrAfter is not after NotBefore"),
    ),
]


# --- saml_replayed ------------------------------------------------------------------------------


def _idp_initiated_posted_twice(given: Given) -> Act:
    xml = idp_response(given.acme, NEW)
    accepted(given.client, given.acme.connection, xml)
    attacker = Client()
    return lambda: post_to_acs(attacker, given.acme.connection, xml)


def _posted_twice_before_finishing(given: Given) -> Act:
    xml = idp_response(given.acme, NEW)
    assert post_to_acs(given.client, given.acme.connection, xml).status_code == 303
    given.attacker = Client()
    return lambda: post_to_acs(given.attacker, given.acme.connection, xml)


def _sp_initiated_replayed_after_use(given: Given) -> Act:
    start, _ = start_login(given.client, given.acme.connection)
    xml = idp_for(given.acme).respond_to(
        start["Location"], name_id=NEW, attributes=okta_attributes(NEW)
    )
    accepted(given.client, given.acme.connection, xml)
    attacker = Client()
    return lambda: post_to_acs(attacker, given.acme.connection, xml)


def _assertion_replayed_in_a_new_response(given: Given) -> Act:
    """Only the assertion is signed: a new Response ID around it is still the same assertion."""
    xml = idp_response(given.acme, NEW)
    accepted(given.client, given.acme.connection, xml)
    root = etree.fromstring(xml)
    root.set("ID", "id-new-response-wrapper")
    rewrapped = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return lambda: post_to_acs(Client(), given.acme.connection, rewrapped)


CASES += [
    Refusal(
        "saml_replayed",
        "idp-initiated-posted-twice",
        _idp_initiated_posted_twice,
    ),
    Refusal(
        "saml_replayed",
        "posted-twice-before-finishing",
        _posted_twice_before_finishing,
        client=lambda given: given.attacker,
        never_created=(NEW,),
        # The first browser's verified sign-in is still waiting for it to finish.
        pending_elsewhere=1,
    ),
    Refusal(
        "saml_replayed",
        "sp-initiated-after-use",
        _sp_initiated_replayed_after_use,
    ),
    Refusal(
        "saml_replayed",
        "assertion-in-a-new-response",
        _assertion_replayed_in_a_new_response,
    ),
]


# --- saml_unsolicited ---------------------------------------------------------------------------


def _idp_initiated_turned_off(given: Given) -> Act:
    connection_update(connection=given.acme.connection, allow_idp_initiated=False)
    return at_acs(acme_response())(given)


CASES += [
    Refusal(
        "saml_unsolicited",
        "idp-initiated-turned-off",
        _idp_initiated_turned_off,
        on=on_acme,
        never_created=(NEW,),
    ),
]


# --- saml_in_response_to_mismatch ---------------------------------------------------------------


def _to_a_request_we_never_made(given: Given) -> Act:
    start_login(given.client, given.acme.connection)  # a genuine request is pending here
    return at_acs(acme_response(in_response_to="id-never-issued-by-us"))(given)


def _unsolicited_carrying_in_response_to(given: Given) -> Act:
    """IdP-initiated logins are allowed here, but this one claims to answer a request."""
    assert given.acme.connection.allow_idp_initiated
    return at_acs(acme_response(in_response_to="id-some-request"))(given)


def _to_a_request_of_another_connection(given: Given) -> Act:
    _, globex_request = start_login(given.client, given.globex.connection)
    return at_acs(acme_response(in_response_to=globex_request.id))(given)


def _to_an_expired_request(given: Given) -> Act:
    start, request = start_login(given.client, given.acme.connection)
    PendingAuthnRequest.objects.filter(request_id=request.id).update(
        expires_at=datetime.now(UTC) - timedelta(seconds=1)
    )
    xml = idp_for(given.acme).respond_to(
        start["Location"], name_id=NEW, attributes=okta_attributes(NEW)
    )
    return lambda: post_to_acs(given.client, given.acme.connection, xml)


def _to_a_request_lost_in_a_crash(given: Given) -> Act:
    """A PostgreSQL crash empties the pending requests (an unlogged table): a response to one
    started before it is refused like any request we do not know; the person signs in again."""
    start, _ = start_login(given.client, given.acme.connection)
    PendingAuthnRequest.objects.all().delete()
    xml = idp_for(given.acme).respond_to(
        start["Location"], name_id=NEW, attributes=okta_attributes(NEW)
    )
    return lambda: post_to_acs(given.client, given.acme.connection, xml)


def _answered_twice(given: Given) -> Act:
    acme = given.acme
    start, _ = start_login(given.client, acme.connection)
    idp = idp_for(acme)
    accepted(
        given.client,
        acme.connection,
        idp.respond_to(start["Location"], name_id=NEW, attributes=okta_attributes(NEW)),
    )
    # A second, distinct assertion (new ID) answering the same request, from another browser.
    second = idp.respond_to(
        start["Location"], name_id=acme.admin.email, attributes=okta_attributes(acme.admin.email)
    )
    return lambda: post_to_acs(Client(), acme.connection, second)


def _unsigned_in_response_to_edited(given: Given) -> Act:
    """Only the assertion is signed: the Response's InResponseTo (here edited to name another
    request pending in the same browser) must agree with the signed one."""
    start, first = start_login(given.client, given.acme.connection)
    _, second = start_login(given.client, given.acme.connection)
    xml = idp_for(given.acme).respond_to(
        start["Location"], name_id=NEW, attributes=okta_attributes(NEW)
    )
    xml = tamper(xml, f'InResponseTo="{first.id}"', f'InResponseTo="{second.id}"', count=1)
    return lambda: post_to_acs(given.client, given.acme.connection, xml)


def _unsolicited_passed_off_as_an_answer(given: Given) -> Act:
    """IdP-initiated is off. The attacker starts a login in their own browser and adds its
    request ID to the unsigned Response around an unsolicited signed assertion."""
    connection = connection_update(connection=given.acme.connection, allow_idp_initiated=False)
    _, request = start_login(given.client, connection)
    root = etree.fromstring(idp_response(given.acme, NEW))
    root.set("InResponseTo", request.id)
    xml = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return lambda: post_to_acs(given.client, connection, xml)


def _finished_in_another_browser(given: Given) -> Act:
    start, _ = start_login(given.client, given.acme.connection, next_path="/a")
    xml = idp_for(given.acme).respond_to(
        start["Location"], name_id=NEW, attributes=okta_attributes(NEW)
    )
    browser_b = Client()
    posted = post_to_acs(browser_b, given.acme.connection, xml)
    return lambda: finish(browser_b, posted)


def _nobody_in_the_first_browser(given: Given, event: AuditEvent) -> None:
    assert signed_in_email(given.client) is None


CASES += [
    Refusal(
        "saml_in_response_to_mismatch",
        "a-request-we-never-made",
        _to_a_request_we_never_made,
        never_created=(NEW,),
    ),
    Refusal(
        "saml_in_response_to_mismatch",
        "unsolicited-carrying-in-response-to",
        _unsolicited_carrying_in_response_to,
        never_created=(NEW,),
    ),
    Refusal(
        "saml_in_response_to_mismatch",
        "a-request-of-another-connection",
        _to_a_request_of_another_connection,
        needs=("acme", "globex", "client"),
        never_created=(NEW,),
    ),
    Refusal(
        "saml_in_response_to_mismatch",
        "an-expired-request",
        _to_an_expired_request,
        never_created=(NEW,),
    ),
    Refusal(
        "saml_in_response_to_mismatch",
        "a-request-lost-in-a-crash",
        _to_a_request_lost_in_a_crash,
        never_created=(NEW,),
    ),
    Refusal(
        "saml_in_response_to_mismatch",
        "a-request-answered-twice",
        _answered_twice,
    ),
    Refusal(
        "saml_in_response_to_mismatch",
        "unsigned-in-response-to-edited",
        _unsigned_in_response_to_edited,
        never_created=(NEW,),
    ),
    Refusal(
        "saml_in_response_to_mismatch",
        "unsolicited-passed-off-as-an-answer",
        _unsolicited_passed_off_as_an_answer,
        never_created=(NEW,),
    ),
    Refusal(
        "saml_in_response_to_mismatch",
        "finished-in-another-browser",
        _finished_in_another_browser,
        never_created=(NEW,),
        then=_nobody_in_the_first_browser,
    ),
]


# --- saml_status_failure ------------------------------------------------------------------------

FAILURES = {
    "responder": {"status_code": STATUS_RESPONDER},
    "requester-with-message": {
        "status_code": STATUS_REQUESTER,
        "status_message": "Traceback saml2 boom",
    },
    "authn-failed": {"status_code": STATUS_RESPONDER, "sub_status_code": STATUS_AUTHN_FAILED},
    "signed": {"status_code": STATUS_RESPONDER, "sign_response": True},
}


def _status_recorded(status_code: str) -> Callable[[Given, AuditEvent], None]:
    def then(given: Given, event: AuditEvent) -> None:
        assert status_code in event.details["status"]

    return then


CASES += [
    Refusal(
        "saml_status_failure",
        f"{name}",
        at_acs(acme_response(**options)),
        never_created=(NEW,),
        then=_status_recorded(options["status_code"]),
        encrypt=False,  # a failed status carries no assertion
    )
    for name, options in FAILURES.items()
]

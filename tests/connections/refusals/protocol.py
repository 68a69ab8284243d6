"""Refused sign-ins: saml_expired, saml_not_yet_valid, saml_replayed, saml_unsolicited,
saml_in_response_to_mismatch, saml_status_failure.
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
    on_acme,
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
    STATUS_AUTHN_FAILED,
    STATUS_REQUESTER,
    STATUS_RESPONDER,
    okta_attributes,
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
    )
    for name, options in FAILURES.items()
]

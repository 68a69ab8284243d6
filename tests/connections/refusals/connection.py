"""Refused sign-ins: connection_unknown, connection_disabled, saml_malformed (unreadable)."""

from __future__ import annotations

from collections.abc import Callable

from lxml import etree

from audit.models import AuditEvent, RefusalTally
from connections.models import (
    ConnectionStatus,
    PendingAuthnRequest,
)
from connections.services import connection_set_status
from tests.connections.refusals.cases import (
    NEW,
    Act,
    Given,
    Refusal,
    acme_response,
    at_acs,
    on_acme,
)
from tests.connections.saml_helpers import (
    finish,
    idp_for,
    idp_response,
    local,
    post_to_acs,
    start_login,
)
from tests.saml_idp import (
    NS_SAML,
    okta_attributes,
    post_data,
)

CASES: list[Refusal] = []

# --- connection_unknown -------------------------------------------------------------------------


def _acs_of_an_unknown_connection(given: Given) -> Act:
    xml = idp_response(given.acme, NEW)
    return lambda: given.client.post("/sso/no-such-connection/acs/", post_data(xml))


def _endpoint_of_an_unknown_connection(endpoint: str) -> Callable[[Given], Act]:
    return lambda given: lambda: given.client.get(f"/sso/no-such-connection/{endpoint}/")


def _counted_once(given: Given, tally: RefusalTally) -> None:
    """Requests for a connection nobody configured are counted, not stored one by one."""
    assert (tally.name, tally.count) == ("no-such-connection", 1)


CASES += [
    Refusal(
        "connection_unknown",
        "acs",
        _acs_of_an_unknown_connection,
        status=404,
        never_created=(NEW,),
        tallied=True,
        then=_counted_once,
    ),
    *(
        Refusal(
            "connection_unknown",
            f"{endpoint}",
            _endpoint_of_an_unknown_connection(endpoint),
            needs=("db", "client"),
            status=404,
            tallied=True,
            then=_counted_once,
        )
        for endpoint in ("login", "metadata", "finish")
    ),
]


# --- connection_disabled ------------------------------------------------------------------------


def _disabled(given: Given) -> None:
    connection_set_status(connection=given.acme.connection, status=ConnectionStatus.DISABLED)


def _idp_initiated_through_a_disabled_connection(given: Given) -> Act:
    _disabled(given)
    return at_acs(acme_response())(given)


def _sp_initiated_through_a_disabled_connection(given: Given) -> Act:
    _disabled(given)
    return lambda: given.client.get("/sso/acme/login/")


def _no_request_pending(given: Given, event: AuditEvent) -> None:
    assert not PendingAuthnRequest.objects.exists()


def _started_before_the_connection_was_disabled(given: Given) -> Act:
    start, _ = start_login(given.client, given.acme.connection)
    xml = idp_for(given.acme).respond_to(
        start["Location"], name_id=NEW, attributes=okta_attributes(NEW)
    )
    _disabled(given)
    return lambda: post_to_acs(given.client, given.acme.connection, xml)


def _verified_just_before_the_connection_was_disabled(given: Given) -> Act:
    acs = post_to_acs(given.client, given.acme.connection, idp_response(given.acme, NEW))
    assert acs.status_code == 303
    _disabled(given)
    return lambda: finish(given.client, acs)


def _idp_initiated_through_a_draft_connection(given: Given) -> Act:
    xml = idp_for(given.acme, entity_id=given.draft.idp_entity_id).response(
        acs_url=given.draft.acs_url,
        audience=given.draft.sp_entity_id,
        name_id=NEW,
        attributes=okta_attributes(NEW),
    )
    return lambda: post_to_acs(given.client, given.draft, xml)


def _sp_initiated_through_a_draft_connection(given: Given) -> Act:
    # A test login, but not by staff: no test login.
    return lambda: given.client.get("/sso/acme-draft/login/", {"test": "1"})


CASES += [
    Refusal(
        "connection_disabled",
        "idp-initiated",
        _idp_initiated_through_a_disabled_connection,
        on=on_acme,
        never_created=(NEW,),
    ),
    Refusal(
        "connection_disabled",
        "sp-initiated",
        _sp_initiated_through_a_disabled_connection,
        then=_no_request_pending,
    ),
    Refusal(
        "connection_disabled",
        "login-started-before",
        _started_before_the_connection_was_disabled,
        never_created=(NEW,),
    ),
    Refusal(
        "connection_disabled",
        "login-verified-just-before",
        _verified_just_before_the_connection_was_disabled,
        never_created=(NEW,),
    ),
    Refusal(
        "connection_disabled",
        "draft-idp-initiated",
        _idp_initiated_through_a_draft_connection,
        needs=("acme", "draft", "client"),
        on=lambda given: given.draft,
        never_created=(NEW,),
    ),
    Refusal(
        "connection_disabled",
        "draft-sp-initiated",
        _sp_initiated_through_a_draft_connection,
        needs=("acme", "draft", "client"),
        on=lambda given: given.draft,
    ),
]


# --- saml_malformed -----------------------------------------------------------------------------


def _posted_raw(value: str) -> Callable[[Given], Act]:
    return lambda given: lambda: given.client.post(
        local(given.acme.connection.acs_url), {"SAMLResponse": value}
    )


def _without_saml_response(given: Given) -> Act:
    return lambda: given.client.post(local(given.acme.connection.acs_url), {"RelayState": "/"})


def _bare_signed_assertion(given: Given) -> bytes:
    """Only the Response is the protocol message; an assertion posted alone is not one."""
    root = etree.fromstring(idp_response(given.acme, NEW))
    return etree.tostring(root.find(f"{{{NS_SAML}}}Assertion"))


UNREADABLE = {
    "not-base64": "%%% this is not base64 %%%",
    "bad-padding": "PHNhbWxwOlJlc3BvbnNlPg=",  # truncated base64
    "not-xml": "dGhpcyBpcyBub3QgWE1MIGF0IGFsbA==",  # "this is not XML at all"
    "not-well-formed": "PGZvbz48L2Jhcj4=",  # "<foo></bar>": not well-formed
    "empty": "",
}
NOT_A_RESPONSE = {
    "authn-request": b'<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
    b'ID="id1" Version="2.0" IssueInstant="2024-01-01T00:00:00Z"/>',
    "logout-response": b'<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
    b'ID="id1" Version="2.0"/>',
    "html": b"<html><body>not SAML</body></html>",
}

CASES += [
    *(
        Refusal("saml_malformed", f"{name}", _posted_raw(value), status=400)
        for name, value in UNREADABLE.items()
    ),
    Refusal("saml_malformed", "no-saml-response", _without_saml_response),
    *(
        Refusal("saml_malformed", f"{name}", at_acs(lambda given, xml=xml: xml))
        for name, xml in NOT_A_RESPONSE.items()
    ),
    Refusal(
        "saml_malformed",
        "bare-signed-assertion",
        at_acs(_bare_signed_assertion),
        never_created=(NEW,),
    ),
]

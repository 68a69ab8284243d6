"""SAML sign-ins that must be refused: one test per SPEC error code, then the attack corpus.

Every refusal asserts the code on the error page and on the audit event, that nobody is signed
in and that no user was created. Where the connection does JIT, the response names a new email
(``NEW``) that JIT would otherwise create, so a refusal that silently let the login through fails
the test. Responses are signed by the test IdP and verified by the production code path.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.test import Client
from lxml import etree

from accounts.models import User, UserSource
from connections.models import ConnectionStatus, PendingAuthnRequest, SeenAssertion
from connections.services import (
    connection_add_certificate,
    connection_remove_certificate,
    connection_set_status,
    connection_update,
)
from tests.certs import make_keypair
from tests.connections.saml_helpers import (
    assert_refused,
    finish,
    idp_for,
    idp_response,
    local,
    post_to_acs,
    sign_in,
    signed_in_email,
    start_login,
)
from tests.factories import ConnectionFactory, UserFactory
from tests.saml_idp import (
    ATTACKER_NAME_ID,
    NAMEID_UNSPECIFIED,
    NS_SAML,
    NS_SAMLP,
    STATUS_AUTHN_FAILED,
    STATUS_REQUESTER,
    STATUS_RESPONDER,
    WRAP_MODES,
    add_second_unsigned_assertion,
    comment_in_name_id,
    entity_expansion,
    external_entity,
    okta_attributes,
    post_data,
    resign_with,
    sign_element,
    strip_signatures,
    tamper,
    with_doctype,
    wrap_assertion,
)

#: A new acme.com address: JIT creates this user on any accepted login through acme.
NEW = "newhire@acme.com"


@pytest.fixture
def attacker_key():
    """The attacker's own key and certificate (never configured on any connection)."""
    return make_keypair("attacker.example", slot="attacker")


def accepted(client, connection, xml, relay_state=None, *, email=NEW):
    """Positive control: the same kind of response, but valid, signs ``email`` in."""
    done = sign_in(client, connection, xml, relay_state)
    assert done.status_code == 302, done.content[:800]
    assert signed_in_email(client) == email
    return done


def posted_raw(client, connection, value):
    return client.post(local(connection.acs_url), {"SAMLResponse": value})


def skew() -> timedelta:
    return timedelta(seconds=settings.SAML_CLOCK_SKEW_SECONDS)


# ================================================================================================
# One test (or a few) per SPEC error code
# ================================================================================================

# --- connection_unknown -------------------------------------------------------------------------


def test_acs_of_an_unknown_connection_is_refused(acme, client):
    users_before = User.objects.count()
    xml = idp_response(acme, NEW)

    response = client.post("/sso/no-such-connection/acs/", post_data(xml))

    event = assert_refused(
        response, "connection_unknown", users_before=users_before, status=404, never_created=(NEW,)
    )
    assert event.connection is None


@pytest.mark.parametrize("endpoint", ["login", "metadata", "finish"])
def test_other_endpoints_of_an_unknown_connection_are_refused(db, client, endpoint):
    users_before = User.objects.count()

    response = client.get(f"/sso/no-such-connection/{endpoint}/")

    assert_refused(response, "connection_unknown", users_before=users_before, status=404)


# --- connection_disabled ------------------------------------------------------------------------


def test_idp_initiated_login_through_a_disabled_connection_is_refused(acme, client):
    connection_set_status(connection=acme.connection, status=ConnectionStatus.DISABLED)
    users_before = User.objects.count()

    response = post_to_acs(client, acme.connection, idp_response(acme, NEW))

    assert_refused(
        response,
        "connection_disabled",
        users_before=users_before,
        connection=acme.connection,
        never_created=(NEW,),
    )


def test_sp_initiated_login_through_a_disabled_connection_is_refused(acme, client):
    connection_set_status(connection=acme.connection, status=ConnectionStatus.DISABLED)
    users_before = User.objects.count()

    response = client.get("/sso/acme/login/")

    assert_refused(response, "connection_disabled", users_before=users_before)
    assert not PendingAuthnRequest.objects.exists()


def test_a_login_started_before_the_connection_was_disabled_is_refused(acme, client):
    start, _ = start_login(client, acme.connection)
    xml = idp_for(acme).respond_to(start["Location"], name_id=NEW, attributes=okta_attributes(NEW))
    connection_set_status(connection=acme.connection, status=ConnectionStatus.DISABLED)
    users_before = User.objects.count()

    response = post_to_acs(client, acme.connection, xml)

    assert_refused(response, "connection_disabled", users_before=users_before, never_created=(NEW,))


def test_a_login_verified_just_before_the_connection_was_disabled_does_not_finish(acme, client):
    users_before = User.objects.count()
    acs = post_to_acs(client, acme.connection, idp_response(acme, NEW))
    assert acs.status_code == 303
    connection_set_status(connection=acme.connection, status=ConnectionStatus.DISABLED)

    response = finish(client, acs)

    assert_refused(response, "connection_disabled", users_before=users_before, never_created=(NEW,))


@pytest.fixture
def draft(acme):
    """A second acme connection still in draft (only the staff test login works there)."""
    return ConnectionFactory(
        company=acme.company,
        name="acme-draft",
        status=ConnectionStatus.DRAFT,
        default_team=acme.teams["Sales"],
        keypair=acme.connection.keypair,
    )


def test_idp_initiated_login_through_a_draft_connection_is_refused(acme, draft, client):
    users_before = User.objects.count()
    xml = idp_for(acme, entity_id=draft.idp_entity_id).response(
        acs_url=draft.acs_url,
        audience=draft.sp_entity_id,
        name_id=NEW,
        attributes=okta_attributes(NEW),
    )

    response = post_to_acs(client, draft, xml)

    assert_refused(
        response,
        "connection_disabled",
        users_before=users_before,
        connection=draft,
        never_created=(NEW,),
    )


def test_sp_initiated_login_through_a_draft_connection_is_refused(acme, draft, client):
    users_before = User.objects.count()

    response = client.get("/sso/acme-draft/login/", {"test": "1"})  # not staff: no test login

    assert_refused(response, "connection_disabled", users_before=users_before, connection=draft)


# --- saml_malformed -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "%%% this is not base64 %%%",
        "PHNhbWxwOlJlc3BvbnNlPg=",  # truncated base64
        "dGhpcyBpcyBub3QgWE1MIGF0IGFsbA==",  # "this is not XML at all"
        "PGZvbz48L2Jhcj4=",  # "<foo></bar>": not well-formed
        "",
    ],
    ids=["not-base64", "bad-padding", "not-xml", "not-well-formed", "empty"],
)
def test_a_response_that_cannot_be_read_is_refused(acme, client, value):
    users_before = User.objects.count()

    response = posted_raw(client, acme.connection, value)

    assert_refused(response, "saml_malformed", users_before=users_before, status=400)


def test_a_post_without_saml_response_is_refused(acme, client):
    users_before = User.objects.count()

    response = client.post(local(acme.connection.acs_url), {"RelayState": "/"})

    assert_refused(response, "saml_malformed", users_before=users_before)


@pytest.mark.parametrize(
    "xml",
    [
        b'<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="id1" '
        b'Version="2.0" IssueInstant="2024-01-01T00:00:00Z"/>',
        b'<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="id1" '
        b'Version="2.0"/>',
        b"<html><body>not SAML</body></html>",
    ],
    ids=["authn-request", "logout-response", "html"],
)
def test_xml_that_is_not_a_saml_response_is_refused(acme, client, xml):
    users_before = User.objects.count()

    response = post_to_acs(client, acme.connection, xml)

    assert_refused(response, "saml_malformed", users_before=users_before)


def test_a_bare_signed_assertion_without_its_response_is_refused(acme, client):
    """Only the Response is the protocol message; an assertion posted alone is not one."""
    users_before = User.objects.count()
    root = etree.fromstring(idp_response(acme, NEW))
    assertion = root.find(f"{{{NS_SAML}}}Assertion")

    response = post_to_acs(client, acme.connection, etree.tostring(assertion))

    assert_refused(response, "saml_malformed", users_before=users_before, never_created=(NEW,))


# --- saml_signature_missing ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sign_response", "where"),
    [(False, "all"), (True, "all"), (True, "assertion_then_response")],
    ids=["assertion-signature-stripped", "both-stripped", "both-stripped-one-by-one"],
)
def test_a_response_with_its_signatures_stripped_is_refused(acme, client, sign_response, where):
    users_before = User.objects.count()
    xml = idp_response(acme, NEW, sign_response=sign_response)
    if where == "all":
        xml = strip_signatures(xml)
    else:
        xml = strip_signatures(strip_signatures(xml, "assertion"), "response")

    response = post_to_acs(client, acme.connection, xml)

    assert_refused(
        response, "saml_signature_missing", users_before=users_before, never_created=(NEW,)
    )


def test_an_unsigned_response_is_refused(acme, client):
    users_before = User.objects.count()

    response = post_to_acs(client, acme.connection, idp_response(acme, NEW, sign_assertion=False))

    assert_refused(
        response, "saml_signature_missing", users_before=users_before, never_created=(NEW,)
    )


# --- saml_signature_invalid ---------------------------------------------------------------------


def test_a_response_tampered_after_signing_is_refused(acme, client):
    users_before = User.objects.count()
    xml = tamper(idp_response(acme, NEW), NEW, acme.admin.email)

    response = post_to_acs(client, acme.connection, xml)

    event = assert_refused(
        response,
        "saml_signature_invalid",
        users_before=users_before,
        connection=acme.connection,
        never_created=(NEW,),
    )
    assert event.details["configured_certificates"] == [acme.connection.keypair.fingerprint]
    assert event.details["certificates_in_message"] == [acme.connection.keypair.fingerprint]


@pytest.mark.parametrize(
    ("sign_assertion", "sign_response"),
    [(True, False), (False, True), (True, True)],
    ids=["assertion", "response", "both"],
)
def test_a_response_resigned_with_another_key_carried_in_keyinfo_is_refused(
    acme, client, attacker_key, sign_assertion, sign_response
):
    users_before = User.objects.count()
    forged = tamper(idp_response(acme, NEW), NEW, acme.admin.email)
    xml = resign_with(
        forged, attacker_key, sign_assertion=sign_assertion, sign_response=sign_response
    )

    response = post_to_acs(client, acme.connection, xml)

    event = assert_refused(
        response,
        "saml_signature_invalid",
        users_before=users_before,
        connection=acme.connection,
        never_created=(NEW,),
    )
    # What support needs: the certificate configured next to the one the message carried.
    assert event.details["configured_certificates"] == [acme.connection.keypair.fingerprint]
    assert event.details["certificates_in_message"] == [attacker_key.fingerprint]
    assert signed_in_email(client) != acme.admin.email


def test_a_key_with_the_same_certificate_subject_as_the_idp_is_not_trusted(acme, client):
    """Only the configured certificate counts, not a look-alike with the same name."""
    users_before = User.objects.count()
    look_alike = make_keypair("acme.okta.example", slot="look-alike")

    response = post_to_acs(
        client, acme.connection, resign_with(idp_response(acme, NEW), look_alike)
    )

    event = assert_refused(
        response, "saml_signature_invalid", users_before=users_before, never_created=(NEW,)
    )
    assert event.details["certificates_in_message"] == [look_alike.fingerprint]


def test_a_response_signed_with_another_key_without_keyinfo_is_refused(acme, client, attacker_key):
    users_before = User.objects.count()
    xml = resign_with(idp_response(acme, NEW), attacker_key, include_key_info=False)

    response = post_to_acs(client, acme.connection, xml)

    event = assert_refused(
        response, "saml_signature_invalid", users_before=users_before, never_created=(NEW,)
    )
    assert event.details["configured_certificates"] == [acme.connection.keypair.fingerprint]
    assert event.details["certificates_in_message"] == []


def test_a_valid_assertion_inside_a_response_signed_by_another_key_is_refused(
    acme, client, attacker_key
):
    """A signature that does not verify is never ignored, even beside one that does."""
    users_before = User.objects.count()
    root = etree.fromstring(idp_response(acme, NEW))
    sign_element(root, attacker_key)
    xml = etree.tostring(root, xml_declaration=True, encoding="UTF-8")

    response = post_to_acs(client, acme.connection, xml)

    event = assert_refused(
        response, "saml_signature_invalid", users_before=users_before, never_created=(NEW,)
    )
    assert attacker_key.fingerprint in event.details["certificates_in_message"]


@pytest.mark.parametrize("sign_response", [False, True], ids=["assertion", "both"])
def test_a_response_signed_with_rsa_sha1_is_refused(acme, client, sign_response):
    users_before = User.objects.count()
    xml = idp_response(acme, NEW, algorithm="rsa-sha1", sign_response=sign_response)

    response = post_to_acs(client, acme.connection, xml)

    assert_refused(
        response, "saml_signature_invalid", users_before=users_before, never_created=(NEW,)
    )


def test_a_removed_certificate_no_longer_verifies(acme, client):
    """After a rotation completes, the old key is refused at once (no stale cached config)."""
    old = acme.connection.certificates.get()
    new_key = make_keypair("acme.okta.example", slot="acme-rotated")
    # Warm the cached configuration with the old certificate first.
    accepted(
        client, acme.connection, idp_response(acme, acme.member.email), email=acme.member.email
    )
    client.logout()
    connection_add_certificate(connection=acme.connection, certificate_data=new_key.cert_pem)
    connection_remove_certificate(certificate=old)
    users_before = User.objects.count()

    response = post_to_acs(client, acme.connection, idp_response(acme, NEW))

    event = assert_refused(
        response, "saml_signature_invalid", users_before=users_before, never_created=(NEW,)
    )
    assert event.details["configured_certificates"] == [new_key.fingerprint]


def test_a_response_signed_by_the_idp_without_keyinfo_is_accepted(acme, client):
    """Control: the configured certificate verifies even when the message carries none."""
    accepted(client, acme.connection, idp_response(acme, NEW, include_key_info=False))


# --- saml_issuer_mismatch -----------------------------------------------------------------------


def test_a_response_from_another_issuer_is_refused(acme, client):
    users_before = User.objects.count()
    xml = idp_response(acme, NEW, issuer="http://www.okta.com/someone-else")

    response = post_to_acs(client, acme.connection, xml)

    assert_refused(
        response, "saml_issuer_mismatch", users_before=users_before, never_created=(NEW,)
    )


def test_a_response_whose_response_issuer_differs_from_the_assertion_issuer_is_refused(
    acme, client
):
    """Only the assertion is signed, so the Response's Issuer can be edited freely."""
    users_before = User.objects.count()
    issuer = acme.connection.idp_entity_id
    xml = tamper(
        idp_response(acme, NEW), f">{issuer}<", ">http://www.okta.com/someone-else<", count=1
    )

    response = post_to_acs(client, acme.connection, xml)

    assert_refused(
        response, "saml_issuer_mismatch", users_before=users_before, never_created=(NEW,)
    )


# --- saml_audience_mismatch ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"audience": "https://other-app.example/saml/metadata"},
        {"audience": "https://sso.test/sso/globex/metadata/"},
        {"include_audience": False},
    ],
    ids=["other-app", "other-connection", "missing"],
)
def test_a_response_for_another_audience_is_refused(acme, client, options):
    users_before = User.objects.count()

    response = post_to_acs(client, acme.connection, idp_response(acme, NEW, **options))

    assert_refused(
        response, "saml_audience_mismatch", users_before=users_before, never_created=(NEW,)
    )


# --- saml_destination_mismatch ------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"destination": "https://sso.test/sso/globex/acs/"},
        {"destination": "https://evil.example/acs"},
        {"include_destination": False},
        {"recipient": "https://sso.test/sso/globex/acs/"},
        {"include_recipient": False},
    ],
    ids=[
        "destination-other-connection",
        "destination-other-site",
        "destination-missing",
        "recipient-wrong",
        "recipient-missing",
    ],
)
def test_a_response_for_another_destination_or_recipient_is_refused(acme, client, options):
    users_before = User.objects.count()

    response = post_to_acs(client, acme.connection, idp_response(acme, NEW, **options))

    assert_refused(
        response, "saml_destination_mismatch", users_before=users_before, never_created=(NEW,)
    )


# --- saml_expired and saml_not_yet_valid (the clock skew) ---------------------------------------


def test_an_expired_response_is_refused(acme, client):
    users_before = User.objects.count()
    issued = datetime.now(UTC) - timedelta(hours=1)

    response = post_to_acs(client, acme.connection, idp_response(acme, NEW, issue_instant=issued))

    assert_refused(response, "saml_expired", users_before=users_before, never_created=(NEW,))


def test_a_response_whose_subject_confirmation_expired_is_refused(acme, client):
    users_before = User.objects.count()
    ended = datetime.now(UTC) - skew() - timedelta(seconds=60)

    response = post_to_acs(
        client, acme.connection, idp_response(acme, NEW, subject_not_on_or_after=ended)
    )

    assert_refused(response, "saml_expired", users_before=users_before, never_created=(NEW,))


def test_a_response_that_expired_within_the_clock_skew_is_accepted(acme, client):
    ended = datetime.now(UTC) - skew() + timedelta(seconds=30)

    accepted(client, acme.connection, idp_response(acme, NEW, not_on_or_after=ended))


def test_a_response_not_yet_valid_beyond_the_clock_skew_is_refused(acme, client):
    users_before = User.objects.count()
    # The IdP's clock is ahead by more than the skew.
    issued = datetime.now(UTC) + skew() + timedelta(seconds=60)
    xml = idp_response(acme, NEW, issue_instant=issued, not_before=timedelta(0))

    response = post_to_acs(client, acme.connection, xml)

    assert_refused(response, "saml_not_yet_valid", users_before=users_before, never_created=(NEW,))


def test_a_response_not_yet_valid_within_the_clock_skew_is_accepted(acme, client):
    issued = datetime.now(UTC) + skew() - timedelta(seconds=30)
    xml = idp_response(acme, NEW, issue_instant=issued, not_before=timedelta(0))

    accepted(client, acme.connection, xml)


def test_the_clock_skew_comes_from_the_setting(acme, client, settings):
    settings.SAML_CLOCK_SKEW_SECONDS = 600
    # Five minutes ahead: beyond the default 2-minute skew, within this 10-minute one.
    issued = datetime.now(UTC) + timedelta(minutes=5)
    xml = idp_response(acme, NEW, issue_instant=issued, not_before=timedelta(0))

    accepted(client, acme.connection, xml)


def test_the_clock_skew_setting_is_a_real_window(settings):
    """The within/beyond pairs above only mean something with a skew of more than 30 s."""
    assert settings.SAML_CLOCK_SKEW_SECONDS > 30


# --- saml_replayed ------------------------------------------------------------------------------


def test_an_idp_initiated_response_posted_twice_is_refused_the_second_time(acme, client):
    xml = idp_response(acme, NEW)
    accepted(client, acme.connection, xml)
    users_before = User.objects.count()
    attacker = Client()

    response = post_to_acs(attacker, acme.connection, xml)

    assert_refused(response, "saml_replayed", users_before=users_before)


def test_a_response_posted_twice_before_finishing_is_refused_the_second_time(acme, client):
    users_before = User.objects.count()
    xml = idp_response(acme, NEW)
    assert post_to_acs(client, acme.connection, xml).status_code == 303
    attacker = Client()

    response = post_to_acs(attacker, acme.connection, xml)

    # The first browser's verified sign-in is still waiting for it to finish.
    assert_refused(
        response,
        "saml_replayed",
        users_before=users_before,
        client=attacker,
        never_created=(NEW,),
        pending_elsewhere=1,
    )


def test_an_sp_initiated_response_replayed_after_use_is_refused(acme, client):
    start, _ = start_login(client, acme.connection)
    xml = idp_for(acme).respond_to(start["Location"], name_id=NEW, attributes=okta_attributes(NEW))
    accepted(client, acme.connection, xml)
    users_before = User.objects.count()
    attacker = Client()

    response = post_to_acs(attacker, acme.connection, xml)

    assert_refused(response, "saml_replayed", users_before=users_before)


def test_a_signed_assertion_replayed_in_a_new_response_is_refused(acme, client):
    """Only the assertion is signed: a new Response ID around it is still the same assertion."""
    xml = idp_response(acme, NEW)
    accepted(client, acme.connection, xml)
    users_before = User.objects.count()
    root = etree.fromstring(xml)
    root.set("ID", "id-new-response-wrapper")
    rewrapped = etree.tostring(root, xml_declaration=True, encoding="UTF-8")

    response = post_to_acs(Client(), acme.connection, rewrapped)

    assert_refused(response, "saml_replayed", users_before=users_before)


# --- saml_unsolicited ---------------------------------------------------------------------------


def test_an_idp_initiated_login_is_refused_where_it_is_turned_off(acme, client):
    connection = connection_update(connection=acme.connection, allow_idp_initiated=False)
    users_before = User.objects.count()

    response = post_to_acs(client, connection, idp_response(acme, NEW))

    assert_refused(
        response,
        "saml_unsolicited",
        users_before=users_before,
        connection=connection,
        never_created=(NEW,),
    )


def test_an_sp_initiated_login_still_works_where_idp_initiated_is_turned_off(acme, client):
    connection = connection_update(connection=acme.connection, allow_idp_initiated=False)
    start, _ = start_login(client, connection)
    xml = idp_for(acme).respond_to(start["Location"], name_id=NEW, attributes=okta_attributes(NEW))

    accepted(client, connection, xml)


# --- saml_in_response_to_mismatch ---------------------------------------------------------------


def test_a_response_to_a_request_we_never_made_is_refused(acme, client):
    start_login(client, acme.connection)  # a genuine request is pending in this browser
    users_before = User.objects.count()
    xml = idp_response(acme, NEW, in_response_to="id-never-issued-by-us")

    response = post_to_acs(client, acme.connection, xml)

    assert_refused(
        response,
        "saml_in_response_to_mismatch",
        users_before=users_before,
        never_created=(NEW,),
    )


def test_an_unsolicited_response_carrying_an_in_response_to_is_refused(acme, client):
    """IdP-initiated logins are allowed here, but this one claims to answer a request."""
    assert acme.connection.allow_idp_initiated
    users_before = User.objects.count()
    xml = idp_response(acme, NEW, in_response_to="id-some-request")

    response = post_to_acs(client, acme.connection, xml)

    assert_refused(
        response,
        "saml_in_response_to_mismatch",
        users_before=users_before,
        never_created=(NEW,),
    )


def test_a_response_to_a_request_of_another_connection_is_refused(acme, globex, client):
    _, globex_request = start_login(client, globex.connection)
    users_before = User.objects.count()
    xml = idp_response(acme, NEW, in_response_to=globex_request.id)

    response = post_to_acs(client, acme.connection, xml)

    assert_refused(
        response,
        "saml_in_response_to_mismatch",
        users_before=users_before,
        never_created=(NEW,),
    )


def test_a_response_to_an_expired_request_is_refused(acme, client):
    start, request = start_login(client, acme.connection)
    PendingAuthnRequest.objects.filter(request_id=request.id).update(
        expires_at=datetime.now(UTC) - timedelta(seconds=1)
    )
    users_before = User.objects.count()
    xml = idp_for(acme).respond_to(start["Location"], name_id=NEW, attributes=okta_attributes(NEW))

    response = post_to_acs(client, acme.connection, xml)

    assert_refused(
        response,
        "saml_in_response_to_mismatch",
        users_before=users_before,
        never_created=(NEW,),
    )


def test_a_request_is_answered_only_once(acme, client):
    start, _ = start_login(client, acme.connection)
    idp = idp_for(acme)
    accepted(
        client,
        acme.connection,
        idp.respond_to(start["Location"], name_id=NEW, attributes=okta_attributes(NEW)),
    )
    users_before = User.objects.count()
    other = Client()
    # A second, distinct assertion (new ID) answering the same request.
    second = idp.respond_to(
        start["Location"], name_id=acme.admin.email, attributes=okta_attributes(acme.admin.email)
    )

    response = post_to_acs(other, acme.connection, second)

    assert_refused(response, "saml_in_response_to_mismatch", users_before=users_before)


def test_a_response_whose_unsigned_in_response_to_was_edited_is_refused(acme, client):
    """Only the assertion is signed: the Response's InResponseTo (here edited to name another
    request pending in the same browser) must agree with the signed one."""
    start, first = start_login(client, acme.connection)
    _, second = start_login(client, acme.connection)
    users_before = User.objects.count()
    xml = idp_for(acme).respond_to(start["Location"], name_id=NEW, attributes=okta_attributes(NEW))
    xml = tamper(xml, f'InResponseTo="{first.id}"', f'InResponseTo="{second.id}"', count=1)

    response = post_to_acs(client, acme.connection, xml)

    assert_refused(
        response,
        "saml_in_response_to_mismatch",
        users_before=users_before,
        never_created=(NEW,),
    )


def test_an_unsolicited_assertion_cannot_be_passed_off_as_an_answer(acme, client):
    """IdP-initiated is off. The attacker starts a login in their own browser and adds its
    request ID to the unsigned Response around an unsolicited signed assertion."""
    connection = connection_update(connection=acme.connection, allow_idp_initiated=False)
    _, request = start_login(client, connection)
    users_before = User.objects.count()
    root = etree.fromstring(idp_response(acme, NEW))
    root.set("InResponseTo", request.id)
    xml = etree.tostring(root, xml_declaration=True, encoding="UTF-8")

    response = post_to_acs(client, connection, xml)

    assert_refused(
        response,
        "saml_in_response_to_mismatch",
        users_before=users_before,
        never_created=(NEW,),
    )


def test_a_login_started_in_one_browser_cannot_finish_in_another(acme, client):
    browser_a, browser_b = client, Client()
    start, _ = start_login(browser_a, acme.connection, next_path="/a")
    users_before = User.objects.count()
    xml = idp_for(acme).respond_to(start["Location"], name_id=NEW, attributes=okta_attributes(NEW))

    response = finish(browser_b, post_to_acs(browser_b, acme.connection, xml))

    assert_refused(
        response,
        "saml_in_response_to_mismatch",
        users_before=users_before,
        never_created=(NEW,),
    )
    assert signed_in_email(browser_a) is None


def test_a_refused_response_does_not_use_up_the_request(acme, client, attacker_key):
    """Nothing but an audit event is written by a refusal: the genuine answer still works."""
    start, request = start_login(client, acme.connection, next_path="/after")
    idp = idp_for(acme)
    forged = resign_with(
        idp.respond_to(
            start["Location"], name_id=NEW, attributes=okta_attributes(acme.admin.email)
        ),
        attacker_key,
    )
    users_before = User.objects.count()
    assert_refused(
        post_to_acs(client, acme.connection, forged),
        "saml_signature_invalid",
        users_before=users_before,
    )
    assert PendingAuthnRequest.objects.filter(request_id=request.id).exists()
    assert not SeenAssertion.objects.exists()

    done = accepted(
        client,
        acme.connection,
        idp.respond_to(start["Location"], name_id=NEW, attributes=okta_attributes(NEW)),
    )
    assert done["Location"] == "/after"


# --- saml_status_failure ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"status_code": STATUS_RESPONDER},
        {"status_code": STATUS_REQUESTER, "status_message": "Traceback saml2 boom"},
        {"status_code": STATUS_RESPONDER, "sub_status_code": STATUS_AUTHN_FAILED},
        {"status_code": STATUS_RESPONDER, "sign_response": True},
    ],
    ids=["responder", "requester-with-message", "authn-failed", "signed"],
)
def test_a_response_reporting_failure_is_refused(acme, client, options):
    users_before = User.objects.count()

    response = post_to_acs(client, acme.connection, idp_response(acme, NEW, **options))

    event = assert_refused(
        response, "saml_status_failure", users_before=users_before, never_created=(NEW,)
    )
    assert options["status_code"] in event.details["status"]


# --- attribute_missing --------------------------------------------------------------------------


def test_a_response_without_an_email_is_refused(acme, client):
    users_before = User.objects.count()
    xml = idp_response(
        acme,
        "jdoe",
        name_id_format=NAMEID_UNSPECIFIED,
        attributes={"givenName": "John", "familyName": "Doe", "user_name": "jdoe"},
    )

    response = finish(client, post_to_acs(client, acme.connection, xml))

    assert_refused(response, "attribute_missing", users_before=users_before)


def test_an_email_attribute_that_is_not_an_email_is_refused(acme, client):
    users_before = User.objects.count()
    xml = idp_response(
        acme, "jdoe", name_id_format=NAMEID_UNSPECIFIED, attributes={"email": "not an email"}
    )

    response = finish(client, post_to_acs(client, acme.connection, xml))

    assert_refused(response, "attribute_missing", users_before=users_before)


# --- user_not_provisioned -----------------------------------------------------------------------


def test_an_unknown_user_on_a_scim_connection_is_refused(acme, client):
    connection = connection_update(connection=acme.connection, provisioning="scim")
    users_before = User.objects.count()

    response = finish(client, post_to_acs(client, connection, idp_response(acme, NEW)))

    assert_refused(
        response,
        "user_not_provisioned",
        users_before=users_before,
        connection=connection,
        never_created=(NEW,),
    )


def test_a_user_not_created_by_scim_on_a_scim_connection_is_refused(acme, client):
    connection = connection_update(connection=acme.connection, provisioning="scim")
    assert acme.member.source != UserSource.SCIM
    users_before = User.objects.count()

    response = finish(
        client, post_to_acs(client, connection, idp_response(acme, acme.member.email))
    )

    assert_refused(response, "user_not_provisioned", users_before=users_before)


def test_a_scim_user_on_a_scim_connection_signs_in(acme, client):
    """Control for the two tests above."""
    connection = connection_update(connection=acme.connection, provisioning="scim")
    UserFactory(company=acme.company, email=NEW, source=UserSource.SCIM)

    accepted(client, connection, idp_response(acme, NEW))


# --- user_deactivated ---------------------------------------------------------------------------


def test_a_deactivated_user_is_refused(acme, client):
    acme.member.is_active = False
    acme.member.save(update_fields=["is_active"])
    users_before = User.objects.count()

    response = finish(
        client, post_to_acs(client, acme.connection, idp_response(acme, acme.member.email))
    )

    assert_refused(response, "user_deactivated", users_before=users_before)


# --- user_other_company -------------------------------------------------------------------------


@pytest.fixture
def acme_without_domains(acme):
    """acme with no proven domain, so the domain rule lets every email through to the user
    rules (the SPEC checks domains only "when it has any")."""
    acme.company.domains.all().delete()
    return acme


def test_another_company_users_email_is_refused(acme_without_domains, globex, client):
    acme = acme_without_domains
    users_before = User.objects.count()

    response = finish(
        client, post_to_acs(client, acme.connection, idp_response(acme, globex.member.email))
    )

    assert_refused(response, "user_other_company", users_before=users_before)
    globex.member.refresh_from_db()
    assert globex.member.company == globex.company


def test_a_staff_users_email_is_refused(acme_without_domains, staff_user, client):
    acme = acme_without_domains
    users_before = User.objects.count()

    response = finish(
        client, post_to_acs(client, acme.connection, idp_response(acme, staff_user.email))
    )

    assert_refused(response, "user_other_company", users_before=users_before)


@pytest.mark.parametrize("who", ["globex-member", "staff"])
def test_another_companys_email_through_a_connection_with_domains_is_refused(
    acme, globex, staff_user, client, who
):
    """With acme's domains in place the domain rule answers first, without saying whose the
    address is: globex.com and sso.test are not acme's domains."""
    email = globex.member.email if who == "globex-member" else staff_user.email
    users_before = User.objects.count()

    response = finish(client, post_to_acs(client, acme.connection, idp_response(acme, email)))

    assert_refused(response, "email_domain_not_allowed", users_before=users_before)


# --- email_domain_not_allowed -------------------------------------------------------------------


def test_an_email_outside_the_companys_domains_is_refused(acme, client):
    users_before = User.objects.count()
    outsider = "newhire@elsewhere.example"

    response = finish(client, post_to_acs(client, acme.connection, idp_response(acme, outsider)))

    assert_refused(
        response,
        "email_domain_not_allowed",
        users_before=users_before,
        never_created=(outsider,),
    )


def test_a_lookalike_subdomain_is_not_the_companys_domain(acme, client):
    users_before = User.objects.count()
    outsider = "newhire@acme.com.evil.example"

    response = finish(client, post_to_acs(client, acme.connection, idp_response(acme, outsider)))

    assert_refused(
        response, "email_domain_not_allowed", users_before=users_before, never_created=(outsider,)
    )


# ================================================================================================
# The attack corpus
# ================================================================================================


def _wrap_cases():
    for mode in WRAP_MODES:
        signings = [True] if mode == "response_wrap_signature_object" else [False, True]
        for sign_response in signings:
            for reuse_id in (False, True):
                label = f"{mode}-{'both-signed' if sign_response else 'assertion-signed'}"
                yield pytest.param(
                    mode, sign_response, reuse_id, id=f"{label}{'-same-id' if reuse_id else ''}"
                )


@pytest.mark.parametrize(("mode", "sign_response", "reuse_id"), list(_wrap_cases()))
def test_signature_wrapping_is_refused(acme, client, mode, sign_response, reuse_id):
    users_before = User.objects.count()
    xml = idp_response(acme, NEW, sign_response=sign_response)
    forged_id = etree.fromstring(xml).find(f"{{{NS_SAML}}}Assertion").get("ID")
    attack = wrap_assertion(xml, mode, forged_id=forged_id if reuse_id else None)

    response = post_to_acs(client, acme.connection, attack)

    assert_refused(
        response,
        "saml_malformed",
        users_before=users_before,
        never_created=(NEW, ATTACKER_NAME_ID),
    )


def test_a_signed_failure_response_wrapped_around_a_forged_assertion_is_refused(acme, client):
    """A wrap with exactly one assertion: the IdP's signed (failure) Response sits in the
    Extensions of a forged Response whose only assertion is unsigned."""
    users_before = User.objects.count()
    signed_failure = etree.fromstring(
        idp_response(acme, NEW, status_code=STATUS_RESPONDER, sign_response=True)
    )
    unsigned = etree.fromstring(idp_response(acme, ATTACKER_NAME_ID, sign_assertion=False))
    extensions = etree.SubElement(unsigned, f"{{{NS_SAMLP}}}Extensions")
    extensions.append(signed_failure)
    unsigned.find(f"{{{NS_SAML}}}Issuer").addnext(extensions)
    xml = etree.tostring(unsigned, xml_declaration=True, encoding="UTF-8")

    response = post_to_acs(client, acme.connection, xml)

    assert_refused(
        response, "saml_malformed", users_before=users_before, never_created=(ATTACKER_NAME_ID,)
    )


@pytest.mark.parametrize("forged_name_id", [None, ATTACKER_NAME_ID], ids=["same-subject", "forged"])
def test_a_second_unsigned_assertion_is_refused(acme, client, forged_name_id):
    users_before = User.objects.count()
    xml = add_second_unsigned_assertion(idp_response(acme, NEW), name_id=forged_name_id)

    response = post_to_acs(client, acme.connection, xml)

    assert_refused(
        response,
        "saml_malformed",
        users_before=users_before,
        never_created=(NEW, ATTACKER_NAME_ID),
    )


@pytest.mark.parametrize("sign_response", [False, True], ids=["assertion-signed", "both-signed"])
def test_a_comment_inside_the_name_id_is_refused(acme, client, sign_response):
    """The attacker owns member@acme.com.evil.example at the IdP and hides the tail in a
    comment, hoping to be read as member@acme.com."""
    users_before = User.objects.count()
    xml = idp_response(acme, "member@acme.com.evil.example", sign_response=sign_response)
    attack = comment_in_name_id(xml, visible=acme.member.email)

    response = post_to_acs(client, acme.connection, attack)

    assert_refused(response, "saml_malformed", users_before=users_before)
    assert signed_in_email(client) != acme.member.email


@pytest.mark.parametrize(
    "make",
    [
        with_doctype,
        lambda xml: entity_expansion(xml),
        lambda xml: entity_expansion(xml, depth=2, width=3, resign=None),
        lambda xml: external_entity(xml),
    ],
    ids=["dtd", "entity-expansion", "small-entity-expansion", "external-entity"],
)
def test_a_dtd_is_refused(acme, client, make):
    users_before = User.objects.count()
    attack = make(idp_response(acme, NEW))

    response = post_to_acs(client, acme.connection, attack)

    assert_refused(response, "saml_malformed", users_before=users_before, never_created=(NEW,))


def test_an_entity_expansion_resigned_over_the_expanded_text_is_refused(acme, client):
    """Validly signed for a parser that expands entities: still refused for the DTD."""
    users_before = User.objects.count()
    attack = entity_expansion(
        idp_response(acme, NEW), depth=3, width=4, resign=acme.connection.keypair
    )

    response = post_to_acs(client, acme.connection, attack)

    assert_refused(response, "saml_malformed", users_before=users_before, never_created=(NEW,))


@pytest.mark.parametrize("encoding", ["multipart", "urlencoded"])
def test_an_oversized_post_is_refused(acme, client, encoding):
    users_before = User.objects.count()
    data = {"SAMLResponse": "A" * (600 * 1024), "RelayState": "/"}
    url = local(acme.connection.acs_url)

    if encoding == "urlencoded":
        response = client.post(
            url, urlencode(data), content_type="application/x-www-form-urlencoded"
        )
    else:
        response = client.post(url, data)

    assert_refused(response, "saml_malformed", users_before=users_before, status=400)


def test_a_signed_response_padded_past_the_size_limit_is_refused(acme, client):
    """Validly signed, under the POST limit, but far larger than any real response."""
    users_before = User.objects.count()
    padding = "x" * (300 * 1024)
    xml = idp_response(acme, NEW, attributes=okta_attributes(NEW, division=padding))

    response = post_to_acs(client, acme.connection, xml)

    assert_refused(response, "saml_malformed", users_before=users_before, never_created=(NEW,))


# --- company A's IdP against company B's ACS ----------------------------------------------------


def test_acme_response_posted_to_globex_acs_is_refused(acme, globex, client):
    """A genuine acme response replayed at globex: globex trusts another issuer."""
    users_before = User.objects.count()

    response = post_to_acs(client, globex.connection, idp_response(acme, NEW))

    assert_refused(
        response,
        "saml_issuer_mismatch",
        users_before=users_before,
        connection=globex.connection,
        never_created=(NEW,),
    )


def test_acme_idp_signing_a_response_for_globex_is_refused(acme, globex, client):
    """acme's IdP (its admin controls it) addresses a response to globex's ACS and audience."""
    users_before = User.objects.count()
    g = globex.connection
    xml = idp_for(acme).response(
        acs_url=g.acs_url,
        audience=g.sp_entity_id,
        name_id=globex.admin.email,
        attributes=okta_attributes(globex.admin.email),
    )

    response = post_to_acs(client, g, xml)

    assert_refused(response, "saml_issuer_mismatch", users_before=users_before, connection=g)
    assert signed_in_email(client) != globex.admin.email


def test_acme_key_impersonating_globex_issuer_is_refused(acme, globex, client):
    users_before = User.objects.count()
    g = globex.connection
    xml = idp_for(acme, entity_id=g.idp_entity_id).response(
        acs_url=g.acs_url,
        audience=g.sp_entity_id,
        name_id=globex.admin.email,
        attributes=okta_attributes(globex.admin.email),
    )

    response = post_to_acs(client, g, xml)

    event = assert_refused(
        response, "saml_signature_invalid", users_before=users_before, connection=g
    )
    assert event.details["configured_certificates"] == [g.keypair.fingerprint]
    assert event.details["certificates_in_message"] == [acme.connection.keypair.fingerprint]


def test_acme_response_to_a_globex_connection_without_issuer_is_refused(acme, globex, client):
    """Where globex's certificate alone is the trust anchor, acme's signature still fails."""
    g = connection_update(connection=globex.connection, idp_entity_id="")
    users_before = User.objects.count()
    xml = idp_for(acme).response(
        acs_url=g.acs_url,
        audience=g.sp_entity_id,
        name_id=globex.admin.email,
        attributes=okta_attributes(globex.admin.email),
    )

    response = post_to_acs(client, g, xml)

    assert_refused(response, "saml_signature_invalid", users_before=users_before, connection=g)
    g.refresh_from_db()
    assert g.observed_idp_entity_id == ""


def test_a_finish_cookie_of_acme_does_not_finish_at_globex(acme, globex, client):
    users_before = User.objects.count()
    acs = post_to_acs(client, acme.connection, idp_response(acme, NEW))
    assert acs.status_code == 303

    response = client.get("/sso/globex/finish/")

    assert_refused(
        response, "saml_expired", users_before=users_before, connection=globex.connection
    )
    assert not User.objects.filter(email=NEW).exists()


# --- RelayState and next tricks: the login goes through, the redirect stays home -------------------

REDIRECT_TRICKS = [
    "https://evil.example",
    "//evil.example",
    "/\\evil.example",
    "javascript:alert(1)",
    "///evil.example",
    "/\t/evil.example",
    "\\\\evil.example",
    "https:evil.example",
]


@pytest.mark.parametrize("relay_state", REDIRECT_TRICKS)
def test_a_foreign_relay_state_lands_on_home(acme, client, relay_state):
    done = accepted(
        client,
        acme.connection,
        idp_response(acme, acme.member.email),
        relay_state,
        email=acme.member.email,
    )

    assert done["Location"] == "/"


@pytest.mark.parametrize("next_path", REDIRECT_TRICKS)
def test_a_foreign_next_on_login_lands_on_home(acme, client, next_path):
    start, _ = start_login(client, acme.connection, next_path=next_path)
    xml = idp_for(acme).respond_to(
        start["Location"], name_id=acme.member.email, attributes=okta_attributes(acme.member.email)
    )

    done = accepted(client, acme.connection, xml, email=acme.member.email)

    assert done["Location"] == "/"

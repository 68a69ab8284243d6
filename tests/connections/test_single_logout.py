"""Single Logout at ``/sso/<name>/slo/``, both ways, over HTTP-Redirect and HTTP-POST, from
outside over HTTP: the test IdP (``tests/saml_logout.py``) signs its LogoutRequests and
LogoutResponses itself and reads ours with the certificates of our published metadata.

- IdP-initiated: a signed LogoutRequest ends every session of that person from that connection
  (other people's, and the person's sessions through another connection, stay) and is answered
  with a LogoutResponse; unsigned, wrongly signed, misaddressed, stale, replayed or naming
  nobody, it ends nothing, is audited, and the answer says why.
- SP-initiated: signing out ends the session here, then sends a LogoutRequest for the NameID and
  SessionIndex of the sign-in (signed when the connection signs requests); the IdP's
  LogoutResponse must answer it.
"""

from __future__ import annotations

import base64
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from lxml import etree

from accounts.models import UserSession
from audit.models import AuditEvent, RefusalTally
from connections.models import PendingLogoutRequest, SamlSession, SeenLogoutMessage
from connections.services import connection_set_status, connection_update
from provisioning.services import user_deprovision
from tests.certs import make_keypair
from tests.connections.saml_helpers import idp_response, sign_in, signed_in_email
from tests.factories import ConnectionFactory
from tests.saml_encryption import encrypted_assertion
from tests.saml_idp import NAMEID_EMAIL, NS_SAML, NS_SAMLP, _parse, _serialize, sign_element
from tests.saml_logout import (
    SIG_RSA_SHA1,
    logout_request,
    logout_response,
    post_fields,
    read_redirect,
    redirect_query,
    sp_certificates,
    verify_redirect_signature,
)

IDP_SLO = "https://acme.okta.example/app/acme/exk1/slo/saml"
STATUS = "urn:oasis:names:tc:SAML:2.0:status:"
BINDINGS = ("redirect", "post")


@pytest.fixture
def slo(acme):
    """acme's connection with the IdP's SLO URL."""
    keypair = acme.connection.keypair
    acme.connection = connection_update(
        connection=acme.connection, slo_url=IDP_SLO, actor_label="test"
    )
    acme.connection.keypair = keypair
    return acme


def _signed_in(tenant, email: str, *, connection=None, session_index: str = "s-1", **options):
    """A browser signed in as ``email`` through the tenant's connection (IdP-initiated)."""
    browser = Client()
    if connection is not None:
        options.setdefault("issuer", connection.idp_entity_id)
    connection = connection or tenant.connection
    xml = idp_response(tenant, email, connection=connection, session_index=session_index, **options)
    done = sign_in(browser, connection, xml)
    assert done.status_code == 302, done.content[:800]
    assert signed_in_email(browser) == email
    return browser


def _send(connection, message, *, binding: str, keypair, client=None, **options):
    """The IdP's message to the connection's SLO service, in ``binding``."""
    client = client or Client()
    url = f"/sso/{connection.name}/slo/"
    if binding == "redirect":
        return client.get(f"{url}?{redirect_query(message, keypair=keypair, **options)}")
    return client.post(url, post_fields(message, keypair=keypair, **options))


def _request(tenant, name_id: str, **options):
    connection = tenant.connection
    defaults = {"issuer": connection.idp_entity_id, "destination": connection.slo_service_url}
    return logout_request(name_id=name_id, **{**defaults, **options})


def _answer(response, binding: str) -> etree._Element:
    """Our LogoutResponse, as the IdP receives it."""
    if binding == "redirect":
        assert response.status_code == 302, response.content[:800]
        assert response["Location"].startswith(f"{IDP_SLO}?SAMLResponse=")
        return read_redirect(response["Location"]).root
    assert response.status_code == 200
    page = etree.HTML(response.content)
    form = page.find(".//form")
    assert form.get("action") == IDP_SLO
    value = form.find(".//input[@name='SAMLResponse']").get("value")
    return etree.fromstring(base64.b64decode(value))


def _status(answer: etree._Element) -> list[str]:
    codes = answer.iter(f"{{{NS_SAMLP}}}StatusCode")
    return [code.get("Value").removeprefix(STATUS) for code in codes]


# --- IdP-initiated ---------------------------------------------------------------------------


@pytest.mark.parametrize("binding", BINDINGS)
def test_a_signed_logout_request_ends_every_session_of_that_person_from_that_connection(
    slo, binding
):
    first = _signed_in(slo, slo.member.email, session_index="s-1")
    second = _signed_in(slo, slo.member.email, session_index="s-2")
    colleague = _signed_in(slo, slo.admin.email)
    other_connection = ConnectionFactory(
        company=slo.company, name="acme-two", keypair=slo.connection.keypair
    )
    elsewhere = _signed_in(slo, slo.member.email, connection=other_connection)
    request = _request(slo, slo.member.email, session_index="s-1")

    response = _send(slo.connection, request, binding=binding, keypair=slo.connection.keypair)

    answer = _answer(response, binding)
    assert _status(answer) == ["Success"]
    assert answer.get("InResponseTo") == request.get("ID")
    assert answer.get("Destination") == IDP_SLO
    assert answer.find(f"{{{NS_SAML}}}Issuer").text == slo.connection.sp_entity_id
    assert signed_in_email(first) is None and signed_in_email(second) is None
    assert signed_in_email(colleague) == slo.admin.email
    assert signed_in_email(elsewhere) == slo.member.email  # through another connection: stays
    assert SamlSession.objects.filter(connection=slo.connection).count() == 1  # the colleague's
    event = AuditEvent.objects.get(action="sso.logout")
    assert (event.actor_id, event.connection_id) == (slo.member.pk, slo.connection.pk)
    assert event.details["sessions_ended"] == 2
    assert event.details["binding"] == binding


@pytest.mark.parametrize("binding", BINDINGS)
def test_the_answer_is_signed_when_the_connection_signs_requests(slo, binding, tmp_path):
    connection = connection_update(connection=slo.connection, sign_requests=True)
    metadata = Client().get(f"/sso/{connection.name}/metadata/").content
    [certificate] = sp_certificates(metadata, "signing")
    _signed_in(slo, slo.member.email)

    response = _send(
        connection, _request(slo, slo.member.email), binding=binding, keypair=slo.connection.keypair
    )

    if binding == "redirect":
        verify_redirect_signature(response["Location"], certificate)
        return
    # Over HTTP-POST, an XML signature: the xmlsec1 program checks it against the metadata's.
    answer = _answer(response, binding)
    (tmp_path / "response.xml").write_bytes(etree.tostring(answer))
    (tmp_path / "sp.crt").write_bytes(certificate)
    result = subprocess.run(
        ["xmlsec1", "--verify", "--pubkey-cert-pem", str(tmp_path / "sp.crt"),
         "--id-attr:ID", f"{NS_SAMLP}:LogoutResponse", str(tmp_path / "response.xml")],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stderr


def test_the_relay_state_comes_back_with_the_answer(slo):
    _signed_in(slo, slo.member.email)

    response = _send(
        slo.connection,
        _request(slo, slo.member.email),
        binding="redirect",
        keypair=slo.connection.keypair,
        relay_state="okta-state-1",
    )

    assert read_redirect(response["Location"]).parameters["RelayState"] == "okta-state-1"


def test_without_an_slo_url_the_sessions_end_and_nothing_is_sent(acme):
    browser = _signed_in(acme, acme.member.email)

    response = _send(
        acme.connection,
        _request(acme, acme.member.email),
        binding="redirect",
        keypair=acme.connection.keypair,
    )

    assert response.status_code == 200
    assert "You are signed out" in response.content.decode()
    assert signed_in_email(browser) is None


def test_an_encrypted_name_id_is_decrypted_with_our_key(slo):
    browser = _signed_in(slo, slo.member.email)
    metadata = Client().get(f"/sso/{slo.connection.name}/metadata/").content
    [certificate] = sp_certificates(metadata, "encryption")
    request = _request(slo, slo.member.email)
    name_id = request.find(f"{{{NS_SAML}}}NameID")
    name_id.addprevious(encrypted_assertion(name_id, certificate, container_tag="EncryptedID"))
    request.remove(name_id)

    response = _send(slo.connection, request, binding="post", keypair=slo.connection.keypair)

    assert _status(_answer(response, "post")) == ["Success"]
    assert signed_in_email(browser) is None


# --- IdP-initiated, refused ------------------------------------------------------------------


def _unsigned(slo):
    return _request(slo, slo.member.email), {"keypair": None}


def _another_key(slo):
    return _request(slo, slo.member.email), {
        "keypair": make_keypair("attacker.example", slot="attacker")
    }


def _other_destination(slo):
    return _request(slo, slo.member.email, destination="https://sso.test/sso/globex/slo/"), {}


def _no_destination(slo):
    return _request(slo, slo.member.email, destination=None), {}


def _other_issuer(slo):
    return _request(slo, slo.member.email, issuer="http://www.okta.com/someone-else"), {}


def _stale(slo):
    issued = datetime.now(UTC) - timedelta(minutes=10)
    return _request(slo, slo.member.email, issue_instant=issued, not_on_or_after=None), {}


def _past_not_on_or_after(slo):
    ended = datetime.now(UTC) - timedelta(minutes=4)
    return _request(slo, slo.member.email, not_on_or_after=ended), {}


def _from_the_future(slo):
    issued = datetime.now(UTC) + timedelta(minutes=10)
    return _request(slo, slo.member.email, issue_instant=issued), {}


def _unknown_name_id(slo):
    return _request(slo, "nobody@acme.com"), {}


REFUSED = {
    "unsigned": (_unsigned, "saml_signature_missing", ["Requester", "RequestDenied"]),
    "signed-by-another-key": (_another_key, "saml_signature_invalid", ["Requester", "RequestDenied"]),
    "to-another-connection": (_other_destination, "saml_destination_mismatch", ["Requester", "RequestDenied"]),
    "without-destination": (_no_destination, "saml_destination_mismatch", ["Requester", "RequestDenied"]),
    "from-another-issuer": (_other_issuer, "saml_issuer_mismatch", ["Requester", "RequestDenied"]),
    "stale": (_stale, "saml_expired", ["Requester", "RequestDenied"]),
    "past-not-on-or-after": (_past_not_on_or_after, "saml_expired", ["Requester", "RequestDenied"]),
    "from-the-future": (_from_the_future, "saml_not_yet_valid", ["Requester", "RequestDenied"]),
    "unknown-name-id": (_unknown_name_id, "saml_unknown_principal", ["Responder", "UnknownPrincipal"]),
}  # fmt: skip


@pytest.mark.parametrize("binding", BINDINGS)
@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_logout_request_that_is_not_right_ends_nothing_and_is_answered_with_why(
    slo, binding, case
):
    make, code, status = REFUSED[case]
    browser = _signed_in(slo, slo.member.email)
    request, options = make(slo)
    sessions = UserSession.objects.count()

    response = _send(
        slo.connection, request, binding=binding, **{"keypair": slo.connection.keypair, **options}
    )

    answer = _answer(response, binding)
    assert _status(answer) == status
    assert answer.get("InResponseTo") == request.get("ID")
    assert signed_in_email(browser) == slo.member.email
    assert UserSession.objects.count() == sessions
    assert not SeenLogoutMessage.objects.exists()  # a refused message is not remembered
    event = AuditEvent.objects.get(action="sso.logout_refused")
    assert (event.error_code, event.connection_id) == (code, slo.connection.pk)
    assert not AuditEvent.objects.filter(action="sso.logout").exists()


@pytest.mark.parametrize("binding", BINDINGS)
def test_sha1_is_refused_by_name(slo, binding):
    browser = _signed_in(slo, slo.member.email)
    request = _request(slo, slo.member.email)
    if binding == "redirect":
        response = _send(
            slo.connection,
            request,
            binding=binding,
            keypair=slo.connection.keypair,
            algorithm=SIG_RSA_SHA1,
        )
    else:
        root = _parse(_serialize(request))
        sign_element(root, slo.connection.keypair, algorithm="rsa-sha1")
        response = Client().post(
            f"/sso/{slo.connection.name}/slo/",
            {"SAMLRequest": base64.b64encode(_serialize(root)).decode()},
        )

    assert _status(_answer(response, binding)) == ["Requester", "RequestDenied"]
    event = AuditEvent.objects.get(action="sso.logout_refused")
    assert event.error_code == "saml_signature_invalid"
    assert event.details["algorithm_name"] == "RSA-SHA1"
    assert "Okta" in event.details["idp_product"]
    assert signed_in_email(browser) == slo.member.email


@pytest.mark.parametrize("binding", BINDINGS)
def test_a_replayed_logout_request_is_refused(slo, binding):
    request = _request(slo, slo.member.email)
    _signed_in(slo, slo.member.email)
    first = _send(slo.connection, request, binding=binding, keypair=slo.connection.keypair)
    assert _status(_answer(first, binding)) == ["Success"]
    browser = _signed_in(slo, slo.member.email)  # signed in again since

    again = _send(slo.connection, request, binding=binding, keypair=slo.connection.keypair)

    assert _status(_answer(again, binding)) == ["Requester", "RequestDenied"]
    assert signed_in_email(browser) == slo.member.email
    assert AuditEvent.objects.get(action="sso.logout_refused").error_code == "saml_replayed"


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("SAMLRequest=%%%", "not base64"),
        ("SAMLRequest=bm90IGRlZmxhdGVk", "DEFLATE"),
        ("RelayState=x", "one SAMLRequest or SAMLResponse"),
        ("SAMLRequest=a&SAMLRequest=b", "twice"),
    ],
    ids=["not-base64", "not-deflated", "no-message", "twice"],
)
def test_an_unreadable_logout_message_is_refused_without_an_answer(slo, client, query, reason):
    browser = _signed_in(slo, slo.member.email)

    response = client.get(f"/sso/{slo.connection.name}/slo/?{query}")

    assert response.status_code == 400
    assert '<span class="code">saml_malformed</span>' in response.content.decode()
    event = AuditEvent.objects.get(action="sso.logout_refused")
    assert event.error_code == "saml_malformed" and reason in event.details["reason"]
    assert signed_in_email(browser) == slo.member.email


def test_a_logout_request_with_a_dtd_is_refused(slo):
    browser = _signed_in(slo, slo.member.email)
    xml = etree.tostring(_request(slo, slo.member.email))
    hostile = b'<!DOCTYPE x [<!ENTITY e "1">]>' + xml
    response = Client().post(
        f"/sso/{slo.connection.name}/slo/", {"SAMLRequest": base64.b64encode(hostile).decode()}
    )

    assert response.status_code == 400
    assert AuditEvent.objects.get(action="sso.logout_refused").error_code == "saml_malformed"
    assert signed_in_email(browser) == slo.member.email


def test_one_companys_idp_cannot_sign_another_company_out(slo, globex):
    globex_member = _signed_in(globex, globex.member.email)

    # acme's IdP at globex's SLO service: globex does not trust acme's key.
    at_globex = logout_request(
        issuer=globex.connection.idp_entity_id,
        destination=globex.connection.slo_service_url,
        name_id=globex.member.email,
    )
    _send(globex.connection, at_globex, binding="redirect", keypair=slo.connection.keypair)
    # acme's IdP, properly signed, at acme's SLO service, naming globex's person.
    _send(
        slo.connection,
        _request(slo, globex.member.email),
        binding="redirect",
        keypair=slo.connection.keypair,
    )

    assert signed_in_email(globex_member) == globex.member.email
    codes = set(
        AuditEvent.objects.filter(action="sso.logout_refused").values_list(
            "connection__name", "error_code"
        )
    )
    assert codes == {("globex", "saml_signature_invalid"), ("acme", "saml_unknown_principal")}


def test_an_unknown_connection_is_refused_and_only_counted(db, client):
    response = client.get("/sso/nope/slo/?SAMLRequest=x")

    assert response.status_code == 404
    assert '<span class="code">connection_unknown</span>' in response.content.decode()
    # A made-up name is counted, not stored one request at a time (as for sign-ins).
    assert not AuditEvent.objects.exists()
    tally = RefusalTally.objects.get()
    assert (tally.code, tally.endpoint, tally.name, tally.count) == (
        "connection_unknown",
        "slo",
        "nope",
        1,
    )


# --- SP-initiated ----------------------------------------------------------------------------


def _sign_out(browser: Client):
    return browser.post("/sso/logout/")


@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "signed"])
def test_signing_out_sends_a_logout_request_for_that_name_id_and_session_index(slo, signed):
    if signed:
        connection_update(connection=slo.connection, sign_requests=True)
    qualifiers = {"NameQualifier": "https://sts.example/", "SPNameQualifier": "sendoso"}
    browser = _signed_in(slo, slo.member.email, session_index="sess-42", name_qualifiers=qualifiers)

    response = _sign_out(browser)

    assert response.status_code == 302
    assert signed_in_email(browser) is None  # ended here first
    sent = read_redirect(response["Location"])
    assert response["Location"].startswith(f"{IDP_SLO}?SAMLRequest=")
    request = sent.root
    assert request.tag == f"{{{NS_SAMLP}}}LogoutRequest"
    name_id = request.find(f"{{{NS_SAML}}}NameID")
    assert (name_id.text, name_id.get("Format")) == (slo.member.email, NAMEID_EMAIL)
    assert {k: name_id.get(k) for k in qualifiers} == qualifiers
    assert request.find(f"{{{NS_SAMLP}}}SessionIndex").text == "sess-42"
    assert request.get("Destination") == IDP_SLO
    assert request.find(f"{{{NS_SAML}}}Issuer").text == slo.connection.sp_entity_id
    assert sent.signed is signed
    if signed:
        metadata = Client().get(f"/sso/{slo.connection.name}/metadata/").content
        verify_redirect_signature(response["Location"], sp_certificates(metadata, "signing")[0])
    pending = PendingLogoutRequest.objects.get()
    assert (pending.request_id, pending.connection_id) == (request.get("ID"), slo.connection.pk)
    event = AuditEvent.objects.get(action="sso.logout_requested")
    assert event.actor_id == slo.member.pk and event.details["signed"] is signed


@pytest.mark.parametrize("binding", BINDINGS)
def test_the_idps_logout_response_completes_the_sign_out(slo, binding):
    browser = _signed_in(slo, slo.member.email)
    request = read_redirect(_sign_out(browser)["Location"]).root
    answer = logout_response(
        issuer=slo.connection.idp_entity_id,
        destination=slo.connection.slo_service_url,
        in_response_to=request.get("ID"),
    )

    response = _send(
        slo.connection, answer, binding=binding, keypair=slo.connection.keypair, client=browser
    )

    assert response.status_code == 200
    assert "You are signed out here and at your identity provider" in response.content.decode()
    assert not PendingLogoutRequest.objects.exists()
    event = AuditEvent.objects.get(action="sso.logout_completed")
    assert event.details["request_id"] == request.get("ID")


def _response_to(slo, request_id: str | None, **options):
    return logout_response(
        issuer=slo.connection.idp_entity_id,
        destination=slo.connection.slo_service_url,
        in_response_to=request_id,
        **options,
    )


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("unsigned", "saml_signature_missing"),
        ("answering-nothing-we-sent", "saml_in_response_to_mismatch"),
        ("failed-at-the-idp", "saml_status_failure"),
        ("to-another-address", "saml_destination_mismatch"),
    ],
)
def test_a_logout_response_that_is_not_right_is_refused(slo, case, code):
    browser = _signed_in(slo, slo.member.email)
    request_id = read_redirect(_sign_out(browser)["Location"]).root.get("ID")
    keypair = None if case == "unsigned" else slo.connection.keypair
    answer = {
        "unsigned": lambda: _response_to(slo, request_id),
        "answering-nothing-we-sent": lambda: _response_to(slo, "_not_ours"),
        "failed-at-the-idp": lambda: _response_to(slo, request_id, status=f"{STATUS}Responder"),
        "to-another-address": lambda: logout_response(
            issuer=slo.connection.idp_entity_id,
            destination="https://sso.test/sso/globex/slo/",
            in_response_to=request_id,
        ),
    }[case]()

    response = _send(slo.connection, answer, binding="redirect", keypair=keypair, client=browser)

    assert response.status_code in (400, 403, 404)
    assert f'<span class="code">{code}</span>' in response.content.decode()
    assert AuditEvent.objects.get(action="sso.logout_refused").error_code == code
    assert signed_in_email(browser) is None  # signed out here all the same


def test_a_replayed_logout_response_is_refused(slo):
    browser = _signed_in(slo, slo.member.email)
    request_id = read_redirect(_sign_out(browser)["Location"]).root.get("ID")
    answer = _response_to(slo, request_id)
    first = _send(slo.connection, answer, binding="redirect", keypair=slo.connection.keypair)
    assert first.status_code == 200

    again = _send(slo.connection, answer, binding="redirect", keypair=slo.connection.keypair)

    assert '<span class="code">saml_replayed</span>' in again.content.decode()


def test_signing_out_without_an_slo_url_ends_the_session_here_only(acme):
    browser = _signed_in(acme, acme.member.email)

    response = _sign_out(browser)

    assert response["Location"] == "/sso/"
    assert signed_in_email(browser) is None
    assert not PendingLogoutRequest.objects.exists()


def test_signing_out_through_a_disabled_connection_ends_the_session_here_only(slo):
    browser = _signed_in(slo, slo.member.email)
    connection_set_status(connection=slo.connection, status="disabled")

    response = _sign_out(browser)

    assert response["Location"] == "/sso/"
    assert signed_in_email(browser) is None


def test_a_session_not_from_saml_signs_out_locally(slo, staff_user, client):
    client.force_login(staff_user)

    response = _sign_out(client)

    assert response["Location"] == "/sso/"
    assert not PendingLogoutRequest.objects.exists()


def test_deprovisioning_forgets_the_saml_side_of_the_sessions(
    slo, django_capture_on_commit_callbacks
):
    _signed_in(slo, slo.member.email)
    assert SamlSession.objects.count() == 1

    with django_capture_on_commit_callbacks(execute=True):
        user_deprovision(user=slo.member, actor_label="test", reason="left")

    assert not SamlSession.objects.exists()

"""The test IdP itself is right: its signatures verify with the real ``xmlsec1`` (what pysaml2 calls),
its responses have Okta's shape, and each attack helper produces what it claims.

Nothing here touches the project's code; a broken IdP would otherwise make the SAML tests prove
nothing (a refusal of a badly signed "valid" response looks just like a refusal of an attack).
"""

from __future__ import annotations

import base64
import itertools
import shutil
import subprocess
import zlib
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from lxml import etree
from saml2 import BINDING_HTTP_POST
from saml2.client import Saml2Client
from saml2.config import SPConfig

from tests.certs import make_keypair
from tests.saml_idp import (
    ALG_ENVELOPED,
    ALG_EXC_C14N,
    ALG_RSA_SHA256,
    ALG_SHA256,
    ATTACKER_NAME_ID,
    ATTRNAME_UNSPECIFIED,
    CM_BEARER,
    NAMEID_EMAIL,
    NAMEID_ENTITY,
    NS_DS,
    NS_MD,
    NS_SAML,
    NS_SAMLP,
    NS_XS,
    NS_XSI,
    STATUS_AUTHN_FAILED,
    STATUS_RESPONDER,
    STATUS_SUCCESS,
    WRAP_MODES,
    TestIdP,
    add_second_unsigned_assertion,
    comment_in_name_id,
    entity_expansion,
    external_entity,
    okta_attributes,
    parse_authn_request,
    post_data,
    resign_with,
    strip_signatures,
    tamper,
    with_doctype,
    wrap_assertion,
)

ENTITY_ID = "http://www.okta.com/exk1fcia6d6EMsf0Z4x7"
ACS = "https://sso.example.test/sso/acme/acs/"
AUDIENCE = "https://sso.example.test/sso/acme/metadata/"
EMAIL = "ada@acme.com"

NS = {"saml2p": NS_SAMLP, "saml2": NS_SAML, "ds": NS_DS, "md": NS_MD}
XPATH_RESPONSE_SIGNATURE = "/*[local-name()='Response']/*[local-name()='Signature']"
XPATH_ASSERTION_SIGNATURE = (
    "/*[local-name()='Response']/*[local-name()='Assertion']/*[local-name()='Signature']"
)
_files = itertools.count()


@pytest.fixture(scope="module")
def idp() -> TestIdP:
    return TestIdP(entity_id=ENTITY_ID, keypair=make_keypair("okta-test-idp", slot="saml-idp"))


@pytest.fixture(scope="module")
def attacker_keypair():
    return make_keypair("attacker.evil.example", slot="saml-attacker")


@pytest.fixture(scope="module", autouse=True)
def _xmlsec1_installed() -> None:
    assert shutil.which("xmlsec1"), "xmlsec1 (Debian package xmlsec1) is required, as by pysaml2"


def xmlsec1_verify(xml: bytes, cert_pem: bytes, tmp_path, node_xpath: str | None = None) -> bool:
    """``xmlsec1 --verify`` of the first Signature in the document (or the one at ``node_xpath``)
    with only ``cert_pem`` trusted, the way pysaml2 verifies."""
    n = next(_files)
    cert_file = tmp_path / f"cert{n}.pem"
    xml_file = tmp_path / f"response{n}.xml"
    cert_file.write_bytes(cert_pem)
    xml_file.write_bytes(xml)
    command = [
        "xmlsec1",
        "--verify",
        "--pubkey-cert-pem",
        str(cert_file),
        "--id-attr:ID",
        f"{NS_SAML}:Assertion",
        "--id-attr:ID",
        f"{NS_SAMLP}:Response",
    ]
    if node_xpath:
        command += ["--node-xpath", node_xpath]
    result = subprocess.run([*command, str(xml_file)], capture_output=True, text=True, timeout=30)
    return result.returncode == 0


def parse(xml: bytes) -> etree._Element:
    return etree.fromstring(xml, etree.XMLParser(resolve_entities=False, no_network=True))


def signed_response(idp: TestIdP, **options) -> bytes:
    options.setdefault("attributes", okta_attributes(EMAIL, first="Ada", last="Lovelace"))
    return idp.response(acs_url=ACS, audience=AUDIENCE, name_id=EMAIL, **options)


def local_names(element: etree._Element) -> list[str]:
    return [etree.QName(child).localname for child in element if isinstance(child.tag, str)]


# --------------------------------------------------------------------------------------------------
# Real signatures, checked by xmlsec1
# --------------------------------------------------------------------------------------------------


def test_signed_assertion_verifies_with_xmlsec1(idp, tmp_path):
    xml = signed_response(idp)
    root = parse(xml)
    assert root.find("ds:Signature", NS) is None
    assert len(root.findall(".//ds:Signature", NS)) == 1
    assert xmlsec1_verify(xml, idp.cert_pem, tmp_path)


def test_signed_response_verifies_with_xmlsec1(idp, tmp_path):
    xml = signed_response(idp, sign_assertion=False, sign_response=True)
    root = parse(xml)
    assert root.find("saml2:Assertion/ds:Signature", NS) is None
    assert root.find("ds:Signature", NS) is not None
    assert xmlsec1_verify(xml, idp.cert_pem, tmp_path)


def test_both_signed_each_signature_verifies_and_the_response_covers_the_assertion_signature(
    idp, tmp_path
):
    xml = signed_response(idp, sign_response=True)
    assert xmlsec1_verify(xml, idp.cert_pem, tmp_path, XPATH_RESPONSE_SIGNATURE)
    assert xmlsec1_verify(xml, idp.cert_pem, tmp_path, XPATH_ASSERTION_SIGNATURE)
    # The Response was signed after the assertion, so its digest covers the assertion's Signature.
    without_assertion_signature = strip_signatures(xml, "assertion")
    assert not xmlsec1_verify(
        without_assertion_signature, idp.cert_pem, tmp_path, XPATH_RESPONSE_SIGNATURE
    )


def test_each_signature_is_checked_on_its_own(idp, tmp_path):
    xml = signed_response(idp, sign_response=True)
    # Changing only the Response (outside the assertion) breaks only the Response signature.
    changed = tamper(xml, f'Destination="{ACS}"', 'Destination="https://evil.example/acs/"')
    assert xmlsec1_verify(changed, idp.cert_pem, tmp_path, XPATH_ASSERTION_SIGNATURE)
    assert not xmlsec1_verify(changed, idp.cert_pem, tmp_path, XPATH_RESPONSE_SIGNATURE)
    assert not xmlsec1_verify(xml, idp.cert_pem, tmp_path, "//*[local-name()='Nothing']")


def test_signatures_with_multi_valued_attributes_and_no_attributes_verify(idp, tmp_path):
    multi = signed_response(idp, attributes={"groups": ["Everyone", "Sales"], "email": EMAIL})
    assert xmlsec1_verify(multi, idp.cert_pem, tmp_path)
    bare = idp.response(acs_url=ACS, audience=AUDIENCE, name_id=EMAIL, sign_response=True)
    assert xmlsec1_verify(bare, idp.cert_pem, tmp_path, XPATH_RESPONSE_SIGNATURE)
    assert xmlsec1_verify(bare, idp.cert_pem, tmp_path, XPATH_ASSERTION_SIGNATURE)


def test_signature_does_not_verify_with_another_certificate(idp, attacker_keypair, tmp_path):
    assert not xmlsec1_verify(signed_response(idp), attacker_keypair.cert_pem, tmp_path)


def test_tamper_breaks_the_signature(idp, tmp_path):
    xml = signed_response(idp, sign_response=True)
    tampered = tamper(xml, EMAIL, "admin@acme.com")
    assert b"admin@acme.com" in tampered and EMAIL.encode() not in tampered
    assert not xmlsec1_verify(tampered, idp.cert_pem, tmp_path, XPATH_ASSERTION_SIGNATURE)
    assert not xmlsec1_verify(tampered, idp.cert_pem, tmp_path, XPATH_RESPONSE_SIGNATURE)
    with pytest.raises(ValueError):
        tamper(xml, "not-in-there", "x")


def test_resign_with_another_key_fails_against_the_original_certificate(
    idp, attacker_keypair, tmp_path
):
    forged = resign_with(tamper(signed_response(idp), EMAIL, "admin@acme.com"), attacker_keypair)
    # The attacker's certificate travels in KeyInfo ...
    certificate = parse(forged).findtext(".//ds:KeyInfo/ds:X509Data/ds:X509Certificate", None, NS)
    assert base64.b64decode(certificate) == attacker_keypair.cert_der
    # ... the signature is a real one by that key, and xmlsec1 does not take the key from KeyInfo.
    assert xmlsec1_verify(forged, attacker_keypair.cert_pem, tmp_path)
    assert not xmlsec1_verify(forged, idp.cert_pem, tmp_path)


def test_resign_with_can_sign_the_response_too(idp, attacker_keypair, tmp_path):
    forged = resign_with(signed_response(idp), attacker_keypair, sign_response=True)
    assert xmlsec1_verify(forged, attacker_keypair.cert_pem, tmp_path, XPATH_RESPONSE_SIGNATURE)
    assert xmlsec1_verify(forged, attacker_keypair.cert_pem, tmp_path, XPATH_ASSERTION_SIGNATURE)
    assert not xmlsec1_verify(forged, idp.cert_pem, tmp_path, XPATH_RESPONSE_SIGNATURE)


def test_signing_keypair_signs_with_that_key_and_carries_its_certificate(
    idp, attacker_keypair, tmp_path
):
    xml = signed_response(idp, signing_keypair=attacker_keypair)
    certificate = parse(xml).findtext(".//ds:X509Certificate", None, NS)
    assert base64.b64decode(certificate) == attacker_keypair.cert_der
    assert xmlsec1_verify(xml, attacker_keypair.cert_pem, tmp_path)
    assert not xmlsec1_verify(xml, idp.cert_pem, tmp_path)


def test_signature_without_key_info_verifies_with_the_configured_certificate(idp, tmp_path):
    xml = signed_response(idp, include_key_info=False)
    assert parse(xml).find(".//ds:KeyInfo", NS) is None
    assert xmlsec1_verify(xml, idp.cert_pem, tmp_path)


def test_rsa_sha1_signature_verifies(idp, tmp_path):
    xml = signed_response(idp, algorithm="rsa-sha1")
    assert b"xmldsig#rsa-sha1" in xml
    assert xmlsec1_verify(xml, idp.cert_pem, tmp_path)


# --------------------------------------------------------------------------------------------------
# Okta's shape
# --------------------------------------------------------------------------------------------------


def test_response_has_oktas_structure(idp):
    instant = datetime(2030, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    xml = idp.response(
        acs_url=ACS,
        audience=AUDIENCE,
        name_id=EMAIL,
        attributes=okta_attributes(EMAIL, first="Ada"),
        in_response_to="id-request-1",
        issue_instant=instant,
        session_index="id-session",
        assertion_id="id-assertion",
        response_id="id-response",
    )
    assert xml.startswith(b"<?xml")
    response = parse(xml)
    assert response.tag == f"{{{NS_SAMLP}}}Response"
    assert response.prefix == "saml2p"
    assert response.attrib == {
        "Destination": ACS,
        "ID": "id-response",
        "InResponseTo": "id-request-1",
        "IssueInstant": "2030-01-02T03:04:05.678Z",
        "Version": "2.0",
    }
    assert local_names(response) == ["Issuer", "Status", "Assertion"]
    issuer = response.find("saml2:Issuer", NS)
    assert (issuer.prefix, issuer.text, issuer.get("Format")) == ("saml2", ENTITY_ID, NAMEID_ENTITY)
    assert response.find("saml2p:Status/saml2p:StatusCode", NS).get("Value") == STATUS_SUCCESS

    assertion = response.find("saml2:Assertion", NS)
    assert assertion.prefix == "saml2"
    assert assertion.attrib == {
        "ID": "id-assertion",
        "IssueInstant": "2030-01-02T03:04:05.678Z",
        "Version": "2.0",
    }
    # The schema order, with the Signature right after the Issuer.
    assert local_names(assertion) == [
        "Issuer",
        "Signature",
        "Subject",
        "Conditions",
        "AuthnStatement",
        "AttributeStatement",
    ]
    assert assertion.findtext("saml2:Issuer", None, NS) == ENTITY_ID

    name_id = assertion.find("saml2:Subject/saml2:NameID", NS)
    assert (name_id.text, name_id.get("Format")) == (EMAIL, NAMEID_EMAIL)
    confirmation = assertion.find("saml2:Subject/saml2:SubjectConfirmation", NS)
    assert confirmation.get("Method") == CM_BEARER
    data = confirmation.find("saml2:SubjectConfirmationData", NS)
    assert data.attrib == {
        "InResponseTo": "id-request-1",
        "NotOnOrAfter": "2030-01-02T03:09:05.678Z",
        "Recipient": ACS,
    }
    conditions = assertion.find("saml2:Conditions", NS)
    assert conditions.attrib == {
        "NotBefore": "2030-01-02T02:59:05.678Z",
        "NotOnOrAfter": "2030-01-02T03:09:05.678Z",
    }
    assert [a.text for a in conditions.findall("saml2:AudienceRestriction/saml2:Audience", NS)] == [
        AUDIENCE
    ]
    authn = assertion.find("saml2:AuthnStatement", NS)
    assert authn.get("SessionIndex") == "id-session"
    assert authn.get("AuthnInstant") == "2030-01-02T03:04:03.678Z"
    assert authn.findtext("saml2:AuthnContext/saml2:AuthnContextClassRef", None, NS).endswith(
        ":PasswordProtectedTransport"
    )


def test_signature_has_oktas_shape(idp):
    xml = signed_response(idp, assertion_id="id-assertion")
    signature = parse(xml).find("saml2:Assertion/ds:Signature", NS)
    assert signature.prefix == "ds"
    assert local_names(signature) == ["SignedInfo", "SignatureValue", "KeyInfo"]
    signed_info = signature.find("ds:SignedInfo", NS)
    assert signed_info.find("ds:CanonicalizationMethod", NS).get("Algorithm") == ALG_EXC_C14N
    assert signed_info.find("ds:SignatureMethod", NS).get("Algorithm") == ALG_RSA_SHA256
    references = signed_info.findall("ds:Reference", NS)
    assert len(references) == 1
    assert references[0].get("URI") == "#id-assertion"
    transforms = references[0].findall("ds:Transforms/ds:Transform", NS)
    assert [t.get("Algorithm") for t in transforms] == [ALG_ENVELOPED, ALG_EXC_C14N]
    inclusive = transforms[1][0]
    assert etree.QName(inclusive).localname == "InclusiveNamespaces"
    assert inclusive.get("PrefixList") == "xs"
    assert references[0].find("ds:DigestMethod", NS).get("Algorithm") == ALG_SHA256
    assert len(base64.b64decode(references[0].findtext("ds:DigestValue", None, NS))) == 32
    assert len(base64.b64decode(signature.findtext("ds:SignatureValue", None, NS))) == 256
    certificate = signature.findtext("ds:KeyInfo/ds:X509Data/ds:X509Certificate", None, NS)
    assert base64.b64decode(certificate) == idp.keypair.cert_der


def test_signed_response_puts_its_signature_right_after_its_issuer(idp):
    response = parse(signed_response(idp, sign_response=True))
    assert local_names(response) == ["Issuer", "Signature", "Status", "Assertion"]
    reference = response.find("ds:Signature/ds:SignedInfo/ds:Reference", NS)
    assert reference.get("URI") == f"#{response.get('ID')}"


def test_attributes_are_sent_as_okta_sends_them(idp):
    xml = signed_response(idp, attributes={"email": EMAIL, "groups": ["Everyone", "Sales"]})
    attributes = parse(xml).findall(".//saml2:AttributeStatement/saml2:Attribute", NS)
    assert [a.get("Name") for a in attributes] == ["email", "groups"]
    for attribute in attributes:
        assert attribute.get("NameFormat") == ATTRNAME_UNSPECIFIED
        for value in attribute.findall("saml2:AttributeValue", NS):
            assert value.get(f"{{{NS_XSI}}}type") == "xs:string"
            # xs and xsi are declared on the AttributeValue itself, not inherited.
            assert value.nsmap["xs"] == NS_XS and value.nsmap["xsi"] == NS_XSI
            assert "xs" not in value.getparent().nsmap
    assert [v.text for v in attributes[1]] == ["Everyone", "Sales"]
    assert b'<saml2:AttributeValue xmlns:xs="' in xml


def test_okta_attributes_follow_the_setup_guide_and_omit_missing_values():
    assert okta_attributes(
        EMAIL, user_name="ada", first="Ada", last="Lovelace", user_type="admin", division="Sales"
    ) == {
        "user_name": "ada",
        "email": EMAIL,
        "givenName": "Ada",
        "familyName": "Lovelace",
        "userType": "admin",
        "division": "Sales",
    }
    assert okta_attributes(EMAIL, last="Lovelace") == {"email": EMAIL, "familyName": "Lovelace"}


def test_options_override_destination_recipient_issuer_and_audience(idp):
    xml = idp.response(
        acs_url=ACS,
        audience=[AUDIENCE, "urn:other"],
        name_id="ada",
        name_id_format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
        destination="https://other.example/acs/",
        recipient="https://recipient.example/acs/",
        issuer="http://www.okta.com/someone-else",
    )
    response = parse(xml)
    assert response.get("Destination") == "https://other.example/acs/"
    data = response.find(".//saml2:SubjectConfirmationData", NS)
    assert data.get("Recipient") == "https://recipient.example/acs/"
    assert "InResponseTo" not in data.attrib and "InResponseTo" not in response.attrib
    assert {i.text for i in response.iter(f"{{{NS_SAML}}}Issuer")} == {
        "http://www.okta.com/someone-else"
    }
    assert [a.text for a in response.iter(f"{{{NS_SAML}}}Audience")] == [AUDIENCE, "urn:other"]
    assert response.find(".//saml2:NameID", NS).get("Format").endswith(":unspecified")


def test_flags_leave_out_destination_recipient_and_audience(idp, tmp_path):
    xml = idp.response(
        acs_url=ACS,
        audience=AUDIENCE,
        name_id=EMAIL,
        include_destination=False,
        include_recipient=False,
        include_audience=False,
    )
    response = parse(xml)
    assert "Destination" not in response.attrib
    assert "Recipient" not in response.find(".//saml2:SubjectConfirmationData", NS).attrib
    assert response.find(".//saml2:Conditions", NS) is not None
    assert response.find(".//saml2:AudienceRestriction", NS) is None
    assert xmlsec1_verify(xml, idp.cert_pem, tmp_path)


def test_time_window_accepts_offsets_and_explicit_datetimes(idp):
    now = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
    xml = idp.response(
        acs_url=ACS,
        audience=AUDIENCE,
        name_id=EMAIL,
        issue_instant=now,
        not_before=timedelta(hours=1),
        not_on_or_after=datetime(2030, 6, 1, 14, 0, tzinfo=UTC),
        subject_not_on_or_after=timedelta(minutes=-1),
    )
    response = parse(xml)
    conditions = response.find(".//saml2:Conditions", NS)
    assert conditions.get("NotBefore") == "2030-06-01T13:00:00.000Z"
    assert conditions.get("NotOnOrAfter") == "2030-06-01T14:00:00.000Z"
    data = response.find(".//saml2:SubjectConfirmationData", NS)
    assert data.get("NotOnOrAfter") == "2030-06-01T11:59:00.000Z"


def test_ids_are_fresh_unless_given(idp):
    first, second = parse(signed_response(idp)), parse(signed_response(idp))
    assert first.get("ID") != second.get("ID")
    ids = {
        first.find("saml2:Assertion", NS).get("ID"),
        second.find("saml2:Assertion", NS).get("ID"),
    }
    assert len(ids) == 2 and all(i.startswith("id") for i in ids)
    replay = [parse(signed_response(idp, assertion_id="id-same")) for _ in range(2)]
    assert {r.find("saml2:Assertion", NS).get("ID") for r in replay} == {"id-same"}


def test_failure_status_has_no_assertion(idp, tmp_path):
    xml = idp.response(
        acs_url=ACS,
        audience=AUDIENCE,
        name_id=EMAIL,
        status_code=STATUS_RESPONDER,
        sub_status_code=STATUS_AUTHN_FAILED,
        status_message="User is not assigned to this application",
        sign_response=True,
    )
    response = parse(xml)
    assert response.find("saml2:Assertion", NS) is None
    code = response.find("saml2p:Status/saml2p:StatusCode", NS)
    assert code.get("Value") == STATUS_RESPONDER
    assert code.find("saml2p:StatusCode", NS).get("Value") == STATUS_AUTHN_FAILED
    assert response.findtext("saml2p:Status/saml2p:StatusMessage", None, NS).startswith("User")
    assert xmlsec1_verify(xml, idp.cert_pem, tmp_path)


def test_post_data_is_the_http_post_binding(idp):
    xml = signed_response(idp)
    data = idp.post_data(xml, relay_state="/next")
    assert data == {"SAMLResponse": base64.b64encode(xml).decode(), "RelayState": "/next"}
    assert base64.b64decode(data["SAMLResponse"]) == xml
    assert post_data(xml) == {"SAMLResponse": data["SAMLResponse"]}


def test_respond_to_answers_an_sp_initiated_redirect(idp, tmp_path):
    request_xml = (
        f'<samlp:AuthnRequest xmlns:samlp="{NS_SAMLP}" xmlns:saml="{NS_SAML}" ID="id-req-42" '
        f'Version="2.0" IssueInstant="2030-01-01T00:00:00Z" Destination="{idp.sso_url}" '
        f'AssertionConsumerServiceURL="{ACS}" '
        'ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST">'
        f"<saml:Issuer>{AUDIENCE}</saml:Issuer></samlp:AuthnRequest>"
    ).encode()
    deflate = zlib.compressobj(wbits=-15)
    encoded = base64.b64encode(deflate.compress(request_xml) + deflate.flush()).decode()
    location = f"{idp.sso_url}?{urlencode({'SAMLRequest': encoded, 'RelayState': 'abc'})}"

    request = parse_authn_request(location)
    assert (request.id, request.issuer, request.acs_url) == ("id-req-42", AUDIENCE, ACS)
    assert request.relay_state == "abc"
    response = parse(idp.respond_to(location, name_id=EMAIL, sign_response=True))
    assert response.get("InResponseTo") == "id-req-42"
    assert response.get("Destination") == ACS
    data = response.find(".//saml2:SubjectConfirmationData", NS)
    assert (data.get("InResponseTo"), data.get("Recipient")) == ("id-req-42", ACS)
    assert response.findtext(".//saml2:Audience", None, NS) == AUDIENCE
    assert xmlsec1_verify(etree.tostring(response), idp.cert_pem, tmp_path)


def test_metadata_publishes_the_signing_certificate(idp):
    metadata = parse(idp.metadata())
    assert metadata.get("entityID") == ENTITY_ID
    certificate = metadata.findtext(
        "md:IDPSSODescriptor/md:KeyDescriptor/ds:KeyInfo/ds:X509Data/ds:X509Certificate", None, NS
    )
    assert base64.b64decode(certificate) == idp.keypair.cert_der
    locations = {s.get("Location") for s in metadata.iter(f"{{{NS_MD}}}SingleSignOnService")}
    assert locations == {idp.sso_url}


# --------------------------------------------------------------------------------------------------
# Attack helpers
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "left"),
    [("assertion", ["response"]), ("response", ["assertion"]), ("all", [])],
)
def test_strip_signatures(idp, where, left):
    stripped = parse(strip_signatures(signed_response(idp, sign_response=True), where))
    remaining = []
    if stripped.find("ds:Signature", NS) is not None:
        remaining.append("response")
    if stripped.find("saml2:Assertion/ds:Signature", NS) is not None:
        remaining.append("assertion")
    assert remaining == left
    assert stripped.findtext(".//saml2:NameID", None, NS) == EMAIL


def _top_level_assertions(root: etree._Element) -> list[etree._Element]:
    return root.findall("saml2:Assertion", NS)


@pytest.mark.parametrize("mode", WRAP_MODES)
def test_wrap_assertion_keeps_the_signed_assertion_and_adds_a_forged_one(idp, mode, tmp_path):
    original = signed_response(idp, sign_response=mode == "response_wrap_signature_object")
    original_root = parse(original)
    signed_id = original_root.find("saml2:Assertion", NS).get("ID")
    wrapped = wrap_assertion(original, mode)
    root = parse(wrapped)

    # The signed assertion is still somewhere in the document, untouched in content ...
    signed = root.xpath("//saml2:Assertion[@ID=$id]", namespaces=NS, id=signed_id)
    assert len(signed) == 1
    assert signed[0].findtext("saml2:Subject/saml2:NameID", None, NS) == EMAIL
    # ... and a forged, unsigned assertion for the attacker sits at the top level.
    forged = [
        a
        for a in _top_level_assertions(root)
        if a.findtext("saml2:Subject/saml2:NameID", None, NS) == ATTACKER_NAME_ID
    ]
    assert len(forged) == 1
    assert forged[0].get("ID") != signed_id
    assert forged[0].xpath("ds:Signature/ds:SignedInfo/ds:Reference/@URI", namespaces=NS) in (
        [],
        [f"#{signed_id}"],  # the moved original signature (XSW8), which does not cover it
    )
    email = forged[0].xpath(
        "string(saml2:AttributeStatement/saml2:Attribute[@Name='email']/saml2:AttributeValue)",
        namespaces=NS,
    )
    assert email == ATTACKER_NAME_ID

    expected_position = {
        "beside": lambda: _top_level_assertions(root) == [signed[0], forged[0]],
        "before": lambda: _top_level_assertions(root) == [forged[0], signed[0]],
        "inside": lambda: signed[0].getparent() is forged[0],
        "inside_advice": lambda: etree.QName(signed[0].getparent()).localname == "Advice",
        "inside_extensions": lambda: etree.QName(signed[0].getparent()).localname == "Extensions",
        "inside_signature_object": lambda: signed[0].getparent().tag == f"{{{NS_DS}}}Object",
        "response_wrap": lambda: root.find("saml2p:Extensions/saml2p:Response", NS) is not None,
        "response_wrap_signature_object": lambda: (
            root.find("ds:Signature/ds:Object/saml2p:Response", NS) is not None
        ),
    }[mode]
    assert expected_position()

    if mode not in ("inside_signature_object", "response_wrap_signature_object"):
        # The point of XSW: the original signature still verifies; only *what it covers* moved.
        assert xmlsec1_verify(
            wrapped, idp.cert_pem, tmp_path, f"//*[@ID='{signed_id}']/*[local-name()='Signature']"
        )


def test_wrap_assertion_can_reuse_the_signed_id(idp):
    xml = signed_response(idp)
    signed_id = parse(xml).find("saml2:Assertion", NS).get("ID")
    root = parse(wrap_assertion(xml, "before", forged_id=signed_id))
    assert [a.get("ID") for a in _top_level_assertions(root)] == [signed_id, signed_id]


def test_response_wrap_signature_object_needs_a_signed_response(idp):
    with pytest.raises(ValueError):
        wrap_assertion(signed_response(idp), "response_wrap_signature_object")


def test_add_second_unsigned_assertion(idp, tmp_path):
    xml = signed_response(idp)
    root = parse(add_second_unsigned_assertion(xml))
    first, second = _top_level_assertions(root)
    assert first.find("ds:Signature", NS) is not None and second.find("ds:Signature", NS) is None
    assert first.get("ID") != second.get("ID")
    assert second.findtext(".//saml2:NameID", None, NS) == EMAIL
    assert xmlsec1_verify(etree.tostring(root), idp.cert_pem, tmp_path)

    forged = parse(add_second_unsigned_assertion(xml, name_id=ATTACKER_NAME_ID))
    assert _top_level_assertions(forged)[1].findtext(".//saml2:NameID", None, NS) == (
        ATTACKER_NAME_ID
    )


@pytest.mark.parametrize("sign_response", [False, True])
def test_comment_in_name_id_keeps_the_signature_valid(idp, tmp_path, sign_response):
    crafted = "admin@acme.com.evil.example"
    xml = idp.response(
        acs_url=ACS,
        audience=AUDIENCE,
        name_id=crafted,
        attributes=okta_attributes(crafted),
        sign_response=sign_response,
    )
    attacked = comment_in_name_id(xml)
    assert b"admin@acme.com<!---->.evil.example</saml2:NameID>" in attacked
    root = parse(attacked)
    name_id = root.find(".//saml2:NameID", NS)
    # What a parser that stops at the first text node sees, and what the IdP actually signed:
    assert name_id.text == "admin@acme.com"
    assert "".join(name_id.itertext()) == crafted
    assert b"admin@acme.com<!---->.evil.example</saml2:AttributeValue>" in attacked
    # Exclusive c14n without comments ignores the comment: both signatures are still valid.
    assert xmlsec1_verify(attacked, idp.cert_pem, tmp_path, XPATH_ASSERTION_SIGNATURE)
    if sign_response:
        assert xmlsec1_verify(attacked, idp.cert_pem, tmp_path, XPATH_RESPONSE_SIGNATURE)
    # Signing with the comment present gives the very same signature (RSA PKCS#1 v1.5 is
    # deterministic): commenting after signing and signing with the comment are the same attack.
    resigned = resign_with(attacked, idp.keypair, sign_response=sign_response)
    assert b"<!---->" in resigned
    values = [parse(x).findtext(".//ds:SignatureValue", None, NS) for x in (xml, resigned)]
    assert values[0] == values[1]


def test_comment_in_name_id_needs_a_visible_prefix(idp):
    xml = signed_response(idp)
    with pytest.raises(ValueError):
        comment_in_name_id(xml)  # ada@acme.com has no extra labels to hide
    attacked = comment_in_name_id(xml, visible="ada@acme", in_attributes=False)
    assert b"ada@acme<!---->.com</saml2:NameID>" in attacked
    assert b"<!---->.com</saml2:AttributeValue>" not in attacked


def test_with_doctype_adds_an_internal_dtd_and_stays_validly_signed(idp, tmp_path):
    xml = with_doctype(signed_response(idp))
    assert b"<!DOCTYPE saml2p:Response [" in xml
    assert etree.fromstring(xml).getroottree().docinfo.internalDTD is not None
    assert xmlsec1_verify(xml, idp.cert_pem, tmp_path)
    custom = with_doctype(signed_response(idp), '<!ENTITY x "y">')
    assert b'<!ENTITY x "y">' in custom


def test_entity_expansion_references_a_billion_laughs(idp):
    xml = entity_expansion(signed_response(idp), attribute="givenName")
    assert b'<!ENTITY lol0 "lol">' in xml
    assert b'<!ENTITY lol9 "' + b"&lol8;" * 10 + b'">' in xml
    assert xml.count(b"&lol9;") == 1
    assert b">&lol9;</saml2:AttributeValue></saml2:Attribute><saml2:Attribute Name=" in xml
    # (libxml2 2.14 refuses to parse this at all, even with resolve_entities=False:
    # "Maximum entity amplification factor exceeded".) A smaller one shows where the reference is:
    root = parse(entity_expansion(signed_response(idp), attribute="givenName", depth=2))
    value = root.find(".//saml2:Attribute[@Name='givenName']/saml2:AttributeValue", NS)
    assert [(type(c), c.text) for c in value] == [(etree._Entity, "&lol2;")]


def test_small_entity_expansion_can_be_validly_signed_over_the_expanded_text(idp, tmp_path):
    xml = entity_expansion(signed_response(idp), depth=3, width=4, resign=idp.keypair)
    assert b">&lol3;</saml2:AttributeValue>" in xml
    # xmlsec1 does not substitute entities, and libxml2's c14n refuses entity references:
    assert not xmlsec1_verify(xml, idp.cert_pem, tmp_path)
    # a parser that expands entities (lxml's default) sees a validly signed document.
    expanded = etree.fromstring(xml, etree.XMLParser(resolve_entities=True))
    assert "lol" * 64 in [v.text for v in expanded.iter(f"{{{NS_SAML}}}AttributeValue")]
    assert xmlsec1_verify(etree.tostring(expanded), idp.cert_pem, tmp_path)
    with pytest.raises(ValueError):
        entity_expansion(signed_response(idp), resign=idp.keypair)  # 3 GB: not signable


def test_external_entity_references_a_local_file(idp):
    xml = external_entity(signed_response(idp), attribute="email")
    assert b'<!ENTITY xxe SYSTEM "file:///etc/passwd">' in xml
    assert b">&xxe;</saml2:AttributeValue>" in xml


# --------------------------------------------------------------------------------------------------
# Interoperability: pysaml2 (the library the SP is built on), configured from the IdP's metadata
# --------------------------------------------------------------------------------------------------


def test_pysaml2_accepts_the_signed_responses(idp):
    config = SPConfig().load(
        {
            "entityid": AUDIENCE,
            "xmlsec_binary": shutil.which("xmlsec1"),
            "metadata": {"inline": [idp.metadata().decode()]},
            "service": {
                "sp": {
                    "endpoints": {"assertion_consumer_service": [(ACS, BINDING_HTTP_POST)]},
                    "allow_unsolicited": True,
                    "want_assertions_signed": True,
                    "want_response_signed": False,
                    "only_use_keys_in_metadata": True,
                }
            },
        }
    )
    client = Saml2Client(config)
    for options in ({}, {"sign_response": True}):
        xml = signed_response(idp, **options)
        result = client.parse_authn_request_response(
            post_data(xml)["SAMLResponse"], BINDING_HTTP_POST
        )
        assert result.name_id.text == EMAIL
        assert result.assertion.issuer.text == ENTITY_ID

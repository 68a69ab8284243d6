"""Parsing IdP metadata: each IdP's real shape, and every refusal with a message support can act on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connections.idp_metadata import (
    BINDING_POST,
    BINDING_REDIRECT,
    MAX_METADATA_BYTES,
    MetadataRefused,
    parse_idp_metadata,
)
from tests import idp_metadata_samples as samples
from tests.certs import make_keypair


@pytest.fixture(scope="module")
def current():
    return make_keypair("idp-current.example.test", slot="md-current")


@pytest.fixture(scope="module")
def next_key():
    return make_keypair("idp-next.example.test", slot="md-next")


def _fingerprints(metadata) -> set[str]:
    return {c.fingerprint_sha256 for c in metadata.certificates}


# --- each IdP's shape ----------------------------------------------------------------------


def test_okta_metadata(current):
    metadata = parse_idp_metadata(samples.okta([current], app="exk1abc", org="acme"))

    assert metadata.entity_id == "http://www.okta.com/exk1abc"
    # Okta lists POST first; the Redirect binding is preferred (it is how AuthnRequests are sent).
    assert metadata.sign_on_binding == BINDING_REDIRECT
    assert metadata.sign_on_url == "https://acme.okta.com/app/acme_sendoso_1/exk1abc/sso/saml"
    assert _fingerprints(metadata) == {current.fingerprint}


def test_entra_metadata_takes_only_the_saml_idp_role(current, next_key):
    """Entra's document is signed and carries WS-Federation roles with keys of their own; only
    the IDPSSODescriptor's keys are trusted (here both of a rotation), and the BOM is fine."""
    document = samples.entra([current, next_key], tenant="tenant-1")
    assert document.startswith(b"\xef\xbb\xbf")

    metadata = parse_idp_metadata(document)

    assert metadata.entity_id == "https://sts.windows.net/tenant-1/"
    assert metadata.sign_on_url == "https://login.microsoftonline.com/tenant-1/saml2"
    assert _fingerprints(metadata) == {current.fingerprint, next_key.fingerprint}


def test_entra_keys_outside_the_idp_role_are_not_trusted(current, next_key):
    # Another key in the document's Signature and in both WS-Federation roles, not in the IdP role.
    tampered = samples.entra([current]).replace(
        samples.b64(current).encode(), samples.b64(next_key).encode(), 3
    )
    assert samples.b64(current).encode() in tampered

    metadata = parse_idp_metadata(tampered)

    assert _fingerprints(metadata) == {current.fingerprint}


def test_google_workspace_metadata(current):
    metadata = parse_idp_metadata(samples.google([current], idpid="C01xyz"))

    assert metadata.entity_id == "https://accounts.google.com/o/saml2?idpid=C01xyz"
    assert metadata.sign_on_url == "https://accounts.google.com/o/saml2/idp?idpid=C01xyz"
    assert _fingerprints(metadata) == {current.fingerprint}


@pytest.mark.parametrize(
    ("vendor", "slo_url"),
    [
        ("okta", ""),  # Okta publishes SLO only once it is switched on in the app
        ("entra", "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/saml2"),
        ("onelogin", "https://acme.onelogin.com/trust/saml2/http-redirect/slo/2417713"),
        ("keycloak", "https://kc.acme.example/realms/acme/protocol/saml"),
    ],
)
def test_the_idp_logout_endpoint_is_its_http_redirect_one(current, vendor, slo_url):
    assert parse_idp_metadata(getattr(samples, vendor)([current])).slo_url == slo_url


def test_a_logout_endpoint_for_post_or_soap_only_is_not_taken(current):
    """Our LogoutRequests travel by HTTP-Redirect: an IdP that takes them only by POST or SOAP
    gives no SLO URL rather than one that would not understand the request."""
    document = samples.keycloak([current]).replace(
        b'<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"',
        b'<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:SOAP"',
    )

    assert parse_idp_metadata(document).slo_url == ""


def test_onelogin_metadata(current):
    metadata = parse_idp_metadata(samples.onelogin([current], uuid="u-1", org="acme"))

    assert metadata.entity_id == "https://app.onelogin.com/saml/metadata/u-1"
    assert metadata.sign_on_url == "https://acme.onelogin.com/trust/saml2/http-redirect/sso/u-1"
    assert _fingerprints(metadata) == {current.fingerprint}


def test_jumpcloud_metadata(current):
    metadata = parse_idp_metadata(samples.jumpcloud([current], app="sendoso-acme"))

    assert metadata.entity_id == "JumpCloud"
    assert metadata.sign_on_url == "https://sso.jumpcloud.com/saml2/sendoso-acme"


def test_keycloak_metadata_in_an_entities_descriptor_with_a_rotation(current, next_key):
    metadata = parse_idp_metadata(samples.keycloak([current, next_key], realm="acme"))

    assert metadata.entity_id == "https://kc.acme.example/realms/acme"
    assert metadata.sign_on_url == "https://kc.acme.example/realms/acme/protocol/saml"
    assert _fingerprints(metadata) == {current.fingerprint, next_key.fingerprint}


@pytest.mark.parametrize("vendor", sorted(samples.VENDORS))
def test_every_vendor_parses_from_text_as_pasted(vendor, current):
    pasted = samples.VENDORS[vendor]([current]).decode("utf-8-sig")

    assert parse_idp_metadata(pasted).certificates[0].fingerprint_sha256 == current.fingerprint


def test_post_binding_when_there_is_no_redirect(current):
    document = samples.okta([current]).replace(
        b'Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"',
        b'Binding="urn:oasis:names:tc:SAML:2.0:bindings:SOAP"',
    )

    assert parse_idp_metadata(document).sign_on_binding == BINDING_POST


def test_a_key_without_use_is_a_signing_key_and_encryption_keys_are_not(current, next_key):
    keys_without_use = samples._md_keys([current], use=None)
    encryption_key = samples._md_keys([next_key], use="encryption")
    document = samples.okta([current]).replace(
        samples._md_keys([current]).encode(), (keys_without_use + encryption_key).encode()
    )

    assert _fingerprints(parse_idp_metadata(document)) == {current.fingerprint}


def test_the_same_certificate_listed_twice_is_trusted_once(current):
    metadata = parse_idp_metadata(samples.keycloak([current, current]))

    assert len(metadata.certificates) == 1


def test_an_expired_certificate_beside_a_current_one_is_left_out_and_reported(current):
    old = make_keypair(
        "idp-old.example.test",
        slot="md-old",
        not_before=datetime.now(UTC) - timedelta(days=400),
        not_after=datetime.now(UTC) - timedelta(days=2),
    )

    metadata = parse_idp_metadata(samples.keycloak([old, current]))

    assert _fingerprints(metadata) == {current.fingerprint}
    assert len(metadata.skipped_certificates) == 1
    assert "expired" in metadata.skipped_certificates[0]


def test_entity_id_picks_one_of_several_idps(current, next_key):
    both = samples.keycloak([current], realm="one").replace(
        b"</md:EntitiesDescriptor>",
        samples.keycloak([next_key], realm="two").split(b">", 1)[1],
    )

    with pytest.raises(MetadataRefused) as refused:
        parse_idp_metadata(both)
    assert "2 identity providers" in refused.value.message
    assert "https://kc.acme.example/realms/one" in refused.value.message
    assert "--entity-id" in refused.value.message

    chosen = parse_idp_metadata(both, entity_id="https://kc.acme.example/realms/two")
    assert _fingerprints(chosen) == {next_key.fingerprint}

    with pytest.raises(MetadataRefused, match="no entity 'urn:nope'"):
        parse_idp_metadata(both, entity_id="urn:nope")


# --- refusals --------------------------------------------------------------------------------


def _refusal(document, **options) -> str:
    with pytest.raises(MetadataRefused) as refused:
        parse_idp_metadata(document, **options)
    assert refused.value.code == "metadata_invalid"
    return refused.value.message


def test_refuses_a_dtd(current):
    document = (
        b'<?xml version="1.0"?><!DOCTYPE md [<!ENTITY x "y">]>'
        + samples.okta([current]).split(b"?>", 1)[1]
    )

    assert "DTD" in _refusal(document)


def test_refuses_the_billion_laughs_without_expanding_it():
    document = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><lolz>&lol2;</lolz>'
    )

    assert "DTD" in _refusal(document)


def test_refuses_an_external_entity():
    document = (
        b'<?xml version="1.0"?><!DOCTYPE md:EntityDescriptor [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b'<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="&xxe;"/>'
    )

    assert "DTD" in _refusal(document)


def test_refuses_a_body_over_one_megabyte(current):
    padding = b" " * (MAX_METADATA_BYTES + 1)

    assert "larger than 1024 KB" in _refusal(samples.okta([current]) + padding)


def test_refuses_what_is_not_xml():
    assert "not XML" in _refusal(b"sign-on url: https://acme.okta.com/app/x/sso/saml")


def test_refuses_a_web_page_with_a_hint():
    message = _refusal(b"<!DOCTYPE html><html><head><title>Okta</title></head><body>x</body>")

    assert "web page" in message


def test_refuses_an_html_page_without_doctype():
    assert "web page" in _refusal(
        b"<html><head><title>Sign in</title></head><body><br></body></html>"
    )
    assert "web page" in _refusal(b"<html><body><p>well-formed</p></body></html>")


def test_refuses_a_certificate_given_as_metadata(current):
    assert "certificate, not metadata" in _refusal(current.cert_pem)


def test_refuses_other_xml():
    message = _refusal(b"<configuration><sso/></configuration>")

    assert "not SAML metadata" in message and "<configuration>" in message


def test_refuses_metadata_in_a_foreign_namespace():
    message = _refusal(b'<EntityDescriptor xmlns="urn:example" entityID="x"/>')

    assert "namespace" in message


def test_refuses_service_provider_metadata(current):
    assert "service provider's metadata" in _refusal(samples.sp_metadata(current))


def test_refuses_an_entity_without_idp_descriptor():
    document = (
        b'<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="urn:x">'
        b"<md:Organization/></md:EntityDescriptor>"
    )

    assert "no identity provider" in _refusal(document)


def test_refuses_an_idp_without_saml2(current):
    document = samples.okta([current]).replace(
        b'protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"',
        b'protocolSupportEnumeration="urn:oasis:names:tc:SAML:1.1:protocol"',
    )

    assert "does not support SAML 2.0" in _refusal(document)


def test_refuses_metadata_without_signing_certificate(current):
    document = samples.okta([current]).replace(
        samples._md_keys([current]).encode(),
        samples._md_keys([current], use="encryption").encode(),
    )

    assert "no signing certificate" in _refusal(document)


def test_refuses_metadata_whose_only_certificate_expired():
    expired = make_keypair(
        "idp-expired.example.test",
        slot="md-expired",
        not_before=datetime.now(UTC) - timedelta(days=400),
        not_after=datetime.now(UTC) - timedelta(days=1),
    )

    message = _refusal(samples.okta([expired]))

    assert "can be trusted" in message and "expired" in message


def test_refuses_metadata_whose_only_certificate_is_weak():
    weak = make_keypair("idp-weak.example.test", slot="md-weak", bits=1024)

    assert "1024 bits" in _refusal(samples.google([weak]))


def test_refuses_metadata_past_its_valid_until(current):
    message = _refusal(samples.google([current], valid_until="2020-01-01T00:00:00Z"))

    assert "expired on 2020-01-01" in message


def test_refuses_an_idp_without_a_browser_sign_on_service(current):
    document = (
        samples.okta([current])
        .replace(b"bindings:HTTP-Redirect", b"bindings:SOAP")
        .replace(b"bindings:HTTP-POST", b"bindings:SOAP")
    )

    assert "no SingleSignOnService" in _refusal(document)


def test_refuses_an_entity_without_entity_id(current):
    document = samples.okta([current]).replace(b'entityID="http://www.okta.com/', b'other="')

    assert "no entityID" in _refusal(document)


def test_refuses_empty_input():
    assert "empty" in _refusal(b"  \n")

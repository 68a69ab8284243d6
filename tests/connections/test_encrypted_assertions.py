"""Encrypted assertions, interoperably: the IdP takes the encryption certificate from the
connection's published SP metadata and encrypts the way each major IdP does
(``tests/saml_encryption.py``, lxml and ``cryptography``), or with the ``xmlsec1`` program; the
sign-in goes through the real SP-initiated flow. The refusals are in the corpus
(``tests/connections/refusals/encryption.py``) and the whole corpus runs again encrypted
(test_saml_refusals_encrypted.py).
"""

from __future__ import annotations

import subprocess

import pytest
from django.test import Client
from lxml import etree

from accounts.models import Role, User
from audit.models import AuditEvent
from connections.services import connection_update
from connections.sp_keys import sp_key_rotation_start
from tests.certs import make_keypair
from tests.connections.saml_helpers import (
    finish,
    idp_for,
    post_to_acs,
    signed_in_email,
    start_login,
)
from tests.factories import ConnectionFactory
from tests.idp_shapes import PROFILES, Person, ShapedIdP
from tests.saml_encryption import IDP_ENCRYPTION, NS_XENC, Encryption, encrypt_assertions
from tests.saml_idp import NS_SAML, _parse, _serialize, okta_attributes, sign_element
from tests.saml_logout import sp_certificates

# An encrypted assertion is verified in process whatever the backend: both must accept it.
pytestmark = pytest.mark.usefixtures("signature_backend")

PERSON = Person(
    email="grace@acme.com",
    username="ghopper",
    first="Grace",
    last="Hopper",
    role="admin",
    team="Marketing",
)


def _encryption_certificates(connection) -> list[bytes]:
    return sp_certificates(Client().get(f"/sso/{connection.name}/metadata/").content, "encryption")


def _signed_in_through(client: Client, connection, xml: bytes) -> str | None:
    done = finish(client, post_to_acs(client, connection, xml))
    assert done.status_code == 302, done.content.decode()[:2000]
    return signed_in_email(client)


@pytest.mark.parametrize("idp", sorted(IDP_ENCRYPTION))
def test_an_assertion_encrypted_as_each_idp_does_signs_in(acme, client, idp):
    [certificate] = _encryption_certificates(acme.connection)
    start, _ = start_login(client, acme.connection)
    xml = idp_for(acme).respond_to(
        start["Location"], name_id=acme.member.email, attributes=okta_attributes(acme.member.email)
    )

    encrypted = encrypt_assertions(xml, certificate, IDP_ENCRYPTION[idp])

    assert b"EncryptedAssertion" in encrypted and acme.member.email.encode() not in encrypted
    assert _signed_in_through(client, acme.connection, encrypted) == acme.member.email
    event = AuditEvent.objects.get(action="sso.login", target=acme.member.email)
    assert event.details["flow"] == "sp-initiated"


@pytest.mark.parametrize(
    ("key", "encryption"),
    [
        ("okta-signed-response", "okta"),  # the Response signed after encrypting, as Okta does
        ("entra", "entra"),
        ("adfs", "adfs"),
        ("keycloak-user-property", "keycloak"),  # assertions signed: Keycloak's setting for it
        ("keycloak-persistent-oids", "shibboleth"),
        ("pingone", "pingfederate"),
    ],
)
def test_idp_shaped_responses_encrypted_sign_in_with_names_role_and_team(
    acme, client, key, encryption
):
    profile = PROFILES[key]
    idp_key = make_keypair("idp.acme.example", slot="idp-shapes")
    connection = ConnectionFactory(
        company=acme.company,
        name=f"acme-{key}",
        sign_on_url=profile.sso_url,
        idp_entity_id=profile.entity_id,
        default_team=acme.teams["Sales"],
        keypair=idp_key,
    )
    [certificate] = _encryption_certificates(connection)
    start, _ = start_login(client, connection)
    xml = ShapedIdP(profile, idp_key).respond_to(start["Location"], PERSON)
    if profile.shape.sign_response:
        # The IdP signs the Response over the EncryptedAssertion: encrypt, then sign.
        root = _parse(xml)
        root.remove(root.find("{http://www.w3.org/2000/09/xmldsig#}Signature"))
        root = _parse(encrypt_assertions(_serialize(root), certificate, IDP_ENCRYPTION[encryption]))
        sign_element(root, idp_key, ds_prefix=profile.shape.ds_prefix, inclusive_prefixes=())
        encrypted = _serialize(root)
    else:
        encrypted = encrypt_assertions(xml, certificate, IDP_ENCRYPTION[encryption])

    assert _signed_in_through(client, connection, encrypted) == PERSON.email
    user = User.objects.get(email=PERSON.email)
    assert (user.first_name, user.last_name, user.role) == ("Grace", "Hopper", Role.ADMIN)
    assert user.team == acme.teams["Marketing"]


def test_an_assertion_encrypted_by_the_xmlsec1_program_signs_in(acme, client, tmp_path):
    """Another encryptor than ours and the test IdP's: libxmlsec1's command-line tool, given the
    certificate from the metadata (AES-256-CBC, RSA-OAEP)."""
    [certificate] = _encryption_certificates(acme.connection)
    start, _ = start_login(client, acme.connection)
    xml = idp_for(acme).respond_to(
        start["Location"], name_id=acme.member.email, attributes=okta_attributes(acme.member.email)
    )
    (tmp_path / "sp.crt").write_bytes(certificate)
    (tmp_path / "response.xml").write_bytes(xml)
    (tmp_path / "template.xml").write_text(
        f'<xenc:EncryptedData xmlns:xenc="{NS_XENC}" Type="{NS_XENC}Element">'
        f'<xenc:EncryptionMethod Algorithm="{NS_XENC}aes256-cbc"/>'
        '<ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><xenc:EncryptedKey>'
        f'<xenc:EncryptionMethod Algorithm="{NS_XENC}rsa-oaep-mgf1p"/>'
        "<xenc:CipherData><xenc:CipherValue/></xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo>"
        "<xenc:CipherData><xenc:CipherValue/></xenc:CipherData></xenc:EncryptedData>"
    )
    result = subprocess.run(
        ["xmlsec1", "--encrypt", "--pubkey-cert-pem", str(tmp_path / "sp.crt"),
         "--session-key", "aes-256", "--xml-data", str(tmp_path / "response.xml"),
         "--node-name", f"{NS_SAML}:Assertion", str(tmp_path / "template.xml")],
        capture_output=True,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    # xmlsec1 puts the EncryptedData where the assertion was; SAML wraps it in EncryptedAssertion.
    root = etree.fromstring(result.stdout)
    data = root.find(f"{{{NS_XENC}}}EncryptedData")
    container = etree.Element(f"{{{NS_SAML}}}EncryptedAssertion")
    data.addprevious(container)
    container.append(data)

    assert _signed_in_through(client, acme.connection, etree.tostring(root)) == acme.member.email


def test_a_connection_that_requires_encryption_takes_an_encrypted_assertion(acme, client):
    connection = connection_update(connection=acme.connection, require_encryption=True)
    [certificate] = _encryption_certificates(connection)
    start, _ = start_login(client, connection)
    xml = idp_for(acme).respond_to(
        start["Location"], name_id=acme.member.email, attributes=okta_attributes(acme.member.email)
    )

    encrypted = encrypt_assertions(xml, certificate, Encryption("aes256-gcm"))

    assert _signed_in_through(client, connection, encrypted) == acme.member.email


def test_during_a_rotation_an_assertion_encrypted_to_the_next_key_signs_in(acme, client):
    [current] = _encryption_certificates(acme.connection)
    sp_key_rotation_start(connection=acme.connection)
    listed = _encryption_certificates(acme.connection)
    assert listed[0] == current and len(listed) == 2

    for certificate in listed:  # an IdP may have switched already, or not yet
        browser = Client()
        start, _ = start_login(browser, acme.connection)
        xml = idp_for(acme).respond_to(
            start["Location"],
            name_id=acme.member.email,
            attributes=okta_attributes(acme.member.email),
        )
        encrypted = encrypt_assertions(xml, certificate)
        assert _signed_in_through(browser, acme.connection, encrypted) == acme.member.email


def test_an_assertion_encrypted_for_another_connection_does_not_decrypt_here(acme, globex, client):
    [globex_certificate] = _encryption_certificates(globex.connection)
    _encryption_certificates(acme.connection)
    start, _ = start_login(client, acme.connection)
    xml = idp_for(acme).respond_to(
        start["Location"], name_id=acme.member.email, attributes=okta_attributes(acme.member.email)
    )

    refused = post_to_acs(client, acme.connection, encrypt_assertions(xml, globex_certificate))

    assert refused.status_code == 403
    assert '<span class="code">saml_decryption_failed</span>' in refused.content.decode()
    assert signed_in_email(client) is None

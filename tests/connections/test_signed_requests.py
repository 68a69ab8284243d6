"""Signed AuthnRequests (``connection set --sign-requests on``): the HTTP-Redirect binding's
signature, RSA-SHA256 over the exact query octets (saml-bindings 3.4.4.1), checked the way an IdP
checks it, with the certificate it takes from our published metadata, by three verifiers none
of which is ours: ``cryptography``, the ``openssl`` program and pysaml2's own
``verify_redirect_signature``. (The ``xmlsec1`` program verifies XML signatures only, and a
redirect-binding signature is not one: it checks our HTTP-POST LogoutResponses instead, in
test_single_logout.py.)
"""

from __future__ import annotations

import base64
import shutil
import subprocess
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.exceptions import InvalidSignature
from django.test import Client
from saml2.sigver import RSACrypto, verify_redirect_signature

from connections.services import connection_update
from connections.sp_keys import sp_key_rotation_finish, sp_key_rotation_start
from tests.connections.saml_helpers import finish, idp_for, post_to_acs, signed_in_email
from tests.saml_idp import NS_DS, okta_attributes
from tests.saml_logout import read_redirect, signed_octets, sp_certificates
from tests.saml_logout import verify_redirect_signature as verify_with_cryptography

SIG_RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"


@pytest.fixture
def signing(acme):
    connection = connection_update(connection=acme.connection, sign_requests=True, actor_label="t")
    connection.keypair = acme.connection.keypair
    acme.connection = connection
    return acme


def _login(client: Client, connection) -> str:
    response = client.get(f"/sso/{connection.name}/login/")
    assert response.status_code == 302
    return response["Location"]


def _signing_certificates(connection) -> list[bytes]:
    return sp_certificates(Client().get(f"/sso/{connection.name}/metadata/").content, "signing")


def _verify_with_openssl(
    location: str, certificate_pem: bytes, tmp_path
) -> subprocess.CompletedProcess:
    (tmp_path / "sp.crt").write_bytes(certificate_pem)
    public = subprocess.run(
        ["openssl", "x509", "-in", str(tmp_path / "sp.crt"), "-pubkey", "-noout"],
        capture_output=True,
        check=True,
    ).stdout
    (tmp_path / "sp.pub").write_bytes(public)
    (tmp_path / "octets").write_bytes(signed_octets(location))
    signature = parse_qs(urlsplit(location).query)["Signature"][0]
    (tmp_path / "signature").write_bytes(base64.b64decode(signature))
    return subprocess.run(
        ["openssl", "dgst", "-sha256", "-verify", str(tmp_path / "sp.pub"),
         "-signature", str(tmp_path / "signature"), str(tmp_path / "octets")],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip


def _verify_with_pysaml2(location: str, certificate_pem: bytes) -> bool:
    parameters = {name: values[0] for name, values in parse_qs(urlsplit(location).query).items()}
    body = "".join(certificate_pem.decode().strip().splitlines()[1:-1])
    return verify_redirect_signature(parameters, RSACrypto(None), cert=body)


def test_a_signed_authn_request_verifies_with_the_certificate_in_the_metadata(
    signing, client, tmp_path
):
    location = _login(client, signing.connection)
    [certificate] = _signing_certificates(signing.connection)

    sent = read_redirect(location)
    assert sent.parameters["SigAlg"] == SIG_RSA_SHA256
    verify_with_cryptography(location, certificate)
    assert _verify_with_pysaml2(location, certificate)
    if shutil.which("openssl"):
        result = _verify_with_openssl(location, certificate, tmp_path)
        assert result.returncode == 0 and "Verified OK" in result.stdout, result
    # The binding forbids a signature inside the deflated message (3.4.4.1).
    assert sent.root.find(f"{{{NS_DS}}}Signature") is None
    assert sent.root.get("Destination") == signing.connection.sign_on_url
    assert sent.root.get("AssertionConsumerServiceURL") == signing.connection.acs_url


def test_the_signature_covers_the_exact_octets(signing, client):
    """Add to what was signed (a RelayState on the way) and no verifier accepts it."""
    location = _login(client, signing.connection)
    [certificate] = _signing_certificates(signing.connection)
    tampered = location.replace("&SigAlg=", "&RelayState=%2Fadmin&SigAlg=", 1)

    with pytest.raises(InvalidSignature):
        verify_with_cryptography(tampered, certificate)
    assert not _verify_with_pysaml2(tampered, certificate)


def test_requests_are_not_signed_unless_the_connection_says_so(acme, client):
    location = _login(client, acme.connection)

    sent = read_redirect(location)
    assert "Signature" not in sent.parameters and "SigAlg" not in sent.parameters
    assert _signing_certificates(acme.connection) == []


def test_a_signed_request_is_answered_and_signs_the_person_in(signing, client):
    location = _login(client, signing.connection)
    xml = idp_for(signing).respond_to(
        location, name_id=signing.member.email, attributes=okta_attributes(signing.member.email)
    )

    done = finish(client, post_to_acs(client, signing.connection, xml))

    assert done.status_code == 302
    assert signed_in_email(client) == signing.member.email


def test_requests_are_signed_by_the_current_key_until_the_rotation_is_finished(signing, client):
    [old] = _signing_certificates(signing.connection)
    sp_key_rotation_start(connection=signing.connection)
    current, new = _signing_certificates(signing.connection)
    assert current == old

    during = _login(client, signing.connection)
    verify_with_cryptography(during, old)
    with pytest.raises(InvalidSignature):
        verify_with_cryptography(during, new)

    sp_key_rotation_finish(connection=signing.connection)
    signing.connection.refresh_from_db()

    after = _login(client, signing.connection)
    verify_with_cryptography(after, new)
    with pytest.raises(InvalidSignature):
        verify_with_cryptography(after, old)
    assert _signing_certificates(signing.connection) == [new]


def test_each_connection_signs_with_its_own_key(signing, globex, client):
    connection_update(connection=globex.connection, sign_requests=True, actor_label="t")
    [acme_certificate] = _signing_certificates(signing.connection)

    location = _login(client, globex.connection)

    with pytest.raises(InvalidSignature):
        verify_with_cryptography(location, acme_certificate)
    [globex_certificate] = _signing_certificates(globex.connection)
    verify_with_cryptography(location, globex_certificate)

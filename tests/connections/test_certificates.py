"""The certificate parser on real certificates, keys and CSRs generated for the test."""

from __future__ import annotations

import base64
import hashlib
import textwrap
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from connections.certificates import CertificateRefused, parse_certificate
from connections.models import SigningCertificate
from connections.services import connection_create
from tests.certs import make_csr_pem, make_keypair

PRIVATE_KEY_MESSAGE = "This is a private key, not a certificate."
NOT_A_CERTIFICATE = "This is not an X.509 certificate (expected PEM, DER or base64)."


@pytest.fixture(scope="module")
def idp():
    return make_keypair("idp.certs.test", slot="certs-idp")


def _colon_hex_sha256(der: bytes) -> str:
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def _base64_body(der: bytes) -> str:
    return base64.b64encode(der).decode("ascii")


# --- accepted shapes -------------------------------------------------------------------------


def test_pem_certificate_is_parsed(idp):
    parsed = parse_certificate(idp.cert_pem)

    assert parsed.subject == "CN=idp.certs.test"
    assert parsed.issuer == "CN=idp.certs.test"
    assert parsed.pem.startswith("-----BEGIN CERTIFICATE-----")
    assert parsed.ignored_chain_length == 0


def test_pem_given_as_text_is_parsed(idp):
    parsed = parse_certificate(idp.cert_pem.decode("ascii"))

    assert parsed.fingerprint_sha256 == idp.fingerprint


def test_pem_with_windows_line_endings_is_parsed(idp):
    parsed = parse_certificate(idp.cert_pem.replace(b"\n", b"\r\n"))

    assert parsed.fingerprint_sha256 == idp.fingerprint


def test_der_certificate_is_parsed(idp):
    parsed = parse_certificate(idp.cert_der)

    assert parsed.fingerprint_sha256 == idp.fingerprint
    assert parsed.subject == "CN=idp.certs.test"


def test_bare_base64_on_one_line_is_parsed(idp):
    parsed = parse_certificate(_base64_body(idp.cert_der))

    assert parsed.fingerprint_sha256 == idp.fingerprint


def test_bare_base64_wrapped_over_lines_is_parsed(idp):
    wrapped = "\n".join(textwrap.wrap(_base64_body(idp.cert_der), 64)) + "\n"

    parsed = parse_certificate(f"  {wrapped}  ")

    assert parsed.fingerprint_sha256 == idp.fingerprint


def test_every_shape_yields_the_same_normalised_pem(idp):
    shapes = [idp.cert_pem, idp.cert_der, _base64_body(idp.cert_der)]

    pems = {parse_certificate(shape).pem for shape in shapes}

    assert pems == {idp.cert_pem.decode("ascii")}


def test_base64_der_property_is_the_one_line_metadata_form(idp):
    parsed = parse_certificate(idp.cert_pem)

    assert parsed.base64_der == _base64_body(idp.cert_der)


def test_pem_chain_takes_the_leaf_and_counts_the_rest(idp):
    ca = make_keypair("Certs Test CA", slot="certs-ca")
    leaf = make_keypair("leaf.certs.test", slot="certs-idp", issuer=ca)

    parsed = parse_certificate(leaf.cert_pem + ca.cert_pem)

    assert parsed.subject == "CN=leaf.certs.test"
    assert parsed.issuer == "CN=Certs Test CA"
    assert parsed.fingerprint_sha256 == leaf.fingerprint
    assert parsed.ignored_chain_length == 1


def test_pem_with_surrounding_text_is_parsed(idp):
    # What a copy from an email or a text file often looks like.
    data = (
        b"Subject: idp.certs.test\nIssuer: ourselves\n" + idp.cert_pem + b"\n-- \nsent from Okta\n"
    )

    parsed = parse_certificate(data)

    assert parsed.fingerprint_sha256 == idp.fingerprint


def test_fingerprint_is_sha256_of_the_der_in_colon_hex(idp):
    parsed = parse_certificate(idp.cert_pem)

    assert parsed.fingerprint_sha256 == _colon_hex_sha256(idp.cert_der)
    assert len(parsed.fingerprint_sha256) == 95
    assert parsed.fingerprint_sha256 == parsed.fingerprint_sha256.upper()


def test_validity_window_is_read_from_the_certificate(idp):
    parsed = parse_certificate(idp.cert_pem)

    assert parsed.not_before == idp.certificate.not_valid_before_utc
    assert parsed.not_after == idp.certificate.not_valid_after_utc
    assert parsed.not_after.tzinfo is not None


def test_not_yet_valid_certificate_is_accepted_with_its_start_date():
    # A customer may send the next certificate before it starts; the window is recorded.
    now = datetime.now(UTC).replace(microsecond=0)
    future = make_keypair(
        "next.certs.test",
        slot="certs-idp",
        not_before=now + timedelta(days=10),
        not_after=now + timedelta(days=400),
    )

    parsed = parse_certificate(future.cert_pem)

    assert parsed.not_before == now + timedelta(days=10)
    assert parsed.not_after == now + timedelta(days=400)


# --- refusals --------------------------------------------------------------------------------


def test_expired_certificate_is_refused_with_its_expiry_date():
    now = datetime.now(UTC)
    expired = make_keypair(
        "old.certs.test",
        slot="certs-idp",
        not_before=now - timedelta(days=400),
        not_after=now - timedelta(days=2),
    )
    expiry = expired.certificate.not_valid_after_utc

    with pytest.raises(CertificateRefused) as refused:
        parse_certificate(expired.cert_pem)

    assert f"expired on {expiry:%Y-%m-%d}" in refused.value.message
    assert refused.value.code == "certificate_invalid"


def test_certificate_expiring_exactly_now_is_refused(idp):
    with pytest.raises(CertificateRefused, match="expired on"):
        parse_certificate(idp.cert_pem, now=idp.certificate.not_valid_after_utc)


def test_certificate_is_accepted_one_second_before_expiry(idp):
    moment = idp.certificate.not_valid_after_utc - timedelta(seconds=1)

    assert parse_certificate(idp.cert_pem, now=moment).fingerprint_sha256 == idp.fingerprint


def test_private_key_pem_is_refused_as_a_private_key(idp):
    with pytest.raises(CertificateRefused) as refused:
        parse_certificate(idp.key_pem)

    assert refused.value.message.startswith(PRIVATE_KEY_MESSAGE)


def test_traditional_rsa_private_key_pem_is_refused_as_a_private_key(idp):
    pem = idp.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    assert b"BEGIN RSA PRIVATE KEY" in pem

    with pytest.raises(CertificateRefused, match=PRIVATE_KEY_MESSAGE):
        parse_certificate(pem)


def test_certificate_bundled_with_its_private_key_is_refused(idp):
    with pytest.raises(CertificateRefused, match=PRIVATE_KEY_MESSAGE):
        parse_certificate(idp.cert_pem + idp.key_pem)


def test_private_key_der_is_refused_as_a_private_key(idp):
    der = idp.key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )

    with pytest.raises(CertificateRefused, match=PRIVATE_KEY_MESSAGE):
        parse_certificate(der)


def test_private_key_as_bare_base64_is_refused_as_a_private_key(idp):
    der = idp.key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )

    with pytest.raises(CertificateRefused, match=PRIVATE_KEY_MESSAGE):
        parse_certificate(base64.b64encode(der))


def test_csr_pem_is_refused_as_a_csr():
    with pytest.raises(CertificateRefused) as refused:
        parse_certificate(make_csr_pem())

    assert "certificate signing request (CSR)" in refused.value.message


def test_csr_der_is_refused_as_a_csr():
    der = x509.load_pem_x509_csr(make_csr_pem()).public_bytes(serialization.Encoding.DER)

    with pytest.raises(CertificateRefused, match=r"certificate signing request \(CSR\)"):
        parse_certificate(der)


def test_public_key_pem_is_refused_naming_what_was_found(idp):
    pem = idp.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    with pytest.raises(CertificateRefused, match="Expected a CERTIFICATE block, found PUBLIC KEY"):
        parse_certificate(pem)


@pytest.mark.parametrize("data", [b"", b"   \n\t ", ""], ids=["empty-bytes", "blank", "empty-str"])
def test_empty_input_is_refused(data):
    with pytest.raises(CertificateRefused, match="The certificate is empty."):
        parse_certificate(data)


@pytest.mark.parametrize(
    "data",
    [b"hello, this is not a certificate", b"\x00\x01\x02garbage\xff", b"QUJDREVGRw=="],
    ids=["text", "binary", "base64-of-text"],
)
def test_garbage_is_refused(data):
    with pytest.raises(CertificateRefused) as refused:
        parse_certificate(data)

    assert refused.value.message == NOT_A_CERTIFICATE


def test_truncated_pem_without_end_line_is_refused(idp):
    truncated = idp.cert_pem[: len(idp.cert_pem) // 2]

    with pytest.raises(CertificateRefused, match="incomplete"):
        parse_certificate(truncated)


def test_pem_with_damaged_body_is_refused(idp):
    lines = idp.cert_pem.splitlines()
    damaged = b"\n".join([lines[0], *lines[1:-1][:3], lines[-1]]) + b"\n"

    with pytest.raises(CertificateRefused, match="damaged"):
        parse_certificate(damaged)


def test_oversized_input_is_refused(idp):
    with pytest.raises(CertificateRefused, match="too large"):
        parse_certificate(idp.cert_pem + b"\n" + b"A" * 70_000)


def test_rsa_1024_certificate_is_refused_as_too_weak():
    weak = make_keypair("weak.certs.test", bits=1024, slot="certs-weak")

    with pytest.raises(CertificateRefused) as refused:
        parse_certificate(weak.cert_pem)

    assert "1024 bits" in refused.value.message
    assert "2048" in refused.value.message


# --- what is stored --------------------------------------------------------------------------


def test_connection_stores_the_fingerprint_and_expiry_of_the_certificate(acme, idp):
    connection = connection_create(
        company=acme.company,
        name="acme-certs",
        sign_on_url="https://acme.okta.example/app/sso/saml",
        certificate_data=idp.cert_der,
    )

    stored = SigningCertificate.objects.get(connection=connection)
    assert stored.fingerprint_sha256 == _colon_hex_sha256(idp.cert_der)
    assert stored.not_after == idp.certificate.not_valid_after_utc
    assert stored.not_before == idp.certificate.not_valid_before_utc
    assert stored.subject == "CN=idp.certs.test"
    assert stored.pem == idp.cert_pem.decode("ascii")
    assert stored.base64_der == _base64_body(idp.cert_der)

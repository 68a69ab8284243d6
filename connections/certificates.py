"""Parse the IdP signing certificate a customer sends us, in whatever shape it arrives; make
the self-signed key pairs we need ourselves (our SP keys, the development IdP's).

Okta's "Download certificate" gives PEM; other IdPs give DER (.cer) or the bare base64 from
their metadata. Everything is parsed with ``cryptography``; what is not a usable X.509
certificate is refused with a message that says what it is instead.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from core.exceptions import ValidationFailed

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.DOTALL)
_MAX_INPUT_BYTES = 64 * 1024


class CertificateRefused(ValidationFailed):
    code = "certificate_invalid"


@dataclass(frozen=True)
class ParsedCertificate:
    pem: str
    fingerprint_sha256: str
    subject: str
    issuer: str
    not_before: datetime
    not_after: datetime
    # Certificates after the first in a chain: the leaf signs, the rest are not trust anchors.
    ignored_chain_length: int = 0

    @property
    def base64_der(self) -> str:
        """The certificate as IdP metadata carries it (one line of base64 DER)."""
        body = "".join(line for line in self.pem.splitlines() if not line.startswith("-----"))
        return body


def self_signed_key_pair(
    name: x509.Name | str, *, bits: int, days: int
) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """A new RSA key and its self-signed certificate (SHA-256), valid from a day ago (an IdP
    whose clock is behind still takes it) for ``days``. Key generation is the slow part."""
    if isinstance(name, str):
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    return key, certificate


def private_key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def format_fingerprint(digest: bytes) -> str:
    return ":".join(f"{byte:02X}" for byte in digest)


def parse_certificate(data: bytes | str, *, now: datetime | None = None) -> ParsedCertificate:
    """Return the signing certificate in ``data`` (PEM, DER or bare base64), or refuse it."""
    raw = data.encode("utf-8", "replace") if isinstance(data, str) else bytes(data)
    if not raw.strip():
        raise CertificateRefused("The certificate is empty.")
    if len(raw) > _MAX_INPUT_BYTES:
        raise CertificateRefused("The certificate file is too large to be a certificate.")

    certificates = _load(raw)
    leaf = certificates[0]
    _check_key(leaf)
    now = now or datetime.now(UTC)
    not_after = leaf.not_valid_after_utc
    not_before = leaf.not_valid_before_utc
    if not_after <= now:
        raise CertificateRefused(
            f"The certificate expired on {not_after:%Y-%m-%d}; download the current one from the IdP."
        )
    return ParsedCertificate(
        pem=leaf.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        fingerprint_sha256=format_fingerprint(leaf.fingerprint(hashes.SHA256())),
        subject=leaf.subject.rfc4514_string(),
        issuer=leaf.issuer.rfc4514_string(),
        not_before=not_before,
        not_after=not_after,
        ignored_chain_length=len(certificates) - 1,
    )


def _load(raw: bytes) -> list[x509.Certificate]:
    blocks = _PEM_BLOCK.findall(raw)
    if blocks:
        labels = {label.decode() for label, _ in blocks}
        if any("PRIVATE KEY" in label for label in labels):
            raise CertificateRefused(
                "This is a private key, not a certificate. Never send private keys; "
                "send the IdP's signing certificate."
            )
        if any("CERTIFICATE REQUEST" in label for label in labels):
            raise CertificateRefused(
                "This is a certificate signing request (CSR), not a certificate."
            )
        if "CERTIFICATE" not in labels:
            raise CertificateRefused(
                f"Expected a CERTIFICATE block, found {', '.join(sorted(labels))}."
            )
        try:
            return x509.load_pem_x509_certificates(raw)
        except ValueError:
            raise CertificateRefused("The PEM certificate is damaged and cannot be read.") from None

    if b"-----BEGIN" in raw:
        raise CertificateRefused("The PEM data is incomplete (no matching END line).")

    der = raw if raw[:1] == b"\x30" else _decode_base64(raw)
    try:
        return [x509.load_der_x509_certificate(der)]
    except ValueError:
        _refuse_other_der(der)
        raise CertificateRefused(
            "This is not an X.509 certificate (expected PEM, DER or base64)."
        ) from None


def _decode_base64(raw: bytes) -> bytes:
    compact = b"".join(raw.split())
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise CertificateRefused(
            "This is not an X.509 certificate (expected PEM, DER or base64)."
        ) from None


def _refuse_other_der(der: bytes) -> None:
    try:
        serialization.load_der_private_key(der, password=None)
    except (ValueError, TypeError):
        pass
    else:
        raise CertificateRefused(
            "This is a private key, not a certificate. Never send private keys; "
            "send the IdP's signing certificate."
        )
    try:
        x509.load_der_x509_csr(der)
    except ValueError:
        return
    raise CertificateRefused("This is a certificate signing request (CSR), not a certificate.")


def _check_key(certificate: x509.Certificate) -> None:
    key = certificate.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise CertificateRefused(
                f"The certificate's RSA key has {key.key_size} bits; at least 2048 are required."
            )
        return
    if isinstance(key, ec.EllipticCurvePublicKey):
        return
    raise CertificateRefused("The certificate's key type cannot sign SAML responses (RSA or EC).")

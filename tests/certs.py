"""Real RSA keys and X.509 certificates made at test time (nothing secret is committed)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class KeyPair:
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    @property
    def cert_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def cert_der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def fingerprint(self) -> str:
        digest = self.certificate.fingerprint(hashes.SHA256())
        return ":".join(f"{b:02X}" for b in digest)


@lru_cache(maxsize=8)
def _rsa_key(bits: int, slot: str) -> rsa.RSAPrivateKey:
    # Key generation is the slow part; a few keys per session (one per "slot") are enough.
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


@lru_cache(maxsize=8)
def _ec_key(slot: str) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def make_keypair(
    common_name: str = "idp.example.test",
    *,
    slot: str | None = None,
    bits: int = 2048,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    issuer: KeyPair | None = None,
    curve: bool = False,
) -> KeyPair:
    """A self-signed (or ``issuer``-signed) certificate. ``slot`` picks a cached key; ``curve``
    makes it an EC (P-256) key instead of RSA."""
    key = _ec_key(slot or common_name) if curve else _rsa_key(bits, slot or common_name)
    now = datetime.now(UTC)
    not_before = not_before or now - timedelta(days=1)
    not_after = not_after or now + timedelta(days=365)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    issuer_name = issuer.certificate.subject if issuer else subject
    signing_key = issuer.key if issuer else key
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .sign(signing_key, hashes.SHA256())
    )
    return KeyPair(key=key, certificate=certificate)


def make_csr_pem(common_name: str = "csr.example.test") -> bytes:
    key = _rsa_key(2048, "csr")
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM)

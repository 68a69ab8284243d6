"""The test IdP's XML Encryption of assertions: lxml and ``cryptography``, independent of the code
under test (which decrypts with libxmlsec1).

``encrypt_assertions`` takes a signed Response (bytes) and replaces each Assertion that is a
direct child of the Response with an ``EncryptedAssertion`` for the SP's encryption certificate,
the way IdPs write it: a random content key, the serialized (signed) assertion encrypted with it
(AES-GCM: IV, ciphertext, tag; AES-CBC: IV, ciphertext with XML Encryption's padding), the key
wrapped with RSA-OAEP (``xmlenc#rsa-oaep-mgf1p`` or ``xmlenc11#rsa-oaep`` with its MGF1 and
digest), or with RSA PKCS#1 v1.5 for the refusals; the EncryptedKey inside the EncryptedData's
KeyInfo (Okta, Entra ID, AD FS) or beside it, pointed at by a RetrievalMethod (Shibboleth).

    certificate = sp_certificates(client.get(metadata_url).content, "encryption")[0]
    xml = encrypt_assertions(idp_response(...), certificate)
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from typing import Literal

from cryptography import x509
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import padding as symmetric_padding
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from lxml import etree

from tests.saml_idp import NS_DS, NS_SAML, _parse, _serialize

NS_XENC = "http://www.w3.org/2001/04/xmlenc#"
NS_XENC11 = "http://www.w3.org/2009/xmlenc11#"

CONTENT = {
    "aes128-gcm": (f"{NS_XENC11}aes128-gcm", 16),
    "aes256-gcm": (f"{NS_XENC11}aes256-gcm", 32),
    "aes128-cbc": (f"{NS_XENC}aes128-cbc", 16),
    "aes256-cbc": (f"{NS_XENC}aes256-cbc", 32),
    "aes192-cbc": (f"{NS_XENC}aes192-cbc", 24),  # not accepted: for the refusals
    "tripledes-cbc": (f"{NS_XENC}tripledes-cbc", 24),  # not accepted either
}
KEY_TRANSPORT = {
    "rsa-oaep-mgf1p": f"{NS_XENC}rsa-oaep-mgf1p",
    "rsa-oaep": f"{NS_XENC11}rsa-oaep",
    "rsa-1_5": f"{NS_XENC}rsa-1_5",
}
_DIGESTS = {
    "sha1": ("http://www.w3.org/2000/09/xmldsig#sha1", hashes.SHA1),
    "sha256": ("http://www.w3.org/2001/04/xmlenc#sha256", hashes.SHA256),
}
_MGF = {"sha1": hashes.SHA1, "sha256": hashes.SHA256}

Content = Literal[
    "aes128-gcm", "aes256-gcm", "aes128-cbc", "aes256-cbc", "aes192-cbc", "tripledes-cbc"
]
KeyTransport = Literal["rsa-oaep-mgf1p", "rsa-oaep", "rsa-1_5"]


@dataclass(frozen=True)
class Encryption:
    """How an IdP encrypts. The defaults are Okta's and Entra ID's."""

    content: Content = "aes256-cbc"
    key_transport: KeyTransport = "rsa-oaep-mgf1p"
    oaep_digest: Literal["sha1", "sha256"] = "sha1"
    mgf: Literal["sha1", "sha256"] | None = None  # xmlenc11#rsa-oaep only; None: not written
    key_placement: Literal["inline", "sibling"] = "inline"


#: How the major IdPs encrypt, for the interoperability tests.
IDP_ENCRYPTION = {
    "okta": Encryption("aes256-cbc", "rsa-oaep-mgf1p", "sha1"),
    "entra": Encryption("aes256-cbc", "rsa-oaep-mgf1p", "sha1"),
    "adfs": Encryption("aes256-cbc", "rsa-oaep-mgf1p", "sha1"),
    "keycloak": Encryption("aes128-gcm", "rsa-oaep", "sha256", mgf="sha256"),
    "shibboleth": Encryption("aes128-gcm", "rsa-oaep", "sha1", mgf="sha1", key_placement="sibling"),
    "pingfederate": Encryption("aes256-gcm", "rsa-oaep-mgf1p", "sha256"),
}


def _x(namespace: str, tag: str) -> str:
    return f"{{{namespace}}}{tag}"


def _encrypt_content(plaintext: bytes, content: Content) -> tuple[bytes, bytes]:
    """(content key, IV + ciphertext [+ tag]) for ``content``."""
    _uri, size = CONTENT[content]
    key = os.urandom(size)
    if content.endswith("gcm"):
        iv = os.urandom(12)
        return key, iv + AESGCM(key).encrypt(iv, plaintext, None)
    # XML Encryption's padding: the last octet says how many were added (1 to the block size),
    # the others are arbitrary (PKCS#7 fills them with that count, which is one valid choice).
    block = 8 if content == "tripledes-cbc" else 16
    padder = symmetric_padding.PKCS7(block * 8).padder()
    padded = padder.update(plaintext) + padder.finalize()
    iv = os.urandom(block)
    cipher_algorithm = TripleDES(key) if content == "tripledes-cbc" else algorithms.AES(key)
    encryptor = Cipher(cipher_algorithm, modes.CBC(iv)).encryptor()
    return key, iv + encryptor.update(padded) + encryptor.finalize()


def _wrap_key(key: bytes, certificate: x509.Certificate, encryption: Encryption) -> bytes:
    public_key = certificate.public_key()
    if encryption.key_transport == "rsa-1_5":
        return public_key.encrypt(key, padding.PKCS1v15())
    digest = _DIGESTS[encryption.oaep_digest][1]
    mgf = _MGF[encryption.mgf or "sha1"] if encryption.key_transport == "rsa-oaep" else hashes.SHA1
    return public_key.encrypt(
        key, padding.OAEP(mgf=padding.MGF1(algorithm=mgf()), algorithm=digest(), label=None)
    )


def _encrypted_key(
    parent: etree._Element, wrapped: bytes, encryption: Encryption, key_id: str | None
) -> etree._Element:
    encrypted_key = etree.SubElement(parent, _x(NS_XENC, "EncryptedKey"), nsmap={"xenc": NS_XENC})
    if key_id:
        encrypted_key.set("Id", key_id)
    method = etree.SubElement(
        encrypted_key,
        _x(NS_XENC, "EncryptionMethod"),
        Algorithm=KEY_TRANSPORT[encryption.key_transport],
    )
    if encryption.key_transport != "rsa-1_5":
        etree.SubElement(
            method,
            _x(NS_DS, "DigestMethod"),
            nsmap={"ds": NS_DS},
            Algorithm=_DIGESTS[encryption.oaep_digest][0],
        )
        if encryption.key_transport == "rsa-oaep" and encryption.mgf:
            etree.SubElement(
                method,
                _x(NS_XENC11, "MGF"),
                nsmap={"xenc11": NS_XENC11},
                Algorithm=f"{NS_XENC11}mgf1{encryption.mgf}",
            )
    cipher_data = etree.SubElement(encrypted_key, _x(NS_XENC, "CipherData"))
    etree.SubElement(cipher_data, _x(NS_XENC, "CipherValue")).text = base64.b64encode(
        wrapped
    ).decode()
    return encrypted_key


def encrypted_assertion(
    assertion: etree._Element,
    certificate_pem: bytes,
    encryption: Encryption = Encryption(),
    *,
    container_tag: str = "EncryptedAssertion",
) -> etree._Element:
    """An EncryptedAssertion holding ``assertion`` (serialized as it stands, signature and all);
    with ``container_tag="EncryptedID"``, an EncryptedID holding a NameID."""
    certificate = x509.load_pem_x509_certificate(certificate_pem)
    plaintext = etree.tostring(assertion, encoding="UTF-8", xml_declaration=False)
    key, ciphertext = _encrypt_content(plaintext, encryption.content)
    wrapped = _wrap_key(key, certificate, encryption)

    container = etree.Element(_x(NS_SAML, container_tag))
    data = etree.SubElement(
        container,
        _x(NS_XENC, "EncryptedData"),
        {"Id": f"_ed{os.urandom(8).hex()}", "Type": f"{NS_XENC}Element"},
        nsmap={"xenc": NS_XENC},
    )
    etree.SubElement(
        data, _x(NS_XENC, "EncryptionMethod"), Algorithm=CONTENT[encryption.content][0]
    )
    key_info = etree.SubElement(data, _x(NS_DS, "KeyInfo"), nsmap={"ds": NS_DS})
    if encryption.key_placement == "inline":
        _encrypted_key(key_info, wrapped, encryption, None)
    else:
        key_id = f"_ek{os.urandom(8).hex()}"
        etree.SubElement(
            key_info,
            _x(NS_DS, "RetrievalMethod"),
            URI=f"#{key_id}",
            Type=f"{NS_XENC}EncryptedKey",
        )
    cipher_data = etree.SubElement(data, _x(NS_XENC, "CipherData"))
    etree.SubElement(cipher_data, _x(NS_XENC, "CipherValue")).text = base64.b64encode(
        ciphertext
    ).decode()
    if encryption.key_placement == "sibling":
        _encrypted_key(container, wrapped, encryption, key_id)
    return container


def encrypt_assertions(
    xml: bytes, certificate_pem: bytes, encryption: Encryption = Encryption()
) -> bytes:
    """Each Assertion that is a direct child of the Response, encrypted in place. A Response
    signature made before is left as it was (it no longer matches: sign after encrypting)."""
    root = _parse(xml)
    assertions = root.findall(_x(NS_SAML, "Assertion"))
    if not assertions:
        raise ValueError("the response has no assertion to encrypt")
    for assertion in assertions:
        container = encrypted_assertion(assertion, certificate_pem, encryption)
        container.tail = assertion.tail
        root.replace(assertion, container)
    return _serialize(root)

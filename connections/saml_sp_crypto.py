"""The SP's own keys in the in-process crypto: libxmlsec1 through the ``xmlsec`` binding, beside
``connections.saml_crypto`` (whose hardened parser, signature algorithm list and trusted keys it
shares). No subprocess, no temporary file, no private key on disk.

- Signing our messages with the connection's SP signing key: the HTTP-Redirect binding's
  signature over the exact query octets (``sign_octets``, RSA-SHA256, saml-bindings 3.4.4.1), an
  enveloped XML signature on a message sent over HTTP-POST (``sign_enveloped``).
- Verifying an IdP's HTTP-Redirect signature (``verify_octets``) with the connection's configured
  certificates only, SHA-1 refused by name as for XML signatures.
- Decrypting an ``EncryptedAssertion`` to the connection's SP encryption keys
  (``decrypt_encrypted_data``): the algorithms are checked in the tree before libxmlsec1 sees it
  (``connections.saml_xmlenc``: RSA-OAEP key transport only, with MGF1 and digest SHA-1 or SHA-2;
  AES-GCM or AES-CBC content), the content key is unwrapped with our private key, the content
  decrypted with that key alone (nothing the message says picks a key), and the plaintext comes
  back as bytes for the caller to put through the same gate and parser as a received message.
  Every failure reads the same to the sender (``DecryptionRefused``), whatever went wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from connections import saml_crypto, saml_xmlenc

# The binding as saml_crypto loaded it, after checking that it runs lxml's libxml2: that module
# stays the one that imports xmlsec.
xmlsec = saml_crypto.xmlsec

DS = saml_crypto.DS
XENC = "http://www.w3.org/2001/04/xmlenc#"
XENC11 = "http://www.w3.org/2009/xmlenc11#"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
ELEMENT_TYPE = f"{XENC}Element"

# RSA-OAEP's digest and mask generation: SHA-1 is sound inside OAEP (no collision matters there),
# and it is what rsa-oaep-mgf1p means; IdPs choose SHA-256 as well.
_OAEP_DIGESTS = (
    "http://www.w3.org/2000/09/xmldsig#sha1",
    "http://www.w3.org/2001/04/xmlenc#sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512",
)
_MGF1 = tuple(f"{XENC11}mgf1{name}" for name in ("sha1", "sha224", "sha256", "sha384", "sha512"))
_AES_KEY_BYTES = {
    saml_xmlenc.AES128_GCM: 16,
    saml_xmlenc.AES256_GCM: 32,
    saml_xmlenc.AES128_CBC: 16,
    saml_xmlenc.AES256_CBC: 32,
}
# An IdP that encrypts for several recipients lists a key for each; more is not an IdP.
_MAX_ENCRYPTED_KEYS = 4


@dataclass(frozen=True)
class SpKeyPair:
    """One of our private keys loaded for libxmlsec1, with its certificate (which an enveloped
    signature carries in KeyInfo). Immutable: the binding copies the key into each context."""

    key: xmlsec.Key
    fingerprint: str


def load_key_pair(private_pem: bytes, certificate_pem: bytes, fingerprint: str) -> SpKeyPair:
    key = xmlsec.Key.from_memory(private_pem, xmlsec.KeyFormat.PEM)
    key.load_cert_from_memory(certificate_pem, xmlsec.KeyFormat.CERT_PEM)
    return SpKeyPair(key=key, fingerprint=fingerprint)


# --- signing ---------------------------------------------------------------------------------


def sign_octets(octets: bytes, signer: SpKeyPair) -> bytes:
    """RSA-SHA256 over exactly ``octets`` (the HTTP-Redirect binding's signed query string)."""
    context = xmlsec.SignatureContext()
    context.key = signer.key
    return context.sign_binary(octets, xmlsec.Transform.RSA_SHA256)


def sign_enveloped(element: etree._Element, signer: SpKeyPair) -> None:
    """An enveloped signature on ``element`` (which has an ``ID``), in the profile we require of
    IdPs (saml-core 5.4: exclusive c14n, RSA-SHA256, SHA-256, one Reference to the element),
    placed right after its Issuer, the certificate in KeyInfo."""
    signature = xmlsec.template.create(
        element, xmlsec.Transform.EXCL_C14N, xmlsec.Transform.RSA_SHA256, ns="ds"
    )
    issuer = element.find(f"{{{SAML}}}Issuer")
    if issuer is not None:
        issuer.addnext(signature)
    else:
        element.insert(0, signature)
    reference = xmlsec.template.add_reference(
        signature, xmlsec.Transform.SHA256, uri=f"#{element.get('ID')}"
    )
    xmlsec.template.add_transform(reference, xmlsec.Transform.ENVELOPED)
    xmlsec.template.add_transform(reference, xmlsec.Transform.EXCL_C14N)
    key_info = xmlsec.template.ensure_key_info(signature)
    xmlsec.template.add_x509_data(key_info)
    context = xmlsec.SignatureContext()
    context.key = signer.key
    context.register_id(element, "ID")
    context.sign(signature)


# --- verifying a detached (HTTP-Redirect) signature ------------------------------------------


def verify_octets(
    octets: bytes, signature: bytes, algorithm: str, trusted: saml_crypto.TrustedKeys
) -> None:
    """The HTTP-Redirect binding's signature: ``signature`` over exactly ``octets`` with
    ``algorithm`` (the SigAlg parameter), made by one of the trusted keys. Raises
    ``saml_crypto.AlgorithmRefused`` (``WeakAlgorithm`` for SHA-1) or ``SignatureInvalid``."""
    if algorithm not in saml_crypto.SIGNATURE_METHODS:
        raise saml_crypto.refuse_algorithm("signature algorithm", algorithm)
    transform, kind = saml_crypto.SIGNATURE_METHODS[algorithm]
    candidates = [key for key in trusted.keys if key.kind == kind]
    for candidate in candidates:
        context = xmlsec.SignatureContext()
        context.key = candidate.key
        try:
            context.verify_binary(octets, transform, signature)
        except xmlsec.Error:  # VerificationError included: try the next configured key
            continue
        return
    raise saml_crypto.SignatureInvalid(
        "the HTTP-Redirect signature does not verify with a configured certificate"
        if candidates
        else f"no configured certificate holds a key for this algorithm ({kind})"
    )


# --- decryption ----------------------------------------------------------------------------


class DecryptionRefused(Exception):
    """An EncryptedAssertion we do not decrypt; ``reason`` is for support only."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class KeyTransportRefused(DecryptionRefused):
    """RSA PKCS#1 v1.5 key transport: refused by name, so the IdP's admin knows what to change."""


def _x(namespace: str, tag: str) -> str:
    return f"{{{namespace}}}{tag}"


def _algorithm_of(element: etree._Element, what: str) -> str:
    method = element.find(_x(XENC, "EncryptionMethod"))
    algorithm = method.get("Algorithm", "") if method is not None else ""
    if not algorithm:
        raise DecryptionRefused(f"the {what} names no algorithm")
    return algorithm


def _cipher_value(element: etree._Element, what: str) -> None:
    data = element.find(_x(XENC, "CipherData"))
    if data is None or [child.tag for child in data] != [_x(XENC, "CipherValue")]:
        raise DecryptionRefused(f"the {what} carries no CipherValue (a CipherReference is refused)")


def _check_key_transport(encrypted_key: etree._Element) -> None:
    algorithm = _algorithm_of(encrypted_key, "EncryptedKey")
    if algorithm == saml_xmlenc.RSA_1_5:
        raise KeyTransportRefused(f"RSA PKCS#1 v1.5 key transport is refused ({algorithm})")
    if algorithm not in saml_xmlenc.KEY_TRANSPORT_ALGORITHMS:
        raise DecryptionRefused(f"key transport not accepted: {algorithm[:200]}")
    method = encrypted_key.find(_x(XENC, "EncryptionMethod"))
    for child in method:
        if child.tag == _x(DS, "DigestMethod"):
            if child.get("Algorithm") not in _OAEP_DIGESTS:
                raise DecryptionRefused(f"OAEP digest not accepted: {child.get('Algorithm')}")
        elif child.tag == _x(XENC11, "MGF") and algorithm == saml_xmlenc.RSA_OAEP:
            if child.get("Algorithm") not in _MGF1:
                raise DecryptionRefused(
                    f"OAEP mask generation not accepted: {child.get('Algorithm')}"
                )
        else:
            raise DecryptionRefused(f"unexpected {child.tag} in the key transport method")
    _cipher_value(encrypted_key, "EncryptedKey")


def _encrypted_keys(
    encrypted_data: etree._Element, container: etree._Element
) -> list[etree._Element]:
    """The EncryptedKeys that may hold the content key: those inside the EncryptedData's
    KeyInfo, else those beside it in the EncryptedAssertion (a RetrievalMethod or KeyName points
    at them: Shibboleth's and AD FS's layout)."""
    key_info = encrypted_data.find(_x(DS, "KeyInfo"))
    inline = key_info.findall(_x(XENC, "EncryptedKey")) if key_info is not None else []
    keys = inline or container.findall(_x(XENC, "EncryptedKey"))
    if not keys:
        raise DecryptionRefused("no EncryptedKey: the content key is not transported")
    if len(keys) > _MAX_ENCRYPTED_KEYS:
        raise DecryptionRefused(f"{len(keys)} EncryptedKeys")
    return keys


def _detached(element: etree._Element) -> etree._Element:
    """A copy of ``element`` as the root of its own document (libxmlsec1 works on documents)."""
    return saml_crypto.parse(etree.tostring(element))


def _unwrap(encrypted_key: etree._Element, keys: list[SpKeyPair], size: int) -> bytes:
    for candidate in keys:
        context = xmlsec.EncryptionContext()
        context.key = candidate.key
        try:
            content_key = context.decrypt(_detached(encrypted_key))
        except xmlsec.Error:
            continue
        if isinstance(content_key, bytes) and len(content_key) == size:
            return content_key
    raise DecryptionRefused("no SP encryption key unwraps the content key")


def decrypt_encrypted_data(container: etree._Element, keys: list[SpKeyPair]) -> bytes:
    """The plaintext of ``container``'s one EncryptedData (``container`` is an
    EncryptedAssertion or EncryptedID), decrypted with ``keys`` (our encryption keys: current,
    then next during a rotation). Raises ``DecryptionRefused`` (``KeyTransportRefused``)."""
    if not keys:
        raise DecryptionRefused("this connection has no SP encryption key yet")
    data = container.findall(_x(XENC, "EncryptedData"))
    others = [
        c.tag
        for c in container
        if c.tag not in (_x(XENC, "EncryptedData"), _x(XENC, "EncryptedKey"))
    ]
    if len(data) != 1 or others:
        raise DecryptionRefused("expected one EncryptedData (and EncryptedKeys) in the container")
    encrypted_data = data[0]
    if encrypted_data.get("Type") not in (None, ELEMENT_TYPE):
        raise DecryptionRefused(f"EncryptedData of Type {encrypted_data.get('Type')!r}")
    content_algorithm = _algorithm_of(encrypted_data, "EncryptedData")
    if content_algorithm not in saml_xmlenc.CONTENT_ALGORITHMS:
        raise DecryptionRefused(f"content encryption not accepted: {content_algorithm[:200]}")
    if len(encrypted_data.find(_x(XENC, "EncryptionMethod"))):
        raise DecryptionRefused("unexpected parameters in the content encryption method")
    _cipher_value(encrypted_data, "EncryptedData")
    encrypted_keys = _encrypted_keys(encrypted_data, container)
    for encrypted_key in encrypted_keys:
        _check_key_transport(encrypted_key)

    size = _AES_KEY_BYTES[content_algorithm]
    content_key = None
    for encrypted_key in encrypted_keys:
        try:
            content_key = _unwrap(encrypted_key, keys, size)
            break
        except DecryptionRefused:
            continue
    if content_key is None:
        raise DecryptionRefused("no SP encryption key unwraps the content key")

    # The content alone, with the unwrapped key set on the context: no KeyInfo left for
    # libxmlsec1 to act on, and no Type, so it hands back the plaintext instead of splicing it
    # into the tree (the caller parses it with the hardened parser).
    content = _detached(encrypted_data)
    content.attrib.pop("Type", None)
    for key_info in content.findall(_x(DS, "KeyInfo")):
        content.remove(key_info)
    context = xmlsec.EncryptionContext()
    context.key = xmlsec.Key.from_binary_data(xmlsec.KeyData.AES, content_key)
    try:
        plaintext = context.decrypt(content)
    except xmlsec.Error:
        raise DecryptionRefused("the content does not decrypt (corrupt or tampered)") from None
    if not isinstance(plaintext, bytes):
        raise DecryptionRefused("the content did not decrypt to bytes")
    return plaintext

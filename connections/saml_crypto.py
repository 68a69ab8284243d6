"""XML signatures in process: libxmlsec1 through the ``xmlsec`` binding, on lxml trees.

This module holds the SAML crypto that runs on the sign-in path, with no subprocess and no
temporary file: the hardened parser every received message goes through (``parse``), the keys a
connection trusts (``TrustedKeys``, built from its configured certificates only), the signature
profile of saml-core 5.4 as we enforce it (``check_signature_profile``) and the verification of
an enveloped signature (``verify_enveloped``). It imports lxml and xmlsec, never pysaml2.

What a verified signature means here:
- the key is one of the connection's configured certificates, never a key or certificate
  carried in the message (``KeyInfo`` is not read: the context's key is set before verifying);
- the Signature is a direct child of the signed element, which carries the only ``ID``
  registered in the document (the parser registers none, ``collect_ids=False``), and its one
  Reference is ``URI="#<that ID>"``: it cannot point anywhere else;
- the transforms are the enveloped-signature transform then exclusive c14n, SignedInfo is
  canonicalized with exclusive c14n, digests and signatures are SHA-2 (RSA or ECDSA); the same
  lists are enabled in the xmlsec context, so libxmlsec1 itself refuses anything else too.

Signing (AuthnRequests, LogoutRequests over the HTTP-Redirect binding: ``SignatureContext.
sign_binary`` with the SP key) and decryption (``EncryptionContext`` with a ``KeysManager``
holding the SP key, RSA-OAEP key transport only) belong here as well: same binding, same
parser, same rule that only configured keys are used.

**One libxml2.** lxml and xmlsec each link libxml2; a tree built by one and read by the other
must come from the same library, or the process corrupts memory. The pinned wheels (lxml 6.0.2
and xmlsec 1.3.17, manylinux) both carry libxml2 2.14.6. The binding refuses to import when the
versions differ, and this module checks again at import; ``ConnectionsConfig.ready`` imports it,
so every process (web, worker, command) stops at start-up with ``ImproperlyConfigured`` naming
both versions instead of failing on the first sign-in. If one of the two is ever built from
source, build both: ``pip install --no-binary lxml,xmlsec lxml==… xmlsec==…``.
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.core.exceptions import ImproperlyConfigured
from lxml import etree

try:
    import xmlsec
except Exception as error:  # the binding refuses to load when its libxml2 is not lxml's
    raise ImproperlyConfigured(
        f"The xmlsec binding cannot load next to lxml (which runs libxml2 "
        f"{'.'.join(map(str, etree.LIBXML_VERSION))}): {error}. Both must use the same libxml2; "
        "install the pinned wheels of both, or build both from source."
    ) from error

DS = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"

#: SignatureMethod URI -> (xmlsec transform, the type of key that verifies it).
SIGNATURE_METHODS = {
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256": (xmlsec.Transform.RSA_SHA256, "rsa"),
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384": (xmlsec.Transform.RSA_SHA384, "rsa"),
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512": (xmlsec.Transform.RSA_SHA512, "rsa"),
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256": (xmlsec.Transform.ECDSA_SHA256, "ec"),
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384": (xmlsec.Transform.ECDSA_SHA384, "ec"),
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512": (xmlsec.Transform.ECDSA_SHA512, "ec"),
}
DIGEST_METHODS = {
    "http://www.w3.org/2001/04/xmlenc#sha256": xmlsec.Transform.SHA256,
    "http://www.w3.org/2001/04/xmldsig-more#sha384": xmlsec.Transform.SHA384,
    "http://www.w3.org/2001/04/xmlenc#sha512": xmlsec.Transform.SHA512,
}
# Named so that a refusal says why: SHA-1 collides in practice; an HMAC "signature" is keyed with
# a secret the sender chooses (a public certificate, say), so it proves nothing.
_SHA1 = ("#rsa-sha1", "#dsa-sha1", "#ecdsa-sha1", "#hmac-sha1", "#sha1")
_HMAC = "#hmac-"

# Nothing a received message says can make the parser read a file, a URL or a DTD, expand an
# entity, register an ID (xml:id included: only the element being verified gets one) or build
# a tree past libxml2's default limits. Comments, CDATA and processing instructions are refused
# on the raw bytes before parsing (connections.saml_inspection). One parser per thread: a parser
# keeps its state while it parses.
_PARSER_OPTIONS = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "dtd_validation": False,
    "huge_tree": False,
    "collect_ids": False,
    "remove_comments": False,
    "remove_pis": False,
}
_parsers = threading.local()


def libxml2_mismatch(lxml_version: tuple, xmlsec_version: tuple) -> str | None:
    """Why the two libraries cannot share trees, or None when they run the same libxml2."""
    if tuple(lxml_version) == tuple(xmlsec_version):
        return None
    return (
        f"lxml runs libxml2 {'.'.join(map(str, lxml_version))} but the xmlsec binding runs "
        f"libxml2 {'.'.join(map(str, xmlsec_version))}; they must be the same library. Install "
        "the pinned wheels of both (pip install -e .), or build both from source against the "
        "system libxml2 (pip install --no-binary lxml,xmlsec lxml xmlsec)."
    )


def require_same_libxml2(
    lxml_version: tuple | None = None, xmlsec_version: tuple | None = None
) -> None:
    """Raise ``ImproperlyConfigured`` unless lxml and xmlsec run the same libxml2 (the versions
    in use by default; given, in the test of this check)."""
    problem = libxml2_mismatch(
        lxml_version or etree.LIBXML_VERSION, xmlsec_version or xmlsec.get_libxml_version()
    )
    if problem:
        raise ImproperlyConfigured(problem)


require_same_libxml2()


class SignatureRefused(Exception):
    """A signature we do not accept; ``reason`` says why, for support (never for the user)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SignatureMisplaced(SignatureRefused):
    """The signature is not where, or not over what, the profile allows: a wrapping attempt."""


class AlgorithmRefused(SignatureRefused):
    """An algorithm or transform outside the profile (SHA-1, HMAC, another c14n...)."""


class WeakAlgorithm(AlgorithmRefused):
    """SHA-1: refused, and named, so that the IdP's admin is told which setting to change."""

    NAMES = {"rsa-sha1": "RSA-SHA1", "dsa-sha1": "DSA-SHA1", "ecdsa-sha1": "ECDSA-SHA1"}

    def __init__(self, reason: str, *, algorithm: str, what: str) -> None:
        super().__init__(reason)
        self.algorithm = algorithm
        self.what = what
        self.name = self.NAMES.get(algorithm.rsplit("#", 1)[-1], "SHA-1")


class SignatureInvalid(SignatureRefused):
    """The signature does not verify with any configured key."""


class XmlRefused(Exception):
    """The bytes are not XML this parser reads."""


def parse(xml: bytes) -> etree._Element:
    """The one parse of a received message, with the hardened parser."""
    parser = getattr(_parsers, "parser", None)
    if parser is None:
        parser = _parsers.parser = etree.XMLParser(**_PARSER_OPTIONS)
    try:
        return etree.fromstring(xml, parser)
    except (etree.XMLSyntaxError, ValueError) as error:
        raise XmlRefused(str(error)[:300]) from None


@dataclass(frozen=True)
class TrustedKey:
    key: xmlsec.Key
    kind: str  # "rsa" or "ec": the signature methods it can verify
    fingerprint: str


@dataclass(frozen=True)
class TrustedKeys:
    """The public keys of a connection's configured certificates, loaded once (see the
    configuration cache in ``connections.saml``); immutable, so shared between threads (the
    binding copies the key into each context)."""

    keys: tuple[TrustedKey, ...]

    @classmethod
    def from_certificates(cls, certificates: Iterable[tuple[str, str]]) -> TrustedKeys:
        """``certificates``: (PEM, SHA-256 fingerprint) of each configured certificate."""
        keys = []
        for pem, fingerprint in certificates:
            public_key = x509.load_pem_x509_certificate(pem.encode("ascii")).public_key()
            if isinstance(public_key, rsa.RSAPublicKey):
                kind = "rsa"
            elif isinstance(public_key, ec.EllipticCurvePublicKey):
                kind = "ec"
            else:  # refused when the certificate was configured; never trusted here
                continue
            # The public key alone, not the certificate: a third of the memory, and the context
            # copies it in a microsecond instead of 40 (with the whole X.509 structure).
            spki = public_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
            key = xmlsec.Key.from_memory(spki, xmlsec.KeyFormat.PEM)
            keys.append(TrustedKey(key=key, kind=kind, fingerprint=fingerprint))
        return cls(keys=tuple(keys))

    @property
    def fingerprints(self) -> list[str]:
        return [key.fingerprint for key in self.keys]


def _q(tag: str) -> str:
    return f"{{{DS}}}{tag}"


# The tags and layouts the profile allows, spelled once (each check compares against them).
_SIGNATURE = _q("Signature")
_REFERENCE = _q("Reference")
_OBJECT = _q("Object")
_TRANSFORM = _q("Transform")
_INCLUSIVE_NAMESPACES = (f"{{{EXC_C14N}}}InclusiveNamespaces",)
_SIGNATURE_LAYOUTS = (
    [_q("SignedInfo"), _q("SignatureValue")],
    [_q("SignedInfo"), _q("SignatureValue"), _q("KeyInfo")],
)
_SIGNED_INFO_LAYOUT = [_q("CanonicalizationMethod"), _q("SignatureMethod"), _REFERENCE]
_REFERENCE_LAYOUT = [_q("Transforms"), _q("DigestMethod"), _q("DigestValue")]
_TRANSFORMS_LAYOUT = [_TRANSFORM, _TRANSFORM]
_TRANSFORM_ALGORITHMS = [ENVELOPED, EXC_C14N]


def _algorithm(element: etree._Element | None, what: str) -> str:
    algorithm = element.get("Algorithm", "") if element is not None else ""
    if not algorithm:
        raise AlgorithmRefused(f"no {what} algorithm")
    return algorithm


def refuse_algorithm(what: str, algorithm: str) -> AlgorithmRefused:
    if _HMAC in algorithm:
        return AlgorithmRefused(f"HMAC is refused ({what} {algorithm}): it is not a signature")
    if algorithm.endswith(_SHA1):
        return WeakAlgorithm(
            f"SHA-1 is refused ({what} {algorithm}); the IdP must use SHA-256",
            algorithm=algorithm,
            what=what,
        )
    return AlgorithmRefused(f"{what} not accepted: {algorithm}")


def _only_children(element: etree._Element, allowed: tuple[str, ...], where: str) -> None:
    for child in element:
        if child.tag not in allowed:
            raise SignatureMisplaced(f"unexpected {child.tag} in {where}")


def _inclusive_namespaces_only(element: etree._Element, where: str) -> None:
    _only_children(element, _INCLUSIVE_NAMESPACES, where)


@dataclass(frozen=True)
class SignatureProfile:
    """What a signature that passed ``check_signature_profile`` uses."""

    signature_transform: object  # xmlsec.Transform of the SignatureMethod
    digest_transform: object
    key_kind: str


def check_signature_profile(signature: etree._Element, element: etree._Element) -> SignatureProfile:
    """The saml-core 5.4 profile, strictly: ``signature`` stands directly in ``element``, alone,
    with exactly one same-document Reference to ``element``'s ID, the enveloped and exclusive
    c14n transforms only, exclusive c14n of SignedInfo, SHA-2 digests and signatures, and no
    ds:Object. Reads the tree only (no crypto); raises ``SignatureMisplaced`` or
    ``AlgorithmRefused``."""
    if signature.getparent() is not element:
        raise SignatureMisplaced("the signature is not a direct child of the signed element")
    if len(element.findall(_SIGNATURE)) != 1:
        raise SignatureMisplaced("more than one signature on one element")
    element_id = element.get("ID") or ""
    if not element_id:
        raise SignatureMisplaced("the signed element has no ID")

    children = [child.tag for child in signature]
    if children not in _SIGNATURE_LAYOUTS:
        if _OBJECT in children:
            raise SignatureMisplaced("the signature carries a ds:Object (unsigned content)")
        raise SignatureMisplaced(f"unexpected signature layout: {children}")
    signed_info = signature[0]

    layout = [child.tag for child in signed_info]
    if layout.count(_REFERENCE) != 1:
        raise SignatureMisplaced(f"{layout.count(_REFERENCE)} References; exactly one is allowed")
    if layout != _SIGNED_INFO_LAYOUT:
        raise SignatureMisplaced(f"unexpected SignedInfo layout: {layout}")
    c14n, method, reference = signed_info
    if reference.get("URI") != f"#{element_id}":
        raise SignatureMisplaced(
            "the signature does not reference the element that carries it "
            f"(URI={reference.get('URI')!r})"
        )
    if [child.tag for child in reference] != _REFERENCE_LAYOUT:
        raise SignatureMisplaced(f"unexpected Reference layout: {[c.tag for c in reference]}")

    if _algorithm(c14n, "canonicalization") != EXC_C14N:
        raise refuse_algorithm("canonicalization", c14n.get("Algorithm"))
    _inclusive_namespaces_only(c14n, "CanonicalizationMethod")

    method_uri = _algorithm(method, "signature")
    if method_uri not in SIGNATURE_METHODS:
        raise refuse_algorithm("signature algorithm", method_uri)
    _only_children(method, (), "SignatureMethod")

    transforms = list(reference[0])
    algorithms = [transform.get("Algorithm") for transform in transforms]
    if [
        transform.tag for transform in transforms
    ] != _TRANSFORMS_LAYOUT or algorithms != _TRANSFORM_ALGORITHMS:
        raise AlgorithmRefused(
            f"transforms not accepted (enveloped-signature then exclusive c14n only): {algorithms}"
        )
    _only_children(transforms[0], (), "the enveloped-signature transform")
    _inclusive_namespaces_only(transforms[1], "the exclusive c14n transform")

    digest_uri = _algorithm(reference[1], "digest")
    if digest_uri not in DIGEST_METHODS:
        raise refuse_algorithm("digest algorithm", digest_uri)

    signature_transform, key_kind = SIGNATURE_METHODS[method_uri]
    return SignatureProfile(
        signature_transform=signature_transform,
        digest_transform=DIGEST_METHODS[digest_uri],
        key_kind=key_kind,
    )


def _context(key: xmlsec.Key, profile: SignatureProfile) -> xmlsec.SignatureContext:
    context = xmlsec.SignatureContext()
    context.key = key  # KeyInfo is never read: the key is chosen before verifying,
    context.set_enabled_key_data([])  # and no kind of key data in it is even enabled
    for transform in (xmlsec.Transform.ENVELOPED, xmlsec.Transform.EXCL_C14N):
        context.enable_reference_transform(transform)
    context.enable_reference_transform(profile.digest_transform)
    context.enable_signature_transform(xmlsec.Transform.EXCL_C14N)
    context.enable_signature_transform(profile.signature_transform)
    return context


def verify_enveloped(
    element: etree._Element, trusted: TrustedKeys, *, profile: SignatureProfile | None = None
) -> None:
    """Verify the enveloped signature of ``element`` with the trusted keys; raise
    ``SignatureRefused`` (one of its subclasses) unless one of them verifies it. ``profile``:
    what ``check_signature_profile`` returned for this element's signature in this same tree
    (``inspect_response`` checks every signature of a Response); read here when not given."""
    signature = element.find(_SIGNATURE)
    if signature is None:
        raise SignatureMisplaced("the element is not signed")
    if profile is None:
        profile = check_signature_profile(signature, element)
    candidates = [key for key in trusted.keys if key.kind == profile.key_kind]
    for candidate in candidates:
        context = _context(candidate.key, profile)
        # The ID of the signed element, and only it: the Reference resolves to this element.
        context.register_id(element, "ID")
        try:
            context.verify(signature)
        except xmlsec.Error:  # VerificationError included: try the next configured key
            continue
        return
    raise SignatureInvalid(_diagnosis(signature, profile, candidates))


def _diagnosis(
    signature: etree._Element, profile: SignatureProfile, candidates: list[TrustedKey]
) -> str:
    """Why it failed, for support: a SignatureValue that verifies over SignedInfo with a
    configured key means the signed content changed after signing (the digest), else the
    signature was made with another key (or SignedInfo was edited)."""
    if not candidates:
        return f"no configured certificate holds a key for this algorithm ({profile.key_kind})"
    signed_info = etree.tostring(signature[0], method="c14n", exclusive=True, with_comments=False)
    try:
        value = base64.b64decode("".join((signature[1].text or "").split()), validate=True)
    except (binascii.Error, ValueError):
        return "the SignatureValue is not base64"
    for candidate in candidates:
        context = _context(candidate.key, profile)
        try:
            if context.verify_binary(signed_info, profile.signature_transform, value) is None:
                return "digest mismatch: the signed content was changed after signing"
        except xmlsec.Error:
            continue
    return "signature value mismatch: not signed with a configured certificate's key"

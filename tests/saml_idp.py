"""An Okta-like SAML 2.0 identity provider for tests, independent of pysaml2.

It builds Responses the way Okta does (``saml2p``/``saml2`` prefixes, a signed assertion, optionally a
signed Response, attributes as ``xs:string`` values) with lxml, and signs them with ``cryptography``:
XML-DSig enveloped signatures, Exclusive XML Canonicalization 1.0 (without comments) for SignedInfo and
as the Reference transform, RSA-SHA256, SHA-256 digests, ``Reference URI="#<ID>"``, the Signature right
after the Issuer and the signing certificate in ``KeyInfo/X509Data``.

The module-level attack helpers take a signed Response (bytes) and return the hostile variant (bytes)
that a security test posts to the ACS. Everything forged carries the NameID ``attacker@evil.example``
(``ATTACKER_NAME_ID``) so a test can assert that this identity never signs in.

    idp = TestIdP(entity_id="http://www.okta.com/exk123", keypair=make_keypair("okta", slot="idp"))
    xml = idp.response(acs_url=acs, audience=sp_entity_id, name_id="ada@acme.com",
                       attributes=okta_attributes("ada@acme.com", first="Ada"))
    client.post(acs, idp.post_data(wrap_assertion(xml, "before"), relay_state="/home"))
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import secrets
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from lxml import etree

from tests.certs import KeyPair

NS_SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
NS_SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
NS_MD = "urn:oasis:names:tc:SAML:2.0:metadata"
NS_DS = "http://www.w3.org/2000/09/xmldsig#"
NS_EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
NS_XS = "http://www.w3.org/2001/XMLSchema"
NS_XSI = "http://www.w3.org/2001/XMLSchema-instance"

ALG_EXC_C14N = NS_EXC_C14N
ALG_C14N = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
ALG_ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
ALG_RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
ALG_RSA_SHA512 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"
ALG_RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
ALG_ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
ALG_HMAC_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256"
ALG_SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
ALG_SHA512 = "http://www.w3.org/2001/04/xmlenc#sha512"
ALG_SHA1 = "http://www.w3.org/2000/09/xmldsig#sha1"

STATUS_SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
STATUS_RESPONDER = "urn:oasis:names:tc:SAML:2.0:status:Responder"
STATUS_REQUESTER = "urn:oasis:names:tc:SAML:2.0:status:Requester"
STATUS_AUTHN_FAILED = "urn:oasis:names:tc:SAML:2.0:status:AuthnFailed"
NAMEID_EMAIL = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
NAMEID_UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
NAMEID_ENTITY = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity"
ATTRNAME_UNSPECIFIED = "urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified"
CM_BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
AC_PASSWORD_PROTECTED = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
BINDING_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
BINDING_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"

#: The identity every forged assertion claims; it must never be signed in.
ATTACKER_NAME_ID = "attacker@evil.example"

Algorithm = Literal["rsa-sha256", "rsa-sha1", "rsa-sha512", "ecdsa-sha256", "hmac-sha256"]
_ALGORITHMS = {
    "rsa-sha256": (ALG_RSA_SHA256, ALG_SHA256, hashes.SHA256),
    "rsa-sha1": (ALG_RSA_SHA1, ALG_SHA1, hashes.SHA1),
    "rsa-sha512": (ALG_RSA_SHA512, ALG_SHA512, hashes.SHA512),
    # With an EC keypair (``make_keypair(curve=True)``); the value is r || s, as XML-DSig wants.
    "ecdsa-sha256": (ALG_ECDSA_SHA256, ALG_SHA256, hashes.SHA256),
    # Keyed with the signer's *certificate* (public): the classic forgery against a verifier
    # that lets the message pick the algorithm.
    "hmac-sha256": (ALG_HMAC_SHA256, ALG_SHA256, hashes.SHA256),
}
Digest = Literal["sha1", "sha256", "sha512"]
_DIGESTS = {
    "sha1": (ALG_SHA1, hashes.SHA1),
    "sha256": (ALG_SHA256, hashes.SHA256),
    "sha512": (ALG_SHA512, hashes.SHA512),
}
#: Okta's Reference transforms.
OKTA_TRANSFORMS = (ALG_ENVELOPED, ALG_EXC_C14N)
#: Okta lists ``xs`` as an inclusive prefix: it appears only inside ``xsi:type="xs:string"``, which
#: exclusive c14n would otherwise not consider "visibly used".
_INCLUSIVE_PREFIXES = ("xs",)

WrapMode = Literal[
    "beside",
    "before",
    "inside",
    "inside_advice",
    "inside_extensions",
    "inside_signature_object",
    "response_wrap",
    "response_wrap_signature_object",
]
#: Every signature-wrapping variant ``wrap_assertion`` knows, for parametrized tests.
WRAP_MODES: tuple[WrapMode, ...] = (
    "beside",
    "before",
    "inside",
    "inside_advice",
    "inside_extensions",
    "inside_signature_object",
    "response_wrap",
    "response_wrap_signature_object",
)


def _q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


def new_id() -> str:
    """An Okta-style ID: ``id`` followed by digits (an NCName, as xs:ID requires)."""
    return f"id{secrets.randbits(96)}"


def saml_time(moment: datetime) -> str:
    """``2024-05-01T12:00:00.123Z``: UTC with milliseconds, as Okta writes instants."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _instant(value: datetime | timedelta, base: datetime) -> datetime:
    return base + value if isinstance(value, timedelta) else value


def _parser() -> etree.XMLParser:
    # Never expand entities nor touch the network while *handling* documents: the hostile ones are
    # produced by string surgery, not by a parser that would act on them.
    return etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=False)


def _parse(xml: bytes | str) -> etree._Element:
    if isinstance(xml, str):
        xml = xml.encode()
    return etree.fromstring(xml, _parser())


def _serialize(root: etree._Element) -> bytes:
    return etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")


def _detach(element: etree._Element) -> etree._Element:
    """Remove ``element`` from its parent, leaving its tail text where it was."""
    parent = element.getparent()
    if parent is not None:
        if element.tail:
            previous = element.getprevious()
            if previous is not None:
                previous.tail = (previous.tail or "") + element.tail
            else:
                parent.text = (parent.text or "") + element.tail
        element.tail = None
        parent.remove(element)
    return element


def _sub(parent: etree._Element, ns: str, name: str, text: str | None = None, **attrib: str):
    element = etree.SubElement(parent, _q(ns, name), attrib)
    element.text = text
    return element


# --------------------------------------------------------------------------------------------------
# XML-DSig (enveloped, exclusive c14n, RSA-SHA256)
# --------------------------------------------------------------------------------------------------


def _c14n(
    element: etree._Element, prefixes: tuple[str, ...] = (), *, exclusive: bool = True
) -> bytes:
    return etree.tostring(
        element,
        method="c14n",
        exclusive=exclusive,
        with_comments=False,
        inclusive_ns_prefixes=(list(prefixes) or None) if exclusive else None,
    )


def _index_path(element: etree._Element) -> list[int]:
    path = []
    while (parent := element.getparent()) is not None:
        path.append(parent.index(element))
        element = parent
    return path[::-1]


def _follow(root: etree._Element, path: list[int]) -> etree._Element:
    for index in path:
        root = root[index]
    return root


def _reparse(element: etree._Element) -> etree._Element:
    return _parse(etree.tostring(element.getroottree()))


def _signature_value(keypair: KeyPair, data: bytes, algorithm: Algorithm, hash_class) -> bytes:
    if algorithm.startswith("hmac-"):
        return hmac.new(keypair.cert_der, data, hashlib.sha256).digest()
    if isinstance(keypair.key, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(keypair.key.sign(data, ec.ECDSA(hash_class())))
        size = (keypair.key.curve.key_size + 7) // 8
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    return keypair.key.sign(data, padding.PKCS1v15(), hash_class())


def sign_element(
    element: etree._Element,
    keypair: KeyPair,
    *,
    algorithm: Algorithm = "rsa-sha256",
    digest: Digest | None = None,
    include_key_info: bool = True,
    key_info_keypair: KeyPair | None = None,
    transforms: tuple[str, ...] = OKTA_TRANSFORMS,
    canonicalization: str = ALG_EXC_C14N,
    references: tuple[str, ...] | None = None,
    ds_prefix: str | None = "ds",
    inclusive_prefixes: tuple[str, ...] = _INCLUSIVE_PREFIXES,
) -> etree._Element:
    """Sign ``element`` (an Assertion or Response with an ``ID``) in place, the way Okta does.

    The enveloped ``ds:Signature`` goes right after the element's ``Issuer``. Returns the Signature.
    The options make the signatures a strict verifier must refuse although they are valid: the
    ``digest`` algorithm (default: the signature algorithm's), whose certificate goes in KeyInfo
    (``key_info_keypair``, default the signer's), the Reference ``transforms`` (the enveloped
    transform, exclusive or inclusive c14n, in any number), the ``canonicalization`` of
    SignedInfo, and the IDs the References point to (``references``, default the element's own).
    Other IdPs write the signature namespace differently (``ds_prefix``: ``dsig`` for Keycloak,
    None for a default namespace as Entra ID does) and list no inclusive prefixes.
    """
    reference_id = element.get("ID")
    if not reference_id:
        raise ValueError("the element to sign needs an ID attribute")
    signature_uri, digest_uri, hash_class = _ALGORITHMS[algorithm]
    if digest is not None:
        digest_uri, digest_class = _DIGESTS[digest]
    else:
        digest_class = hash_class

    signature = etree.Element(_q(NS_DS, "Signature"), nsmap={ds_prefix: NS_DS})
    signed_info = _sub(signature, NS_DS, "SignedInfo")
    _sub(signed_info, NS_DS, "CanonicalizationMethod", Algorithm=canonicalization)
    _sub(signed_info, NS_DS, "SignatureMethod", Algorithm=signature_uri)
    digest_values = []
    for target_id in references or (reference_id,):
        reference = _sub(signed_info, NS_DS, "Reference", URI=f"#{target_id}")
        transforms_element = _sub(reference, NS_DS, "Transforms")
        for transform in transforms:
            added = _sub(transforms_element, NS_DS, "Transform", Algorithm=transform)
            if transform == ALG_EXC_C14N and inclusive_prefixes:
                inclusive = etree.SubElement(
                    added, _q(NS_EXC_C14N, "InclusiveNamespaces"), nsmap={"ec": NS_EXC_C14N}
                )
                inclusive.set("PrefixList", " ".join(inclusive_prefixes))
        _sub(reference, NS_DS, "DigestMethod", Algorithm=digest_uri)
        digest_values.append((target_id, _sub(reference, NS_DS, "DigestValue")))
    signature_value = _sub(signature, NS_DS, "SignatureValue")
    if include_key_info:
        key_info = _sub(signature, NS_DS, "KeyInfo")
        x509_data = _sub(key_info, NS_DS, "X509Data")
        certificate = (key_info_keypair or keypair).cert_der
        _sub(x509_data, NS_DS, "X509Certificate", base64.b64encode(certificate).decode())

    issuer = element.find(_q(NS_SAML, "Issuer"))
    if issuer is not None:
        issuer.addnext(signature)
    else:
        element.insert(0, signature)

    # Canonicalize a freshly parsed copy of the document, never the tree built in memory: libxml2's
    # exclusive c14n leaves out InclusiveNamespaces prefixes (xmlns:xs) declared on elements that
    # lxml created (not parsed), which yields a digest no verifier reproduces.
    path = _index_path(element)

    # Digest: the enveloped-signature transform means "the element without this Signature"; then
    # the c14n of that (the last c14n transform's kind; c14n again is the same), in its place.
    exclusive = [t for t in transforms if t in (ALG_EXC_C14N, ALG_C14N)][-1:] != [ALG_C14N]
    for target_id, digest_value in digest_values:
        parsed = _follow(_reparse(element), path)
        _detach(parsed[element.index(signature)])
        target = next(e for e in parsed.getroottree().iter() if e.get("ID") == target_id)
        hashed = hashes.Hash(digest_class())
        hashed.update(_c14n(target, inclusive_prefixes, exclusive=exclusive))
        digest_value.text = base64.b64encode(hashed.finalize()).decode()

    # SignedInfo is canonicalized where it stands, so the ds namespace comes from Signature.
    parsed_signature = _follow(_reparse(element), path)[element.index(signature)]
    parsed_signed_info = parsed_signature.find(_q(NS_DS, "SignedInfo"))
    signed = _c14n(parsed_signed_info, exclusive=canonicalization == ALG_EXC_C14N)
    value = _signature_value(keypair, signed, algorithm, hash_class)
    signature_value.text = base64.b64encode(value).decode()
    return signature


# --------------------------------------------------------------------------------------------------
# Attributes
# --------------------------------------------------------------------------------------------------


def okta_attributes(
    email: str,
    *,
    user_name: str | None = None,
    first: str | None = None,
    last: str | None = None,
    user_type: str | None = None,
    division: str | None = None,
) -> dict[str, str]:
    """The attribute statement of the customer setup guide (Okta app profile), ``None`` left out.

    ``user_name``←user.userName, ``email``←user.email, ``givenName``←user.firstName,
    ``familyName``←user.lastName, ``userType``←user.userType (role), ``division``←user.division (team).
    """
    values = {
        "user_name": user_name,
        "email": email,
        "givenName": first,
        "familyName": last,
        "userType": user_type,
        "division": division,
    }
    return {name: value for name, value in values.items() if value is not None}


def _attribute_statement(assertion: etree._Element, attributes: dict[str, str | list[str]]) -> None:
    statement = _sub(assertion, NS_SAML, "AttributeStatement")
    for name, value in attributes.items():
        attribute = _sub(
            statement, NS_SAML, "Attribute", Name=name, NameFormat=ATTRNAME_UNSPECIFIED
        )
        for item in [value] if isinstance(value, str) else value:
            # Okta declares xs and xsi on every AttributeValue.
            attribute_value = etree.SubElement(
                attribute, _q(NS_SAML, "AttributeValue"), nsmap={"xs": NS_XS, "xsi": NS_XSI}
            )
            attribute_value.set(_q(NS_XSI, "type"), "xs:string")
            attribute_value.text = item


# --------------------------------------------------------------------------------------------------
# The IdP
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuthnRequest:
    """What the IdP reads from an SP's HTTP-Redirect AuthnRequest."""

    id: str
    issuer: str | None
    acs_url: str | None
    destination: str | None
    relay_state: str | None
    xml: bytes


def parse_authn_request(location: str) -> AuthnRequest:
    """Decode the AuthnRequest of an HTTP-Redirect binding URL (the SP's 302 ``Location``)."""
    query = parse_qs(urlsplit(location).query)
    if "SAMLRequest" not in query:
        raise ValueError(f"no SAMLRequest in {location!r}")
    xml = zlib.decompress(base64.b64decode(query["SAMLRequest"][0]), -15)
    root = _parse(xml)
    if root.tag != _q(NS_SAMLP, "AuthnRequest"):
        raise ValueError(f"not an AuthnRequest: {root.tag}")
    issuer = root.find(_q(NS_SAML, "Issuer"))
    return AuthnRequest(
        id=root.get("ID"),
        issuer=issuer.text.strip() if issuer is not None and issuer.text else None,
        acs_url=root.get("AssertionConsumerServiceURL"),
        destination=root.get("Destination"),
        relay_state=query.get("RelayState", [None])[0],
        xml=xml,
    )


@dataclass
class TestIdP:
    """An Okta-like IdP with its own signing key (``keypair`` from ``tests.certs.make_keypair``)."""

    __test__ = False  # not a pytest test class

    entity_id: str
    keypair: KeyPair
    sso_url: str = ""

    def __post_init__(self) -> None:
        if not self.sso_url:
            app = self.entity_id.rstrip("/").rsplit("/", 1)[-1]
            self.sso_url = f"https://tenant.okta.example/app/sendoso/{app}/sso/saml"

    @property
    def cert_pem(self) -> bytes:
        return self.keypair.cert_pem

    def response(
        self,
        *,
        acs_url: str,
        audience: str | list[str],
        name_id: str,
        attributes: dict[str, str | list[str]] | None = None,
        in_response_to: str | None = None,
        destination: str | None = None,
        recipient: str | None = None,
        issuer: str | None = None,
        sign_assertion: bool = True,
        sign_response: bool = False,
        signing_keypair: KeyPair | None = None,
        algorithm: Algorithm = "rsa-sha256",
        digest: Digest | None = None,
        include_key_info: bool = True,
        issue_instant: datetime | None = None,
        not_before: datetime | timedelta = timedelta(minutes=-5),
        not_on_or_after: datetime | timedelta = timedelta(minutes=5),
        subject_not_on_or_after: datetime | timedelta | None = None,
        authn_instant: datetime | timedelta = timedelta(seconds=-2),
        status_code: str = STATUS_SUCCESS,
        sub_status_code: str | None = None,
        status_message: str | None = None,
        name_id_format: str = NAMEID_EMAIL,
        name_qualifiers: dict[str, str] | None = None,
        session_index: str | None = None,
        assertion_id: str | None = None,
        response_id: str | None = None,
        include_audience: bool = True,
        include_destination: bool = True,
        include_recipient: bool = True,
    ) -> bytes:
        """A SAML Response as Okta posts it; returns the XML bytes.

        Defaults: Destination and Recipient are ``acs_url``, the issuer is ``entity_id``, only the
        assertion is signed (with this IdP's key unless ``signing_keypair``; the signer's certificate
        goes in KeyInfo). Times given as ``timedelta`` are offsets from ``issue_instant`` (default
        now); ``subject_not_on_or_after`` defaults to ``not_on_or_after``. A ``status_code`` other
        than Success produces a Response with that Status and no assertion.
        """
        signer = signing_keypair or self.keypair
        issuer = issuer or self.entity_id
        now = issue_instant or datetime.now(UTC)
        if subject_not_on_or_after is None:
            subject_not_on_or_after = not_on_or_after

        response = etree.Element(_q(NS_SAMLP, "Response"), nsmap={"saml2p": NS_SAMLP})
        if include_destination:
            response.set("Destination", destination if destination is not None else acs_url)
        response.set("ID", response_id or new_id())
        if in_response_to is not None:
            response.set("InResponseTo", in_response_to)
        response.set("IssueInstant", saml_time(now))
        response.set("Version", "2.0")
        response_issuer = etree.SubElement(
            response, _q(NS_SAML, "Issuer"), {"Format": NAMEID_ENTITY}, nsmap={"saml2": NS_SAML}
        )
        response_issuer.text = issuer
        status = _sub(response, NS_SAMLP, "Status")
        status_code_element = _sub(status, NS_SAMLP, "StatusCode", Value=status_code)
        if sub_status_code:
            _sub(status_code_element, NS_SAMLP, "StatusCode", Value=sub_status_code)
        if status_message:
            _sub(status, NS_SAMLP, "StatusMessage", status_message)

        if status_code == STATUS_SUCCESS:
            assertion = etree.SubElement(
                response, _q(NS_SAML, "Assertion"), nsmap={"saml2": NS_SAML}
            )
            assertion.set("ID", assertion_id or new_id())
            assertion.set("IssueInstant", saml_time(now))
            assertion.set("Version", "2.0")
            _sub(assertion, NS_SAML, "Issuer", issuer, Format=NAMEID_ENTITY)
            subject = _sub(assertion, NS_SAML, "Subject")
            name_id_element = _sub(subject, NS_SAML, "NameID", name_id, Format=name_id_format)
            # NameQualifier, SPNameQualifier: Entra ID and AD FS can send them.
            for qualifier, value in (name_qualifiers or {}).items():
                name_id_element.set(qualifier, value)
            confirmation = _sub(subject, NS_SAML, "SubjectConfirmation", Method=CM_BEARER)
            data = _sub(confirmation, NS_SAML, "SubjectConfirmationData")
            if in_response_to is not None:
                data.set("InResponseTo", in_response_to)
            data.set("NotOnOrAfter", saml_time(_instant(subject_not_on_or_after, now)))
            if include_recipient:
                data.set("Recipient", recipient if recipient is not None else acs_url)
            conditions = _sub(
                assertion,
                NS_SAML,
                "Conditions",
                NotBefore=saml_time(_instant(not_before, now)),
                NotOnOrAfter=saml_time(_instant(not_on_or_after, now)),
            )
            if include_audience:
                restriction = _sub(conditions, NS_SAML, "AudienceRestriction")
                for item in [audience] if isinstance(audience, str) else audience:
                    _sub(restriction, NS_SAML, "Audience", item)
            authn = _sub(
                assertion,
                NS_SAML,
                "AuthnStatement",
                AuthnInstant=saml_time(_instant(authn_instant, now)),
                SessionIndex=session_index or new_id(),
            )
            context = _sub(authn, NS_SAML, "AuthnContext")
            _sub(context, NS_SAML, "AuthnContextClassRef", AC_PASSWORD_PROTECTED)
            if attributes:
                _attribute_statement(assertion, attributes)
            if sign_assertion:
                sign_element(
                    assertion,
                    signer,
                    algorithm=algorithm,
                    digest=digest,
                    include_key_info=include_key_info,
                )

        if sign_response:
            # After the assertion's signature, so the Response digest covers it (as Okta does).
            sign_element(
                response,
                signer,
                algorithm=algorithm,
                digest=digest,
                include_key_info=include_key_info,
            )
        return _serialize(response)

    def respond_to(
        self,
        request: AuthnRequest | str,
        *,
        name_id: str,
        attributes: dict[str, str | list[str]] | None = None,
        acs_url: str | None = None,
        audience: str | list[str] | None = None,
        **options,
    ) -> bytes:
        """The answer to an SP-initiated request (an ``AuthnRequest`` or the SP's redirect URL):
        ``InResponseTo`` its ID, to its ACS URL, for its issuer as the audience. ``options`` are
        those of ``response``."""
        if isinstance(request, str):
            request = parse_authn_request(request)
        acs_url = acs_url or request.acs_url
        audience = audience or request.issuer
        if not acs_url or not audience:
            raise ValueError("the AuthnRequest names no ACS URL or issuer; pass acs_url/audience")
        options.setdefault("in_response_to", request.id)
        return self.response(
            acs_url=acs_url, audience=audience, name_id=name_id, attributes=attributes, **options
        )

    def post_data(self, xml: bytes, relay_state: str | None = None) -> dict[str, str]:
        """The HTTP-POST binding form fields, ready for ``client.post(acs_url, data)``."""
        return post_data(xml, relay_state)

    def metadata(self) -> bytes:
        """IdP metadata (EntityDescriptor/IDPSSODescriptor) as Okta publishes it."""
        root = etree.Element(
            _q(NS_MD, "EntityDescriptor"), {"entityID": self.entity_id}, nsmap={"md": NS_MD}
        )
        descriptor = _sub(
            root,
            NS_MD,
            "IDPSSODescriptor",
            WantAuthnRequestsSigned="false",
            protocolSupportEnumeration=NS_SAMLP,
        )
        key_descriptor = _sub(descriptor, NS_MD, "KeyDescriptor", use="signing")
        key_info = etree.SubElement(key_descriptor, _q(NS_DS, "KeyInfo"), nsmap={"ds": NS_DS})
        x509_data = _sub(key_info, NS_DS, "X509Data")
        _sub(x509_data, NS_DS, "X509Certificate", base64.b64encode(self.keypair.cert_der).decode())
        _sub(descriptor, NS_MD, "NameIDFormat", NAMEID_UNSPECIFIED)
        _sub(descriptor, NS_MD, "NameIDFormat", NAMEID_EMAIL)
        for binding in (BINDING_POST, BINDING_REDIRECT):
            _sub(descriptor, NS_MD, "SingleSignOnService", Binding=binding, Location=self.sso_url)
        return _serialize(root)


def post_data(xml: bytes, relay_state: str | None = None) -> dict[str, str]:
    """``{"SAMLResponse": base64(xml), "RelayState": relay_state}`` (RelayState only when given)."""
    data = {"SAMLResponse": base64.b64encode(xml).decode("ascii")}
    if relay_state is not None:
        data["RelayState"] = relay_state
    return data


# --------------------------------------------------------------------------------------------------
# Attack helpers: signed Response in, hostile Response out
# --------------------------------------------------------------------------------------------------


def _assertions(root: etree._Element) -> list[etree._Element]:
    return root.findall(_q(NS_SAML, "Assertion"))


def _first_assertion(root: etree._Element) -> etree._Element:
    assertion = root.find(_q(NS_SAML, "Assertion"))
    if assertion is None:
        raise ValueError("the response has no assertion")
    return assertion


def _own_signature(element: etree._Element) -> etree._Element | None:
    return element.find(_q(NS_DS, "Signature"))


def _name_id(assertion: etree._Element) -> etree._Element:
    name_id = assertion.find(f"{_q(NS_SAML, 'Subject')}/{_q(NS_SAML, 'NameID')}")
    if name_id is None:
        raise ValueError("the assertion has no Subject/NameID")
    return name_id


def _forge(assertion: etree._Element, name_id: str, forged_id: str | None) -> etree._Element:
    """An unsigned copy of ``assertion`` with another ID, NameID (and matching attribute values)."""
    forged = copy.deepcopy(assertion)
    forged.tail = None
    for signature in forged.findall(_q(NS_DS, "Signature")):
        _detach(signature)
    forged.set("ID", forged_id or new_id())
    forged_name_id = _name_id(forged)
    old = forged_name_id.text
    forged_name_id.text = name_id
    for value in forged.iter(_q(NS_SAML, "AttributeValue")):
        if old and value.text == old:
            value.text = name_id
    return forged


def strip_signatures(xml: bytes, where: Literal["assertion", "response", "all"] = "all") -> bytes:
    """Remove signatures: the naive attack of an SP that checks a signature only when present.

    ``assertion``: the Signature of every assertion; ``response``: the Response's own Signature;
    ``all``: every ``ds:Signature`` in the document.
    """
    root = _parse(xml)
    if where == "assertion":
        targets = [
            s
            for a in root.iter(_q(NS_SAML, "Assertion"))
            for s in a.findall(_q(NS_DS, "Signature"))
        ]
    elif where == "response":
        targets = root.findall(_q(NS_DS, "Signature"))
    elif where == "all":
        targets = list(root.iter(_q(NS_DS, "Signature")))
    else:
        raise ValueError(f"unknown where={where!r}")
    for signature in targets:
        _detach(signature)
    return _serialize(root)


def wrap_assertion(
    xml: bytes,
    mode: WrapMode,
    *,
    name_id: str = ATTACKER_NAME_ID,
    forged_id: str | None = None,
) -> bytes:
    """XML Signature Wrapping (XSW, Somorovsky et al. "On Breaking SAML", 2012).

    The signed assertion stays intact (its signature still verifies) while a forged, unsigned
    assertion for ``name_id`` is placed where a careless SP reads its data from:

    - ``beside``: forged copy as a sibling after the signed assertion (XSW3 with the order swapped);
    - ``before``: forged copy before the signed one, so "the first assertion" is forged (XSW3);
    - ``inside``: the signed assertion becomes the last child of the forged one (XSW4);
    - ``inside_advice``: the signed assertion inside the forged one's ``saml2:Advice`` (schema-valid);
    - ``inside_extensions``: the signed assertion inside an ``Extensions`` element of the forged one
      (XSW7);
    - ``inside_signature_object``: the original Signature moves into the forged assertion, and the
      original assertion (without it) goes into that Signature's ``ds:Object`` (XSW8);
    - ``response_wrap``: a new unsigned Response carrying the forged assertion, with the original
      signed Response tucked into its ``saml2p:Extensions`` (XSW2-like, at Response level);
    - ``response_wrap_signature_object``: the Response signature moves to a forged Response and the
      original Response goes into its ``ds:Object`` (XSW1; needs a signed Response).

    ``forged_id`` lets the forged assertion reuse the signed assertion's ID (duplicate-ID lookups).
    """
    root = _parse(xml)
    original = _first_assertion(root)
    forged = _forge(original, name_id, forged_id)

    if mode == "beside":
        original.addnext(forged)
    elif mode == "before":
        original.addprevious(forged)
    elif mode in ("inside", "inside_advice", "inside_extensions"):
        original.addprevious(forged)
        _detach(original)
        if mode == "inside":
            forged.append(original)
        else:
            container = etree.Element(
                _q(NS_SAML, "Advice") if mode == "inside_advice" else _q(NS_SAMLP, "Extensions")
            )
            container.append(original)
            conditions = forged.find(_q(NS_SAML, "Conditions"))
            anchor = conditions if conditions is not None else _name_id(forged).getparent()
            anchor.addnext(container)
    elif mode == "inside_signature_object":
        signature = _own_signature(original)
        if signature is None:
            raise ValueError("inside_signature_object needs a signed assertion")
        original.addprevious(forged)
        _detach(original)
        _detach(signature)
        forged.find(_q(NS_SAML, "Issuer")).addnext(signature)
        _sub(signature, NS_DS, "Object").append(original)
    elif mode in ("response_wrap", "response_wrap_signature_object"):
        evil = etree.Element(root.tag, dict(root.attrib), nsmap={"saml2p": NS_SAMLP})
        evil.set("ID", new_id())
        for child in root:
            if child.tag in (_q(NS_SAML, "Issuer"), _q(NS_SAMLP, "Status")):
                evil.append(copy.deepcopy(child))
        if mode == "response_wrap":
            extensions = etree.Element(_q(NS_SAMLP, "Extensions"))
            extensions.append(root)
            evil.find(_q(NS_SAML, "Issuer")).addnext(extensions)
        else:
            signature = _own_signature(root)
            if signature is None:
                raise ValueError("response_wrap_signature_object needs a signed Response")
            _detach(signature)
            evil.find(_q(NS_SAML, "Issuer")).addnext(signature)
            _sub(signature, NS_DS, "Object").append(root)
        evil.append(forged)
        root = evil
    else:
        raise ValueError(f"unknown wrap mode {mode!r}")
    return _serialize(root)


def add_second_unsigned_assertion(xml: bytes, *, name_id: str | None = None) -> bytes:
    """Append an unsigned copy of the assertion (new ID) after the signed one.

    Mimics SPs that verify "an" assertion but read another (the rule: exactly one assertion). By
    default the copy names the same subject, so only the count is wrong; pass ``name_id`` (e.g.
    ``ATTACKER_NAME_ID``) to make it a forgery too.
    """
    root = _parse(xml)
    original = _first_assertion(root)
    second = _forge(original, name_id or _name_id(original).text, None)
    _assertions(root)[-1].addnext(second)
    return _serialize(root)


def comment_in_name_id(
    xml: bytes, *, visible: str | None = None, in_attributes: bool = True
) -> bytes:
    """Insert ``<!---->`` into the NameID (and equal attribute values) of a signed response.

    The Duo Labs 2018 attack (CVE-2017-11427 and friends): the attacker registers
    ``admin@acme.com.evil.example`` at the IdP, gets a signed response and turns the NameID into
    ``admin@acme.com<!---->.evil.example``. Exclusive c14n without comments drops the comment, so the
    signature is still valid, while an SP that reads the first text node sees ``admin@acme.com``.
    ``visible`` is that first part; by default the NameID minus its last two domain labels.
    """
    root = _parse(xml)
    name_id = _name_id(_first_assertion(root))
    text = name_id.text or ""
    if visible is None:
        local, _, domain = text.partition("@")
        labels = domain.split(".")
        if len(labels) < 3:
            raise ValueError(f"cannot guess the visible part of {text!r}; pass visible=")
        visible = f"{local}@{'.'.join(labels[:-2])}"
    if not text.startswith(visible) or text == visible:
        raise ValueError(f"{visible!r} is not a proper prefix of the NameID {text!r}")
    targets = [name_id]
    if in_attributes:
        targets += [v for v in root.iter(_q(NS_SAML, "AttributeValue")) if v.text == text]
    for element in targets:
        element.text = visible
        comment = etree.Comment("")
        comment.tail = text[len(visible) :]
        element.insert(0, comment)
    return _serialize(root)


def _insert_doctype(xml: bytes, internal_subset: str) -> bytes:
    root = _parse(xml)
    body = etree.tostring(root, encoding="UTF-8", xml_declaration=False)
    root_name = f"{root.prefix}:{etree.QName(root).localname}" if root.prefix else root.tag
    doctype = f"<!DOCTYPE {root_name} [\n{internal_subset}\n]>\n".encode()
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + doctype + body


def with_doctype(xml: bytes, internal_subset: str | None = None) -> bytes:
    """Prepend an internal DTD; the signature stays valid.

    A DTD is the door to entity expansion, external entities (XXE) and ID-attribute games (an
    ATTLIST that declares which attribute is the ID changes what ``URI="#..."`` resolves to); an SP
    must refuse any DOCTYPE before parsing. The default subset declares the ID attributes and an
    unused entity, so nothing in the signed content changes.
    """
    subset = internal_subset or (
        "<!ATTLIST saml2:Assertion ID ID #IMPLIED>\n"
        "<!ATTLIST saml2p:Response ID ID #IMPLIED>\n"
        '<!ENTITY idp "okta">'
    )
    return _insert_doctype(xml, subset)


def _target_value(root: etree._Element, attribute: str | None) -> etree._Element:
    for value in root.iter(_q(NS_SAML, "AttributeValue")):
        if attribute is None or value.getparent().get("Name") == attribute:
            return value
    raise ValueError(f"no AttributeValue for {attribute or 'any attribute'!r}; add attributes")


def entity_expansion(
    xml: bytes,
    *,
    attribute: str | None = None,
    depth: int = 9,
    width: int = 10,
    resign: KeyPair | None = None,
) -> bytes:
    """Billion laughs: nested entities (``width ** depth`` × "lol") referenced in an attribute value.

    The default (10⁹ × 3 bytes) exhausts memory in a parser that expands entities; the SP must refuse
    the DOCTYPE before parsing. The signature over the original value no longer matches (no IdP could
    sign 3 GB). With a small ``depth`` and ``resign`` (a keypair) the assertion is re-signed over the
    *expanded* text, so the document is validly signed for a parser that expands entities.
    """
    root = _parse(xml)
    target = _target_value(root, attribute)
    if resign is not None:
        if 3 * width**depth > 1_000_000:
            raise ValueError("refusing to sign more than 1 MB of expanded text")
        expanded = "lol" * width**depth
        target.text = expanded
        for signature in list(root.iter(_q(NS_DS, "Signature"))):
            _detach(signature)
        sign_element(_first_assertion(root), resign)
        body = etree.tostring(root, encoding="UTF-8", xml_declaration=False)
        body = body.replace(f">{expanded}<".encode(), f">&lol{depth};<".encode(), 1)
    else:
        target.text = "@@ENTITY@@"
        body = etree.tostring(root, encoding="UTF-8", xml_declaration=False)
        body = body.replace(b"@@ENTITY@@", f"&lol{depth};".encode(), 1)
    entities = ['<!ENTITY lol0 "lol">']
    for level in range(1, depth + 1):
        entities.append(f'<!ENTITY lol{level} "{f"&lol{level - 1};" * width}">')
    root_name = f"{root.prefix}:{etree.QName(root).localname}"
    doctype = f"<!DOCTYPE {root_name} [\n" + "\n".join(entities) + "\n]>\n"
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + doctype.encode() + body


def external_entity(
    xml: bytes, *, system_id: str = "file:///etc/passwd", attribute: str | None = None
) -> bytes:
    """XXE: an external entity (``SYSTEM`` ``system_id``) referenced in an attribute value.

    A parser that resolves it leaks a local file (or makes a request: SSRF) into the value. The
    signature no longer matches the content; the SP must refuse the DOCTYPE before parsing anyway.
    """
    root = _parse(xml)
    _target_value(root, attribute).text = "@@ENTITY@@"
    body = etree.tostring(root, encoding="UTF-8", xml_declaration=False)
    body = body.replace(b"@@ENTITY@@", b"&xxe;", 1)
    root_name = f"{root.prefix}:{etree.QName(root).localname}"
    doctype = f'<!DOCTYPE {root_name} [\n<!ENTITY xxe SYSTEM "{system_id}">\n]>\n'
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + doctype.encode() + body


def resign_with(
    xml: bytes,
    keypair: KeyPair,
    *,
    sign_assertion: bool = True,
    sign_response: bool = False,
    include_key_info: bool = True,
    **options,
) -> bytes:
    """Drop every signature and re-sign with ``keypair``, whose certificate goes into KeyInfo.

    Mimics an attacker with their own key who edits a response and signs it again: an SP that
    trusts the key carried in the message (instead of the connection's configured certificates)
    accepts it. Combine with ``tamper`` first to change the content. ``options`` are those of
    ``sign_element``.
    """
    root = _parse(xml)
    for signature in list(root.iter(_q(NS_DS, "Signature"))):
        _detach(signature)
    if sign_assertion:
        for assertion in _assertions(root):
            sign_element(assertion, keypair, include_key_info=include_key_info, **options)
    if sign_response:
        sign_element(root, keypair, include_key_info=include_key_info, **options)
    return _serialize(root)


def tamper(xml: bytes, old: str | bytes, new: str | bytes, *, count: int = -1) -> bytes:
    """Replace ``old`` with ``new`` in the serialized response after signing (a man in the middle,
    or a user editing their own POST): the digest no longer matches, the signature is invalid."""
    old = old.encode() if isinstance(old, str) else old
    new = new.encode() if isinstance(new, str) else new
    if old not in xml:
        raise ValueError(f"{old!r} does not occur in the response")
    return xml.replace(old, new, count)

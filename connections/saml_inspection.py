"""A hostile-XML gate and a structural reading of a SAML Response, before pysaml2 sees it.

pysaml2 verifies signatures, but several attacks live in what it leaves to the application:
DTDs and entities, comments that split a NameID (its text reads differently from what was
signed), signature wrapping (a second assertion beside or around the signed one), and responses
whose Destination, Recipient or Audience are simply absent. This module refuses all of those on
the raw bytes with defusedxml, and extracts the values the adapter checks. Nothing it reads is
trusted for acceptance: the identity comes from pysaml2's verified object, and the two are
cross-checked (see ``connections.saml``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from xml.etree.ElementTree import Element  # noqa: S405 - only the type; parsing is defusedxml

from defusedxml import ElementTree as SafeElementTree
from defusedxml.common import DefusedXmlException

from connections.certificates import format_fingerprint
from connections.exceptions import (
    SamlInResponseToMismatch,
    SamlMalformed,
    SamlSignatureAlgorithmRefused,
    SamlSignatureInvalid,
    SamlSignatureMissing,
)

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"
STATUS_SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"

# A real response is a few kilobytes; Okta's largest with many groups stay well under 100 KB.
MAX_RESPONSE_BYTES = 256 * 1024

# Constructs no IdP sends and every XML attack needs: DTDs (entity expansion, XXE), comments and
# processing instructions (comment-truncation of NameID), CDATA (text that reads differently).
_FORBIDDEN_MARKUP = re.compile(
    rb"<!DOCTYPE|<!ENTITY|<!--|<!\[CDATA\[|<\?(?!xml[\s?])", re.IGNORECASE
)
# The byte scan above only means something on UTF-8 (or ASCII) text.
_XML_DECLARATION_ENCODING = re.compile(rb"^<\?xml[^>]*encoding=[\"']([A-Za-z0-9._-]+)[\"']")

# Signature algorithms we accept: SHA-1 is refused (collisions are practical), as are HMAC
# methods (a "signature" keyed with a secret anyone can choose).
ALLOWED_SIGNATURE_METHODS = frozenset(
    {
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
    }
)
ALLOWED_DIGEST_METHODS = frozenset(
    {
        "http://www.w3.org/2001/04/xmlenc#sha256",
        "http://www.w3.org/2001/04/xmldsig-more#sha384",
        "http://www.w3.org/2001/04/xmlenc#sha512",
    }
)


def _q(namespace: str, tag: str) -> str:
    return f"{{{namespace}}}{tag}"


@dataclass(frozen=True)
class InspectedResponse:
    xml: bytes
    response_id: str
    response_issuer: str | None
    assertion_issuer: str
    destination: str | None
    in_response_to: str | None
    status_code: str
    status_message: str
    assertion_id: str
    response_signed: bool
    assertion_signed: bool
    audiences: tuple[str, ...]
    recipients: tuple[str, ...]
    not_before: datetime | None
    not_on_or_after: datetime | None
    confirmation_not_on_or_after: tuple[datetime, ...]
    key_info_fingerprints: tuple[str, ...] = field(default=())

    @property
    def status_ok(self) -> bool:
        return self.status_code == STATUS_SUCCESS


def decode_post(saml_response: str | None) -> bytes:
    """The HTTP-POST binding's base64 body, decoded strictly."""
    if not saml_response:
        raise SamlMalformed(extra={"reason": "no SAMLResponse in the POST"})
    if len(saml_response) > MAX_RESPONSE_BYTES * 4 // 3 + 4:
        raise SamlMalformed(extra={"reason": "SAMLResponse too large", "size": len(saml_response)})
    try:
        return base64.b64decode("".join(saml_response.split()), validate=True)
    except (binascii.Error, ValueError):
        raise SamlMalformed(extra={"reason": "SAMLResponse is not base64"}) from None


def inspect_response(xml: bytes) -> InspectedResponse:
    if len(xml) > MAX_RESPONSE_BYTES:
        raise SamlMalformed(extra={"reason": "response too large", "size": len(xml)})
    _check_encoding(xml)
    forbidden = _FORBIDDEN_MARKUP.search(xml)
    if forbidden:
        raise SamlMalformed(
            extra={"reason": f"forbidden markup {forbidden.group(0).decode('ascii', 'replace')}"}
        )
    try:
        root = SafeElementTree.fromstring(
            xml, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except (DefusedXmlException, SafeElementTree.ParseError, ValueError) as error:
        raise SamlMalformed(extra={"reason": f"XML refused: {error}"}) from None

    if root.tag != _q(SAMLP, "Response"):
        raise SamlMalformed(extra={"reason": f"root element is {root.tag}, not a SAML Response"})
    _check_ids_unique(root)

    status_code, status_message = _status(root)
    assertions = root.findall(f".//{_q(SAML, 'Assertion')}")
    encrypted = root.findall(f".//{_q(SAML, 'EncryptedAssertion')}")
    if encrypted:
        raise SamlMalformed(extra={"reason": "encrypted assertions are not supported"})
    if status_code != STATUS_SUCCESS and not assertions:
        return _failure(xml, root, status_code, status_message)
    if len(assertions) != 1:
        raise SamlMalformed(
            extra={"reason": f"{len(assertions)} assertions; exactly one is allowed"}
        )
    assertion = assertions[0]
    if assertion not in list(root):
        raise SamlMalformed(extra={"reason": "the assertion is not a direct child of the Response"})

    response_signed = _check_signature_placement(root, assertion)
    assertion_signed = assertion.find(_q(DS, "Signature")) is not None
    if not (response_signed or assertion_signed):
        raise SamlSignatureMissing(
            extra={"reason": "neither the response nor the assertion is signed"}
        )

    conditions = assertion.find(_q(SAML, "Conditions"))
    confirmations = _bearer_confirmations(assertion)
    return InspectedResponse(
        xml=xml,
        response_id=root.get("ID", ""),
        response_issuer=_text(root.find(_q(SAML, "Issuer"))),
        assertion_issuer=_text(assertion.find(_q(SAML, "Issuer"))) or "",
        destination=root.get("Destination"),
        in_response_to=_in_response_to(root, confirmations, response_signed=response_signed),
        status_code=status_code,
        status_message=status_message,
        assertion_id=assertion.get("ID", ""),
        response_signed=response_signed,
        assertion_signed=assertion_signed,
        audiences=tuple(
            _text(audience) or ""
            for audience in assertion.findall(
                f"{_q(SAML, 'Conditions')}/{_q(SAML, 'AudienceRestriction')}/{_q(SAML, 'Audience')}"
            )
        ),
        recipients=tuple(data.get("Recipient", "") for data in confirmations),
        not_before=_time(conditions.get("NotBefore")) if conditions is not None else None,
        not_on_or_after=_time(conditions.get("NotOnOrAfter")) if conditions is not None else None,
        confirmation_not_on_or_after=tuple(
            t for t in (_time(data.get("NotOnOrAfter")) for data in confirmations) if t
        ),
        key_info_fingerprints=_key_info_fingerprints(root),
    )


def _check_encoding(xml: bytes) -> None:
    declared = _XML_DECLARATION_ENCODING.match(xml.lstrip())
    if declared and declared.group(1).lower() not in (b"utf-8", b"utf8", b"us-ascii"):
        raise SamlMalformed(extra={"reason": f"encoding {declared.group(1).decode()} is not UTF-8"})
    try:
        xml.decode("utf-8")
    except UnicodeDecodeError:
        raise SamlMalformed(extra={"reason": "the response is not UTF-8"}) from None


def _failure(xml: bytes, root: Element, status_code: str, status_message: str) -> InspectedResponse:
    return InspectedResponse(
        xml=xml,
        response_id=root.get("ID", ""),
        response_issuer=_text(root.find(_q(SAML, "Issuer"))),
        assertion_issuer="",
        destination=root.get("Destination"),
        in_response_to=root.get("InResponseTo"),
        status_code=status_code,
        status_message=status_message,
        assertion_id="",
        response_signed=root.find(_q(DS, "Signature")) is not None,
        assertion_signed=False,
        audiences=(),
        recipients=(),
        not_before=None,
        not_on_or_after=None,
        confirmation_not_on_or_after=(),
    )


def _check_ids_unique(root: Element) -> None:
    seen: set[str] = set()
    for element in root.iter():
        for name in ("ID", "Id", "id"):
            value = element.get(name)
            if value is None:
                continue
            if value in seen:
                raise SamlMalformed(
                    extra={"reason": f"duplicate ID {value!r} (signature wrapping)"}
                )
            seen.add(value)


def _check_signature_placement(root: Element, assertion: Element) -> bool:
    """Signatures may stand only as direct children of the Response or the Assertion, each with
    one Reference to its own parent's ID. Anything else is a wrapping attempt."""
    allowed_parents = {id(root): root, id(assertion): assertion}
    parents = {id(child): parent for parent in root.iter() for child in parent}
    response_signed = False
    for signature in root.iter(_q(DS, "Signature")):
        parent = parents.get(id(signature))
        if parent is None or id(parent) not in allowed_parents:
            raise SamlMalformed(
                extra={"reason": "a signature stands outside the Response and Assertion"}
            )
        if len(parent.findall(_q(DS, "Signature"))) != 1:
            raise SamlMalformed(extra={"reason": "more than one signature on one element"})
        _check_algorithms(signature)
        references = signature.findall(f"{_q(DS, 'SignedInfo')}/{_q(DS, 'Reference')}")
        expected = f"#{parent.get('ID', '')}"
        if len(references) != 1 or references[0].get("URI") != expected or expected == "#":
            raise SamlMalformed(
                extra={"reason": "the signature does not reference the element that carries it"}
            )
        if parent is root:
            response_signed = True
    return response_signed


def _check_algorithms(signature: Element) -> None:
    method = signature.find(f"{_q(DS, 'SignedInfo')}/{_q(DS, 'SignatureMethod')}")
    algorithm = method.get("Algorithm", "") if method is not None else ""
    if algorithm not in ALLOWED_SIGNATURE_METHODS:
        _refuse_algorithm(algorithm, "SignatureMethod")
    for digest in signature.iter(_q(DS, "DigestMethod")):
        if digest.get("Algorithm", "") not in ALLOWED_DIGEST_METHODS:
            _refuse_algorithm(digest.get("Algorithm", ""), "DigestMethod")


# SHA-1 by name: IdPs that default to it (OneLogin) are told so, not that the certificate is wrong.
_SHA1_ALGORITHMS = {
    "http://www.w3.org/2000/09/xmldsig#rsa-sha1": "RSA-SHA1",
    "http://www.w3.org/2000/09/xmldsig#dsa-sha1": "DSA-SHA1",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1": "ECDSA-SHA1",
    "http://www.w3.org/2000/09/xmldsig#sha1": "SHA-1",
}


def _refuse_algorithm(algorithm: str, where: str) -> None:
    if algorithm in _SHA1_ALGORITHMS:
        raise SamlSignatureAlgorithmRefused(
            extra={
                "reason": "SHA-1 is refused",
                "algorithm": algorithm,
                "algorithm_name": _SHA1_ALGORITHMS[algorithm],
                "where": where,
            }
        )
    raise SamlSignatureInvalid(
        extra={"reason": f"{where} algorithm not accepted: {algorithm[:200] or 'none'}"}
    )


def _status(root: Element) -> tuple[str, str]:
    status = root.find(_q(SAMLP, "Status"))
    if status is None:
        raise SamlMalformed(extra={"reason": "no Status"})
    code = status.find(_q(SAMLP, "StatusCode"))
    if code is None or not code.get("Value"):
        raise SamlMalformed(extra={"reason": "no StatusCode"})
    value = code.get("Value", "")
    nested = code.find(_q(SAMLP, "StatusCode"))
    if nested is not None and nested.get("Value"):
        value = f"{value} / {nested.get('Value')}"
    return value, _text(status.find(_q(SAMLP, "StatusMessage"))) or ""


def _bearer_confirmations(assertion: Element) -> list[Element]:
    found = []
    subject = assertion.find(_q(SAML, "Subject"))
    if subject is None:
        raise SamlMalformed(extra={"reason": "the assertion has no Subject"})
    for confirmation in subject.findall(_q(SAML, "SubjectConfirmation")):
        if confirmation.get("Method") != BEARER:
            continue
        data = confirmation.find(_q(SAML, "SubjectConfirmationData"))
        found.append(data if data is not None else Element("empty"))
    if not found:
        raise SamlMalformed(extra={"reason": "no bearer SubjectConfirmation"})
    return found


def _in_response_to(
    root: Element, confirmations: list[Element], *, response_signed: bool
) -> str | None:
    """The request this answers. Where only the assertion is signed, the Response's own
    InResponseTo is unsigned, so it must agree with the one inside the assertion."""
    inner = {data.get("InResponseTo") or None for data in confirmations}
    if len(inner) > 1:
        raise SamlInResponseToMismatch(extra={"reason": "conflicting InResponseTo values"})
    assertion_value = inner.pop()
    response_value = root.get("InResponseTo") or None
    if response_value is None:
        return assertion_value
    if response_value != assertion_value and (assertion_value is not None or not response_signed):
        raise SamlInResponseToMismatch(
            extra={"reason": "the Response and the assertion answer different requests"}
        )
    return response_value


def _key_info_fingerprints(root: Element) -> tuple[str, ...]:
    """SHA-256 fingerprints of certificates carried in the message. Never trusted: shown to
    support next to the configured ones when a signature does not verify."""
    prints = []
    for node in root.iter(_q(DS, "X509Certificate")):
        try:
            der = base64.b64decode("".join((node.text or "").split()), validate=True)
        except (binascii.Error, ValueError):
            continue
        digest = hashlib.sha256(der).digest()
        prints.append(format_fingerprint(digest))
    return tuple(dict.fromkeys(prints))


def _text(element: Element | None) -> str | None:
    if element is None or element.text is None:
        return None
    return element.text.strip()


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise SamlMalformed(extra={"reason": f"bad timestamp {value!r}"}) from None
    # SAML times are UTC (saml-core 1.3.3); a missing zone is read as UTC, not local time.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

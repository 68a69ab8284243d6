"""The gate every received SAML message passes first: size, UTF-8, no DTD, entity, comment,
CDATA or processing instruction on the raw bytes, then the one parse, the protocol's root element,
Version 2.0 and unique IDs; and the small readers (text, instants) the checks share."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime

from lxml import etree

from connections import saml_crypto
from connections.exceptions import SamlMalformed

Element = etree._Element

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


def qname(namespace: str, tag: str) -> str:
    return f"{{{namespace}}}{tag}"


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


def parse_message(xml: bytes, *, expected: tuple[str, ...]) -> Element:
    """The gate every received SAML message goes through: size, UTF-8, no DTD, entity, comment,
    CDATA or processing instruction on the raw bytes, the one parse, a root element of one of
    the ``expected`` protocol names (``Response``, ``LogoutRequest``...), Version 2.0, IDs unique.
    """
    check_raw(xml, "message")
    try:
        root = saml_crypto.parse(xml)
    except saml_crypto.XmlRefused as error:
        raise SamlMalformed(extra={"reason": f"XML refused: {error}"}) from None
    if root.tag not in {qname(SAMLP, name) for name in expected}:
        raise SamlMalformed(
            extra={
                "reason": f"root element is {root.tag[:200]}, not a SAML {' or '.join(expected)}"
            }
        )
    check_version(root)
    check_ids_unique(root)
    return root


def check_raw(xml: bytes, what: str) -> None:
    if len(xml) > MAX_RESPONSE_BYTES:
        raise SamlMalformed(extra={"reason": f"{what} too large", "size": len(xml)})
    check_encoding(xml)
    forbidden = _FORBIDDEN_MARKUP.search(xml)
    if forbidden:
        raise SamlMalformed(
            extra={
                "reason": f"forbidden markup {forbidden.group(0).decode('ascii', 'replace')}"
                + ("" if what == "message" else f" in the {what}")
            }
        )


def check_encoding(xml: bytes) -> None:
    declared = _XML_DECLARATION_ENCODING.match(xml.lstrip())
    if declared and declared.group(1).lower() not in (b"utf-8", b"utf8", b"us-ascii"):
        raise SamlMalformed(extra={"reason": f"encoding {declared.group(1).decode()} is not UTF-8"})
    try:
        xml.decode("utf-8")
    except UnicodeDecodeError:
        raise SamlMalformed(extra={"reason": "the response is not UTF-8"}) from None


def check_version(element: Element) -> None:
    if element.get("Version") != "2.0":
        raise SamlMalformed(
            extra={"reason": f"{etree.QName(element).localname} Version {element.get('Version')!r}"}
        )


# Every spelling of an ID a verifier might resolve a Reference against, xml:id included.
_IDS = etree.XPath("//@ID | //@Id | //@id | //@xml:id")


def check_ids_unique(root: Element) -> None:
    seen: set[str] = set()
    for value in _IDS(root):
        if value in seen:
            raise SamlMalformed(extra={"reason": f"duplicate ID {value!r} (signature wrapping)"})
        seen.add(value)


def text_of(element: Element | None) -> str | None:
    if element is None or element.text is None:
        return None
    return element.text.strip()


def parse_instant(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise SamlMalformed(extra={"reason": f"bad timestamp {value[:100]!r}"}) from None
    # SAML times are UTC (saml-core 1.3.3); a missing zone is read as UTC, not local time.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

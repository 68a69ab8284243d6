"""The test IdP's side of Single Logout and of signed requests: lxml and ``cryptography``,
independent of the code under test.

- ``logout_request`` / ``logout_response``: the IdP's messages, as Okta, Entra ID and Keycloak
  write them, ready for either binding: ``redirect_query`` (DEFLATE, base64, the query
  signature over the exact octets, RSA-SHA256 or another algorithm for the refusals) or
  ``post_fields`` (base64 of the message, signed with an enveloped XML signature by
  ``tests.saml_idp.sign_element`` when asked).
- ``read_redirect`` decodes what the SP sends (its AuthnRequest, LogoutRequest or
  LogoutResponse over HTTP-Redirect) and ``verify_redirect_signature`` checks its query signature
  with a certificate, the way an IdP does with the one it took from the SP metadata.
"""

from __future__ import annotations

import base64
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, quote_plus, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from lxml import etree

from tests.certs import KeyPair
from tests.saml_idp import (
    NAMEID_EMAIL,
    NAMEID_ENTITY,
    NS_DS,
    NS_SAML,
    NS_SAMLP,
    STATUS_SUCCESS,
    _parse,
    _serialize,
    new_id,
    saml_time,
    sign_element,
)

NS_MD = "urn:oasis:names:tc:SAML:2.0:metadata"
SIG_RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SIG_RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
_HASHES = {SIG_RSA_SHA256: hashes.SHA256, SIG_RSA_SHA1: hashes.SHA1}


def _element(tag: str, issuer: str, destination: str | None, **options) -> etree._Element:
    now = options.get("issue_instant") or datetime.now(UTC)
    root = etree.Element(f"{{{NS_SAMLP}}}{tag}", nsmap={"saml2p": NS_SAMLP, "saml2": NS_SAML})
    if destination is not None:
        root.set("Destination", destination)
    root.set("ID", options.get("message_id") or new_id())
    root.set("IssueInstant", saml_time(now))
    root.set("Version", "2.0")
    issuer_element = etree.SubElement(root, f"{{{NS_SAML}}}Issuer", Format=NAMEID_ENTITY)
    issuer_element.text = issuer
    return root


def logout_request(
    *,
    issuer: str,
    destination: str | None,
    name_id: str,
    name_id_format: str = NAMEID_EMAIL,
    session_index: str | None = None,
    not_on_or_after: datetime | timedelta | None = timedelta(minutes=5),
    issue_instant: datetime | None = None,
    message_id: str | None = None,
) -> etree._Element:
    """An IdP-initiated LogoutRequest (unsigned: sign it with the binding)."""
    root = _element(
        "LogoutRequest", issuer, destination, issue_instant=issue_instant, message_id=message_id
    )
    if not_on_or_after is not None:
        base = issue_instant or datetime.now(UTC)
        moment = (
            base + not_on_or_after if isinstance(not_on_or_after, timedelta) else not_on_or_after
        )
        root.set("NotOnOrAfter", saml_time(moment))
    name = etree.SubElement(root, f"{{{NS_SAML}}}NameID", Format=name_id_format)
    name.text = name_id
    if session_index:
        etree.SubElement(root, f"{{{NS_SAMLP}}}SessionIndex").text = session_index
    return root


def logout_response(
    *,
    issuer: str,
    destination: str | None,
    in_response_to: str | None,
    status: str = STATUS_SUCCESS,
    issue_instant: datetime | None = None,
    message_id: str | None = None,
) -> etree._Element:
    """The IdP's LogoutResponse to the SP's LogoutRequest (unsigned: sign it with the binding)."""
    root = _element(
        "LogoutResponse", issuer, destination, issue_instant=issue_instant, message_id=message_id
    )
    if in_response_to:
        root.set("InResponseTo", in_response_to)
    status_element = etree.SubElement(root, f"{{{NS_SAMLP}}}Status")
    etree.SubElement(status_element, f"{{{NS_SAMLP}}}StatusCode", Value=status)
    return root


def redirect_query(
    message: etree._Element,
    *,
    keypair: KeyPair | None,
    relay_state: str | None = None,
    algorithm: str = SIG_RSA_SHA256,
) -> str:
    """The query string of the HTTP-Redirect binding, signed with ``keypair`` (None: unsigned).
    Encoded as Okta and Entra ID do (quote_plus) and signed over exactly these octets."""
    parameter = "SAMLRequest" if message.tag.endswith("Request") else "SAMLResponse"
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    deflated = deflate.compress(_serialize(message)) + deflate.flush()
    parts = [f"{parameter}={quote_plus(base64.b64encode(deflated).decode())}"]
    if relay_state is not None:
        parts.append(f"RelayState={quote_plus(relay_state)}")
    if keypair is not None:
        parts.append(f"SigAlg={quote_plus(algorithm)}")
        signed = "&".join(parts).encode()
        signature = keypair.key.sign(signed, padding.PKCS1v15(), _HASHES[algorithm]())
        parts.append(f"Signature={quote_plus(base64.b64encode(signature).decode())}")
    return "&".join(parts)


def post_fields(
    message: etree._Element, *, keypair: KeyPair | None, relay_state: str | None = None
) -> dict[str, str]:
    """The HTTP-POST binding form, the message signed in place (enveloped) with ``keypair``."""
    parameter = "SAMLRequest" if message.tag.endswith("Request") else "SAMLResponse"
    root = _parse(_serialize(message))
    if keypair is not None:
        sign_element(root, keypair)
    fields = {parameter: base64.b64encode(_serialize(root)).decode()}
    if relay_state is not None:
        fields["RelayState"] = relay_state
    return fields


@dataclass(frozen=True)
class SentBySp:
    """A message the SP sent over HTTP-Redirect, decoded."""

    location: str
    root: etree._Element
    parameters: dict[str, str]

    @property
    def signed(self) -> bool:
        return "Signature" in self.parameters


def read_redirect(location: str) -> SentBySp:
    query = urlsplit(location).query
    parameters = {name: values[0] for name, values in parse_qs(query).items()}
    name = "SAMLRequest" if "SAMLRequest" in parameters else "SAMLResponse"
    xml = zlib.decompress(base64.b64decode(parameters[name]), -15)
    return SentBySp(location=location, root=_parse(xml), parameters=parameters)


def signed_octets(location: str) -> bytes:
    """What an HTTP-Redirect signature covers: the query up to SigAlg, as sent."""
    query = urlsplit(location).query
    return query.split("&Signature=", 1)[0].encode()


def verify_redirect_signature(location: str, certificate_pem: bytes) -> None:
    """Raises ``cryptography.exceptions.InvalidSignature`` unless the SP's query signature is
    RSA-SHA256 by the key of ``certificate_pem`` over the exact octets."""
    sent = read_redirect(location)
    assert sent.parameters["SigAlg"] == SIG_RSA_SHA256, sent.parameters.get("SigAlg")
    signature = base64.b64decode(sent.parameters["Signature"])
    public_key = x509.load_pem_x509_certificate(certificate_pem).public_key()
    public_key.verify(signature, signed_octets(location), padding.PKCS1v15(), hashes.SHA256())


def sp_certificates(metadata: bytes, use: str) -> list[bytes]:
    """The PEM certificates of the SP metadata's KeyDescriptors of ``use``."""
    root = etree.fromstring(metadata)
    found = []
    for descriptor in root.iter(f"{{{NS_MD}}}KeyDescriptor"):
        if descriptor.get("use") == use:
            text = descriptor.find(f".//{{{NS_DS}}}X509Certificate").text
            der = base64.b64decode("".join(text.split()))
            body = base64.encodebytes(der).decode().replace("\n", "")
            lines = [body[i : i + 64] for i in range(0, len(body), 64)]
            found.append(
                (
                    "-----BEGIN CERTIFICATE-----\n"
                    + "\n".join(lines)
                    + "\n-----END CERTIFICATE-----\n"
                ).encode()
            )
    return found

"""The SAML messages we send: AuthnRequest, LogoutRequest and LogoutResponse (lxml trees; the
bindings module encodes them, signed or not).

They carry what the IdPs we know read and nothing they could trip over: no NameIDPolicy on the
AuthnRequest (an IdP configured for another NameID format would refuse it), the NameID of a
LogoutRequest exactly as the assertion named the person (format and qualifiers: AD FS and
Shibboleth compare them), the IdP's own SLO URL as Destination (required once a message is
signed, saml-bindings 3.4.5.2).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from lxml import etree

from connections.models import Connection, SamlSession

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
ENTITY = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity"
BINDING_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
STATUS_SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
STATUS_REQUESTER = "urn:oasis:names:tc:SAML:2.0:status:Requester"
STATUS_RESPONDER = "urn:oasis:names:tc:SAML:2.0:status:Responder"
STATUS_REQUEST_DENIED = "urn:oasis:names:tc:SAML:2.0:status:RequestDenied"
STATUS_UNKNOWN_PRINCIPAL = "urn:oasis:names:tc:SAML:2.0:status:UnknownPrincipal"
LOGOUT_REASON_USER = "urn:oasis:names:tc:SAML:2.0:logout:user"
# How long a LogoutRequest we send stays valid (its NotOnOrAfter).
LOGOUT_REQUEST_VALIDITY = timedelta(minutes=5)

_NSMAP = {"samlp": SAMLP, "saml": SAML}


def new_id() -> str:
    """An xs:ID (an NCName: it starts with an underscore) with 160 random bits."""
    return f"_{secrets.token_hex(20)}"


def saml_instant(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _message(tag: str, connection: Connection, destination: str) -> etree._Element:
    element = etree.Element(f"{{{SAMLP}}}{tag}", nsmap=_NSMAP)
    element.set("ID", new_id())
    element.set("Version", "2.0")
    element.set("IssueInstant", saml_instant(datetime.now(UTC)))
    element.set("Destination", destination)
    issuer = etree.SubElement(element, f"{{{SAML}}}Issuer", Format=ENTITY)
    issuer.text = connection.sp_entity_id
    return element


def authn_request(connection: Connection) -> etree._Element:
    """The AuthnRequest of an SP-initiated sign-in, to the IdP's sign-on URL; the response is to
    come to the ACS over HTTP-POST."""
    request = _message("AuthnRequest", connection, connection.sign_on_url)
    request.set("ProtocolBinding", BINDING_POST)
    request.set("AssertionConsumerServiceURL", connection.acs_url)
    return request


def logout_request(connection: Connection, session: SamlSession) -> etree._Element:
    """The LogoutRequest for the person of ``session``, to the IdP's SLO URL."""
    request = _message("LogoutRequest", connection, connection.slo_url)
    request.set("NotOnOrAfter", saml_instant(datetime.now(UTC) + LOGOUT_REQUEST_VALIDITY))
    request.set("Reason", LOGOUT_REASON_USER)
    name_id = etree.SubElement(request, f"{{{SAML}}}NameID")
    for attribute, value in (
        ("Format", session.name_id_format),
        ("NameQualifier", session.name_qualifier),
        ("SPNameQualifier", session.sp_name_qualifier),
    ):
        if value:
            name_id.set(attribute, value)
    name_id.text = session.name_id
    if session.session_index:
        etree.SubElement(request, f"{{{SAMLP}}}SessionIndex").text = session.session_index
    return request


def logout_response(
    connection: Connection,
    *,
    in_response_to: str | None,
    status: str,
    sub_status: str | None = None,
    message: str | None = None,
) -> etree._Element:
    """Our answer to an IdP's LogoutRequest, to the IdP's SLO URL."""
    response = _message("LogoutResponse", connection, connection.slo_url)
    if in_response_to:
        response.set("InResponseTo", in_response_to)
    status_element = etree.SubElement(response, f"{{{SAMLP}}}Status")
    code = etree.SubElement(status_element, f"{{{SAMLP}}}StatusCode", Value=status)
    if sub_status:
        etree.SubElement(code, f"{{{SAMLP}}}StatusCode", Value=sub_status)
    if message:
        etree.SubElement(status_element, f"{{{SAMLP}}}StatusMessage").text = message
    return response


def serialize(element: etree._Element) -> bytes:
    return etree.tostring(element, encoding="UTF-8", xml_declaration=False)

"""The SP metadata of a connection (``GET /sso/<name>/metadata/``; its URL is the entity ID).

It states everything an IdP needs to trust and talk to this connection: the ACS (HTTP-POST),
the Single Logout service (HTTP-Redirect and HTTP-POST), that assertions must be signed
(``WantAssertionsSigned``), whether requests are (``AuthnRequestsSigned``, with the signing
certificate as ``KeyDescriptor use="signing"``), and the encryption certificate
(``KeyDescriptor use="encryption"``) with the algorithms we decrypt. During a rotation of the
SP keys both the current and the next certificates are published. It validates against the
OASIS metadata schema (tested with the schema files pysaml2 ships).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lxml import etree

from connections.models import Connection, SpKey, SpKeyUse
from connections.saml_xmlenc import ACCEPTED_METADATA_ALGORITHMS
from connections.sp_keys import sp_key_ensure, sp_keys_published

MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"
PROTOCOL = "urn:oasis:names:tc:SAML:2.0:protocol"
BINDING_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
BINDING_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
NAMEID_EMAIL = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
# How long an IdP that refreshes SP metadata may keep this copy.
VALIDITY = timedelta(days=7)


def _q(namespace: str, tag: str) -> str:
    return f"{{{namespace}}}{tag}"


def _key_descriptor(parent: etree._Element, key: SpKey, use: str) -> None:
    descriptor = etree.SubElement(parent, _q(MD, "KeyDescriptor"), use=use)
    key_info = etree.SubElement(descriptor, _q(DS, "KeyInfo"))
    data = etree.SubElement(key_info, _q(DS, "X509Data"))
    etree.SubElement(data, _q(DS, "X509Certificate")).text = key.base64_der
    if use == "encryption":
        for algorithm in ACCEPTED_METADATA_ALGORITHMS:
            etree.SubElement(descriptor, _q(MD, "EncryptionMethod"), Algorithm=algorithm)


def sp_metadata(connection: Connection) -> bytes:
    """The metadata document. Makes the connection's SP keys on first need (raises
    ``SpKeysUnavailable`` when they cannot be made)."""
    sp_key_ensure(connection=connection, use=SpKeyUse.ENCRYPTION, actor_label="system")
    signing: list[SpKey] = []
    if connection.sign_requests:
        sp_key_ensure(connection=connection, use=SpKeyUse.SIGNING, actor_label="system")
        signing = sp_keys_published(connection=connection, use=SpKeyUse.SIGNING)
    encryption = sp_keys_published(connection=connection, use=SpKeyUse.ENCRYPTION)

    valid_until = (datetime.now(UTC) + VALIDITY).strftime("%Y-%m-%dT%H:%M:%SZ")
    root = etree.Element(
        _q(MD, "EntityDescriptor"),
        {"entityID": connection.sp_entity_id, "validUntil": valid_until},
        nsmap={"md": MD, "ds": DS},
    )
    descriptor = etree.SubElement(
        root,
        _q(MD, "SPSSODescriptor"),
        {
            "AuthnRequestsSigned": "true" if connection.sign_requests else "false",
            "WantAssertionsSigned": "true",
            "protocolSupportEnumeration": PROTOCOL,
        },
    )
    for key in signing:
        _key_descriptor(descriptor, key, "signing")
    for key in encryption:
        _key_descriptor(descriptor, key, "encryption")
    for binding in (BINDING_REDIRECT, BINDING_POST):
        etree.SubElement(
            descriptor,
            _q(MD, "SingleLogoutService"),
            Binding=binding,
            Location=connection.slo_service_url,
        )
    etree.SubElement(descriptor, _q(MD, "NameIDFormat")).text = NAMEID_EMAIL
    etree.SubElement(
        descriptor,
        _q(MD, "AssertionConsumerService"),
        Binding=BINDING_POST,
        Location=connection.acs_url,
        index="0",
        isDefault="true",
    )
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")

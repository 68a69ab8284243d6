"""The SP metadata states what the connection does, and is valid SAML metadata: checked against
the OASIS metadata schema (saml-schema-metadata-2.0.xsd and the XML Signature and Encryption
schemas it imports, as pysaml2 ships them), read by libxml2 through lxml.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import pytest
from django.test import Client
from lxml import etree

from connections.services import connection_update
from connections.sp_keys import sp_key_rotation_start
from tests.saml_logout import sp_certificates

MD = "urn:oasis:names:tc:SAML:2.0:metadata"
BINDING_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
BINDING_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"


class _LocalSchemas(etree.Resolver):
    """The schemas import each other by URL: each is read from pysaml2's copies instead."""

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.directory = directory

    def resolve(self, url, public_id, context):
        local = self.directory / url.rsplit("/", 1)[-1]
        return self.resolve_filename(str(local), context) if local.is_file() else None


@pytest.fixture(scope="module")
def metadata_schema() -> etree.XMLSchema:
    directory = Path(str(files("saml2.data.schemas")))
    # Our own test's files: their DTDs define the entities the schema text uses.
    parser = etree.XMLParser(no_network=True, resolve_entities=True, load_dtd=False)
    parser.resolvers.add(_LocalSchemas(directory))
    return etree.XMLSchema(etree.parse(str(directory / "saml-schema-metadata-2.0.xsd"), parser))


def _metadata(connection) -> etree._Element:
    response = Client().get(f"/sso/{connection.name}/metadata/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/samlmetadata+xml"
    return etree.fromstring(response.content)


def _descriptor(root: etree._Element) -> etree._Element:
    return root.find(f"{{{MD}}}SPSSODescriptor")


def _key_uses(root: etree._Element) -> list[str]:
    return [key.get("use") for key in _descriptor(root).iterfind(f"{{{MD}}}KeyDescriptor")]


@pytest.mark.parametrize("sign_requests", [False, True], ids=["plain", "signed-requests"])
@pytest.mark.parametrize("slo_url", ["", "https://idp.acme.example/slo"], ids=["no-slo", "slo"])
def test_the_metadata_validates_against_the_saml_metadata_schema(
    acme, metadata_schema, sign_requests, slo_url
):
    connection_update(
        connection=acme.connection, sign_requests=sign_requests, slo_url=slo_url, actor_label="t"
    )

    root = _metadata(acme.connection)

    metadata_schema.assertValid(root)


def test_the_metadata_during_a_key_rotation_validates_too(acme, metadata_schema):
    connection_update(connection=acme.connection, sign_requests=True, actor_label="t")
    sp_key_rotation_start(connection=acme.connection)

    root = _metadata(acme.connection)

    metadata_schema.assertValid(root)
    assert _key_uses(root) == ["signing", "signing", "encryption", "encryption"]


def test_a_document_the_schema_refuses_is_refused(acme, metadata_schema):
    """The check can fail: the same document with its ACS removed is not valid metadata."""
    root = _metadata(acme.connection)
    descriptor = _descriptor(root)
    descriptor.remove(descriptor.find(f"{{{MD}}}AssertionConsumerService"))

    assert not metadata_schema.validate(root)


def test_the_metadata_states_what_the_connection_does(acme):
    root = _metadata(acme.connection)
    descriptor = _descriptor(root)

    assert root.get("entityID") == acme.connection.sp_entity_id
    assert descriptor.get("AuthnRequestsSigned") == "false"
    assert descriptor.get("WantAssertionsSigned") == "true"
    assert _key_uses(root) == ["encryption"]  # every connection can receive encrypted assertions
    encryption = descriptor.find(f"{{{MD}}}KeyDescriptor")
    assert [method.get("Algorithm") for method in encryption.iterfind(f"{{{MD}}}EncryptionMethod")] == [
        "http://www.w3.org/2009/xmlenc11#aes256-gcm",
        "http://www.w3.org/2009/xmlenc11#aes128-gcm",
        "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
        "http://www.w3.org/2001/04/xmlenc#aes128-cbc",
        "http://www.w3.org/2009/xmlenc11#rsa-oaep",
        "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
    ]  # fmt: skip
    services = [
        (service.get("Binding"), service.get("Location"))
        for service in descriptor.iterfind(f"{{{MD}}}SingleLogoutService")
    ]
    assert services == [
        (BINDING_REDIRECT, "https://sso.test/sso/acme/slo/"),
        (BINDING_POST, "https://sso.test/sso/acme/slo/"),
    ]
    acs = descriptor.find(f"{{{MD}}}AssertionConsumerService")
    assert (acs.get("Binding"), acs.get("Location")) == (BINDING_POST, acme.connection.acs_url)


def test_signed_requests_publish_the_signing_certificate(acme):
    connection_update(connection=acme.connection, sign_requests=True, actor_label="t")

    root = _metadata(acme.connection)

    assert _descriptor(root).get("AuthnRequestsSigned") == "true"
    assert _key_uses(root) == ["signing", "encryption"]
    metadata = etree.tostring(root)
    assert sp_certificates(metadata, "signing") != sp_certificates(metadata, "encryption")


def test_turning_signed_requests_off_unpublishes_the_signing_certificate(acme):
    connection_update(connection=acme.connection, sign_requests=True, actor_label="t")
    connection_update(connection=acme.connection, sign_requests=False, actor_label="t")

    root = _metadata(acme.connection)

    assert _descriptor(root).get("AuthnRequestsSigned") == "false"
    assert _key_uses(root) == ["encryption"]


def test_a_connections_metadata_carries_nothing_of_another(acme, globex):
    for tenant in (acme, globex):
        connection_update(connection=tenant.connection, sign_requests=True, actor_label="t")

    acme_metadata = etree.tostring(_metadata(acme.connection))
    globex_metadata = etree.tostring(_metadata(globex.connection))

    for use in ("signing", "encryption"):
        assert not set(sp_certificates(acme_metadata, use)) & set(
            sp_certificates(globex_metadata, use)
        )
    assert b"/sso/globex/" not in acme_metadata
    assert b"/sso/acme/" not in globex_metadata

"""The refusal corpus again, every assertion encrypted (issue 16): each case that posts an
assertion runs with the test IdP encrypting it (``tests/saml_encryption.py``: lxml and
``cryptography``) to the certificate the connection's SP metadata publishes, and must be
refused with the same code (or the one the case names, where "signed, then encrypted" refuses
first), nobody signed in, nothing written but the audit event: every check runs on the decrypted
assertion exactly as on a plain one. An encrypted assertion is verified in process whatever
SAML_SIGNATURE_BACKEND says, so this runs once.
"""

from __future__ import annotations

import pytest
from django.test import Client
from lxml import etree

from connections.models import Connection, SpKeyUse
from connections.sp_keys import sp_key_ensure
from tests.connections import saml_helpers
from tests.connections.refusals import CORPUS
from tests.connections.refusals.cases import Given, check_refused, footprint
from tests.saml_encryption import encrypt_assertions
from tests.saml_idp import NS_SAML
from tests.saml_logout import sp_certificates

ENCRYPTED_CORPUS = [case for case in CORPUS if case.encrypt]


@pytest.fixture
def encrypting_idp(monkeypatch):
    """The IdP encrypts each assertion it posts (every direct child of the Response) to the
    certificate published in the SP metadata of the connection it posts to; returns the IDs of
    what it encrypted. A Response signature made before stays as it was."""
    encrypted: list[str] = []

    def encrypt(connection, xml: bytes) -> bytes:
        try:
            root = etree.fromstring(xml, etree.XMLParser(resolve_entities=False, no_network=True))
        except etree.XMLSyntaxError:
            return xml
        assertions = root.findall(f"{{{NS_SAML}}}Assertion")
        if not assertions:
            return xml
        metadata = Client().get(f"/sso/{connection.name}/metadata/").content
        encrypted.extend(assertion.get("ID") for assertion in assertions)
        return encrypt_assertions(xml, sp_certificates(metadata, "encryption")[0])

    monkeypatch.setattr(saml_helpers, "IDP_ENCRYPTS", encrypt)
    return encrypted


@pytest.mark.parametrize("case", ENCRYPTED_CORPUS, ids=[case.id for case in ENCRYPTED_CORPUS])
def test_the_sign_in_is_refused_and_signs_nobody_in_encrypted(case, request, encrypting_idp):
    """The same refusal, with the code of the plain case, when the assertions arrive encrypted:
    every check runs on the decrypted assertion exactly as on a plain one."""
    given = Given(**{name: request.getfixturevalue(name) for name in case.needs})
    act = case.arrange(given)
    for connection in Connection.objects.all():  # the IdP has each connection's certificate
        sp_key_ensure(connection=connection, use=SpKeyUse.ENCRYPTION)
    before = footprint()

    response = act()

    assert encrypting_idp, "the case posted no assertion to encrypt: mark it encrypt=False"
    check_refused(case, given, before, response, encrypted=True)

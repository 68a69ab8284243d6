"""Refused sign-ins with encrypted assertions: saml_encryption_required, saml_decryption_failed,
and what an encrypted assertion must be like any other (signed itself, no comment in it).

The test IdP encrypts (``tests/saml_encryption.py``: lxml and ``cryptography``) to the
certificate it reads from the connection's published SP metadata, as a real IdP does.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

from django.test import Client

from audit.models import AuditEvent
from connections.services import connection_update
from connections.sp_keys import sp_key_rotation_finish, sp_key_rotation_start
from tests.certs import make_keypair
from tests.connections.refusals.cases import (
    NEW,
    Given,
    Refusal,
    acme_response,
    at_acs,
    details_say,
)
from tests.connections.saml_helpers import idp_response
from tests.saml_encryption import NS_XENC, Encryption, encrypt_assertions, encrypted_assertion
from tests.saml_idp import NS_SAML, _parse, _serialize, comment_in_name_id, sign_element
from tests.saml_logout import sp_certificates

CASES: list[Refusal] = []


def sp_encryption_certificate(connection) -> bytes:
    """What the IdP takes from the SP metadata (the current certificate, listed first)."""
    metadata = Client().get(f"/sso/{connection.name}/metadata/").content
    return sp_certificates(metadata, "encryption")[0]


def _encrypted(
    encryption: Encryption = Encryption(),
    *,
    certificate: Callable[[Given], bytes] | None = None,
    **options,
) -> Callable[[Given], bytes]:
    def make(given: Given) -> bytes:
        pem = sp_encryption_certificate(given.acme.connection)  # the connection has its keys
        if certificate is not None:
            pem = certificate(given)
        return encrypt_assertions(idp_response(given.acme, NEW, **options), pem, encryption)

    return make


def _require_encryption(given: Given):
    connection = connection_update(connection=given.acme.connection, require_encryption=True)
    connection.keypair = given.acme.connection.keypair
    given.acme.connection = connection
    return acme_response()(given)


def _tampered(target: str) -> Callable[[Given], bytes]:
    """A byte flipped in the content's or in the wrapped key's ciphertext."""

    def make(given: Given) -> bytes:
        root = _parse(
            _encrypted(Encryption("aes128-gcm", "rsa-oaep", "sha256", mgf="sha256"))(given)
        )
        values = list(root.iter(f"{{{NS_XENC}}}CipherValue"))
        # Document order: the EncryptedKey's (inside KeyInfo) comes before the content's.
        value = values[0] if target == "key" else values[-1]
        raw = bytearray(base64.b64decode(value.text))
        raw[len(raw) // 2] ^= 0x01
        value.text = base64.b64encode(bytes(raw)).decode()
        return _serialize(root)

    return make


def _to_the_attackers_certificate(given: Given) -> bytes:
    return make_keypair("attacker.example", slot="attacker").cert_pem


def _signed_response_only(given: Given) -> bytes:
    """The assertion unsigned, the Response signed after encrypting (its signature is valid):
    signed-then-encrypted is required, a Response signature over ciphertext is not enough."""
    xml = idp_response(given.acme, NEW, sign_assertion=False)
    root = _parse(
        encrypt_assertions(xml, sp_encryption_certificate(given.acme.connection), Encryption())
    )
    sign_element(root, given.acme.connection.keypair)
    return _serialize(root)


def _comment_inside(given: Given) -> bytes:
    # Signed for newhire@acme.com.evil.example, read as newhire@acme.com by a careless SP.
    xml = comment_in_name_id(idp_response(given.acme, f"{NEW}.evil.example"))
    return encrypt_assertions(xml, sp_encryption_certificate(given.acme.connection))


def _beside_a_plain_one(given: Given) -> bytes:
    xml = idp_response(given.acme, NEW)
    root = _parse(xml)
    assertion = root.find(f"{{{NS_SAML}}}Assertion")
    container = encrypted_assertion(assertion, sp_encryption_certificate(given.acme.connection))
    assertion.addprevious(container)
    return _serialize(root)


def _to_the_retired_key(given: Given) -> bytes:
    """Encrypted to the certificate a finished rotation destroyed."""
    old = sp_encryption_certificate(given.acme.connection)
    sp_key_rotation_start(connection=given.acme.connection)
    sp_key_rotation_finish(connection=given.acme.connection)
    return encrypt_assertions(idp_response(given.acme, NEW), old)


def _no_encrypted_key(given: Given) -> bytes:
    root = _parse(_encrypted()(given))
    for key in list(root.iter(f"{{{NS_XENC}}}EncryptedKey")):
        key.getparent().remove(key)
    return _serialize(root)


def _rsa_1_5_then(given: Given, event: AuditEvent) -> None:
    assert "rsa-1_5" in event.details["reason"] or "v1.5" in event.details["reason"]


CASES += [
    Refusal(
        "saml_encryption_required",
        "",
        at_acs(_require_encryption),
        never_created=(NEW,),
        encrypt=False,
    ),
    Refusal(
        "saml_decryption_failed",
        "rsa-1_5-key-transport",
        at_acs(_encrypted(Encryption("aes256-cbc", "rsa-1_5"))),
        never_created=(NEW,),
        then=_rsa_1_5_then,
        encrypt=False,
    ),
    Refusal(
        "saml_decryption_failed",
        "aes192-cbc",
        at_acs(_encrypted(Encryption("aes192-cbc"))),
        never_created=(NEW,),
        then=details_say("reason", "content encryption not accepted"),
        encrypt=False,
    ),
    Refusal(
        "saml_decryption_failed",
        "triple-des",
        at_acs(_encrypted(Encryption("tripledes-cbc"))),
        never_created=(NEW,),
        then=details_say("reason", "content encryption not accepted"),
        encrypt=False,
    ),
    Refusal(
        "saml_decryption_failed",
        "encrypted-to-another-certificate",
        at_acs(_encrypted(certificate=_to_the_attackers_certificate)),
        never_created=(NEW,),
        then=details_say("reason", "no SP encryption key unwraps"),
        encrypt=False,
    ),
    Refusal(
        "saml_decryption_failed",
        "encrypted-to-the-retired-key",
        at_acs(_to_the_retired_key),
        never_created=(NEW,),
        encrypt=False,
    ),
    Refusal(
        "saml_decryption_failed",
        "content-tampered",
        at_acs(_tampered("content")),
        never_created=(NEW,),
        then=details_say("reason", "does not decrypt"),
        encrypt=False,
    ),
    Refusal(
        "saml_decryption_failed",
        "wrapped-key-tampered",
        at_acs(_tampered("key")),
        never_created=(NEW,),
        encrypt=False,
    ),
    Refusal(
        "saml_decryption_failed",
        "no-encrypted-key",
        at_acs(_no_encrypted_key),
        never_created=(NEW,),
        encrypt=False,
    ),
    Refusal(
        "saml_signature_missing",
        "encrypted-assertion-unsigned-inside",
        at_acs(_signed_response_only),
        never_created=(NEW,),
        then=details_say("reason", "not signed itself"),
        encrypt=False,
    ),
    Refusal(
        "saml_malformed",
        "comment-inside-an-encrypted-name-id",
        at_acs(_comment_inside),
        never_created=(NEW,),
        then=details_say("reason", "in the decrypted assertion"),
        encrypt=False,
    ),
    Refusal(
        "saml_malformed",
        "encrypted-assertion-beside-a-plain-one",
        at_acs(_beside_a_plain_one),
        never_created=(NEW,),
        then=details_say("reason", "exactly one is allowed"),
        encrypt=False,
    ),
]

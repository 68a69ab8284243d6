"""What every logout message from the IdP must be: signed by a certificate configured on the
connection, from its issuer, addressed to our SLO service, fresh and new; and the NameID it
names, in clear or encrypted."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from lxml import etree

from connections import saml_crypto, saml_sp_crypto
from connections.exceptions import (
    SamlDestinationMismatch,
    SamlExpired,
    SamlIssuerMismatch,
    SamlMalformed,
    SamlNotYetValid,
    SamlReplayed,
    SamlSignatureAlgorithmRefused,
    SamlSignatureInvalid,
    SamlSignatureMissing,
)
from connections.models import (
    Connection,
    SeenLogoutMessage,
)
from connections.saml_bindings import Received
from connections.saml_inspection import DS, SAML, parse_instant, text_of
from connections.sign_in.common import saml_adapter
from connections.sign_in.receive import algorithm_refused
from connections.sp_keys import sp_decrypt

# A logout message is delivered by the browser right after it is issued.
LOGOUT_MESSAGE_LIFETIME = timedelta(minutes=5)
NCNAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,199}$")


def expected_issuer(connection: Connection) -> str:
    return connection.idp_entity_id or connection.observed_idp_entity_id


def check_logout_message(
    connection: Connection, received: Received, root: etree._Element
) -> datetime:
    """What every logout message must be: signed by a configured certificate, from the IdP,
    to our SLO service, fresh. Returns when its ID may be forgotten."""
    check_signature(connection, received, root)
    issuer = text_of(root.find(f"{{{SAML}}}Issuer")) or ""
    expected = expected_issuer(connection)
    if expected and issuer != expected:
        raise SamlIssuerMismatch(
            "This logout message comes from a different identity provider than configured.",
            extra={"expected": expected, "received": issuer[:300]},
        )
    destination = root.get("Destination")
    if destination != connection.slo_service_url:
        raise SamlDestinationMismatch(
            "This logout message was sent to a different address.",
            extra={
                "destination": (destination or "")[:300],
                "expected": connection.slo_service_url,
            },
        )
    now = timezone.now()
    skew = timedelta(seconds=settings.SAML_CLOCK_SKEW_SECONDS)
    issued = parse_instant(root.get("IssueInstant"))
    if issued is None:
        raise SamlMalformed(extra={"reason": "the logout message has no IssueInstant"})
    if issued > now + skew:
        raise SamlNotYetValid(
            "This logout message is not valid yet; the identity provider's clock may be ahead.",
            extra={"issue_instant": issued.isoformat(), "now": now.isoformat()},
        )
    if issued < now - skew - LOGOUT_MESSAGE_LIFETIME:
        raise SamlExpired(
            "This logout message is too old.",
            extra={"issue_instant": issued.isoformat(), "now": now.isoformat()},
        )
    ends = parse_instant(root.get("NotOnOrAfter"))
    if ends is not None and now - skew >= ends:
        raise SamlExpired(
            "This logout request has expired.",
            extra={"not_on_or_after": ends.isoformat(), "now": now.isoformat()},
        )
    return issued + LOGOUT_MESSAGE_LIFETIME + 2 * skew


def check_signature(connection: Connection, received: Received, root: etree._Element) -> None:
    trusted = saml_adapter().trusted_keys(connection)
    signatures = list(root.iter(f"{{{DS}}}Signature"))
    try:
        if received.binding == "redirect":
            if received.signature is None:
                raise SamlSignatureMissing(
                    "This logout message is not signed.",
                    extra={"reason": "no Signature in the HTTP-Redirect query"},
                )
            saml_sp_crypto.verify_octets(
                received.signed_octets, received.signature, received.sig_alg or "", trusted
            )
            return
        if not signatures:
            raise SamlSignatureMissing(
                "This logout message is not signed.",
                extra={"reason": "no XML signature on the HTTP-POST message"},
            )
        if len(signatures) != 1 or signatures[0].getparent() is not root:
            raise SamlMalformed(extra={"reason": "a signature stands outside the logout message"})
        saml_crypto.verify_enveloped(root, trusted)
    except saml_crypto.WeakAlgorithm as error:
        raise algorithm_refused(connection, SamlSignatureAlgorithmRefused.of(error)) from None
    except saml_crypto.SignatureMisplaced as error:
        raise SamlMalformed(extra={"reason": error.reason}) from None
    except saml_crypto.SignatureRefused as error:
        raise SamlSignatureInvalid(
            "This logout message's signature does not match the certificate we have for this "
            "connection.",
            extra={"reason": error.reason, "configured_certificates": trusted.fingerprints},
        ) from None


def remember_message_id(connection: Connection, message_id: str, expires_at: datetime) -> None:
    """Inside the caller's transaction: a message ID seen before refuses the whole step."""
    if not NCNAME.match(message_id):
        raise SamlMalformed(extra={"reason": "the logout message's ID is not an xs:ID"})
    try:
        with transaction.atomic():
            SeenLogoutMessage.objects.create(
                connection=connection, message_id=message_id, expires_at=expires_at
            )
    except IntegrityError:
        raise SamlReplayed(
            "This logout message was already used.", extra={"message_id": message_id}
        ) from None


def requested_name_id(connection: Connection, root: etree._Element) -> str:
    """The NameID the request names: in clear, or an EncryptedID decrypted with our keys."""
    name_id = root.find(f"{{{SAML}}}NameID")
    encrypted = root.find(f"{{{SAML}}}EncryptedID")
    if encrypted is not None and name_id is None:
        try:
            plaintext = sp_decrypt(connection=connection, container=encrypted)
        except saml_sp_crypto.DecryptionRefused as error:
            raise SamlMalformed(extra={"reason": f"EncryptedID: {error.reason}"}) from None
        wrapper = name_id_fragment(plaintext)
        name_id = wrapper.find(f"{{{SAML}}}NameID")
    value = text_of(name_id) if name_id is not None else None
    if not value:
        raise SamlMalformed(extra={"reason": "the logout request names nobody (no NameID)"})
    if len(name_id) or any(isinstance(node, etree._Comment) for node in name_id.iter()):
        raise SamlMalformed(extra={"reason": "the NameID is not plain text"})
    return value


def name_id_fragment(plaintext: bytes) -> etree._Element:
    """A decrypted NameID, through the same gate and parser as a received message."""
    try:
        wrapper = saml_crypto.parse(
            f'<decrypted xmlns:saml="{SAML}">'.encode() + plaintext + b"</decrypted>"
        )
    except saml_crypto.XmlRefused as error:
        raise SamlMalformed(extra={"reason": f"EncryptedID: XML refused: {error}"}) from None
    if [child.tag for child in wrapper] != [f"{{{SAML}}}NameID"]:
        raise SamlMalformed(extra={"reason": "the EncryptedID does not hold one NameID"})
    return wrapper

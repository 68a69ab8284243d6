"""The pysaml2 adapter: the only module that imports ``saml2``.

It builds the SP configuration of one connection from the database (that connection's
certificates only, its own entity ID and ACS URL), caches it until the connection changes, and
turns every pysaml2 outcome into our own result or a ``SignInRefused`` with a SPEC error code.
"""

from __future__ import annotations

import base64
import logging
import shutil
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from django.conf import settings
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.metadata import create_metadata_string
from saml2.population import Population
from saml2.response import StatusError
from saml2.saml import NAMEID_FORMAT_EMAILADDRESS
from saml2.sigver import MissingKey, SignatureError, SigverError
from saml2.validate import ResponseLifetimeExceed, ToEarly

from connections.exceptions import (
    SamlExpired,
    SamlMalformed,
    SamlNotYetValid,
    SamlSignatureInvalid,
    SamlStatusFailure,
    SignInRefused,
)
from connections.models import Connection
from core.untrusted import clip

logger = logging.getLogger(__name__)

_CACHE_SIZE = 256


@dataclass(frozen=True)
class VerifiedAssertion:
    """What a verified assertion says, read from pysaml2's verified object."""

    issuer: str
    assertion_id: str
    name_id: str
    name_id_format: str
    session_index: str
    attributes: dict[str, list[str]]


def xmlsec_binary() -> str:
    path = shutil.which("xmlsec1")
    if not path:
        raise RuntimeError("xmlsec1 is not installed (Debian package xmlsec1)")
    return path


def placeholder_issuer(connection: Connection) -> str:
    """The IdP entity ID to use when the connection has none yet (only for outgoing requests:
    incoming responses are checked against the issuer they carry, anchored in the certificate)."""
    return (
        connection.idp_entity_id
        or connection.observed_idp_entity_id
        or f"urn:sso:{connection.name}:idp"
    )


def _idp_metadata(connection: Connection, issuer: str) -> str:
    key_descriptors = "".join(
        '<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>'
        f"{certificate.base64_der}"
        "</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
        for certificate in connection.certificates.all()
    )
    return (
        '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
        f'xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID={quoteattr(issuer)}>'
        '<md:IDPSSODescriptor WantAuthnRequestsSigned="false" '
        'protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
        f"{key_descriptors}"
        f"<md:NameIDFormat>{escape(NAMEID_FORMAT_EMAILADDRESS)}</md:NameIDFormat>"
        f'<md:SingleSignOnService Binding="{BINDING_HTTP_REDIRECT}" '
        f"Location={quoteattr(connection.sign_on_url)}/>"
        "</md:IDPSSODescriptor></md:EntityDescriptor>"
    )


def _sp_config(connection: Connection, issuer: str) -> SPConfig:
    config = SPConfig()
    config.load(
        {
            "entityid": connection.sp_entity_id,
            "xmlsec_binary": xmlsec_binary(),
            "accepted_time_diff": settings.SAML_CLOCK_SKEW_SECONDS,
            "allow_unknown_attributes": True,
            # Only the certificates configured on this connection verify its responses, never
            # a key carried in the message.
            "only_use_keys_in_metadata": True,
            "delete_tmpfiles": True,
            "metadata": {"inline": [_idp_metadata(connection, issuer)]},
            "service": {
                "sp": {
                    "name": connection.name,
                    "endpoints": {
                        "assertion_consumer_service": [(connection.acs_url, BINDING_HTTP_POST)]
                    },
                    "allow_unsolicited": connection.allow_idp_initiated,
                    "authn_requests_signed": False,
                    "want_assertions_signed": False,
                    "want_response_signed": False,
                    # Okta signs the assertion, others the response, some both: one must be.
                    "want_assertions_or_response_signed": True,
                    "name_id_format": NAMEID_FORMAT_EMAILADDRESS,
                    "name_id_format_allow_create": False,
                }
            },
        }
    )
    return config


class _ClientCache(threading.local):
    """Per-thread LRU of pysaml2 clients keyed by (connection, its last change, issuer).

    Building a client parses metadata and probes xmlsec1, so it is worth keeping; a client keeps
    per-login state (its identity cache), so it is never shared between threads and that state
    is dropped after each use.
    """

    def __init__(self) -> None:
        self.clients: OrderedDict[tuple, Saml2Client] = OrderedDict()

    def get(self, connection: Connection, issuer: str) -> Saml2Client:
        key = (connection.pk, connection.updated_at.isoformat(), issuer, settings.BASE_URL)
        client = self.clients.get(key)
        if client is None:
            client = Saml2Client(config=_sp_config(connection, issuer))
            self.clients[key] = client
            while len(self.clients) > _CACHE_SIZE:
                self.clients.popitem(last=False)
        else:
            self.clients.move_to_end(key)
        return client


_clients = _ClientCache()


def sp_metadata(connection: Connection) -> bytes:
    """The SP metadata document; its URL is the SP entity ID."""
    config = _clients.get(connection, placeholder_issuer(connection)).config
    return create_metadata_string(None, config=config, valid=24 * 7)


def authn_request_redirect(connection: Connection) -> tuple[str, str]:
    """An AuthnRequest over the HTTP-Redirect binding: (request ID, URL to send the browser to)."""
    client = _clients.get(connection, placeholder_issuer(connection))
    request_id, info = client.prepare_for_authenticate(
        entityid=placeholder_issuer(connection), relay_state="", binding=BINDING_HTTP_REDIRECT
    )
    location = dict(info["headers"])["Location"]
    return request_id, location


def verify_response(
    connection: Connection, xml: bytes, *, issuer: str, request_id: str | None
) -> VerifiedAssertion:
    """Verify signatures and the protocol rules pysaml2 enforces, with the connection's
    certificates as the only trust anchor. ``issuer`` names the IdP metadata entry those
    certificates are filed under; ``request_id`` the outstanding request this answers."""
    client = _clients.get(connection, issuer)
    outstanding = {request_id: "/"} if request_id else {}
    try:
        # The HTTP-POST binding hands pysaml2 the base64 form; it decodes it itself.
        response = client.parse_authn_request_response(
            base64.b64encode(xml).decode("ascii"), BINDING_HTTP_POST, outstanding=outstanding
        )
    except SignInRefused:
        raise
    except Exception as error:  # pysaml2 raises many unrelated types; classify them all here
        raise _classify(error) from None
    finally:
        # pysaml2 files every person it sees in an in-memory identity cache; we keep nothing.
        client.users = Population()
    if response is None or response.assertion is None:
        raise SamlMalformed(extra={"reason": "pysaml2 returned no assertion"})
    return _read_assertion(response)


def _classify(error: Exception) -> SignInRefused:
    detail = {"reason": clip(f"{type(error).__name__}: {error}")}
    logger.info("SAML response refused by pysaml2: %s", detail["reason"])
    if isinstance(error, ResponseLifetimeExceed):
        return SamlExpired(extra=detail)
    if isinstance(error, ToEarly):
        return SamlNotYetValid(extra=detail)
    if isinstance(error, StatusError):
        return SamlStatusFailure(extra=detail)
    if isinstance(error, SignatureError):
        first = error.args[0] if error.args else None
        if isinstance(first, dict) and "Invalid document format" in str(first.get("message", "")):
            return SamlMalformed(extra={"reason": f"schema: {first.get('reason', '')}"[:500]})
        return SamlSignatureInvalid(extra=detail)
    if isinstance(error, MissingKey | SigverError):
        return SamlSignatureInvalid(extra=detail)
    return SamlMalformed(extra=detail)


def _read_assertion(response: Any) -> VerifiedAssertion:
    assertion = response.assertion
    name_id = response.name_id
    attributes: dict[str, list[str]] = {}
    for statement in assertion.attribute_statement or []:
        for attribute in statement.attribute or []:
            values = [value.text.strip() for value in attribute.attribute_value or [] if value.text]
            attributes.setdefault(attribute.name, []).extend(values)
    session_index = ""
    if assertion.authn_statement:
        session_index = assertion.authn_statement[0].session_index or ""
    return VerifiedAssertion(
        issuer=(assertion.issuer.text or "").strip() if assertion.issuer else "",
        assertion_id=assertion.id,
        name_id=(name_id.text or "").strip() if name_id is not None else "",
        name_id_format=(name_id.format or "") if name_id is not None else "",
        session_index=session_index,
        attributes=attributes,
    )

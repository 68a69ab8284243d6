"""The SAML adapter: the only module that imports ``saml2`` (pysaml2).

It turns a received response (already through ``connections.saml_inspection``, which parsed it
once and checked its structure) into a ``VerifiedAssertion`` or a ``SignInRefused`` with a SPEC
error code, trusting only the connection's configured certificates. ``SAML_SIGNATURE_BACKEND``
chooses how the signatures are verified:

- ``xmlsec`` (the default): in process, on the tree of that one parse. The schema is checked by
  libxml2 (lxml's XMLSchema, on pysaml2's copies of the OASIS schemas), each signature by
  libxmlsec1 (``connections.saml_crypto``), and the verified assertion is read from the very
  tree they cover. No subprocess, no temporary file, no second parse.
- ``xmlsec1``: stock pysaml2 (``Saml2Client.parse_authn_request_response``, which runs the
  ``xmlsec1`` program on temporary files). Kept selectable so the test suite runs every SAML
  security test through both and proves the in-process path refuses exactly what it refuses.
  An encrypted assertion is always verified in process: it was decrypted in process
  (``connections.saml_sp_crypto``), and pysaml2 would need our private key in a file.

The in-process path hands lxml's trees to libxmlsec1, so lxml and the xmlsec binding must run
the same libxml2: the pinned wheels do, and a process where they do not stops at start-up
(``saml_crypto`` checks it; ``ConnectionsConfig.ready`` imports it).

Two caches, both keyed on the connection's ``updated_at`` (every change of a connection or its
certificates bumps it): the keys a connection trusts (process-wide, immutable, small) and the
pysaml2 client of a connection (per thread) for the ``xmlsec1`` backend. AuthnRequests, logout
messages and the SP metadata are ours (``connections.saml_messages``, ``connections.sp_metadata``).
"""

from __future__ import annotations

import base64
import copy
import functools
import logging
import shutil
import threading
from collections import OrderedDict
from datetime import datetime
from importlib.resources import files
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from django.conf import settings
from lxml import etree
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.population import Population
from saml2.response import StatusError
from saml2.saml import NAMEID_FORMAT_EMAILADDRESS
from saml2.sigver import MissingKey, SignatureError, SigverError
from saml2.validate import ResponseLifetimeExceed, ToEarly

from connections import saml_crypto
from connections.exceptions import (
    SamlExpired,
    SamlMalformed,
    SamlNotYetValid,
    SamlSignatureInvalid,
    SamlStatusFailure,
    SignInRefused,
)
from connections.models import Connection, SigningCertificate
from connections.saml_inspection import SAML, InspectedResponse, text_of
from connections.verified_assertion import VerifiedAssertion
from core.untrusted import clip

logger = logging.getLogger(__name__)

_CACHE_SIZE = 256
#: Connections whose trusted keys stay loaded per process: 2.6 KB each with one RSA-2048
#: certificate (bench/saml_acs.py), so about 50 MB when full.
TRUSTED_KEYS_CACHE_SIZE = 20_000


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


# --- the keys a connection trusts --------------------------------------------------------------


@functools.lru_cache(maxsize=TRUSTED_KEYS_CACHE_SIZE)
def _trusted_keys(connection_id: int, updated_at: datetime) -> saml_crypto.TrustedKeys:
    certificates = SigningCertificate.objects.filter(connection_id=connection_id).values_list(
        "pem", "fingerprint_sha256"
    )
    return saml_crypto.TrustedKeys.from_certificates(certificates)


def trusted_keys(connection: Connection) -> saml_crypto.TrustedKeys:
    """The public keys of the connection's configured certificates: read from the database
    once per change of the connection, then from this process's cache."""
    return _trusted_keys(connection.pk, connection.updated_at)


def configured_fingerprints(connection: Connection) -> list[str]:
    return trusted_keys(connection).fingerprints


# --- the schema ------------------------------------------------------------------------------


class _SchemaFiles(etree.Resolver):
    """The OASIS and W3C schemas import each other by URL; every one is read from pysaml2's
    package data instead, and nothing from the network."""

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.directory = directory

    def resolve(self, url, public_id, context):
        local = self.directory / url.rsplit("/", 1)[-1]
        if local.is_file():
            return self.resolve_filename(str(local), context)
        return None


class _Schemas(threading.local):
    """lxml validators keep their error log on the object: one per thread."""

    def get(self) -> etree.XMLSchema:
        schema = getattr(self, "schema", None)
        if schema is None:
            directory = Path(str(files("saml2.data.schemas")))
            # Our own package files, never a received message: their DTDs define the entities
            # the schema text uses, so entities are resolved here (and only here).
            parser = etree.XMLParser(no_network=True, resolve_entities=True, load_dtd=False)
            parser.resolvers.add(_SchemaFiles(directory))
            document = etree.parse(str(directory / "saml-schema-protocol-2.0.xsd"), parser)
            schema = self.schema = etree.XMLSchema(document)
        return schema


_schemas = _Schemas()


def warm_up() -> None:
    """What the first sign-in of a process would otherwise pay for: this module's imports
    (pysaml2's take about a second) and the schema, compiled for the calling thread. gunicorn
    runs it in each worker before it takes requests (``config/gunicorn.py``)."""
    _schemas.get()


# --- verifying a response --------------------------------------------------------------------


def verify_response(
    connection: Connection, inspected: InspectedResponse, *, issuer: str
) -> VerifiedAssertion:
    """Verify the signatures of ``inspected`` with the connection's certificates as the only
    trust anchor and return what its assertion says. ``issuer`` names the IdP metadata entry
    those certificates are filed under (for pysaml2)."""
    if settings.SAML_SIGNATURE_BACKEND == "xmlsec1" and not inspected.encrypted:
        return _verify_with_pysaml2(connection, inspected, issuer=issuer)
    return _verify_in_process(connection, inspected)


def _verify_in_process(connection: Connection, inspected: InspectedResponse) -> VerifiedAssertion:
    # Validating registers every xs:ID of the document validated as an ID: validate a copy, so
    # that the tree we verify keeps only the ID of the element being verified.
    schema = _schemas.get()
    try:
        schema.assertValid(copy.deepcopy(inspected.root))
    except etree.DocumentInvalid as error:
        raise SamlMalformed(extra={"reason": f"schema: {error}"[:500]}) from None
    trusted = trusted_keys(connection)
    for element, profile in inspected.signatures_to_verify:
        try:
            saml_crypto.verify_enveloped(element, trusted, profile=profile)
        except saml_crypto.SignatureMisplaced as error:
            raise SamlMalformed(extra={"reason": error.reason}) from None
        except saml_crypto.SignatureRefused as error:
            raise SamlSignatureInvalid(
                extra={
                    "reason": "the signature does not verify",
                    "diagnosis": f"{etree.QName(element).localname}: {error.reason}",
                }
            ) from None
    return _read_tree(inspected)


def _read_tree(inspected: InspectedResponse) -> VerifiedAssertion:
    """The verified assertion, read from the tree its signature (or the Response's) covers."""
    assertion = inspected.assertion
    name_id = assertion.find(f"{{{SAML}}}Subject/{{{SAML}}}NameID")
    attributes: dict[str, list[str]] = {}
    friendly_names: dict[str, str] = {}
    for attribute in assertion.iterfind(f"{{{SAML}}}AttributeStatement/{{{SAML}}}Attribute"):
        values = [
            value.text.strip()
            for value in attribute.iterfind(f"{{{SAML}}}AttributeValue")
            if value.text
        ]
        name = attribute.get("Name", "")
        attributes.setdefault(name, []).extend(values)
        if attribute.get("FriendlyName"):
            friendly_names.setdefault(name, attribute.get("FriendlyName"))
    authn = assertion.find(f"{{{SAML}}}AuthnStatement")
    return VerifiedAssertion(
        issuer=inspected.assertion_issuer,
        assertion_id=inspected.assertion_id,
        name_id=(text_of(name_id) or "") if name_id is not None else "",
        name_id_format=name_id.get("Format", "") if name_id is not None else "",
        session_index=authn.get("SessionIndex", "") if authn is not None else "",
        attributes=attributes,
        friendly_names=friendly_names,
        name_qualifier=name_id.get("NameQualifier", "") if name_id is not None else "",
        sp_name_qualifier=name_id.get("SPNameQualifier", "") if name_id is not None else "",
    )


def _verify_with_pysaml2(
    connection: Connection, inspected: InspectedResponse, *, issuer: str
) -> VerifiedAssertion:
    client = _clients.get(connection, issuer)
    # The request it claims to answer: whether it is ours is checked against the database by
    # the caller, pysaml2 only needs to expect it.
    request_id = inspected.in_response_to
    outstanding = {request_id: "/"} if request_id else {}
    try:
        # The HTTP-POST binding hands pysaml2 the base64 form; it decodes it itself.
        response = client.parse_authn_request_response(
            base64.b64encode(inspected.xml).decode("ascii"),
            BINDING_HTTP_POST,
            outstanding=outstanding,
        )
    except SignInRefused:
        raise
    except Exception as error:  # pysaml2 raises many unrelated types; classify them all here
        refusal = _classify(error)
        if isinstance(refusal, SamlSignatureInvalid):
            refusal.extra.update(_diagnosis(connection, inspected))
        raise refusal from None
    finally:
        # pysaml2 files every person it sees in an in-memory identity cache; we keep nothing.
        client.users = Population()
    if response is None or response.assertion is None:
        raise SamlMalformed(extra={"reason": "pysaml2 returned no assertion"})
    verified = _read_assertion(response)
    if (
        verified.assertion_id != inspected.assertion_id
        or verified.issuer != inspected.assertion_issuer
    ):
        # The verified assertion is not the one we inspected: a wrapping trick we did not foresee.
        raise SamlMalformed(extra={"reason": "verified assertion differs from the inspected one"})
    return verified


def _diagnosis(connection: Connection, inspected: InspectedResponse) -> dict:
    """The in-process verifier's word on why a signature pysaml2 refused fails, so that support
    reads the same detail whichever backend refused."""
    trusted = trusted_keys(connection)
    for element in inspected.signed_elements:
        try:
            saml_crypto.verify_enveloped(element, trusted)
        except saml_crypto.SignatureRefused as error:
            return {"diagnosis": f"{etree.QName(element).localname}: {error.reason}"}
    return {}


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
    friendly_names: dict[str, str] = {}
    for statement in assertion.attribute_statement or []:
        for attribute in statement.attribute or []:
            values = [value.text.strip() for value in attribute.attribute_value or [] if value.text]
            attributes.setdefault(attribute.name, []).extend(values)
            if attribute.friendly_name:
                friendly_names.setdefault(attribute.name, attribute.friendly_name)
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
        friendly_names=friendly_names,
        name_qualifier=(name_id.name_qualifier or "") if name_id is not None else "",
        sp_name_qualifier=(name_id.sp_name_qualifier or "") if name_id is not None else "",
    )

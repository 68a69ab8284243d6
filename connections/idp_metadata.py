"""Read an identity provider's SAML 2.0 metadata: its entity ID, sign-on URL and signing
certificates, from the XML that Okta, Entra ID, Google Workspace, OneLogin, JumpCloud or Keycloak
publish (an ``EntityDescriptor``, or an ``EntitiesDescriptor`` holding several).

Parsed with defusedxml (no DTD, no entities, no external references). Every refusal says what the
document is instead and what to do, in words a support agent can pass on to the customer.

What is taken, per the SAML metadata spec (saml-metadata-2.0-os):
- ``entityID`` of the chosen ``EntityDescriptor``: the connection's issuer;
- ``IDPSSODescriptor/SingleSignOnService``: the HTTP-Redirect binding's Location, else HTTP-POST's;
- ``IDPSSODescriptor/SingleLogoutService``: the HTTP-Redirect binding's Location, the connection's
  single logout URL (our LogoutRequests travel by HTTP-Redirect, so an IdP that offers only POST
  or SOAP for logout gives none);
- every ``IDPSSODescriptor/KeyDescriptor`` with ``use="signing"`` or no ``use`` (which means both):
  each X.509 certificate in it is trusted. Certificates that cannot be trusted (expired, weak key)
  are left out and reported; when none is left, the metadata is refused.

A signature on the metadata itself (Entra signs its federation metadata) is not checked: the
trust comes from where the document came from (an https URL of the IdP, or an upload by support
or by the customer's admin through their setup link). Entra's WS-Federation ``RoleDescriptor``
elements and their keys are ignored: only the SAML IdP role counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from xml.etree.ElementTree import Element  # noqa: S405 - only the type; parsing is defusedxml

from defusedxml import ElementTree as SafeElementTree
from defusedxml.common import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden

from connections.certificates import ParsedCertificate, parse_certificate
from core.exceptions import ApplicationError, ValidationFailed

MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"
PROTOCOL_SAML2 = "urn:oasis:names:tc:SAML:2.0:protocol"
BINDING_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
BINDING_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"

# Real IdP metadata is a few KB (Entra's, the largest, about 20 KB); a federation's aggregate is
# not something one connection imports.
MAX_METADATA_BYTES = 1024 * 1024
_MAX_ENTITY_ID_LENGTH = 1000
_LISTED_ENTITY_IDS = 5


class MetadataRefused(ValidationFailed):
    code = "metadata_invalid"


@dataclass(frozen=True)
class IdpMetadata:
    entity_id: str
    sign_on_url: str
    sign_on_binding: str
    certificates: tuple[ParsedCertificate, ...]
    # Certificates of the metadata that are not trusted, each with why (expired, weak...).
    skipped_certificates: tuple[str, ...] = ()
    # The IdP's single logout endpoint for HTTP-Redirect; "" when it publishes none.
    slo_url: str = ""


def parse_idp_metadata(
    data: bytes | str,
    *,
    entity_id: str | None = None,
    prefer_entity_id: str | None = None,
    now: datetime | None = None,
) -> IdpMetadata:
    """The IdP described by ``data``, or ``MetadataRefused`` saying why not.

    ``entity_id`` picks one entity out of a document that describes several IdPs (and must be
    there). ``prefer_entity_id`` (a refresh: the issuer the connection has now) picks that one
    among several, but a document describing one IdP is taken whatever its entity ID, so that an
    IdP that changed its entity ID is followed.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if len(raw) > MAX_METADATA_BYTES:
        raise MetadataRefused(
            f"The metadata is larger than {MAX_METADATA_BYTES // 1024} KB; an IdP's own metadata "
            "is a few KB. Use the metadata of this one application, not a federation's."
        )
    root = _parse_xml(raw)
    now = now or datetime.now(UTC)
    entity = _choose_entity(root, (entity_id or "").strip(), (prefer_entity_id or "").strip(), now)
    return _read_entity(entity, now)


_WEB_PAGE = MetadataRefused(
    "This is a web page, not metadata. Use the IdP's metadata link (Okta: 'Identity Provider "
    "metadata' on the app's Sign On tab), not the address of its admin or sign-in page."
)


def _parse_xml(raw: bytes) -> Element:
    if not raw.strip():
        raise MetadataRefused("The metadata is empty.")
    head = raw.lstrip()[:300].lower()
    try:
        return SafeElementTree.fromstring(raw, forbid_dtd=True)
    except DTDForbidden:
        if head.startswith(b"<!doctype html"):
            raise _WEB_PAGE from None
        raise MetadataRefused(
            "The metadata contains a DTD (<!DOCTYPE ...>), which IdP metadata never needs; it is "
            "refused for safety. Download the metadata from the IdP again."
        ) from None
    except (EntitiesForbidden, ExternalReferenceForbidden):
        raise MetadataRefused(
            "The metadata declares XML entities, which IdP metadata never needs; it is refused "
            "for safety. Download the metadata from the IdP again."
        ) from None
    except SafeElementTree.ParseError as error:
        if b"<html" in head:
            raise _WEB_PAGE from None
        if head.startswith(b"-----begin"):
            raise MetadataRefused(
                "This is a certificate, not metadata. Give the sign-on URL and this certificate "
                "instead, or the IdP's metadata XML."
            ) from None
        line, column = error.position
        raise MetadataRefused(
            f"This is not XML (the XML parser stopped at line {line}, column {column}). "
            "Expected the IdP's SAML metadata."
        ) from None


def _tag(element: Element) -> tuple[str, str]:
    if element.tag.startswith("{"):
        namespace, _, local = element.tag[1:].partition("}")
        return namespace, local
    return "", element.tag


def _is(element: Element, local: str) -> bool:
    return _tag(element) == (MD, local)


def _choose_entity(root: Element, entity_id: str, preferred: str, now: datetime) -> Element:
    if not (_is(root, "EntityDescriptor") or _is(root, "EntitiesDescriptor")):
        namespace, local = _tag(root)
        if local.lower() == "html":
            raise _WEB_PAGE
        if local in ("EntityDescriptor", "EntitiesDescriptor"):
            raise MetadataRefused(
                f"This is not SAML 2.0 metadata: <{local}> is in the namespace '{namespace or '(none)'}' "
                f"instead of '{MD}'."
            )
        raise MetadataRefused(
            f"This is not SAML metadata: the document is a <{local}>, not an <EntityDescriptor>."
        )
    entities = [root] if _is(root, "EntityDescriptor") else _entities_in(root, now)
    idps = [e for e in entities if e.find(f"{{{MD}}}IDPSSODescriptor") is not None]
    if entity_id:
        chosen = [e for e in entities if e.get("entityID") == entity_id]
        if not chosen:
            raise MetadataRefused(
                f"The metadata has no entity '{entity_id}'; it describes "
                f"{_list_entity_ids(entities)}."
            )
        return chosen[0]
    if not idps:
        if any(e.find(f"{{{MD}}}SPSSODescriptor") is not None for e in entities):
            raise MetadataRefused(
                "This is a service provider's metadata (it has no IdP descriptor). Use the "
                "identity provider's metadata, from the IdP's side of the application."
            )
        raise MetadataRefused("The metadata describes no identity provider (no IDPSSODescriptor).")
    preferred_idps = [e for e in idps if preferred and e.get("entityID") == preferred]
    if len(idps) > 1 and preferred_idps:
        return preferred_idps[0]
    if len(idps) > 1:
        raise MetadataRefused(
            f"The metadata describes {len(idps)} identity providers "
            f"({_list_entity_ids(idps)}); choose one by its entity ID "
            "(--entity-id on the command line, the entity ID field in the admin)."
        )
    return idps[0]


def _entities_in(group: Element, now: datetime) -> list[Element]:
    _check_valid_until(group, now)
    found = []
    for child in group:
        if _is(child, "EntityDescriptor"):
            found.append(child)
        elif _is(child, "EntitiesDescriptor"):
            found.extend(_entities_in(child, now))
    return found


def _list_entity_ids(entities: list[Element]) -> str:
    ids = [repr(e.get("entityID", "")) for e in entities[:_LISTED_ENTITY_IDS]]
    more = len(entities) - len(ids)
    return ", ".join(ids) + (f" and {more} more" if more > 0 else "")


def _check_valid_until(element: Element, now: datetime) -> None:
    value = element.get("validUntil")
    if not value:
        return
    try:
        valid_until = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise MetadataRefused(f"The metadata's validUntil '{value[:50]}' is not a date.") from None
    if valid_until.tzinfo is None:
        valid_until = valid_until.replace(tzinfo=UTC)
    if valid_until <= now:
        raise MetadataRefused(
            f"The metadata expired on {valid_until:%Y-%m-%d} (validUntil); download it from the "
            "IdP again."
        )


def _read_entity(entity: Element, now: datetime) -> IdpMetadata:
    _check_valid_until(entity, now)
    entity_id = (entity.get("entityID") or "").strip()
    if not entity_id:
        raise MetadataRefused("The metadata's EntityDescriptor has no entityID.")
    if len(entity_id) > _MAX_ENTITY_ID_LENGTH:
        raise MetadataRefused(
            f"The metadata's entityID is {len(entity_id)} characters long; at most "
            f"{_MAX_ENTITY_ID_LENGTH} are accepted."
        )
    descriptors = [
        d
        for d in entity.findall(f"{{{MD}}}IDPSSODescriptor")
        if PROTOCOL_SAML2 in (d.get("protocolSupportEnumeration") or "").split()
    ]
    if not descriptors:
        if entity.find(f"{{{MD}}}IDPSSODescriptor") is not None:
            raise MetadataRefused(
                f"The identity provider '{entity_id}' does not support SAML 2.0 (its "
                "IDPSSODescriptor lists other protocols)."
            )
        raise MetadataRefused(
            f"The entity '{entity_id}' is not an identity provider (no IDPSSODescriptor)."
        )
    descriptor = descriptors[0]
    _check_valid_until(descriptor, now)
    binding, location = _sign_on_service(descriptor, entity_id)
    certificates, skipped = _signing_certificates(descriptor, entity_id, now)
    return IdpMetadata(
        entity_id=entity_id,
        sign_on_url=location,
        sign_on_binding=binding,
        certificates=certificates,
        skipped_certificates=skipped,
        slo_url=_single_logout_service(descriptor),
    )


def _sign_on_service(descriptor: Element, entity_id: str) -> tuple[str, str]:
    services = {}
    for service in descriptor.findall(f"{{{MD}}}SingleSignOnService"):
        location = (service.get("Location") or "").strip()
        if location:
            services.setdefault(service.get("Binding"), location)
    for binding in (BINDING_REDIRECT, BINDING_POST):
        if binding in services:
            return binding, services[binding]
    raise MetadataRefused(
        f"The identity provider '{entity_id}' has no SingleSignOnService with the HTTP-Redirect "
        "or HTTP-POST binding, so browsers cannot be sent to it to sign in."
    )


def _single_logout_service(descriptor: Element) -> str:
    for service in descriptor.findall(f"{{{MD}}}SingleLogoutService"):
        location = (service.get("Location") or "").strip()
        if service.get("Binding") == BINDING_REDIRECT and location:
            return location
    return ""


def _signing_certificates(
    descriptor: Element, entity_id: str, now: datetime
) -> tuple[tuple[ParsedCertificate, ...], tuple[str, ...]]:
    trusted: dict[str, ParsedCertificate] = {}
    skipped: list[str] = []
    found = 0
    for key_descriptor in descriptor.findall(f"{{{MD}}}KeyDescriptor"):
        if key_descriptor.get("use", "signing") != "signing":
            continue  # use="encryption": not a signing key
        for element in key_descriptor.iter(f"{{{DS}}}X509Certificate"):
            found += 1
            try:
                parsed = parse_certificate((element.text or "").strip(), now=now)
            except ApplicationError as error:
                skipped.append(error.message)
                continue
            trusted.setdefault(parsed.fingerprint_sha256, parsed)
    if not trusted:
        if not found:
            raise MetadataRefused(
                f"The identity provider '{entity_id}' publishes no signing certificate "
                "(no KeyDescriptor with an X509Certificate for signing)."
            )
        raise MetadataRefused(
            f"No signing certificate of '{entity_id}' can be trusted: {' '.join(skipped)}"
        )
    return tuple(trusted.values()), tuple(skipped)

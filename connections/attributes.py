"""The attribute contract: which SAML attribute carries which user field.

The defaults accept the Okta names of the customer guide first, then the names every major IdP
sends out of the box or with its usual mappers:

- Entra ID and AD FS: the ws/2005 claim URIs (``.../emailaddress``, ``.../givenname``, ``.../upn``),
  the ws/2008 role claim;
- Keycloak's X.500 mappers and other LDAP-minded IdPs (PingFederate, Shibboleth): the X.500 and
  eduPerson OIDs (``urn:oid:1.2.840.113549.1.9.1`` for the email, ``urn:oid:2.5.4.42`` for the
  given name...) and the LDAP names (``mail``, ``sn``, ``uid``);
- OneLogin's defaults (``User.email``, ``User.FirstName``, ``User.LastName``), Auth0's claim URIs,
  the names Google Workspace, JumpCloud and PingOne admins usually type (``firstName``,
  ``firstname``, ``given_name``, ``department``...).

Names match exactly, then case-insensitively. An attribute whose Name is an OID (``urn:oid:...``)
also answers to its FriendlyName, so ``Name="urn:oid:1.3.6.1.4.1.9999.1" FriendlyName="division"``
is read as ``division``. A connection's ``attribute_mapping`` names the attribute to read for a
field instead of the defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from accounts.models import ROLE_RANK

_WS2005 = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims"
_WS2008 = "http://schemas.microsoft.com/ws/2008/06/identity/claims"
_OID = "urn:oid:"

DEFAULT_ATTRIBUTE_NAMES: dict[str, tuple[str, ...]] = {
    "username": (
        "user_name", "userName", "username", "preferred_username", "uid", f"{_WS2005}/name",
        f"{_WS2005}/upn", "urn:oid:0.9.2342.19200300.100.1.1",  # uid
        "urn:oid:1.3.6.1.4.1.5923.1.1.1.6",  # eduPersonPrincipalName
        "eduPersonPrincipalName",
    ),
    "email": (
        "email", "mail", "emailAddress", "Email", "User.email", f"{_WS2005}/emailaddress",
        "urn:oid:0.9.2342.19200300.100.1.3",  # mail (RFC 4524)
        "urn:oid:1.2.840.113549.1.9.1",  # emailAddress (PKCS #9): Keycloak's "X500 email"
    ),
    "first_name": (
        "givenName", "firstName", "first_name", "given_name", "User.FirstName",
        f"{_WS2005}/givenname", "urn:oid:2.5.4.42",
    ),
    "last_name": (
        "familyName", "lastName", "last_name", "family_name", "surname", "sn", "User.LastName",
        f"{_WS2005}/surname", "urn:oid:2.5.4.4",
    ),
    "role": ("userType", "user_type", "role", "roles", f"{_WS2008}/role"),
    "team": (
        "division", f"{_WS2005}/division", "department", f"{_WS2005}/department",
    ),
}  # fmt: skip

MAPPABLE_FIELDS = tuple(DEFAULT_ATTRIBUTE_NAMES)
# An override may name a field by our name or by the contract's (the customer guide's) name.
_FIELD_ALIASES = {
    "user_name": "username",
    "givenname": "first_name",
    "familyname": "last_name",
    "usertype": "role",
    "division": "team",
}


def mapping_field(key: str) -> str | None:
    """Our field for an override key (``team`` or ``division``...), or None if it names none."""
    lowered = key.strip().lower()
    if lowered in MAPPABLE_FIELDS:
        return lowered
    return _FIELD_ALIASES.get(lowered)


@dataclass(frozen=True)
class MappedIdentity:
    """A user as the IdP describes them. ``email`` is lowercased; absent values are None."""

    email: str
    username: str | None
    first_name: str | None
    last_name: str | None
    role: str | None
    team: str | None
    email_source: str


def validate_attribute_mapping(mapping: object) -> None:
    """For the connection's override: {"field": "attribute name"} with known fields."""
    if not isinstance(mapping, dict):
        raise ValidationError('The attribute mapping is a JSON object, e.g. {"email": "mail"}.')
    for field, attribute in mapping.items():
        if mapping_field(field) is None:
            raise ValidationError(
                f"Unknown field '{field}' in the attribute mapping; use one of "
                f"{', '.join((*MAPPABLE_FIELDS, *_FIELD_ALIASES))}."
            )
        if not isinstance(attribute, str) or not attribute.strip():
            raise ValidationError(f"The attribute name for '{field}' must be a non-empty string.")


class SentAttributes:
    """The attributes of a verified assertion, looked up by name: exactly, then ignoring case,
    then by the FriendlyName of an attribute whose Name is an OID."""

    def __init__(
        self, attributes: Mapping[str, list[str]], friendly_names: Mapping[str, str] | None = None
    ) -> None:
        self.attributes = attributes
        self.by_lower = {name.lower(): values for name, values in attributes.items()}
        self.by_friendly_name: dict[str, list[str]] = {}
        for name, friendly in (friendly_names or {}).items():
            if name.lower().startswith(_OID) and friendly and name in attributes:
                self.by_friendly_name.setdefault(friendly.lower(), attributes[name])

    def values(self, name: str) -> list[str] | None:
        for values in (
            self.attributes.get(name),
            self.by_lower.get(name.lower()),
            self.by_friendly_name.get(name.lower()),
        ):
            if values is not None:
                return values
        return None

    def first(self, names: tuple[str, ...]) -> str | None:
        """The first non-blank value of the first name that has one."""
        for name in names:
            for value in self.values(name) or ():
                if value and value.strip():
                    return value.strip()
        return None

    def role(self, names: tuple[str, ...]) -> str | None:
        """A role attribute may list several values (Keycloak's role list, Entra's app roles):
        the highest of the four roles among them, else the first value (an unknown role)."""
        for name in names:
            values = [value.strip() for value in self.values(name) or () if value and value.strip()]
            if values:
                known = [value for value in values if value.lower() in ROLE_RANK]
                if known:
                    return max(known, key=lambda value: ROLE_RANK[value.lower()])
                return values[0]
        return None


def map_identity(
    *,
    attributes: Mapping[str, list[str]],
    name_id: str,
    overrides: Mapping[str, str] | None = None,
    friendly_names: Mapping[str, str] | None = None,
) -> MappedIdentity | None:
    """Read the user fields; None when no usable email is found (``attribute_missing``).
    ``friendly_names`` maps an attribute's Name to its FriendlyName, where it has one."""
    overrides = {
        mapping_field(key): value for key, value in (overrides or {}).items() if mapping_field(key)
    }
    sent = SentAttributes(attributes, friendly_names)

    def names(field: str) -> tuple[str, ...]:
        return (overrides[field],) if field in overrides else DEFAULT_ATTRIBUTE_NAMES[field]

    email, source = sent.first(names("email")), "attribute"
    if not email:
        email, source = (name_id or "").strip(), "name_id"
    email = email.lower()
    try:
        validate_email(email)
    except ValidationError:
        return None
    return MappedIdentity(
        email=email,
        username=sent.first(names("username")),
        first_name=sent.first(names("first_name")),
        last_name=sent.first(names("last_name")),
        role=sent.role(names("role")),
        team=sent.first(names("team")),
        email_source=source,
    )


def describe_sent(
    attributes: Mapping[str, list[str]], friendly_names: Mapping[str, str] | None = None
) -> list[str]:
    """The attribute names an assertion carried, each with its FriendlyName where it has one
    (``urn:oid:2.5.4.42 (givenName)``), sorted: what an ``attribute_missing`` refusal says it saw."""
    friendly_names = friendly_names or {}
    return [
        f"{name} ({friendly_names[name]})" if friendly_names.get(name) else name
        for name in sorted(attributes)
    ]

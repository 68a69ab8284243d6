"""The attribute contract: which SAML attribute carries which user field.

The defaults accept the Okta names of the customer guide first, then the common alternatives
(the ws/2005 claim URIs Entra ID sends, ``firstName``/``lastName``, ``mail``, the LDAP OIDs). A
connection's ``attribute_mapping`` names the attribute to read for a field instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

_WS2005 = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims"

DEFAULT_ATTRIBUTE_NAMES: dict[str, tuple[str, ...]] = {
    "username": ("user_name", "userName", "username", "uid", f"{_WS2005}/name"),
    "email": (
        "email", "mail", "emailAddress", "Email", f"{_WS2005}/emailaddress",
        "urn:oid:0.9.2342.19200300.100.1.3",
    ),
    "first_name": ("givenName", "firstName", "first_name", f"{_WS2005}/givenname", "urn:oid:2.5.4.42"),
    "last_name": ("familyName", "lastName", "last_name", "surname", "sn", f"{_WS2005}/surname", "urn:oid:2.5.4.4"),
    "role": ("userType", "user_type", "role", "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"),
    "team": ("division", f"{_WS2005}/division"),
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


def _first_value(attributes: Mapping[str, list[str]], names: tuple[str, ...]) -> str | None:
    by_lower = {name.lower(): values for name, values in attributes.items()}
    for name in names:
        values = attributes.get(name)
        if values is None:
            values = by_lower.get(name.lower())
        for value in values or ():
            if value and value.strip():
                return value.strip()
    return None


def map_identity(
    *, attributes: Mapping[str, list[str]], name_id: str, overrides: Mapping[str, str] | None = None
) -> MappedIdentity | None:
    """Read the user fields; None when no usable email is found (``attribute_missing``)."""
    overrides = {
        mapping_field(key): value for key, value in (overrides or {}).items() if mapping_field(key)
    }

    def read(field: str) -> str | None:
        names = (overrides[field],) if field in overrides else DEFAULT_ATTRIBUTE_NAMES[field]
        return _first_value(attributes, names)

    email, source = read("email"), "attribute"
    if not email:
        email, source = (name_id or "").strip(), "name_id"
    email = email.lower()
    try:
        validate_email(email)
    except ValidationError:
        return None
    return MappedIdentity(
        email=email,
        username=read("username"),
        first_name=read("first_name"),
        last_name=read("last_name"),
        role=read("role"),
        team=read("team"),
        email_source=source,
    )

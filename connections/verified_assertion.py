"""What a verified assertion says, as the ACS hands it on (``connections.saml`` reads it from
the verified tree, or from pysaml2's object)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields


@dataclass(frozen=True)
class VerifiedAssertion:
    """What a verified assertion says: read from the verified tree, or from pysaml2's object."""

    issuer: str
    assertion_id: str
    name_id: str
    name_id_format: str
    session_index: str
    attributes: dict[str, list[str]]
    # Name -> FriendlyName, for the attributes that have one (Keycloak's X.500 mappers...).
    friendly_names: dict[str, str] = field(default_factory=dict)
    # Kept for Single Logout: a LogoutRequest names the person exactly as the assertion did.
    name_qualifier: str = ""
    sp_name_qualifier: str = ""

    def as_identity(self) -> dict:
        """What ``dataclasses.asdict`` returns (the identity a verified sign-in keeps for the
        finish step), without its recursive deep copy of every string: the containers are
        copied, the strings are immutable."""
        identity = {name: getattr(self, name) for name in _ASSERTION_FIELDS}
        identity["attributes"] = {name: list(values) for name, values in self.attributes.items()}
        identity["friendly_names"] = dict(self.friendly_names)
        return identity


_ASSERTION_FIELDS = tuple(field.name for field in fields(VerifiedAssertion))

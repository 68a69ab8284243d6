"""Reading SCIM values the way IdPs actually send them (Entra's "True"/"False" strings...)."""

from __future__ import annotations

from typing import Any

from provisioning.scim.errors import InvalidValue, TooMany


def scim_bool(value: Any, *, attribute: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise InvalidValue(f"'{attribute}' must be a boolean, got {value!r}.")


def scim_string(value: Any, *, attribute: str, max_length: int = 254) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidValue(f"'{attribute}' must be a string.")
    value = value.strip()
    if len(value) > max_length:
        raise InvalidValue(f"'{attribute}' is longer than {max_length} characters.")
    return value


def lower_keys(data: dict[str, Any]) -> dict[str, Any]:
    """Attribute names are case-insensitive (RFC 7643 2.1)."""
    return {key.lower(): value for key, value in data.items()}


# Okta pushes group members in batches of a few hundred, Entra in smaller ones; a request with
# more members than this is refused with tooMany instead of locking a team for minutes.
MAX_MEMBERS_PER_REQUEST = 10_000


def member_ids(members: Any) -> list[str]:
    if members is None:
        return []
    if isinstance(members, dict):
        members = [members]
    if not isinstance(members, list):
        raise InvalidValue("'members' must be a list of {\"value\": id}.")
    if len(members) > MAX_MEMBERS_PER_REQUEST:
        raise TooMany(
            f"At most {MAX_MEMBERS_PER_REQUEST} members per request; send the rest in another."
        )
    ids = []
    for member in members:
        value = lower_keys(member).get("value") if isinstance(member, dict) else None
        if not isinstance(value, str) or not value:
            raise InvalidValue("Each member needs a 'value' (a User id).")
        ids.append(value)
    return ids

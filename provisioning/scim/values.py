"""Reading SCIM values the way IdPs actually send them (Entra's "True"/"False" strings...)."""

from __future__ import annotations

from typing import Any

from provisioning.scim.errors import InvalidValue
from provisioning.scim.request_limits import check_member_count


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


def member_ids(members: Any) -> list[str]:
    if members is None:
        return []
    if isinstance(members, dict):
        members = [members]
    if not isinstance(members, list):
        raise InvalidValue("'members' must be a list of {\"value\": id}.")
    check_member_count(len(members))
    ids = []
    for member in members:
        member = lower_keys(member) if isinstance(member, dict) else {}
        value = member.get("value")
        if not isinstance(value, str) or not value:
            raise InvalidValue("Each member needs a 'value' (a User id).")
        # A member's $ref is the URL of the value's resource; the value decides. Groups hold
        # users only: a team is not a member of another.
        if str(member.get("type") or "User").lower() != "user":
            raise InvalidValue("Only Users can be members of a Group.")
        ids.append(value)
    return ids

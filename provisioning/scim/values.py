"""Reading SCIM values the way IdPs actually send them (Entra's "True"/"False" strings...)."""

from __future__ import annotations

import re
from typing import Any

from provisioning.scim.errors import InvalidValue
from provisioning.scim.request_limits import check_member_count

# NUL is no character of any SCIM attribute, and PostgreSQL's text cannot hold it (SQLite can:
# without this rule the two databases would answer differently). A lone surrogate (a "\ud800"
# JSON escape) is no Unicode character at all: no database driver can encode it.
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


def unstorable_text(text: str) -> str | None:
    """What makes ``text`` unfit for any SCIM value, or None. The one rule for request bodies
    (provisioning.scim.body) and filter values (provisioning.scim.filters) alike."""
    match = _UNSTORABLE.search(text)
    if match is None:
        return None
    if match.group() == "\x00":
        return "a NUL character (U+0000), which no SCIM value may hold"
    return "a lone UTF-16 surrogate, which is no Unicode character"


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


def scim_object(value: Any, *, attribute: str) -> dict[str, Any]:
    """A complex attribute: an object, or absent (None). ``[]`` or a string is no object: a
    client sending one meant something we would otherwise silently drop."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidValue(f"'{attribute}' must be an object.")
    return value


def scim_list(value: Any, *, attribute: str) -> list[Any]:
    """A multi-valued attribute: a list, or absent (None)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidValue(f"'{attribute}' must be a list.")
    return value


def check_schemas(attrs: dict[str, Any], *, core: str) -> None:
    """``schemas``, when sent, is a list of URIs that names the resource's core schema (RFC 7643
    3: every resource carries it). A body without ``schemas`` is taken as the core resource, as
    some customers' scripts send it."""
    if "schemas" not in attrs:
        return
    schemas = attrs["schemas"]
    if not isinstance(schemas, list) or not all(isinstance(s, str) for s in schemas):
        raise InvalidValue("'schemas' must be a list of schema URIs.")
    if core.lower() not in {s.strip().lower() for s in schemas}:
        raise InvalidValue(f"'schemas' must include {core}.")


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

"""Reading SCIM values the way IdPs actually send them (Entra's "True"/"False" strings...)."""

from __future__ import annotations

from typing import Any

from provisioning.scim.errors import InvalidValue


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

"""SCIM User resources: our User in and out (RFC 7643 4.1, the enterprise extension's
``division``), with the attribute contract's SCIM rules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from accounts.models import ROLE_RANK, Role, User
from provisioning.scim.errors import InvalidValue
from provisioning.scim.schemas import ENTERPRISE_SCHEMA, USER_SCHEMA
from provisioning.scim.values import lower_keys, scim_bool, scim_string
from provisioning.scim.versions import resource_version


@dataclass(frozen=True)
class UserInput:
    """A full SCIM User as sent in a POST or PUT (or a PATCH applied to the current one)."""

    username: str
    email: str
    first_name: str
    last_name: str
    role: str
    division: str
    external_id: str
    active: bool


def user_location(user: User, base_url: str) -> str:
    return f"{base_url}/scim/v2/Users/{user.scim_id}"


def user_to_scim(user: User, *, base_url: str) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "schemas": [USER_SCHEMA, ENTERPRISE_SCHEMA],
        "id": str(user.scim_id),
        "userName": user.username or user.email,
        "name": {
            "givenName": user.first_name,
            "familyName": user.last_name,
            "formatted": user.full_name,
        },
        "displayName": user.full_name or user.email,
        "emails": [{"value": user.email, "type": "work", "primary": True}],
        "active": user.is_active,
        "userType": user.role,
        ENTERPRISE_SCHEMA: {"division": user.division or (user.team.name if user.team else "")},
        "groups": (
            [
                {
                    "value": str(user.team.scim_id),
                    "display": user.team.name,
                    "$ref": f"{base_url}/scim/v2/Groups/{user.team.scim_id}",
                }
            ]
            if user.team
            else []
        ),
        "meta": {
            "resourceType": "User",
            "created": user.date_joined.isoformat(),
            "lastModified": user.updated_at.isoformat(),
            "location": user_location(user, base_url),
        },
    }
    if user.external_id:
        resource["externalId"] = user.external_id
    resource["meta"]["version"] = resource_version(resource)
    return resource


def parse_role(value: Any) -> str:
    """userType: one of the four roles, case-insensitive; missing → sender; else invalidValue."""
    if value is None or value == "":
        return Role.SENDER
    if not isinstance(value, str) or value.strip().lower() not in ROLE_RANK:
        raise InvalidValue(f"userType must be one of {', '.join(ROLE_RANK)}; got {value!r}.")
    return value.strip().lower()


def _primary_email(data: dict[str, Any], username: str) -> str:
    emails = data.get("emails") or []
    if not isinstance(emails, list):
        raise InvalidValue("'emails' must be a list.")
    chosen = None
    for predicate in (
        lambda e: e.get("primary") in (True, "True", "true"),
        lambda e: str(e.get("type", "")).lower() == "work",
        lambda e: True,
    ):
        chosen = next(
            (
                e
                for e in emails
                if isinstance(e, dict) and e.get("value") and predicate(lower_keys(e))
            ),
            None,
        )
        if chosen:
            break
    email = (
        scim_string(lower_keys(chosen).get("value"), attribute="emails.value")
        if chosen
        else username
    )
    email = email.lower()
    try:
        validate_email(email)
    except ValidationError:
        raise InvalidValue(
            "A user needs an email: emails[primary].value, or a userName that is an email."
        ) from None
    return email


def parse_user(data: Any) -> UserInput:
    if not isinstance(data, dict):
        raise InvalidValue("The request body must be a SCIM User object.")
    attrs = lower_keys(data)
    username = scim_string(attrs.get("username"), attribute="userName")
    if not username:
        raise InvalidValue("userName is required.")
    name = attrs.get("name") or {}
    if not isinstance(name, dict):
        raise InvalidValue("'name' must be an object.")
    name = lower_keys(name)
    extension = attrs.get(ENTERPRISE_SCHEMA.lower()) or {}
    if not isinstance(extension, dict):
        raise InvalidValue(f"'{ENTERPRISE_SCHEMA}' must be an object.")
    active = attrs.get("active", True)
    return UserInput(
        username=username,
        email=_primary_email(attrs, username),
        first_name=scim_string(name.get("givenname"), attribute="name.givenName", max_length=150),
        last_name=scim_string(name.get("familyname"), attribute="name.familyName", max_length=150),
        role=parse_role(attrs.get("usertype")),
        division=scim_string(
            lower_keys(extension).get("division"), attribute="division", max_length=150
        ),
        external_id=scim_string(attrs.get("externalid"), attribute="externalId", max_length=255),
        active=True if active is None else scim_bool(active, attribute="active"),
    )

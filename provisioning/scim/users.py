"""SCIM User resources: our User in and out (RFC 7643 4.1, the enterprise extension's
``division``), with the attribute contract's SCIM rules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from accounts.models import ROLE_RANK, Role, User
from provisioning.scim.errors import InvalidValue
from provisioning.scim.request_limits import check_attribute_values
from provisioning.scim.schemas import ENTERPRISE_SCHEMA, USER_SCHEMA
from provisioning.scim.values import (
    check_schemas,
    lower_keys,
    scim_bool,
    scim_list,
    scim_object,
    scim_string,
)


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
    # How the IdP described the email we keep (emails[].type, emails[].primary; None: not sent).
    email_type: str = "work"
    email_primary: bool | None = True
    # userType or the extension's division sent as null (what a PATCH remove leaves): the
    # attribute is unassigned (RFC 7643 2.5), not merely absent from a PUT.
    user_type_unassigned: bool = False
    division_unassigned: bool = False

    def profile(self) -> dict[str, Any]:
        """The fields a create or an update sets besides the identity, role and team."""
        return {
            "division": self.division,
            "external_id": self.external_id,
            "email_type": self.email_type,
            "email_primary": self.email_primary,
            "user_type_unassigned": self.user_type_unassigned,
        }


def user_location(user: User, base_url: str) -> str:
    return f"{base_url}/scim/v2/Users/{user.scim_id}"


def user_to_scim(user: User, *, base_url: str) -> dict[str, Any]:
    """The User as SCIM shows it: unassigned attributes are left out (RFC 7643 2.5), so what a
    PATCH removed reads back as removed and what it set reads back as set."""
    name = {
        key: value
        for key, value in (("givenName", user.first_name), ("familyName", user.last_name))
        if value
    }
    email: dict[str, Any] = {"value": user.email}
    if user.email_type:
        email["type"] = user.email_type
    if user.email_primary is not None:
        email["primary"] = user.email_primary
    division = user.division or (user.team.name if user.team else "")
    resource: dict[str, Any] = {
        "schemas": [USER_SCHEMA, ENTERPRISE_SCHEMA] if division else [USER_SCHEMA],
        "id": str(user.scim_id),
        "userName": user.username or user.email,
        **({"name": name} if name else {}),
        "displayName": user.full_name or user.email,
        "emails": [email],
        "active": user.is_active,
        **({} if user_type_is_unassigned(user) else {"userType": user.role}),
        **({ENTERPRISE_SCHEMA: {"division": division}} if division else {}),
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
            "version": f'W/"{int(user.updated_at.timestamp() * 1_000_000)}"',
        },
    }
    if user.external_id:
        resource["externalId"] = user.external_id
    return resource


def user_type_is_unassigned(user: User) -> bool:
    """An IdP removed userType and has not assigned a role since (the role is the default)."""
    return user.user_type_unassigned and user.role == Role.SENDER


def parse_role(value: Any) -> str:
    """userType: one of the four roles, case-insensitive; missing → sender; else invalidValue."""
    if value is None or value == "":
        return Role.SENDER
    if not isinstance(value, str) or value.strip().lower() not in ROLE_RANK:
        raise InvalidValue(f"userType must be one of {', '.join(ROLE_RANK)}; got {value!r}.")
    return value.strip().lower()


def _primary_email(data: dict[str, Any], username: str) -> tuple[str, str, bool | None]:
    """The email we keep and how it was described: (value, type, primary). Of several, the
    primary one, else the work one, else the first; with none, the userName (shown as the work,
    primary email)."""
    emails = scim_list(data.get("emails"), attribute="emails")
    chosen = None
    for predicate in (
        lambda e: e.get("primary") in (True, "True", "true"),
        lambda e: str(e.get("type", "")).lower() == "work",
        lambda e: True,
    ):
        chosen = next(
            (
                lower_keys(e)
                for e in emails
                if isinstance(e, dict) and e.get("value") and predicate(lower_keys(e))
            ),
            None,
        )
        if chosen:
            break
    if chosen:
        email = scim_string(chosen.get("value"), attribute="emails.value")
        kind = scim_string(chosen.get("type"), attribute="emails.type", max_length=32)
        primary = chosen.get("primary")
        primary = None if primary is None else scim_bool(primary, attribute="emails.primary")
    else:
        email, kind, primary = username, "work", True
    email = email.lower()
    try:
        validate_email(email)
    except ValidationError:
        raise InvalidValue(
            "A user needs an email: emails[primary].value, or a userName that is an email."
        ) from None
    return email, kind, primary


def parse_user(data: Any) -> UserInput:
    if not isinstance(data, dict):
        raise InvalidValue("The request body must be a SCIM User object.")
    attrs = lower_keys(data)
    check_schemas(attrs, core=USER_SCHEMA)
    for key, value in attrs.items():
        if isinstance(value, list) and key != "schemas":
            check_attribute_values(value, attribute=key)
    username = scim_string(attrs.get("username"), attribute="userName")
    if not username:
        raise InvalidValue("userName is required.")
    name = lower_keys(scim_object(attrs.get("name"), attribute="name"))
    extension = lower_keys(
        scim_object(attrs.get(ENTERPRISE_SCHEMA.lower()), attribute=ENTERPRISE_SCHEMA)
    )
    active = attrs.get("active", True)
    email, email_type, email_primary = _primary_email(attrs, username)
    return UserInput(
        username=username,
        email=email,
        first_name=scim_string(name.get("givenname"), attribute="name.givenName", max_length=150),
        last_name=scim_string(name.get("familyname"), attribute="name.familyName", max_length=150),
        role=parse_role(attrs.get("usertype")),
        division=scim_string(extension.get("division"), attribute="division", max_length=150),
        external_id=scim_string(attrs.get("externalid"), attribute="externalId", max_length=255),
        active=True if active is None else scim_bool(active, attribute="active"),
        email_type=email_type,
        email_primary=email_primary,
        user_type_unassigned="usertype" in attrs and attrs["usertype"] is None,
        division_unassigned=(
            attrs.get(ENTERPRISE_SCHEMA.lower(), {}) is None
            or ("division" in extension and extension["division"] is None)
        ),
    )

"""SCIM Group resources: a company's teams. Membership sets a user's team (a user is in at most
one team, so adding a user to a group moves them out of their previous one)."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from accounts.models import Team, User
from accounts.services import team_create, team_delete, team_rename, user_update
from core.exceptions import Conflict, ValidationFailed
from provisioning.scim.authentication import ScimPrincipal
from provisioning.scim.errors import InvalidValue, TooMany, Uniqueness
from provisioning.scim.provision import parse_scim_id, scim_users
from provisioning.scim.schemas import GROUP_SCHEMA
from provisioning.scim.values import lower_keys, scim_string


def scim_groups(principal: ScimPrincipal):
    return Team.objects.filter(company=principal.company)


def scim_group_get(principal: ScimPrincipal, scim_id: str) -> Team | None:
    key = parse_scim_id(scim_id)
    return scim_groups(principal).filter(scim_id=key).first() if key else None


def group_to_scim(team: Team, *, base_url: str, members: list[User] | None) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "schemas": [GROUP_SCHEMA],
        "id": str(team.scim_id),
        "displayName": team.name,
        "meta": {
            "resourceType": "Group",
            "created": team.created_at.isoformat(),
            "lastModified": team.updated_at.isoformat(),
            "location": f"{base_url}/scim/v2/Groups/{team.scim_id}",
            "version": f'W/"{int(team.updated_at.timestamp() * 1_000_000)}"',
        },
    }
    if team.external_id:
        resource["externalId"] = team.external_id
    if members is not None:
        resource["members"] = [
            {
                "value": str(user.scim_id),
                "display": user.email,
                "$ref": f"{base_url}/scim/v2/Users/{user.scim_id}",
            }
            for user in members
        ]
    return resource


def parse_group(data: Any) -> tuple[str, list[str] | None]:
    """(displayName, member ids or None when ``members`` is absent)."""
    if not isinstance(data, dict):
        raise InvalidValue("The request body must be a SCIM Group object.")
    attrs = lower_keys(data)
    name = scim_string(attrs.get("displayname"), attribute="displayName", max_length=150)
    if not name:
        raise InvalidValue("displayName is required.")
    return name, member_ids(attrs["members"]) if "members" in attrs else None


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


def _members(principal: ScimPrincipal, ids: list[str]) -> list[User]:
    keys = [parse_scim_id(value) for value in ids]
    if any(key is None for key in keys):
        raise InvalidValue("A member value is not a User id.")
    users = list(scim_users(principal).filter(scim_id__in=keys))
    if len(users) != len(set(keys)):
        # Another company's users are as unknown as nonexistent ones.
        raise InvalidValue("A member names no user of this company.")
    return users


@transaction.atomic
def scim_group_create(*, principal: ScimPrincipal, name: str, members: list[str] | None) -> Team:
    try:
        team = team_create(company=principal.company, name=name, actor_label=principal.actor_label)
    except Conflict:
        raise Uniqueness("A group with this displayName already exists.") from None
    except ValidationFailed as error:
        raise InvalidValue(error.message) from None
    if members:
        scim_group_add_members(principal=principal, team=team, ids=members)
    return team


@transaction.atomic
def scim_group_rename(*, principal: ScimPrincipal, team: Team, name: str) -> Team:
    # team_rename validates the (company, LOWER(name)) constraint and would call a taken name a
    # validation error (400); SCIM answers 409 uniqueness.
    if scim_groups(principal).filter(name__iexact=name.strip()).exclude(pk=team.pk).exists():
        raise Uniqueness("A group with this displayName already exists.")
    try:
        return team_rename(team=team, name=name, actor_label=principal.actor_label)
    except Conflict:
        raise Uniqueness("A group with this displayName already exists.") from None
    except ValidationFailed as error:
        raise InvalidValue(error.message) from None


@transaction.atomic
def scim_group_add_members(*, principal: ScimPrincipal, team: Team, ids: list[str]) -> None:
    for user in _members(principal, ids):
        if user.team_id != team.id:
            user_update(user=user, changes={"team": team}, actor_label=principal.actor_label)


@transaction.atomic
def scim_group_remove_members(
    *, principal: ScimPrincipal, team: Team, ids: list[str] | None
) -> None:
    """``ids`` None removes every member."""
    members = scim_users(principal).filter(team=team)
    if ids is not None:
        keys = [parse_scim_id(value) for value in ids]
        members = members.filter(scim_id__in=[key for key in keys if key])
    for user in members:
        user_update(user=user, changes={"team": None}, actor_label=principal.actor_label)


@transaction.atomic
def scim_group_set_members(*, principal: ScimPrincipal, team: Team, ids: list[str]) -> None:
    wanted = {user.pk: user for user in _members(principal, ids)}
    for user in scim_users(principal).filter(team=team).exclude(pk__in=wanted):
        user_update(user=user, changes={"team": None}, actor_label=principal.actor_label)
    for user in wanted.values():
        if user.team_id != team.id:
            user_update(user=user, changes={"team": team}, actor_label=principal.actor_label)


@transaction.atomic
def scim_group_delete(*, principal: ScimPrincipal, team: Team) -> None:
    team_delete(team=team, actor_label=principal.actor_label)

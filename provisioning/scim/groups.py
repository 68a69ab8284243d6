"""SCIM Group resources: a company's teams. Membership sets a user's team (a user is in at most
one team, so adding a user to a group moves them out of their previous one).

Members are Users of the same company, named by ``value`` (their id; ``$ref`` and ``type``
"User" may come along and are shown). A value that names no user of this company, another
company's user included, is a 400 ``invalidValue`` and nothing is written (RFC 7644 3.3, 3.5.2:
the value is not one the server can hold); removing a member that is not one is harmless, so
that an IdP's retry of a removal succeeds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction

from accounts.models import Team, User
from accounts.services import (
    team_create,
    team_delete,
    team_rename,
    team_set_external_id,
    user_update,
)
from provisioning.scim.authentication import ScimPrincipal
from provisioning.scim.errors import InvalidValue, Uniqueness
from provisioning.scim.group_patch import group_changes
from provisioning.scim.schemas import GROUP_SCHEMA
from provisioning.scim.values import check_schemas, lower_keys, member_ids, scim_string
from provisioning.selectors import parse_scim_id, scim_groups, scim_users, scim_users_by_ids

# What a taken displayName is called in SCIM (the services say "team"); the SCIM exception
# handler answers a Conflict of the Groups endpoints with it.
GROUP_TAKEN = "A group with this displayName already exists."


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
        # The sub-attributes of RFC 7643 8.7.1 (value, $ref, type), as a client sets them.
        resource["members"] = [
            {
                "value": str(user.scim_id),
                "$ref": f"{base_url}/scim/v2/Users/{user.scim_id}",
                "type": "User",
            }
            for user in members
        ]
    return resource


@dataclass(frozen=True)
class GroupInput:
    name: str
    external_id: str
    members: list[str] | None  # None: ``members`` absent (a PUT then leaves them as they are)


def parse_group(data: Any) -> GroupInput:
    if not isinstance(data, dict):
        raise InvalidValue("The request body must be a SCIM Group object.")
    attrs = lower_keys(data)
    check_schemas(attrs, core=GROUP_SCHEMA)
    name = scim_string(attrs.get("displayname"), attribute="displayName", max_length=150)
    if not name:
        raise InvalidValue("displayName is required.")
    return GroupInput(
        name=name,
        external_id=scim_string(attrs.get("externalid"), attribute="externalId", max_length=255),
        members=member_ids(attrs["members"]) if "members" in attrs else None,
    )


def _members(principal: ScimPrincipal, ids: list[str]) -> list[User]:
    keys = [parse_scim_id(value) for value in ids]
    if any(key is None for key in keys):
        raise InvalidValue("A member value is not a User id.")
    users = scim_users_by_ids(company=principal.company, keys=keys)
    if len(users) != len(set(keys)):
        # Another company's users are as unknown as nonexistent ones.
        raise InvalidValue("A member names no user of this company.")
    return users


@transaction.atomic
def scim_group_create(*, principal: ScimPrincipal, data: GroupInput) -> Team:
    team = team_create(
        company=principal.company,
        name=data.name,
        external_id=data.external_id,
        actor_label=principal.actor_label,
    )
    if data.members:
        scim_group_add_members(principal=principal, team=team, ids=data.members)
    return team


@transaction.atomic
def scim_group_rename(*, principal: ScimPrincipal, team: Team, name: str) -> Team:
    # team_rename validates the (company, LOWER(name)) constraint and would call a taken name a
    # validation error (400); SCIM answers 409 uniqueness.
    taken = scim_groups(company=principal.company).filter(name__iexact=name.strip())
    if taken.exclude(pk=team.pk).exists():
        raise Uniqueness(GROUP_TAKEN)
    return team_rename(team=team, name=name, actor_label=principal.actor_label)


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
    members = scim_users(company=principal.company).filter(team=team)
    if ids is not None:
        keys = [parse_scim_id(value) for value in ids]
        members = members.filter(scim_id__in=[key for key in keys if key])
    for user in members:
        user_update(user=user, changes={"team": None}, actor_label=principal.actor_label)


@transaction.atomic
def scim_group_set_members(*, principal: ScimPrincipal, team: Team, ids: list[str]) -> None:
    wanted = {user.pk: user for user in _members(principal, ids)}
    for user in scim_users(company=principal.company).filter(team=team).exclude(pk__in=wanted):
        user_update(user=user, changes={"team": None}, actor_label=principal.actor_label)
    for user in wanted.values():
        if user.team_id != team.id:
            user_update(user=user, changes={"team": team}, actor_label=principal.actor_label)


@transaction.atomic
def scim_group_replace(*, principal: ScimPrincipal, team: Team, data: GroupInput) -> Team:
    """A PUT: the new displayName and externalId, and the members when they are sent."""
    team = scim_group_rename(principal=principal, team=team, name=data.name)
    team = team_set_external_id(
        team=team, external_id=data.external_id, actor_label=principal.actor_label
    )
    if data.members is not None:
        scim_group_set_members(principal=principal, team=team, ids=data.members)
    return team


@transaction.atomic
def scim_group_patch(*, principal: ScimPrincipal, team: Team, body: Any) -> None:
    """A PATCH: its operations as membership changes and renames, applied in order."""
    for change in group_changes(body):
        if change.kind == "rename":
            team = scim_group_rename(principal=principal, team=team, name=change.name)
        elif change.kind == "external_id":
            team = team_set_external_id(
                team=team, external_id=change.name or "", actor_label=principal.actor_label
            )
        elif change.kind == "add_members":
            scim_group_add_members(principal=principal, team=team, ids=list(change.ids))
        elif change.kind == "remove_members":
            ids = list(change.ids) if change.ids is not None else None
            scim_group_remove_members(principal=principal, team=team, ids=ids)
        else:
            scim_group_set_members(principal=principal, team=team, ids=list(change.ids))


@transaction.atomic
def scim_group_delete(*, principal: ScimPrincipal, team: Team) -> None:
    team_delete(team=team, actor_label=principal.actor_label)

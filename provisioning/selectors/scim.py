"""SCIM reads of Users and Groups: the tenant filter of SCIM, SCIM filters turned into querysets,
sorting, paging, member prefetches.

Every SCIM read takes ``company=``, the caller's (``ScimPrincipal.company``): this package is the
one place the tenant filter of SCIM is written.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, NamedTuple, TypeVar

from django.core.cache import cache
from django.db.models import (
    CharField,
    F,
    OuterRef,
    Prefetch,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce, Concat, Greatest, NullIf, Trim

from accounts.models import Company, Team, User
from accounts.normalize import email_key, identity_key
from provisioning.models import ScimGroupMembers, ScimUserTally
from provisioning.scim.filters import AttributeSpec, Node, filter_to_q
from provisioning.scim.schemas import ENTERPRISE_SCHEMA

T = TypeVar("T")


def _lower(value: object) -> str:
    return str(value).lower()


def _email_key_or_part(value: object) -> str:
    """An email compares by ``email_key``; a part of one (co, sw, ew) by ``identity_key``."""
    text = str(value)
    return email_key(text) if "@" in text else identity_key(text)


USER_FILTER_ATTRIBUTES = {
    "id": AttributeSpec(field="scim_id", type="reference", case_exact=True, to_python=uuid.UUID),
    # userName and emails compare on the keys every writer stores (accounts/normalize.py), so
    # case folding is Python's on SQLite and PostgreSQL alike; the (company, username_key)
    # unique index serves `userName eq`.
    "username": AttributeSpec(field="username_key", case_exact=True, to_python=identity_key),
    "externalid": AttributeSpec(field="external_id", case_exact=True),
    "emails.value": AttributeSpec(field="email_key", case_exact=True, to_python=_email_key_or_part),
    "emails.type": AttributeSpec(constant="work"),
    "emails.primary": AttributeSpec(type="boolean", constant=True),
    "name.givenname": AttributeSpec(field="first_name"),
    "name.familyname": AttributeSpec(field="last_name"),
    # What users.user_to_scim shows: the full name, else the email (an annotation, below).
    "displayname": AttributeSpec(field="scim_display_name"),
    "active": AttributeSpec(field="is_active", type="boolean"),
    "usertype": AttributeSpec(field="role", case_exact=True, to_python=_lower),
    "meta.created": AttributeSpec(field="date_joined", type="datetime"),
    "meta.lastmodified": AttributeSpec(field="updated_at", type="datetime"),
    f"{ENTERPRISE_SCHEMA.lower()}:division": AttributeSpec(field="division"),
}

GROUP_FILTER_ATTRIBUTES = {
    "id": AttributeSpec(field="scim_id", type="reference", case_exact=True, to_python=uuid.UUID),
    "displayname": AttributeSpec(field="name"),
    "externalid": AttributeSpec(field="external_id", case_exact=True),
    "members.value": AttributeSpec(
        field="members__scim_id",
        type="reference",
        case_exact=True,
        to_python=uuid.UUID,
        sortable=False,
    ),
    "meta.created": AttributeSpec(field="created_at", type="datetime"),
    # A member joining or leaving modifies the group (scim_groups: the annotation).
    "meta.lastmodified": AttributeSpec(field="scim_last_modified", type="datetime"),
}


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list: ``total`` matches in all, ``items`` from ``startIndex`` on."""

    total: int
    items: list[T]


def parse_scim_id(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError):
        return None


# --- Users -------------------------------------------------------------------------------------


def scim_users(*, company: Company) -> QuerySet[User]:
    """Every user SCIM may see for this company: its own, not deleted."""
    return User.objects.filter(company=company, scim_deleted_at__isnull=True).select_related("team")


def with_display_name(users: QuerySet[User]) -> QuerySet[User]:
    """``scim_display_name``, for filters and sortBy on displayName: ``User.full_name`` (first
    and last name, trimmed), else the email."""
    text = CharField()
    full_name = Trim(Concat(F("first_name"), Value(" "), F("last_name"), output_field=text))
    display_name = Coalesce(NullIf(full_name, Value("")), F("email"), output_field=text)
    return users.annotate(scim_display_name=display_name)


def scim_user_find(*, company: Company, scim_id: str, lock: bool = False) -> User | None:
    """``lock``: hold the user's row until the transaction ends (an If-Match compared, then
    the write)."""
    key = parse_scim_id(scim_id)
    if key is None:
        return None
    users = scim_users(company=company).filter(scim_id=key)
    return (users.select_for_update(of=("self",)) if lock else users).first()


def scim_user_reload(*, user: User) -> User:
    """The user as stored now, with their team (what a write returns to the IdP)."""
    return User.objects.select_related("team").get(pk=user.pk)


def scim_user_page(
    *, company: Company, where: Node | None, start: int, count: int, order_by: list | None = None
) -> Page[User] | Page[UserRow]:
    """The users ``where`` selects (a parsed SCIM filter), ``count`` of them from the 1-based
    ``start``, in ``order_by`` (``sort_order_by`` terms) or by primary key.

    The unfiltered list in the default order, what an IdP's import walks page after page, is
    served without counting or skipping rows (``_user_page_by_position``); a filtered or sorted
    one counts its matches and skips to ``start``."""
    if where is None and order_by is None:
        return _user_page_by_position(company, start, count)
    users = with_display_name(scim_users(company=company))
    if where is not None:
        # Every User filter attribute is a column of the user row (no to-many join), so no
        # DISTINCT is needed: it would only make the database sort whole rows.
        users = users.filter(filter_to_q(where, USER_FILTER_ATTRIBUTES))
    total = users.count()
    if not count or start > total:
        return Page(total=total, items=[])
    ordered = users.order_by(*(order_by or ["pk"]))
    return Page(total=total, items=list(ordered[start - 1 : start - 1 + count]))


# How long a page position is remembered; it is reused only while the company's users are the
# same set (ScimUserTally.generation), so this bounds memory, not correctness.
PAGE_POSITION_SECONDS = 15 * 60


def _page_position_key(company: Company, generation: int, start: int) -> str:
    return f"scim:page-position:{company.pk}:{generation}:{start}"


class TeamRow(NamedTuple):
    name: str
    scim_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class UserRow:
    """The columns a SCIM User shows, read as plain values rather than as a model: a page of a
    hundred users renders in half the time. ``users.user_to_scim`` reads it like a ``User``;
    a column it comes to need and this lacks fails every list test (AttributeError), it is
    never read by a query per user."""

    pk: int
    scim_id: uuid.UUID
    username: str
    email: str
    email_type: str
    email_primary: bool | None
    first_name: str
    last_name: str
    role: str
    user_type_unassigned: bool
    division: str
    external_id: str
    is_active: bool
    date_joined: datetime
    updated_at: datetime
    team: TeamRow | None

    full_name = User.full_name  # the one rule for it, applied to these columns


_USER_ROW_COLUMNS = tuple(name for name in UserRow.__dataclass_fields__ if name != "team")


def _user_rows(company: Company, keys) -> list[UserRow]:
    """The company's visible users with these keys (a list, or a queryset of keys), in key
    order, and their teams in one more query (a company has a few)."""
    rows = list(
        scim_users(company=company)
        .filter(pk__in=keys)
        .order_by("pk")
        .values_list(*_USER_ROW_COLUMNS, "team_id")
    )
    team_ids = {row[-1] for row in rows if row[-1] is not None}
    teams = (
        {
            pk: TeamRow(name, scim_id)
            for pk, name, scim_id in scim_groups(company=company)
            .filter(pk__in=team_ids)
            .values_list("pk", "name", "scim_id")
        }
        if team_ids
        else {}
    )
    return [UserRow(*row[:-1], team=teams.get(row[-1])) for row in rows]


def _user_page_by_position(company: Company, start: int, count: int) -> Page[UserRow]:
    """A page of the company's users by primary key, as RFC 7644 index paging asks, fast at any
    depth:

    - totalResults is ``ScimUserTally.users``, kept exact by a trigger (no COUNT of the rows);
    - the page is a seek past the primary key of user ``start - 1`` (no OFFSET), when that key
      is known: each page served remembers the key that ends it, under the company's tally
      generation, so the next page of an IdP's walk, or the same page asked again, seeks;
    - otherwise the keys from ``start - 1`` are read from the (company, id) index of visible
      users (an index-only skip, not of whole rows).

    Either way the page's rows are then fetched by key.

    A remembered key is used only under the generation it was learnt in, and the generation
    changes with every user added or removed, so a seek returns exactly what the skip would."""
    total, generation = ScimUserTally.objects.filter(company_id=company.pk).values_list(
        "users", "generation"
    ).first() or (0, 0)
    if not count or start > total:
        return Page(total=total, items=[])
    # The keys first, from the (company, id) index of visible users alone (an index-only
    # scan: the primary key's order would also walk past every other company's rows), then
    # the page's rows by key, as plain rows (UserRow).
    keys = scim_users(company=company).order_by("pk").values_list("pk", flat=True)
    after = None if start == 1 else cache.get(_page_position_key(company, generation, start))
    if start == 1 or after is not None:
        # One query: the rows whose keys the index gives (a subquery).
        page_keys = keys.filter(pk__gt=after) if after is not None else keys
        items = _user_rows(company, page_keys[:count])
        page_keys = [user.pk for user in items]
    else:
        page_keys = list(keys[start - 2 : start - 1 + count])
        if not page_keys:
            return Page(total=total, items=[])
        after = page_keys.pop(0)
        cache.set(_page_position_key(company, generation, start), after, PAGE_POSITION_SECONDS)
        items = _user_rows(company, page_keys) if page_keys else []
    if page_keys:
        next_start = _page_position_key(company, generation, start + len(page_keys))
        cache.set(next_start, page_keys[-1], PAGE_POSITION_SECONDS)
    return Page(total=total, items=items)


def scim_users_by_ids(*, company: Company, keys: list[uuid.UUID]) -> list[User]:
    return list(scim_users(company=company).filter(scim_id__in=keys))


# --- Groups ------------------------------------------------------------------------------------


def scim_groups(*, company: Company) -> QuerySet[Team]:
    """The company's teams, each with its member list's version and time of change (what
    groups.group_to_scim needs for meta.version and meta.lastModified)."""
    members = ScimGroupMembers.objects.filter(team_id=OuterRef("pk"))
    return Team.objects.filter(company=company).annotate(
        scim_members_version=Coalesce(Subquery(members.values("version")[:1]), Value(0)),
        scim_members_changed_at=Subquery(members.values("changed_at")[:1]),
        scim_last_modified=Greatest(
            F("updated_at"), Coalesce(F("scim_members_changed_at"), F("updated_at"))
        ),
    )


def scim_group_reload(*, company: Company, team: Team) -> Team:
    """The team as stored now (what a write returns to the IdP)."""
    return scim_groups(company=company).get(pk=team.pk)


def scim_group_lock(*, company: Company, team: Team) -> Team:
    """Lock the team's row and its member list's version until the transaction ends, then
    read it: an If-Match compared then holds until the write is done (a member joining in
    between waits, as its trigger updates the locked version row)."""
    list(ScimGroupMembers.objects.select_for_update().filter(team_id=team.pk))
    list(Team.objects.select_for_update().filter(pk=team.pk))
    return scim_group_reload(company=company, team=team)


def scim_group_find(*, company: Company, scim_id: str) -> Team | None:
    """(to write it with an If-Match: ``scim_group_lock``)"""
    key = parse_scim_id(scim_id)
    return scim_groups(company=company).filter(scim_id=key).first() if key else None


def scim_group_members(*, company: Company, team: Team) -> QuerySet[User]:
    return scim_users(company=company).filter(team=team).order_by("id")


def scim_group_page(
    *,
    company: Company,
    where: Node | None,
    start: int,
    count: int,
    with_members: bool,
    order_by: list | None = None,
) -> Page[Team]:
    """Like ``scim_user_page``; with ``with_members`` each team's members (those SCIM sees) are
    fetched in one more query, as ``team.members.all()``."""
    groups = scim_groups(company=company)
    if where is not None:
        groups = groups.filter(filter_to_q(where, GROUP_FILTER_ATTRIBUTES)).distinct()
    total = groups.count()
    if not count or start > total:
        return Page(total=total, items=[])
    page = groups.order_by(*(order_by or ["pk"]))[start - 1 : start - 1 + count]
    return Page(total=total, items=list(prefetch_members(company, page) if with_members else page))


def prefetch_members(company: Company, groups: QuerySet[Team]) -> QuerySet[Team]:
    members = scim_users(company=company).order_by("id")
    return groups.prefetch_related(Prefetch("members", queryset=members))

"""Reads for provisioning: what SCIM finds and lists (the tenant filter, SCIM filters turned into
querysets, paging, member prefetches) and the OAuth grants of a connection.

Every SCIM read takes ``company=``, the caller's (``ScimPrincipal.company``): this module is the
one place the tenant filter of SCIM is written.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from django.db.models import Prefetch, QuerySet
from oauth2_provider.models import (
    get_access_token_model,
    get_application_model,
    get_refresh_token_model,
)

from accounts.models import Company, Team, User
from accounts.normalize import email_key, identity_key
from connections.models import Connection
from provisioning.models import Deprovisioning
from provisioning.oauth import connection_resource_uri
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
        field="members__scim_id", type="reference", case_exact=True, to_python=uuid.UUID
    ),
    "meta.created": AttributeSpec(field="created_at", type="datetime"),
    "meta.lastmodified": AttributeSpec(field="updated_at", type="datetime"),
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


def scim_user_find(*, company: Company, scim_id: str) -> User | None:
    key = parse_scim_id(scim_id)
    return scim_users(company=company).filter(scim_id=key).first() if key else None


def scim_user_reload(*, user: User) -> User:
    """The user as stored now, with their team (what a write returns to the IdP)."""
    return User.objects.select_related("team").get(pk=user.pk)


def scim_user_page(*, company: Company, where: Node | None, start: int, count: int) -> Page[User]:
    """The users ``where`` selects (a parsed SCIM filter), ``count`` of them from the 1-based
    ``start``, in a stable order."""
    users = scim_users(company=company)
    if where is not None:
        # Every User filter attribute is a column of the user row (no to-many join), so no
        # DISTINCT is needed: it would only make the database sort whole rows.
        users = users.filter(filter_to_q(where, USER_FILTER_ATTRIBUTES))
    total = users.count()
    # Past the last match the page is empty without asking: an OFFSET of 2**63 (a startIndex
    # RFC 7644 does not bound) is more than PostgreSQL's bigint holds.
    items = (
        list(users.order_by("id")[start - 1 : start - 1 + count])
        if count and start <= total
        else []
    )
    return Page(total=total, items=items)


def scim_users_by_ids(*, company: Company, keys: list[uuid.UUID]) -> list[User]:
    return list(scim_users(company=company).filter(scim_id__in=keys))


# --- Groups ------------------------------------------------------------------------------------


def scim_groups(*, company: Company) -> QuerySet[Team]:
    return Team.objects.filter(company=company)


def scim_group_find(*, company: Company, scim_id: str) -> Team | None:
    key = parse_scim_id(scim_id)
    return scim_groups(company=company).filter(scim_id=key).first() if key else None


def scim_group_members(*, company: Company, team: Team) -> QuerySet[User]:
    return scim_users(company=company).filter(team=team).order_by("id")


def scim_group_page(
    *, company: Company, where: Node | None, start: int, count: int, with_members: bool
) -> Page[Team]:
    """Like ``scim_user_page``; with ``with_members`` each team's members (those SCIM sees) are
    fetched in one more query, as ``team.members.all()``."""
    groups = scim_groups(company=company)
    if where is not None:
        groups = groups.filter(filter_to_q(where, GROUP_FILTER_ATTRIBUTES)).distinct()
    total = groups.count()
    if not count or start > total:  # see scim_user_page
        return Page(total=total, items=[])
    page = groups.order_by("id")[start - 1 : start - 1 + count]
    if with_members:
        members = scim_users(company=company).order_by("id")
        page = page.prefetch_related(Prefetch("members", queryset=members))
    return Page(total=total, items=list(page))


# --- Deprovisioning ----------------------------------------------------------------------------


def deprovisioning_ids_unfinished(*, requested_before: datetime, limit: int = 1000) -> list[int]:
    """Deprovisionings requested before then and not completed (for the sweep to re-queue)."""
    stale = Deprovisioning.objects.filter(
        completed_at__isnull=True, requested_at__lt=requested_before
    )
    return list(stale.values_list("pk", flat=True)[:limit])


# --- OAuth grants ------------------------------------------------------------------------------


def scim_grants(*, connection: Connection, include_revoked: bool = False) -> list:
    """Refresh tokens bound to ``connection`` (filtered in Python: the resource list is JSON,
    which SQLite cannot search inside, and a connection has a handful of grants)."""
    uri = connection_resource_uri(connection)
    tokens = (
        get_refresh_token_model().objects.select_related("user", "application").order_by("-created")
    )
    if not include_revoked:
        tokens = tokens.filter(revoked__isnull=True)
    return [token for token in tokens if uri in (token.resource or [])]


def oauth_client_find(*, client_id: str):
    """The registered OAuth client (django-oauth-toolkit Application) with this id, or None."""
    return get_application_model().objects.filter(client_id=client_id).first()


def oauth_token_issued_to(*, token: str, client) -> bool:
    """Whether the access token ``token`` (looked up by its checksum, as the toolkit stores it)
    was issued to ``client``."""
    checksum = hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()
    return (
        get_access_token_model()
        .objects.filter(token_checksum=checksum, application=client)
        .exists()
    )

"""``POST /.search`` on the root (RFC 7644 3.4.3): Users and Groups of one company at once."""

from __future__ import annotations

from django.db.models import F, IntegerField, QuerySet, Value

from accounts.models import Company, Team, User
from provisioning.scim.filters import AttributeSpec, Node, SortError, filter_to_q
from provisioning.scim.filters.query import key_ordering, sort_key
from provisioning.selectors.scim import (
    GROUP_FILTER_ATTRIBUTES,
    USER_FILTER_ATTRIBUTES,
    Page,
    prefetch_members,
    scim_groups,
    scim_users,
    with_display_name,
)

# Attributes of the User resource (RFC 7643 4.1) that the Groups filter also knows: at the root
# they keep their meaning for users; the other Group attributes are "not part of" the User
# resource type and so have no value there (RFC 7644 3.4.2), and the other way round.
_USER_ATTRIBUTE_NAMES = frozenset({"id", "externalid", "displayname", "meta", "groups"})
_GROUP_ATTRIBUTE_NAMES = frozenset({"id", "externalid", "displayname", "meta", "members"})


def _foreign(attributes: dict[str, AttributeSpec], own: frozenset[str]) -> set[str]:
    return {key for key in attributes if key.split(".")[0] not in own}


def scim_resource_page(
    *,
    company: Company,
    where: Node | None,
    start: int,
    count: int,
    with_members: bool,
    sort_by: str | None = None,
    descending: bool = False,
) -> Page[User | Team]:
    """Users and Groups at once, for ``POST /.search`` on the root: the company's own only.

    A filter applies to both; an attribute one resource type does not have is unassigned there
    (``userName eq "x"`` matches no group), one neither has is a ``FilterError``. Without
    ``sortBy``, users come first then groups, each by primary key; with it, one order over both
    (a UNION in the database, so a page deep in the list costs no more than the first), ties
    broken users first, then by primary key."""
    users = with_display_name(scim_users(company=company))
    groups = scim_groups(company=company)
    if where is not None:
        users = users.filter(
            filter_to_q(
                where,
                USER_FILTER_ATTRIBUTES,
                unassigned=_foreign(GROUP_FILTER_ATTRIBUTES, _USER_ATTRIBUTE_NAMES),
            )
        )
        groups = groups.filter(
            filter_to_q(
                where,
                GROUP_FILTER_ATTRIBUTES,
                unassigned=_foreign(USER_FILTER_ATTRIBUTES, _GROUP_ATTRIBUTE_NAMES),
            )
        ).distinct()
    user_total, group_total = users.count(), groups.count()
    total = user_total + group_total
    if not count or start > total:
        return Page(total=total, items=[])
    first, last = start - 1, start - 1 + count
    if sort_by is None:
        items: list[User | Team] = (
            list(users.order_by("pk")[first:last]) if first < user_total else []
        )
        if last > user_total:
            page = groups.order_by("pk")[max(first - user_total, 0) : last - user_total]
            items += list(prefetch_members(company, page) if with_members else page)
        return Page(total=total, items=items)
    user_key = _root_sort_key(sort_by, USER_FILTER_ATTRIBUTES, GROUP_FILTER_ATTRIBUTES, groups)
    group_key = _root_sort_key(sort_by, GROUP_FILTER_ATTRIBUTES, USER_FILTER_ATTRIBUTES, users)
    keyed_users = users.annotate(kind=Value(0, IntegerField()), key=user_key).values_list(
        "kind", "pk", "key"
    )
    keyed_groups = groups.annotate(kind=Value(1, IntegerField()), key=group_key).values_list(
        "kind", "pk", "key"
    )
    # order_by(): no model's default ordering inside the UNION's parts.
    union = keyed_users.order_by().union(keyed_groups.order_by(), all=True)
    tie_break = [F("kind").desc(), F("pk").desc()] if descending else ["kind", "pk"]
    rows = list(
        union.order_by(*key_ordering(F("key"), descending=descending), *tie_break)[first:last]
    )
    by_kind = {
        0: scim_users(company=company).in_bulk([pk for kind, pk, _key in rows if kind == 0]),
        1: (prefetch_members(company, groups) if with_members else groups).in_bulk(
            [pk for kind, pk, _key in rows if kind == 1]
        ),
    }
    return Page(total=total, items=[by_kind[kind][pk] for kind, pk, _key in rows])


def _root_sort_key(
    sort_by: str, own: dict[str, AttributeSpec], other: dict[str, AttributeSpec], others: QuerySet
):
    """The sort key of ``sort_by`` in one resource type; where only the other type has the
    attribute, a NULL of the other's key type (the UNION needs one type per column)."""
    try:
        key = sort_key(sort_by, attributes=own)
        return key if key is not None else Value(None, output_field=IntegerField())
    except SortError:
        theirs = sort_key(sort_by, attributes=other)  # raises when neither type can sort by it
        if theirs is None:
            return Value(None, output_field=IntegerField())
        return Value(None, output_field=theirs.resolve_expression(others.query).output_field)

"""What a list request asks for (RFC 7644 3.4.2): ``filter``, ``attributes`` or
``excludedAttributes``, ``sortBy``/``sortOrder``, ``startIndex``/``count``; from the query string
of a GET or from the SearchRequest body of a ``POST …/.search`` (RFC 7644 3.4.3), which carry
the same parameters and must answer the same."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db.models import OrderBy

from provisioning.scim.errors import InvalidSyntax, InvalidValue
from provisioning.scim.filters import AttributeSpec, Node, SortError, parse_filter, sort_order_by
from provisioning.scim.selection import AttributeSelection

SEARCH_REQUEST = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
MAX_PAGE_SIZE = 200
DEFAULT_PAGE_SIZE = 100
SORT_ORDERS = ("ascending", "descending")


@dataclass(frozen=True)
class ListQuery:
    where: Node | None = None
    selection: AttributeSelection = field(default_factory=AttributeSelection)
    sort_by: str | None = None
    descending: bool = False
    start: int = 1
    count: int = DEFAULT_PAGE_SIZE

    def order_by(self, attributes: Mapping[str, AttributeSpec]) -> list[OrderBy] | None:
        """The ordering ``sortBy`` asks for over these attributes (None: the default order)."""
        if self.sort_by is None:
            return None
        try:
            return sort_order_by(self.sort_by, descending=self.descending, attributes=attributes)
        except SortError as error:
            raise InvalidValue(error.message) from None


def list_query_from_params(query: Mapping[str, str]) -> ListQuery:
    return _list_query(
        filter_text=query.get("filter") or None,
        selection=AttributeSelection.from_query(query),
        sort_by=query.get("sortBy"),
        sort_order=query.get("sortOrder"),
        start=query.get("startIndex"),
        count=query.get("count"),
    )


def list_query_from_search(body: Any) -> ListQuery:
    """A SearchRequest (RFC 7644 3.4.3): its ``schemas`` must name the SearchRequest URN; the
    attribute lists are JSON arrays of names (a comma-separated string is read too)."""
    if not isinstance(body, dict):
        raise InvalidSyntax("The body of a .search must be a SearchRequest object.")
    attrs = {key.lower(): value for key, value in body.items()}
    schemas = attrs.get("schemas")
    if not isinstance(schemas, list) or SEARCH_REQUEST not in schemas:
        raise InvalidSyntax(f"A SearchRequest's 'schemas' must be [\"{SEARCH_REQUEST}\"].")
    filter_text = attrs.get("filter")
    if filter_text is not None and not isinstance(filter_text, str):
        raise InvalidValue("'filter' must be a string.")
    for name in ("sortby", "sortorder"):
        if attrs.get(name) is not None and not isinstance(attrs[name], str):
            raise InvalidValue(f"'{_CANONICAL[name]}' must be a string.")
    return _list_query(
        filter_text=filter_text or None,
        selection=AttributeSelection.from_lists(
            _name_list(attrs, "attributes"), _name_list(attrs, "excludedattributes")
        ),
        sort_by=attrs.get("sortby"),
        sort_order=attrs.get("sortorder"),
        start=attrs.get("startindex"),
        count=attrs.get("count"),
    )


_CANONICAL = {
    "attributes": "attributes",
    "excludedattributes": "excludedAttributes",
    "sortby": "sortBy",
    "sortorder": "sortOrder",
    "startindex": "startIndex",
    "count": "count",
}


def _name_list(attrs: dict[str, Any], key: str) -> list[str]:
    value = attrs.get(key)
    if value is None:
        return []
    if isinstance(value, str):
        return value.split(",")
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    raise InvalidValue(f"'{_CANONICAL[key]}' must be a list of attribute names.")


def _list_query(
    *,
    filter_text: str | None,
    selection: AttributeSelection,
    sort_by: str | None,
    sort_order: str | None,
    start: object,
    count: object,
) -> ListQuery:
    order = (sort_order or "ascending").strip().lower()
    if order not in SORT_ORDERS:
        raise InvalidValue("'sortOrder' must be 'ascending' or 'descending'.")
    # RFC 7644 3.4.2.4: a startIndex below 1 is 1, a negative count is 0; the count is capped
    # at ServiceProviderConfig's filter.maxResults.
    return ListQuery(
        where=parse_filter(filter_text) if filter_text else None,
        selection=selection,
        sort_by=sort_by.strip() if sort_by and sort_by.strip() else None,
        descending=order == "descending",
        start=max(_integer("startIndex", start, 1), 1),
        count=min(max(_integer("count", count, DEFAULT_PAGE_SIZE), 0), MAX_PAGE_SIZE),
    )


def _integer(name: str, raw: object, default: int) -> int:
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool):
        raise InvalidValue(f"'{name}' must be an integer.")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str):
        try:
            return int(raw)
        except ValueError:
            pass
    raise InvalidValue(f"'{name}' must be an integer.")

"""``attributes`` and ``excludedAttributes`` (RFC 7644 3.4.2.5 and 3.9): which attributes of a
resource a response carries.

What is always returned (RFC 7643 2.4 and 7): ``id`` ("returned": "always") and ``schemas`` (the
message structure, RFC 7643 3). ``meta`` is "returned": "default" (RFC 7643 3.1: every meta
sub-attribute is "default"), so ``attributes=userName`` leaves it out and ``excludedAttributes=meta``
drops it, as the RFC and the python-scim models read it.

Names are case-insensitive (RFC 7643 2.1) and may be
- a top-level attribute (``userName``, ``name``, ``members``), also prefixed with the resource's
  core schema URN (``urn:ietf:params:scim:schemas:core:2.0:User:userName``);
- a sub-attribute (``name.givenName``, ``emails.value``: for a multi-valued attribute, that
  sub-attribute of each value);
- an extension's URN alone (the whole extension object) or followed by one of its attributes
  (``urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:division``).
A name no resource has selects nothing (the RFC gives no error for it; IdPs send their whole
mapping). ``schemas`` names the extension only while the response carries its object.

Sending both parameters is refused: RFC 7644 calls them mutually exclusive.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from provisioning.scim.errors import InvalidSyntax
from provisioning.scim.filters import parse_attribute_list

ALWAYS_RETURNED = frozenset({"id", "schemas"})

# A selection tree maps an attribute name (lowercase) to the tree of its selected
# sub-attributes, or to ALL: the whole attribute.
ALL: Any = object()


@dataclass(frozen=True)
class AttributeSelection:
    """What ``attributes`` (``wanted``) or ``excludedAttributes`` (``excluded``) asked for; both
    empty means the default representation."""

    wanted: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()

    @classmethod
    def from_lists(
        cls, attributes: Iterable[str] | None, excluded: Iterable[str] | None
    ) -> AttributeSelection:
        wanted = tuple(_names(attributes))
        dropped = tuple(_names(excluded))
        if wanted and dropped:
            raise InvalidSyntax(
                "'attributes' and 'excludedAttributes' are mutually exclusive (RFC 7644 "
                "3.4.2.5); send one of them."
            )
        return cls(wanted=wanted, excluded=dropped)

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> AttributeSelection:
        return cls.from_lists(
            _split(query.get("attributes")), _split(query.get("excludedAttributes"))
        )

    @property
    def is_default(self) -> bool:
        return not self.wanted and not self.excluded

    def wants(self, attribute: str) -> bool:
        """Whether the response carries any part of the top-level ``attribute`` (lowercase), so
        a view can skip fetching what nobody will see (a group's members)."""
        if attribute in ALWAYS_RETURNED:
            return True
        if self.wanted:
            return any(n == attribute or n.startswith(f"{attribute}.") for n in self.wanted)
        return attribute not in self.excluded

    def apply(self, resource: dict[str, Any]) -> dict[str, Any]:
        if self.is_default:
            return resource
        extensions = [key for key in resource if key.lower().startswith("urn:")]
        if self.wanted:
            result = {
                key: value for key, value in resource.items() if key.lower() in ALWAYS_RETURNED
            }
            result.update(_keep(resource, _tree(self.wanted, extensions)))
            # Keep the resource's own key order: id and schemas first, as rendered.
            result = {key: result[key] for key in resource if key in result}
        else:
            result = _drop(resource, _tree(self.excluded, extensions))
        if "schemas" in result:
            result["schemas"] = [
                uri
                for uri in result["schemas"]
                if uri not in extensions or any(k.lower() == uri.lower() for k in result)
            ]
        return result


def _split(text: str | None) -> list[str]:
    return (text or "").split(",")


def _names(items: Iterable[str] | None) -> list[str]:
    """Lowercased, core schema URN dropped, deduplicated (filters.parse_attribute_list)."""
    return parse_attribute_list(",".join(item for item in (items or ()) if item))


def _tree(names: Iterable[str], extensions: list[str]) -> dict[str, Any]:
    """{"name": {"givenname": ALL}, "emails": ALL, "urn:…:user": {"division": ALL}}."""
    tree: dict[str, Any] = {}
    for name in names:
        parts: list[str]
        extension = next((e.lower() for e in extensions if name.startswith(e.lower())), None)
        if extension is not None and name == extension:
            parts = [extension]
        elif extension is not None and name[len(extension)] == ":":
            parts = [extension, *name[len(extension) + 1 :].split(".")]
        else:
            parts = name.split(".")
        node = tree
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            if node.get(part) is ALL:
                break  # the whole attribute is already selected
            if last:
                node[part] = ALL
            else:
                node = node.setdefault(part, {})
    return tree


def _keep(value: dict[str, Any], tree: dict[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for key, item in value.items():
        selected = tree.get(key.lower())
        if selected is None:
            continue
        if selected is ALL:
            kept[key] = item
        elif isinstance(item, dict):
            part = _keep(item, selected)
        elif isinstance(item, list):
            part = [sub for v in item if isinstance(v, dict) and (sub := _keep(v, selected))]
        else:
            continue
        if selected is not ALL and part:  # a sub-attribute the value lacks selects nothing
            kept[key] = part
    return kept


def _drop(value: dict[str, Any], tree: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, item in value.items():
        selected = tree.get(key.lower())
        if selected is None or key.lower() in ALWAYS_RETURNED:
            result[key] = item
        elif selected is ALL:
            continue
        elif isinstance(item, dict):
            result[key] = _drop(item, selected)
        elif isinstance(item, list):
            result[key] = [_drop(v, selected) if isinstance(v, dict) else v for v in item]
        else:
            result[key] = item
    return result

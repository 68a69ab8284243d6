"""Group PATCH (RFC 7644 3.5.2) as membership changes and renames: applied directly, never by
rebuilding a group of thousands for one member. Paths and operations are read as for Users
(``provisioning.scim.patch``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from provisioning.scim.errors import InvalidPath, InvalidValue, Mutability, NoTarget
from provisioning.scim.filters import Comparison, Node, Or
from provisioning.scim.patch import PatchPath, operations, parse_path
from provisioning.scim.values import member_ids, scim_string


@dataclass(frozen=True)
class GroupChange:
    kind: str  # rename | external_id | add_members | remove_members | set_members
    name: str | None = None  # the new displayName, or externalId
    ids: tuple[str, ...] | None = None


def group_changes(body: Any) -> list[GroupChange]:
    changes: list[GroupChange] = []
    for name, path, value in operations(body):
        if path is None:
            if name == "remove" or not isinstance(value, dict):
                raise NoTarget("An operation without a path needs an object value.")
            for key, item in value.items():
                changes.extend(_group_change(name, key.lower(), None, item))
            continue
        parsed = parse_path(path)
        changes.extend(_group_change(name, parsed.attr, parsed, value))
    return changes


def _group_change(op: str, attr: str, path: PatchPath | None, value: Any) -> list[GroupChange]:
    if attr == "displayname":
        if op == "remove" or not isinstance(value, str) or not value.strip():
            raise InvalidValue("displayName must be a non-empty string.")
        return [GroupChange("rename", name=value.strip())]
    if attr == "members":
        if path is not None and path.value_filter is not None:
            if op != "remove":
                raise InvalidPath(
                    "Only remove may target members[...]; use add with a members list."
                )
            ids = _ids_from_filter(path.value_filter)
            return [GroupChange("remove_members", ids=tuple(ids))]
        if op == "remove":
            return [GroupChange("remove_members", ids=tuple(member_ids(value)) if value else None)]
        kind = "add_members" if op == "add" else "set_members"
        return [GroupChange(kind, ids=tuple(member_ids(value)))]
    if attr in ("id", "meta", "schemas"):
        if op == "replace" and path is None:
            return []  # Okta repeats the id in a rename's value object
        raise Mutability(f"'{attr}' is read-only.")
    if attr == "externalid":
        if op == "remove" or value is None:
            return [GroupChange("external_id", name="")]
        return [
            GroupChange(
                "external_id", name=scim_string(value, attribute="externalId", max_length=255)
            )
        ]
    raise InvalidPath(f"Unknown Group attribute '{attr}'.")


def _ids_from_filter(node: Node) -> list[str]:
    if (
        isinstance(node, Comparison)
        and node.op == "eq"
        and (node.path.sub or node.path.name).lower() == "value"
    ):
        return [str(node.value)]
    if isinstance(node, Or):
        return [value for operand in node.operands for value in _ids_from_filter(operand)]
    raise InvalidPath('Filter members with value eq "<id>" (joined with or).')

"""SCIM PATCH (RFC 7644 3.5.2) as RFC 7644, Okta, Entra ID and the rest send it.

User PATCHes are applied to the user's current SCIM representation, and the result is then read
like a PUT: one code path decides what a user becomes, whatever form the request took (a path,
no path with a value object, dotted or URN-prefixed keys, a complex attribute or the enterprise
extension's URN alone as the path with an object value, ``emails[type eq "work"].value``,
capitalised op names, "True"/"False" strings). Group PATCHes are membership operations
(``group_patch``), applied directly.

What ``remove`` means here (RFC 7644 3.5.2.2 leaves the meaning of an unassigned attribute to
the service provider; a removed attribute reads back absent, never as a silent no-op):

- ``name``: both names empty; ``name.givenName`` / ``name.familyName``: that one empty.
- ``userType``: the role goes back to the default, sender (the SPEC: missing means sender), and
  userType stays unassigned until an IdP assigns one again (``User.user_type_unassigned``).
- the extension's ``division``, or the extension's URN: no division and no team, also when
  the team was set through Groups.
- ``externalId``: none.
- ``userName``, ``emails`` and ``active`` are required by our User schema (every user has a
  login, an email and is active or not), so removing one, or setting it to null, is a 400
  ``mutability`` as RFC 7644 3.5.2.2 says for required attributes; ``active: false`` is how
  a user is deactivated.

The bounds on operations and values are ``request_limits``'; adding values that are already
there adds nothing (3.5.2.1), found in linear time.

Why the paths are not parsed by python-scim's scim2-models (tried with 0.12.3): its PATCH
applies to its pydantic models, and there an Entra default mapping such as ``add
phoneNumbers[type eq "work"].value`` on a user without phone numbers is a ``noTarget`` error,
where we must accept and ignore attributes we do not keep (test_scim_entra); keeping that, our
unassigned-versus-absent rule above and our ``userType`` roles would need a translation layer
each way, more code than the path handling it would replace. Its path grammar would also be a
second parser of the filter language beside ``provisioning.scim.filters`` (which every query
filter goes through, with its own limits and errors), so one filter could be read two ways.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from typing import Any

from provisioning.scim.errors import InvalidPath, InvalidValue, Mutability, NoTarget
from provisioning.scim.filters import (
    And,
    Comparison,
    FilterError,
    Node,
    Not,
    Or,
    Present,
    ValuePath,
    parse_filter,
)
from provisioning.scim.request_limits import (
    check_attribute_values,
    check_operation_count,
    check_request_values,
    value_count,
)
from provisioning.scim.schemas import ENTERPRISE_SCHEMA, IGNORED_USER_ATTRIBUTES, PATCH_OP

OPERATIONS = ("add", "replace", "remove")

_PATH = re.compile(
    r"^(?:(?P<urn>urn:[^\[\]]+):)?(?P<attr>[A-Za-z][\w$-]*)(?:\.(?P<sub>[A-Za-z][\w$-]*))?"
    r"(?:\[(?P<filter>.+)\](?:\.(?P<after>[A-Za-z][\w$-]*))?)?$",
    re.DOTALL,
)
_CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:user"
_CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:group"

# What a User PATCH may change (lowercase, with sub-attributes), besides the ignored ones.
USER_WRITABLE = frozenset(
    {
        "username", "name", "name.givenname", "name.familyname", "emails", "emails.value",
        "emails.type", "emails.primary", "active", "usertype", "externalid",
        f"{ENTERPRISE_SCHEMA.lower()}:division",
    }
)  # fmt: skip
USER_READ_ONLY = frozenset({"id", "meta", "groups", "schemas"})
# Required by our User schema: removing one (or setting it to null) is a 400 mutability
# (RFC 7644 3.5.2.2). Every user has a userName, an email and is active or not.
USER_REQUIRED = frozenset({"username", "emails", "active"})
_EXTENSION = ENTERPRISE_SCHEMA.lower()


@dataclass(frozen=True)
class PatchPath:
    extension: bool
    attr: str  # lowercase
    sub: str | None  # lowercase sub-attribute (name.givenName, or emails[...].value)
    value_filter: Node | None

    @property
    def key(self) -> str:
        name = self.attr + (f".{self.sub}" if self.sub else "")
        return f"{ENTERPRISE_SCHEMA.lower()}:{name}" if self.extension else name


def is_extension_path(text: str) -> bool:
    """The enterprise extension's URN alone: the path of the extension object itself."""
    return text.strip().lower() == _EXTENSION


def parse_path(text: str) -> PatchPath:
    match = _PATH.match(text.strip())
    if not match:
        raise InvalidPath(f"'{text}' is not a valid attribute path.")
    urn = (match["urn"] or "").lower()
    if urn and urn not in (_CORE_USER, _CORE_GROUP, ENTERPRISE_SCHEMA.lower()):
        raise InvalidPath(f"Unknown schema in path '{text}'.")
    if match["sub"] and match["filter"]:
        raise InvalidPath(f"'{text}' has both a sub-attribute and a filter.")
    value_filter = None
    if match["filter"]:
        try:
            value_filter = parse_filter(match["filter"])
        except FilterError as error:
            raise InvalidPath(f"Bad filter in path '{text}': {error}") from None
    sub = match["sub"] or match["after"]
    return PatchPath(
        extension=urn == ENTERPRISE_SCHEMA.lower(),
        attr=match["attr"].lower(),
        sub=sub.lower() if sub else None,
        value_filter=value_filter,
    )


def operations(body: Any) -> list[tuple[str, str | None, Any]]:
    """The (op, path, value) list of a PatchOp body, op names lowercased."""
    if not isinstance(body, dict):
        raise InvalidValue("The PATCH body must be a PatchOp object.")
    schemas = body.get("schemas") or []
    if PATCH_OP not in schemas:
        raise InvalidValue(f"A PATCH body must declare the schema {PATCH_OP}.")
    ops = body.get("Operations", body.get("operations"))
    if not isinstance(ops, list) or not ops:
        raise InvalidValue("A PATCH body needs a non-empty 'Operations' list.")
    check_operation_count(len(ops))
    check_request_values(sum(value_count(op.get("value")) for op in ops if isinstance(op, dict)))
    parsed = []
    for op in ops:
        if not isinstance(op, dict):
            raise InvalidValue("Each operation must be an object.")
        op_lower = {key.lower(): value for key, value in op.items()}
        name = str(op_lower.get("op", "")).lower()
        if name not in OPERATIONS:
            raise InvalidValue(
                f"Unknown PATCH op {op_lower.get('op')!r}; use add, replace or remove."
            )
        path = op_lower.get("path")
        if path is not None and not isinstance(path, str):
            raise InvalidPath("'path' must be a string.")
        parsed.append((name, path or None, op_lower.get("value")))
    return parsed


# --- users -----------------------------------------------------------------------------------


def apply_user_patch(resource: dict[str, Any], body: Any) -> dict[str, Any]:
    """Apply the operations to a copy of the User representation and return it. A removed
    attribute is left as null (unassigned, RFC 7643 2.5) so that the reading that follows can
    tell it from one a PUT did not mention."""
    result = copy.deepcopy(resource)
    for name, path, value in operations(body):
        if path is None:
            if name == "remove":
                raise NoTarget("A remove operation needs a path.")
            if not isinstance(value, dict):
                raise InvalidValue("An operation without a path needs an object value.")
            for key, item in value.items():
                if is_extension_path(key):
                    _apply_extension(result, name, item)
                else:
                    _apply(result, name, parse_path(key), item)
        elif is_extension_path(path):
            _apply_extension(result, name, value)
        else:
            _apply(result, name, parse_path(path), value)
    return result


def _apply_extension(resource: dict[str, Any], op: str, value: Any) -> None:
    """The extension object as a whole: add/replace set the attributes it names, remove
    unassigns every one of them."""
    if op == "remove":
        resource[_find_key(resource, _EXTENSION)] = None
        return
    if not isinstance(value, dict):
        raise InvalidValue(f"'{ENTERPRISE_SCHEMA}' must be an object.")
    for key, item in value.items():
        if key.lower() == "schemas":
            continue  # some clients repeat the extension's URN inside its object
        _apply(resource, op, parse_path(f"{ENTERPRISE_SCHEMA}:{key}"), item)


def _find_key(container: dict[str, Any], name: str) -> str:
    for key in container:
        if key.lower() == name:
            return key
    return name


def _apply(resource: dict[str, Any], op: str, path: PatchPath, value: Any) -> None:
    if path.attr in USER_READ_ONLY and not path.extension:
        raise Mutability(f"'{path.attr}' is read-only.")
    # An attribute we do not keep is ignored with every sub-attribute and value filter of it:
    # Entra's default mappings send phoneNumbers[type eq "work"].value and
    # addresses[type eq "work"].locality, which must not fail the whole PATCH.
    top = f"{_EXTENSION}:{path.attr}" if path.extension else path.attr
    if path.key in IGNORED_USER_ATTRIBUTES or top in IGNORED_USER_ATTRIBUTES:
        return
    base = path.key if not path.value_filter else path.key.split(".")[0]
    if path.key not in USER_WRITABLE and base not in USER_WRITABLE:
        raise InvalidPath(f"Unknown attribute '{path.key}'.")
    whole = path.value_filter is None and path.sub is None
    if (op == "remove" or value is None) and whole and path.key in USER_REQUIRED:
        raise Mutability(
            f"'{path.attr}' is required and cannot be removed; replace it with another value"
            + (" (false deactivates the user)." if path.attr == "active" else ".")
        )
    container = resource
    if path.extension:
        key = _find_key(resource, _EXTENSION)
        if not isinstance(resource.get(key), dict):
            resource[key] = {}
        container = resource[key]
    key = _find_key(container, path.attr)

    if path.value_filter is not None:
        _apply_filtered(container, key, op, path, value)
    elif path.sub:
        target = container.get(key)
        if target is None:
            target = container[key] = {}
        if not isinstance(target, dict):
            raise InvalidPath(f"'{path.attr}' has no sub-attributes.")
        target[_find_key(target, path.sub)] = None if op == "remove" else value
    elif op == "remove":
        container[key] = None
    elif isinstance(value, list) or isinstance(container.get(key), list):
        items = value if isinstance(value, list) else [value]
        check_attribute_values(items, attribute=path.attr)
        if op == "add":
            # RFC 7644 3.5.2.1: values already there are not added again.
            items = _distinct([*(container.get(key) or []), *items])
        container[key] = items
        check_attribute_values(items, attribute=path.attr)
    elif isinstance(container.get(key), dict) and isinstance(value, dict):
        # A complex attribute: the sub-attributes sent replace theirs, the others stay
        # (RFC 7644 3.5.2.1 and 3.5.2.3).
        container[key] = {**container[key], **value}
    else:
        container[key] = value


def _distinct(items: list[Any]) -> list[Any]:
    """The items without repeats, in order, in linear time (values compared as canonical JSON,
    so that unhashable objects compare by content)."""
    seen: set[str] = set()
    result = []
    for item in items:
        key = json.dumps(item, sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            result.append(item)
    return result


def _apply_filtered(
    container: dict[str, Any], key: str, op: str, path: PatchPath, value: Any
) -> None:
    elements = container.get(key) or []
    if not isinstance(elements, list):
        raise InvalidPath(f"'{path.attr}' is not multi-valued.")
    matched = [
        element
        for element in elements
        if isinstance(element, dict) and matches(path.value_filter, element)
    ]
    if op == "remove":
        if not matched:
            raise NoTarget(f"No value of '{path.attr}' matches the filter.")
        if path.sub:
            for element in matched:
                element.pop(_find_key(element, path.sub), None)
        else:
            removed = {id(element) for element in matched}
            container[key] = [element for element in elements if id(element) not in removed]
        return
    if not matched:
        created = _element_from_filter(path.value_filter)
        elements.append(created)
        container[key] = elements
        matched = [created]
    for element in matched:
        if path.sub:
            element[_find_key(element, path.sub)] = value
        elif isinstance(value, dict):
            element.update(value)
        else:
            raise InvalidValue(f"The value for '{path.attr}[...]' must be an object.")


def _element_from_filter(node: Node) -> dict[str, Any]:
    """The element an ``add``/``replace`` through ``emails[type eq "work"]`` creates when none
    matches: the equality constraints of the filter."""
    if isinstance(node, Comparison) and node.op == "eq":
        return {node.path.name: node.value}
    if isinstance(node, And):
        element: dict[str, Any] = {}
        for operand in node.operands:
            element.update(_element_from_filter(operand))
        return element
    return {}


def matches(node: Node, element: dict[str, Any]) -> bool:
    """Evaluate a value filter against one element of a multi-valued attribute."""
    if isinstance(node, And):
        return all(matches(operand, element) for operand in node.operands)
    if isinstance(node, Or):
        return any(matches(operand, element) for operand in node.operands)
    if isinstance(node, Not):
        return not matches(node.operand, element)
    if isinstance(node, ValuePath):
        raise InvalidPath("A filter inside a path cannot contain another filter.")
    name = (node.path.sub or node.path.name).lower()
    actual = next((value for key, value in element.items() if key.lower() == name), None)
    if isinstance(node, Present):
        return actual not in (None, "", [])
    return _compare(actual, node.op, node.value)


def _compare(actual: Any, op: str, expected: Any) -> bool:
    if isinstance(actual, str) and isinstance(expected, str):
        actual, expected = actual.lower(), expected.lower()
    if isinstance(actual, bool) and isinstance(expected, str):
        expected = expected.lower() == "true"
    try:
        return {
            "eq": lambda: actual == expected,
            "ne": lambda: actual != expected,
            "co": lambda: isinstance(actual, str) and expected in actual,
            "sw": lambda: isinstance(actual, str) and actual.startswith(expected),
            "ew": lambda: isinstance(actual, str) and actual.endswith(expected),
            "gt": lambda: actual is not None and actual > expected,
            "ge": lambda: actual is not None and actual >= expected,
            "lt": lambda: actual is not None and actual < expected,
            "le": lambda: actual is not None and actual <= expected,
        }[op]()
    except TypeError:
        return False

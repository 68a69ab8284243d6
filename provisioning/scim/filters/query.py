"""From a parsed filter to a Django ``Q``, through a mapping of attribute names to columns."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import reduce
from typing import Literal

from django.db.models import Q
from django.db.models.functions import Lower
from django.db.models.lookups import GreaterThan, GreaterThanOrEqual, LessThan, LessThanOrEqual

from provisioning.scim.filters.syntax import (
    COMPARE_OPERATORS,
    And,
    AttrPath,
    Comparison,
    FilterError,
    Node,
    Not,
    Or,
    Present,
    ValuePath,
)

AttributeType = Literal["string", "boolean", "datetime", "integer", "reference"]

# Which operators make sense for which type. RFC 7644 forbids gt/ge/lt/le on booleans (and
# binaries); co/sw/ew only have a meaning for strings; a reference (an id) is only ever equal or not.
_ALLOWED_OPERATORS: dict[str, frozenset[str]] = {
    "string": frozenset(COMPARE_OPERATORS),
    "boolean": frozenset({"eq", "ne"}),
    "datetime": frozenset({"eq", "ne", "gt", "ge", "lt", "le"}),
    "integer": frozenset({"eq", "ne", "gt", "ge", "lt", "le"}),
    "reference": frozenset({"eq", "ne"}),
}
_VALUE_EXAMPLES = {
    "string": 'a "quoted string"',
    "boolean": "true or false",
    "datetime": 'a quoted date-time such as "2026-01-01T00:00:00Z"',
    "integer": "a whole number",
    "reference": 'a quoted id such as "2819c223-7f76-453a-919d-413861904646"',
}


@dataclass(frozen=True)
class AttributeSpec:
    """How one SCIM attribute maps onto the model.

    ``field`` is a Django ORM path; when it is None the attribute has the fixed value ``constant``
    for every row (e.g. ``emails.type`` is always "work"). ``to_python`` converts the compared value
    after its type is checked (e.g. a role name, an id) and may raise ``FilterError``.
    """

    field: str | None = None
    type: AttributeType = "string"
    case_exact: bool = False
    constant: object = None
    to_python: Callable[[object], object] | None = None


# --- From the AST to a Q ------------------------------------------------------------------------

# Q() would be the natural "match everything", but ~Q() is still Q() and matches everything too,
# so a negated constant comparison would be wrong. This pair negates correctly.
_MATCH_NONE = Q(pk__in=[])
_MATCH_ALL = ~Q(pk__in=[])

_ORDERING_LOOKUPS = {
    "gt": GreaterThan,
    "ge": GreaterThanOrEqual,
    "lt": LessThan,
    "le": LessThanOrEqual,
}
_DJANGO_LOOKUPS = {
    "eq": "exact",
    "co": "contains",
    "sw": "startswith",
    "ew": "endswith",
    "gt": "gt",
    "ge": "gte",
    "lt": "lt",
    "le": "lte",
}


def filter_to_q(node: Node, attributes: Mapping[str, AttributeSpec]) -> Q:
    """Translate a parsed filter. ``attributes`` maps lowercase attribute names ("username",
    "emails.value", "urn:...:enterprise:2.0:user:division") to their spec; a name it lacks is a
    ``FilterError``, never ignored."""
    normalised = {key.lower(): spec for key, spec in attributes.items()}
    return _to_q(node, normalised, parent=None)


def _to_q(node: Node, attributes: Mapping[str, AttributeSpec], parent: AttrPath | None) -> Q:
    match node:
        case And(operands):
            return reduce(operator.and_, (_to_q(o, attributes, parent) for o in operands))
        case Or(operands):
            return reduce(operator.or_, (_to_q(o, attributes, parent) for o in operands))
        case Not(operand):
            return ~_to_q(operand, attributes, parent)
        case ValuePath(path, inner):
            if parent is not None:
                raise FilterError("A value filter [...] cannot contain another one.")
            return _to_q(inner, attributes, parent=path)
        case Present(path):
            _label, spec = _lookup(path, parent, attributes)
            return _present_q(spec)
        case Comparison(path, op, value):
            label, spec = _lookup(path, parent, attributes)
            return _comparison_q(label, spec, op, value)
    raise TypeError(f"Not a filter node: {node!r}")


def _lookup(
    path: AttrPath, parent: AttrPath | None, attributes: Mapping[str, AttributeSpec]
) -> tuple[str, AttributeSpec]:
    if parent is None:
        key, label = path.key, str(path)
    elif path.uri or path.sub:
        raise FilterError(
            f"Inside '{parent}[...]' name a sub-attribute of '{parent}', not '{path}'."
        )
    else:
        key, label = f"{parent.key}.{path.name.lower()}", f"{parent}.{path}"
    spec = attributes.get(key)
    if spec is None and parent is None and path.sub is None:
        # A multi-valued attribute named alone means its "value" (RFC 7644: emails co "x").
        spec = attributes.get(f"{key}.value")
    if spec is None:
        raise FilterError(f"Unknown attribute '{label}' in the filter.")
    return label, spec


def _present_q(spec: AttributeSpec) -> Q:
    if spec.field is None:
        return _MATCH_ALL if spec.constant not in (None, "") else _MATCH_NONE
    present = Q(**{f"{spec.field}__isnull": False})
    if spec.type == "string":  # an empty string is no value (RFC 7643 §2.5: unassigned)
        present &= ~Q(**{spec.field: ""})
    return present


def _comparison_q(label: str, spec: AttributeSpec, op: str, value: object) -> Q:
    if op not in _ALLOWED_OPERATORS[spec.type]:
        raise FilterError(
            f"The operator '{op}' does not apply to '{label}' (a {spec.type} attribute)."
        )
    if value is None:
        # null is "unassigned": eq null is the opposite of pr.
        if op not in ("eq", "ne"):
            raise FilterError(
                f"'{label} {op} null' has no meaning; use 'eq null', 'ne null' or 'pr'."
            )
        return ~_present_q(spec) if op == "eq" else _present_q(spec)
    value = _coerce(label, spec, value)
    if spec.field is None:
        return _MATCH_ALL if _constant_matches(spec, op, value) else _MATCH_NONE
    if op == "ne":
        return ~_field_q(spec, "eq", value)
    return _field_q(spec, op, value)


def _coerce(label: str, spec: AttributeSpec, value: object) -> object:
    """Check the JSON value against the attribute's type, then apply ``to_python``."""
    if spec.type == "datetime":
        value = _parse_datetime(label, value)
    elif not _has_type(value, spec.type):
        raise FilterError(
            f"'{label}' is a {spec.type} attribute; compare it with {_VALUE_EXAMPLES[spec.type]}."
        )
    if spec.to_python is None:
        return value
    try:
        return spec.to_python(value)
    except (ValueError, TypeError, AttributeError, OverflowError):
        raise FilterError(f"Invalid value for '{label}' in the filter.") from None


def _has_type(value: object, type_: str) -> bool:
    if type_ == "boolean":
        return isinstance(value, bool)
    if type_ == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    # A reference (an id) is a string too (RFC 7643 3.1): `id eq 1` compares it with a number.
    return isinstance(value, str)


def _parse_datetime(label: str, value: object) -> datetime:
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise FilterError(
            f"'{label}' is a date-time; compare it with {_VALUE_EXAMPLES['datetime']}."
        )
    # xsd:dateTime without a zone: read it as UTC rather than as the server's local time.
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        # In UTC now, as the database compares it: "9999-12-31T23:59:59-23:59" is past year
        # 9999 there, which no datetime (nor the database driver) can represent.
        return parsed.astimezone(UTC)
    except OverflowError:
        raise FilterError(
            f"'{label}': {value} is out of range; a date-time lies between years 1 and 9999."
        ) from None


def _field_q(spec: AttributeSpec, op: str, value: object) -> Q:
    field = spec.field
    assert field is not None
    insensitive = spec.type == "string" and not spec.case_exact and isinstance(value, str)
    if insensitive and op in _ORDERING_LOOKUPS:
        assert isinstance(value, str)
        return Q(_ORDERING_LOOKUPS[op](Lower(field), value.lower()))
    lookup = _DJANGO_LOOKUPS[op]
    if insensitive:
        lookup = f"i{lookup}"
    return Q(**{f"{field}__{lookup}": value})


def _constant_matches(spec: AttributeSpec, op: str, value: object) -> bool:
    constant = spec.constant
    if constant is None:  # an attribute that never has a value equals nothing
        return op == "ne"
    if isinstance(constant, str) and isinstance(value, str) and not spec.case_exact:
        constant, value = constant.casefold(), value.casefold()
    if op in ("co", "sw", "ew"):
        if not (isinstance(constant, str) and isinstance(value, str)):
            return False
        return {
            "co": value in constant,
            "sw": constant.startswith(value),
            "ew": constant.endswith(value),
        }[op]
    compare = {
        "eq": operator.eq,
        "ne": operator.ne,
        "gt": operator.gt,
        "ge": operator.ge,
        "lt": operator.lt,
        "le": operator.le,
    }[op]
    try:
        return bool(compare(constant, value))
    except TypeError:  # e.g. a constant of another type than the spec says
        return op == "ne"

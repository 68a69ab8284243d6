"""SCIM 2.0 filters (RFC 7644 §3.4.2.2): a parser of our own and its translation into a Django ``Q``.

``parse_filter`` turns the text of a ``filter`` query parameter into a small AST; ``filter_to_q``
turns the AST into a ``Q`` through a mapping of SCIM attribute names to ``AttributeSpec``. Every
error is a ``FilterError`` whose message can be shown to the client as a 400 ``invalidFilter``.

Where we are more lenient than the ABNF, on purpose, because identity providers are:
- whitespace between tokens is optional and may be repeated (the ABNF asks for exactly one SP);
- ``true``/``false``/``null``, operators, ``and``/``or``/``not`` and attribute names are
  case-insensitive (ABNF literals are case-insensitive anyway; Entra ID has been seen sending ``Eq``);
- ``emails[type eq "work"].value eq "a@b.c"`` (the PATCH path form followed by a comparison) is read
  as ``emails[type eq "work" and value eq "a@b.c"]``.

Where we are stricter: a value filter cannot contain another one (RFC 7644 erratum 4690).
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import reduce
from typing import Literal

from django.db.models import Q
from django.db.models.functions import Lower
from django.db.models.lookups import GreaterThan, GreaterThanOrEqual, LessThan, LessThanOrEqual

__all__ = [
    "MAX_FILTER_DEPTH",
    "MAX_FILTER_LENGTH",
    "And",
    "AttrPath",
    "AttributeSpec",
    "Comparison",
    "FilterError",
    "Node",
    "Not",
    "Or",
    "Present",
    "ValuePath",
    "filter_to_q",
    "parse_attribute_list",
    "parse_filter",
]

MAX_FILTER_LENGTH = 2000
MAX_FILTER_DEPTH = 20

CORE_SCHEMAS = (
    "urn:ietf:params:scim:schemas:core:2.0:user",
    "urn:ietf:params:scim:schemas:core:2.0:group",
)
COMPARE_OPERATORS = ("eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le")
_OPERATORS_TEXT = ", ".join((*COMPARE_OPERATORS, "pr"))

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
    "reference": 'a quoted id such as "42"',
}


class FilterError(Exception):
    """A filter we cannot accept. The message is safe to show to the client (400 invalidFilter);
    ``position`` is the 0-based offset in the filter text when the error is a syntax error."""

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


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
    # What every row equal to a non-empty value also satisfies, ANDed to ``eq`` comparisons so
    # the database can prove a partial index usable (userName's unique index is on
    # LOWER(username) WHERE username <> '': without the condition, the lookup scans the company).
    eq_implies: Q | None = None


# --- The AST ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttrPath:
    """``[URI ":"] ATTRNAME ["." subAttr]`` as written; ``text`` is kept for error messages."""

    uri: str | None
    name: str
    sub: str | None = None
    text: str = ""

    @property
    def key(self) -> str:
        """The lowercase lookup key: core schema URNs dropped, extension URNs kept."""
        key = self.name.lower() + (f".{self.sub.lower()}" if self.sub else "")
        uri = (self.uri or "").lower()
        return f"{uri}:{key}" if uri and uri not in CORE_SCHEMAS else key

    def __str__(self) -> str:
        return self.text or self.key


@dataclass(frozen=True)
class Comparison:
    path: AttrPath
    op: str  # one of COMPARE_OPERATORS, lowercase
    value: str | int | float | bool | None


@dataclass(frozen=True)
class Present:
    path: AttrPath


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class And:
    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    operands: tuple[Node, ...]


@dataclass(frozen=True)
class ValuePath:
    """``path[filter]``: the inner filter names sub-attributes of ``path``."""

    path: AttrPath
    filter: Node


Node = Comparison | Present | Not | And | Or | ValuePath


# --- Tokens -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # "word", "string", "number", "(", ")", "[", "]", ".", "end"
    text: str
    pos: int
    value: str | int | float | None = None  # decoded, for strings and numbers


_WHITESPACE = re.compile(r"[ \t\r\n]+")
# A word is an attribute path (URNs included: "urn:...:2.0:User:name.givenName") or a keyword.
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_:.$-]*")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_ATTR_PATH = re.compile(
    r"(?:(?P<uri>.+):)?(?P<name>[A-Za-z][A-Za-z0-9_-]*)(?:\.(?P<sub>[A-Za-z][A-Za-z0-9_-]*))?"
)


def _syntax_error(message: str, pos: int) -> FilterError:
    return FilterError(f"{message} (at character {pos + 1}).", position=pos)


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        if match := _WHITESPACE.match(text, pos):
            pos = match.end()
            continue
        char = text[pos]
        if char in "()[].":
            tokens.append(_Token(char, char, pos))
            pos += 1
        elif char == '"':
            match = _STRING.match(text, pos)
            if match is None:
                raise _syntax_error("Unterminated string: a closing double quote is missing", pos)
            tokens.append(_Token("string", match.group(), pos, _decode_string(match.group(), pos)))
            pos = match.end()
        elif match := _NUMBER.match(text, pos):
            tokens.append(_Token("number", match.group(), pos, json.loads(match.group())))
            pos = match.end()
        elif match := _WORD.match(text, pos):
            tokens.append(_Token("word", match.group(), pos))
            pos = match.end()
        else:
            raise _syntax_error(f"Unexpected character {char!r}", pos)
    tokens.append(_Token("end", "", len(text)))
    return tokens


def _decode_string(raw: str, pos: int) -> str:
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:  # a bad escape such as \x or \u12, or a raw control char
        raise _syntax_error(f"Invalid string: {exc.msg}", pos + exc.pos) from None


def _describe(token: _Token) -> str:
    if token.kind == "end":
        return "the end of the filter"
    text = token.text if len(token.text) <= 40 else token.text[:37] + "..."
    return f"'{text}'"


# --- The parser ---------------------------------------------------------------------------------
#
#   filter     = or_expr END
#   or_expr    = and_expr *("or" and_expr)         ; "and" binds tighter than "or"
#   and_expr   = unary *("and" unary)
#   unary      = "not" "(" or_expr ")" / "(" or_expr ")" / attr_expr
#   attr_expr  = attrPath "[" or_expr "]" ["." ATTRNAME comparison] / attrPath comparison
#   comparison = "pr" / compareOp compValue


def parse_filter(text: str) -> Node:
    """Parse a SCIM filter; raise ``FilterError`` (with the position) when it is not one."""
    if len(text) > MAX_FILTER_LENGTH:
        raise FilterError(f"The filter is longer than {MAX_FILTER_LENGTH} characters.")
    if not text.strip():
        raise FilterError("The filter is empty.")
    return _Parser(text).parse()


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.index = 0
        self.depth = 0

    def parse(self) -> Node:
        node = self.or_expr(in_brackets=False)
        token = self.peek()
        if token.kind != "end":
            raise _syntax_error(
                f'Unexpected {_describe(token)}; expected "and", "or" or the end of the filter',
                token.pos,
            )
        return node

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        if token.kind != "end":
            self.index += 1
        return token

    def accept_keyword(self, keyword: str) -> bool:
        token = self.peek()
        if token.kind == "word" and token.text.lower() == keyword:
            self.advance()
            return True
        return False

    def expect(self, kind: str, message: str) -> _Token:
        token = self.peek()
        if token.kind != kind:
            raise _syntax_error(f"{message}, found {_describe(token)}", token.pos)
        return self.advance()

    def or_expr(self, *, in_brackets: bool) -> Node:
        operands = [self.and_expr(in_brackets=in_brackets)]
        while self.accept_keyword("or"):
            operands.append(self.and_expr(in_brackets=in_brackets))
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def and_expr(self, *, in_brackets: bool) -> Node:
        operands = [self.unary(in_brackets=in_brackets)]
        while self.accept_keyword("and"):
            operands.append(self.unary(in_brackets=in_brackets))
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def unary(self, *, in_brackets: bool) -> Node:
        token = self.peek()
        if token.kind == "word" and token.text.lower() == "not":
            self.advance()
            opener = self.expect("(", 'Expected "(" after "not"')
            return Not(self.group(opener, ")", in_brackets=in_brackets))
        if token.kind == "(":
            self.advance()
            return self.group(token, ")", in_brackets=in_brackets)
        return self.attr_expr(in_brackets=in_brackets)

    def group(self, opener: _Token, closer: str, *, in_brackets: bool) -> Node:
        """The inside of (...) or [...], the opening token already consumed."""
        self.depth += 1
        if self.depth > MAX_FILTER_DEPTH:
            raise _syntax_error(
                f"The filter is nested more than {MAX_FILTER_DEPTH} levels deep", opener.pos
            )
        node = self.or_expr(in_brackets=in_brackets)
        self.expect(
            closer,
            f"Expected '{closer}' to close the '{opener.text}' at character {opener.pos + 1}",
        )
        self.depth -= 1
        return node

    def attr_expr(self, *, in_brackets: bool) -> Node:
        token = self.peek()
        if token.kind != "word" or token.text.lower() in ("and", "or"):
            raise _syntax_error(f"Expected an attribute name, found {_describe(token)}", token.pos)
        self.advance()
        path = _attr_path(token)
        bracket = self.peek()
        if bracket.kind != "[":
            return self.comparison(path)
        if in_brackets:
            raise _syntax_error("A value filter [...] cannot contain another one", bracket.pos)
        self.advance()
        inner = self.group(bracket, "]", in_brackets=True)
        if self.peek().kind == ".":
            self.advance()
            sub_token = self.expect("word", f"Expected a sub-attribute name after '{path}[...].'")
            sub = _attr_path(sub_token)
            if sub.uri or sub.sub:
                raise _syntax_error(f"Expected a sub-attribute name of '{path}'", sub_token.pos)
            inner = And((inner, self.comparison(sub)))
        return ValuePath(path, inner)

    def comparison(self, path: AttrPath) -> Node:
        token = self.peek()
        if token.kind != "word":
            raise _syntax_error(
                f"Expected an operator ({_OPERATORS_TEXT}) after '{path}', found {_describe(token)}",
                token.pos,
            )
        op = token.text.lower()
        if op == "pr":
            self.advance()
            return Present(path)
        if op not in COMPARE_OPERATORS:
            raise _syntax_error(
                f"Unknown operator '{token.text}'; use one of {_OPERATORS_TEXT}", token.pos
            )
        self.advance()
        return Comparison(path, op, self.comp_value(op))

    def comp_value(self, op: str) -> str | int | float | bool | None:
        token = self.peek()
        if token.kind in ("string", "number"):
            self.advance()
            return token.value
        literals = {"true": True, "false": False, "null": None}
        if token.kind == "word" and token.text.lower() in literals:
            self.advance()
            return literals[token.text.lower()]
        raise _syntax_error(
            f"Expected a value after '{op}' (a \"quoted string\", a number, true, false or null), "
            f"found {_describe(token)}",
            token.pos,
        )


def _attr_path(token: _Token) -> AttrPath:
    match = _ATTR_PATH.fullmatch(token.text)
    if match is None:
        raise _syntax_error(f"{_describe(token)} is not a valid attribute name", token.pos)
    return AttrPath(uri=match["uri"], name=match["name"], sub=match["sub"], text=token.text)


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
    if op == "eq" and spec.eq_implies is not None and value != "":
        return _field_q(spec, op, value) & spec.eq_implies
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
    except (ValueError, TypeError):
        raise FilterError(f"Invalid value for '{label}' in the filter.") from None


def _has_type(value: object, type_: str) -> bool:
    if type_ == "boolean":
        return isinstance(value, bool)
    if type_ == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if type_ == "reference":
        return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))
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
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


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


# --- attributes / excludedAttributes ------------------------------------------------------------


def parse_attribute_list(text: str | None) -> list[str]:
    """``attributes``/``excludedAttributes``: comma-separated names, trimmed, lowercased, with the
    core schema URN dropped ("urn:...:core:2.0:User:name.givenName" → "name.givenname"); extension
    names keep their URN. Duplicates and empty items are dropped; the order is kept."""
    names: list[str] = []
    for item in (text or "").split(","):
        name = _strip_core_schema(item.strip().lower())
        if name and name not in names:
            names.append(name)
    return names


def _strip_core_schema(name: str) -> str:
    for uri in CORE_SCHEMAS:
        if name.startswith(f"{uri}:"):
            return name[len(uri) + 1 :]
    return name

"""The filter language of RFC 7644 3.4.2.2: tokens, the AST and a recursive-descent parser."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from provisioning.scim.values import unstorable_text

MAX_FILTER_LENGTH = 2000
MAX_FILTER_DEPTH = 20

CORE_SCHEMAS = (
    "urn:ietf:params:scim:schemas:core:2.0:user",
    "urn:ietf:params:scim:schemas:core:2.0:group",
)
COMPARE_OPERATORS = ("eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le")
_OPERATORS_TEXT = ", ".join((*COMPARE_OPERATORS, "pr"))


class FilterError(Exception):
    """A filter we cannot accept. The message is safe to show to the client (400 invalidFilter);
    ``position`` is the 0-based offset in the filter text when the error is a syntax error."""

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


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
        value = json.loads(raw)
    except json.JSONDecodeError as exc:  # a bad escape such as \x or \u12, or a raw control char
        raise _syntax_error(f"Invalid string: {exc.msg}", pos + exc.pos) from None
    # "\u0000" and "\ud800" pass JSON; no SCIM value holds them, and PostgreSQL could not
    # even compare with them (SQLite could: the same filter would answer differently).
    if problem := unstorable_text(value):
        raise _syntax_error(f"Invalid string: it contains {problem}", pos)
    return value


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

"""Reading a SCIM request body: the only way JSON gets into SCIM, and bounded at every step.

A body is refused, each time before the next step spends anything on it:
1. by its declared ``charset``: JSON is UTF-8 (RFC 8259 8.1), so a charset other than UTF-8 is a
   415 before a byte is read. DRF's own JSONParser decodes with whatever codec the client names,
   and Python's codecs include ``zlib`` and ``bz2``: 298 KiB inflated to 1 GiB that way;
2. by its size: over ``SCIM_MAX_BODY_BYTES`` is a 413, read from the Content-Length header when
   it says so, and otherwise found by reading at most one byte more than the cap;
3. by its bytes: invalid UTF-8 is a 400 ``invalidSyntax`` (a UTF-8 byte order mark is allowed,
   RFC 8259 8.1);
4. by its nesting: deeper than ``MAX_JSON_DEPTH`` is a 400 ``invalidSyntax``, counted on the
   bytes before the recursive JSON parser sees them (100,000 nested arrays otherwise end in a
   RecursionError);
5. by its strings: one that no database column can hold (``unstorable_text``) is a 400
   ``invalidValue`` wherever it is in the document, so no SCIM code downstream meets one.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django.conf import settings
from django.utils.http import parse_header_parameters
from rest_framework.parsers import BaseParser

from provisioning.scim.errors import InvalidSyntax, InvalidValue, ScimError
from provisioning.scim.schemas import MEDIA_TYPE
from provisioning.scim.values import unstorable_text

# The deepest SCIM document is a PATCH whose value holds the enterprise extension's manager:
# {Operations: [{value: {urn...: {manager: {...}}}}]} is 5 levels. 32 leaves ample room.
MAX_JSON_DEPTH = 32

UTF8_NAMES = frozenset({"utf-8", "utf8"})
_BOM = b"\xef\xbb\xbf"

# What is left of a JSON text once its strings and everything but brackets are removed. A string
# is read as JSON reads it (the unrolled pattern: no backtracking) and one left unterminated runs
# to the end, so that every quote starts a match: a pattern that could fail at a quote would scan
# to the end again from each one (a body of 40 KB of \" took 10 s, 1 MiB hours). An unterminated
# string is the parser's to refuse, in one linear pass.
_STRINGS_AND_NON_BRACKETS = re.compile(
    rb'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)|[^\[\]{}"]+', re.DOTALL
)
_INNERMOST_PAIRS = re.compile(rb"\[\]|\{\}")


class PayloadTooLarge(ScimError):
    """RFC 7644 3.12 names no scimType for a 413 (its "tooMany" is about result sets)."""

    http_status = 413


def max_body_bytes() -> int:
    return settings.SCIM_MAX_BODY_BYTES


def check_charset(content_type: str) -> None:
    """Only UTF-8, named or implied; 415 for anything else, before the body is read."""
    _media, params = parse_header_parameters(content_type or "")
    charset = params.get("charset")
    if charset is not None and charset.strip().lower() not in UTF8_NAMES:
        raise InvalidSyntax(
            f"Only UTF-8 is accepted (RFC 8259 8.1): send {MEDIA_TYPE} without a charset "
            "or with charset=utf-8.",
            http_status=415,
        )


class LengthRequired(ScimError):
    http_status = 411


def check_framing(request) -> None:
    """Every SCIM request, once authenticated and before its query string or body is read: a
    charset other than UTF-8 is a 415 (Django would decode the query string with it too), and a
    body sent without Content-Length (chunked) a 411: Django reads such a body as empty, and
    SCIM would answer as if nothing had been sent."""
    check_charset(request.META.get("CONTENT_TYPE", ""))
    if not request.META.get("CONTENT_LENGTH") and request.META.get("HTTP_TRANSFER_ENCODING"):
        raise LengthRequired("Send the request body with a Content-Length header.")


def _too_large() -> PayloadTooLarge:
    return PayloadTooLarge(f"The request body is larger than {max_body_bytes()} bytes.")


def read_capped(stream, declared_length: int | None) -> bytes:
    """At most the cap: a Content-Length over it is refused unread; otherwise at most one byte
    past the cap is read, so a body that turns out longer than it claimed costs no more."""
    cap = max_body_bytes()
    if declared_length is not None and declared_length > cap:
        raise _too_large()
    raw = stream.read(cap + 1)
    if len(raw) > cap:
        raise _too_large()
    return raw


def check_depth(raw: bytes) -> None:
    """Each pass removes the innermost [] and {} pairs, so a document takes as many passes as
    it is deep: at most MAX_JSON_DEPTH + 1 of them, each a C-speed regex substitution."""
    skeleton = _STRINGS_AND_NON_BRACKETS.sub(b"", raw)
    for _ in range(MAX_JSON_DEPTH + 1):
        if not skeleton:
            return
        skeleton, removed = _INNERMOST_PAIRS.subn(b"", skeleton)
        if not removed:  # brackets that do not pair up
            raise InvalidSyntax("The request body is not valid JSON.")
    raise InvalidSyntax(f"The JSON is nested more than {MAX_JSON_DEPTH} levels deep.")


def decode_json(raw: bytes) -> Any:
    check_depth(raw)
    if raw.startswith(_BOM):
        raw = raw[len(_BOM) :]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidSyntax("The request body is not valid UTF-8.") from None
    try:
        document = json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):  # JSONDecodeError, NaN, an integer of 5,000 digits
        raise InvalidSyntax("The request body is not valid JSON.") from None
    _check_strings(document)
    return document


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _check_strings(document: Any) -> None:
    """Every key and string value, iteratively (the depth is already bounded)."""
    pending: list[tuple[str, Any]] = [("", document)]
    while pending:
        where, value = pending.pop()
        if isinstance(value, str):
            _check_text(value, where)
        elif isinstance(value, dict):
            for key, item in value.items():
                _check_text(key, where)
                pending.append((f"{where}.{key}" if where else key, item))
        elif isinstance(value, list):
            pending.extend((where, item) for item in value)


def _check_text(text: str, where: str) -> None:
    problem = unstorable_text(text)
    if problem:
        place = f"'{where[:100]}'" if where else "The request body"
        raise InvalidValue(f"{place} contains {problem}.")


class ScimJSONParser(BaseParser):
    """application/scim+json and application/json (Okta sends the latter), read as above. The
    charset was checked before (``check_framing``, from ``ScimView.initial``): every SCIM view
    runs it before anything reads the body."""

    media_type = MEDIA_TYPE

    def parse(self, stream, media_type=None, parser_context=None):
        request = (parser_context or {}).get("request")
        return decode_json(read_capped(stream, _declared_length(request)))


def _declared_length(request) -> int | None:
    if request is None:
        return None
    try:
        return int(request.META.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None

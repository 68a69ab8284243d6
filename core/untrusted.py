"""Values that anyone on the internet controls (a SAML response's Destination, Issuer, NameID,
attribute values and status message, a RelayState, a connection name in a URL, a user agent...)
are clipped by ``clip`` before they are stored (audit events) or logged, so that an anonymous
request cannot make a row or a log line larger than a few kilobytes.

One limit, ``UNTRUSTED_MAX_CHARS``, applies to every value whatever its shape: a string keeps its
first characters, a list or a dict its first items until their text reaches the limit, and what
was cut is said (``…[+N chars]``, ``…[+N items]``), so support sees that it was cut and how much.
A record of several values (an error's details) is clipped value by value (``clip_fields``):
its keys are the code's, its values anyone's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

UNTRUSTED_MAX_CHARS = 512


def clip(value: Any) -> Any:
    """``value`` with every string, list and dict in it cut to ``UNTRUSTED_MAX_CHARS``
    (numbers, booleans and None pass as they are)."""
    if isinstance(value, str):
        return _clip_text(value)
    if isinstance(value, bytes):
        return _clip_text(value.decode("utf-8", "replace"))
    if isinstance(value, Mapping):
        return _clip_items(
            list(value.items()), lambda item: (_clip_text(str(item[0])), clip(item[1])), dict
        )
    if isinstance(value, list | tuple | set | frozenset):
        return _clip_items(list(value), clip, list)
    if value is None or isinstance(value, bool | int | float):
        return value
    return _clip_text(str(value))


def clip_fields(record: Mapping[str, Any]) -> dict[str, Any]:
    """A record whose keys the code chose (an error's ``extra``), each value clipped."""
    return {str(key)[:100]: clip(value) for key, value in record.items()}


def _clip_text(text: str) -> str:
    if len(text) <= UNTRUSTED_MAX_CHARS:
        return text
    return f"{text[:UNTRUSTED_MAX_CHARS]}…[+{len(text) - UNTRUSTED_MAX_CHARS} chars]"


def _clip_items(items: list, clip_item, build):
    kept, used = [], 0
    for item in items:
        clipped = clip_item(item)
        size = len(str(clipped)) + 4  # quotes and a separator: empty items count too
        if kept and used + size > UNTRUSTED_MAX_CHARS:
            break
        kept.append(clipped)
        used += size
    result = build(kept)
    left = len(items) - len(kept)
    if left:
        if isinstance(result, dict):
            result["…"] = f"+{left} items"
        else:
            result.append(f"…[+{left} items]")
    return result

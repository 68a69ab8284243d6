from __future__ import annotations

import re

# A local path: one leading slash, then anything but a second slash or backslash (browsers read
# "/\evil" as "//evil"), and no control characters or whitespace that browsers strip.
_LOCAL_PATH = re.compile(r"/(?![/\\])[^\s\x00-\x1f\x7f\\]*")


def safe_next_path(candidate: str | None, *, default: str = "/") -> str:
    """``candidate`` when it is a path on this site, else ``default``. Refuses absolute URLs,
    scheme-relative ``//host``, ``/\\host``, ``javascript:`` and anything with control characters."""
    if not candidate or len(candidate) > 2000:
        return default
    return candidate if _LOCAL_PATH.fullmatch(candidate) else default

"""ETags (RFC 7644 3.14): ``meta.version`` and the ``ETag`` header, ``If-None-Match`` on reads,
``If-Match`` on writes.

A version is weak (``W/"…"``, RFC 7232 2.1): a digest of what the resource shows, so two reads
carry the same version exactly when they show the same resource. A User is all in its own
representation (its team's name included, which a rename changes without touching the user's
row). A Group's members are rows of another table: its version digests its own attributes and
the version of its member list (``ScimGroupMembers``, kept by a database trigger), so it is the
same whether or not the members were asked for, and reading it costs no members query.

Comparison is weak for both headers, as RFC 7644 3.14 shows If-Match with weak tags; ``*``
matches any existing resource.
"""

from __future__ import annotations

import hashlib
from typing import Any

from provisioning.scim.errors import ScimError


class PreconditionFailed(ScimError):
    """RFC 7644 3.12: 412, "Failed to update. Resource has changed on the server." (no
    scimType is defined for it)."""

    http_status = 412


def resource_version(resource: dict[str, Any], *extra: object) -> str:
    """The weak ETag of a rendered resource (without ``meta.version``) and ``extra``: a digest
    of its ``repr``, which the renderers build in a fixed order from strings, booleans and
    lists, so equal resources give equal text (and it costs a few microseconds: every resource
    of a page of 100 has one)."""
    content = [resource.get("meta", {}).get(k) for k in ("created", "lastModified")]
    content += [(k, v) for k, v in resource.items() if k != "meta"]
    text = repr([content, *extra])
    return f'W/"{hashlib.blake2b(text.encode(), digest_size=12).hexdigest()}"'


def _opaque(tag: str) -> str:
    tag = tag.strip()
    return tag[2:] if tag.startswith("W/") else tag


def _tags(header: str) -> list[str]:
    # Entity tags are quoted and cannot hold a comma unescaped in practice; a list is
    # comma-separated (RFC 7232 3.1).
    return [_opaque(tag) for tag in header.split(",") if tag.strip()]


def matches(header: str, version: str) -> bool:
    tags = _tags(header)
    return "*" in tags or _opaque(version) in tags


def check_if_match(header: str | None, version: str) -> None:
    """Before a write: the version the client last saw must still be the resource's."""
    if header is not None and not matches(header, version):
        raise PreconditionFailed(
            "The resource has changed since the version in If-Match; read it again."
        )

"""DRF plumbing for SCIM: media types, the error handler, paging, attribute selection."""

from __future__ import annotations

import logging
import math
from typing import Any

from django.conf import settings
from django.core.exceptions import SuspiciousOperation, TooManyFieldsSent
from rest_framework import exceptions as drf_exceptions
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from accounts.exceptions import EmailDomainHeld
from core.exceptions import ApplicationError, Conflict
from provisioning.scim.errors import (
    InvalidFilter,
    InvalidSyntax,
    InvalidValue,
    ScimError,
    Unauthorized,
    Uniqueness,
)
from provisioning.scim.filters import FilterError, parse_attribute_list
from provisioning.scim.schemas import LIST_RESPONSE, MEDIA_TYPE

logger = logging.getLogger(__name__)

MAX_PAGE_SIZE = 200
DEFAULT_PAGE_SIZE = 100


class ScimJSONRenderer(JSONRenderer):
    media_type = MEDIA_TYPE
    charset = None


def scim_response(data: Any, status: int = 200, headers: dict | None = None) -> Response:
    return Response(data, status=status, headers=headers, content_type=MEDIA_TYPE)


def scim_exception_handler(exc: Exception, context: dict) -> Response | None:
    """Every error in the SCIM error schema (RFC 7644 3.12). The one place where the errors of
    the services become SCIM's: a ``Conflict`` is a 409 ``uniqueness`` (worded by the view, in
    SCIM's terms), any other ``ApplicationError`` (``ValidationFailed``...) an ``invalidValue``
    with its message."""
    retry_after = None
    if isinstance(exc, ScimError):
        error = exc
    elif isinstance(exc, EmailDomainHeld):
        # An email in a domain another company holds (accounts: a domain is its holder's
        # alone). RFC 7644 3.12 gives 409 "uniqueness" to "attribute values already in use or
        # reserved": this value is reserved for the domain's holder. Not 403 (the token may
        # write users, just not this value) nor invalidValue (the email is well-formed). The
        # same answer whether or not the holder has a user with that email, so it reveals
        # nothing about another company's people.
        error = Uniqueness(exc.message)
    elif isinstance(exc, Conflict):
        error = Uniqueness(getattr(context.get("view"), "conflict_detail", None) or exc.message)
    elif isinstance(exc, FilterError):
        error = InvalidFilter(exc.message)
    elif isinstance(exc, drf_exceptions.NotAuthenticated | drf_exceptions.AuthenticationFailed):
        error = Unauthorized()
    elif isinstance(exc, TooManyFieldsSent):
        error = ScimError(
            f"More than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} query parameters.",
            http_status=400,
        )
    elif isinstance(exc, SuspiciousOperation):  # Django's other refusals of a request as sent
        error = ScimError("The request is malformed.", http_status=400)
    elif isinstance(exc, drf_exceptions.ParseError):
        error = InvalidSyntax("The request body is not valid JSON.")
    elif isinstance(exc, drf_exceptions.UnsupportedMediaType):
        error = InvalidSyntax("Send application/scim+json (or application/json).", http_status=415)
    elif isinstance(exc, drf_exceptions.MethodNotAllowed):
        error = ScimError("Method not allowed.", http_status=405)
    elif isinstance(exc, drf_exceptions.Throttled):
        # RFC 7644 has no scimType for a rate limit ("tooMany" is about result sizes).
        retry_after = max(1, math.ceil(exc.wait or 1))
        error = ScimError(f"Too many requests; retry in {retry_after} seconds.", http_status=429)
    elif isinstance(exc, drf_exceptions.NotAcceptable):
        error = ScimError("Only application/scim+json is served.", http_status=406)
    elif isinstance(exc, ApplicationError):
        error = InvalidValue(
            exc.message, http_status=exc.http_status if exc.http_status < 500 else 400
        )
    else:
        return None  # a bug: let Django log it and answer 500
    response = scim_response(error.body(), status=error.http_status)
    if error.http_status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="scim"'
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


def paging(query: dict[str, str]) -> tuple[int, int]:
    """(startIndex, count): 1-based, count capped (RFC 7644 3.4.2.4)."""

    def number(name: str, default: int) -> int:
        raw = query.get(name)
        if raw in (None, ""):
            return default
        try:
            return int(raw)
        except ValueError:
            raise InvalidValue(f"'{name}' must be an integer.") from None

    start = max(number("startIndex", 1), 1)
    count = min(max(number("count", DEFAULT_PAGE_SIZE), 0), MAX_PAGE_SIZE)
    return start, count


def list_response(resources: list[dict], *, total: int, start: int) -> dict:
    return {
        "schemas": [LIST_RESPONSE],
        "totalResults": total,
        "startIndex": start,
        "itemsPerPage": len(resources),
        "Resources": resources,
    }


ALWAYS_RETURNED = frozenset({"id", "schemas", "meta"})


def select_attributes(resource: dict, query: dict[str, str]) -> dict:
    """Honour ``attributes`` / ``excludedAttributes`` (RFC 7644 3.4.2.5); id, schemas and meta
    are always returned."""
    wanted = parse_attribute_list(query.get("attributes"))
    excluded = parse_attribute_list(query.get("excludedAttributes"))
    if not wanted and not excluded:
        return resource
    result = {}
    for key, value in resource.items():
        lower = key.lower()
        if lower in ALWAYS_RETURNED:
            result[key] = value
            continue
        if wanted:
            subs = [name.split(".", 1)[1] for name in wanted if name.startswith(lower + ".")]
            if lower in wanted:
                result[key] = value
            elif subs and isinstance(value, dict):
                result[key] = {k: v for k, v in value.items() if k.lower() in subs}
            continue
        if lower not in excluded:
            result[key] = value
    return result

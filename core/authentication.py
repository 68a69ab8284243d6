"""OAuth 2.0 bearer tokens for DRF views, from the Authorization header only."""

from __future__ import annotations

from django.http import QueryDict
from oauth2_provider.contrib.rest_framework import OAuth2Authentication
from rest_framework.authentication import get_authorization_header


class _WithoutBody:
    """The request as oauthlib gets to see it: method, path and headers, and an empty form.
    django-oauth-toolkit reads ``request.POST`` to look for a token in a form body; on a DRF
    request that parses the body (a SCIM request's JSON) of a caller not yet authenticated,
    and on a form it reads up to DATA_UPLOAD_MAX_MEMORY_SIZE and answers an HTML 400 past it."""

    POST = QueryDict()

    def __init__(self, request) -> None:
        object.__setattr__(self, "_request", request)

    def __getattr__(self, name):
        return getattr(self._request, name)

    def __setattr__(self, name, value):  # what it sets (oauth2_error) is the request's
        setattr(self._request, name, value)


class HeaderBearerAuthentication(OAuth2Authentication):
    """django-oauth-toolkit's authentication, taking the token from ``Authorization: Bearer``
    alone (RFC 6750 section 2.1). A token in the query string (section 2.3) ends up in proxy
    logs, browser history and Referer headers, and one in a form body (section 2.2) can be
    planted by a cross-site form: neither ever authorizes anything here (RFC 9700 4.3.2), and
    the body is never even read to look for one."""

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if len(parts) != 2 or parts[0].lower() != b"bearer":
            return None
        return super().authenticate(_WithoutBody(request))

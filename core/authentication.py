"""OAuth 2.0 bearer tokens for DRF views, from the Authorization header only."""

from __future__ import annotations

from oauth2_provider.contrib.rest_framework import OAuth2Authentication
from rest_framework.authentication import get_authorization_header


class HeaderBearerAuthentication(OAuth2Authentication):
    """django-oauth-toolkit's authentication, taking the token from ``Authorization: Bearer``
    alone (RFC 6750 section 2.1). A token in the query string (section 2.3) ends up in proxy
    logs, browser history and Referer headers, and one in a form body (section 2.2) can be
    planted by a cross-site form: neither ever authorizes anything here (RFC 9700 4.3.2)."""

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if len(parts) != 2 or parts[0].lower() != b"bearer":
            return None
        return super().authenticate(request)

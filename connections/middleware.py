"""RATE_LIMIT_SSO: hits per client address on the sign-in pages and SAML endpoints (/sso/...)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from core.logs import log_context_update
from core.proxy import address_key, client_address
from core.ratelimit import rate_limit_hit

SSO_PREFIX = "/sso/"


class SsoRateLimitMiddleware:
    """Per address: a flood from one address is refused without touching anyone else's
    sign-in, whatever company they belong to (which address counts: TRUSTED_PROXY_HOPS)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(SSO_PREFIX):
            decision = rate_limit_hit(
                scope="sso",
                key=address_key(client_address(request)),
                rate=settings.RATE_LIMIT_SSO,
            )
            if not decision.allowed:
                log_context_update(error_code="rate_limited")
                response = render(
                    request,
                    "sso/rate_limited.html",
                    {"retry_after": decision.retry_after},
                    status=429,
                )
                response["Retry-After"] = str(decision.retry_after)
                return response
        return self.get_response(request)

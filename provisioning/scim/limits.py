"""SCIM rate limits: RATE_LIMIT_SCIM per token (or OAuth grant), RATE_LIMIT_SCIM_AUTH failed
authentications per client address. Refusals are DRF ``Throttled``: a 429 with Retry-After in
the SCIM error schema (``provisioning.scim.http``)."""

from __future__ import annotations

from django.conf import settings
from rest_framework.exceptions import Throttled
from rest_framework.throttling import BaseThrottle

from core.proxy import address_key, client_address
from core.ratelimit import rate_limit_hit
from provisioning.models import ScimToken


class ScimTokenRateLimit(BaseThrottle):
    """Per credential: a static token by its (stored) hash; an OAuth token by its client and
    connection, so refreshing the token does not reset the count."""

    def allow_request(self, request, view) -> bool:
        credential = request.auth
        if isinstance(credential, ScimToken):
            key = f"token:{credential.token_hash}"
        else:
            key = f"oauth:{credential.application.client_id}:{request.user.connection.name}"
        decision = rate_limit_hit(scope="scim", key=key, rate=settings.RATE_LIMIT_SCIM)
        self._wait = decision.retry_after
        return decision.allowed

    def wait(self) -> int:
        return self._wait


def scim_authentication_failed(request) -> None:
    """Count a failed authentication against the client's address; past RATE_LIMIT_SCIM_AUTH
    the answer is a 429 instead of a 401. Only failures are counted and only failures are
    refused: an IdP's requests come from addresses it shares between all its customers, so a
    valid token is never refused because someone else's invalid one failed from there."""
    decision = rate_limit_hit(
        scope="scim-auth",
        key=address_key(client_address(request)),
        rate=settings.RATE_LIMIT_SCIM_AUTH,
    )
    if not decision.allowed:
        raise Throttled(wait=decision.retry_after)

"""django-oauth-toolkit's request validator with the rules RFC 6749 and RFC 9700 add to the
authorization-code exchange that the toolkit leaves to us."""

from __future__ import annotations

from django.db import transaction
from oauth2_provider.models import get_grant_model
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauthlib.oauth2.rfc6749 import errors

from provisioning.grants import authorization_code_replayed, authorization_code_used
from provisioning.selectors import oauth_client_find


def pkce_required(client_id: str) -> bool:
    """PKCE (S256) is required of public clients. A confidential client, which authenticates
    with its secret when it exchanges a code, may do without: Okta's "Authenticate with …" client
    is one, and the parameters Okta documents for it (client id and secret, authorize and token
    URLs, scopes) include no code challenge. A confidential client that sends a challenge is held
    to it, and `plain` is refused for everyone (COMPLIANT_BCP_RFC9700_PKCE_METHOD)."""
    client = oauth_client_find(client_id=client_id)
    return client is None or client.client_type != client.CLIENT_CONFIDENTIAL


class ScimOAuth2Validator(OAuth2Validator):
    def validate_code(self, client_id, code, client, request, *args, **kwargs) -> bool:
        grant = get_grant_model().objects.filter(code=code, application=client).first()
        # The rest of the exchange reads this grant, not the table again: the toolkit's own
        # lookups (.get()) fail with a 500 when a concurrent exchange of the same code has
        # deleted the row in between.
        request.exchanged_grant = grant
        if grant is None:
            # RFC 6749 4.1.2: a code used twice is refused, and what it issued is revoked.
            authorization_code_replayed(code=code)
            return False
        if request.code_verifier and not grant.code_challenge:
            # RFC 9700 2.1.1 (PKCE downgrade): a verifier for a code issued without a challenge
            # means the challenge was stripped from the authorization request on its way.
            return False
        return super().validate_code(client_id, code, client, request, *args, **kwargs)

    def get_code_challenge(self, code, request):
        return request.exchanged_grant.code_challenge or None

    def get_code_challenge_method(self, code, request):
        return request.exchanged_grant.code_challenge_method or None

    def confirm_redirect_uri(self, client_id, code, redirect_uri, client, request, *args, **kwargs):
        return request.exchanged_grant.redirect_uri_allowed(redirect_uri)

    def _create_refresh_token(self, request, refresh_token_code, access_token, previous):
        token = super()._create_refresh_token(request, refresh_token_code, access_token, previous)
        request.issued_token_family = token.token_family
        return token

    def invalidate_authorization_code(self, client_id, code, request, *args, **kwargs) -> None:
        family = getattr(request, "issued_token_family", None)
        # The grant goes and the record of its use comes in one transaction: another exchange
        # of the code sees one or the other, never neither.
        with transaction.atomic():
            grants = get_grant_model().objects.filter(code=code, application=request.client)
            if grants.delete()[0]:
                authorization_code_used(code=code, client_id=request.client_id, token_family=family)
                return
        # Another exchange of the same code got here first, at the same moment: a replay, whose
        # tokens (and the ones issued now) are revoked.
        authorization_code_replayed(code=code, token_families=(family,))
        raise errors.InvalidGrantError(request=request)

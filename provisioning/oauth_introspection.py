"""RFC 7662 token introspection, for the client a token was issued to only."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider.views import IntrospectTokenView
from oauth2_provider.views.mixins import OAuthLibMixin
from oauthlib.common import Request as OauthlibRequest

from provisioning.selectors import oauth_token_issued_to


@method_decorator(csrf_exempt, name="dispatch")  # a back-channel call, authenticated as a client
class OwnTokenIntrospectionView(OAuthLibMixin, View):
    """The caller authenticates as a client (never with an access token), by POST, and a token
    of another client is reported like an unknown one, ``{"active": false}`` (RFC 7662 2.2):
    django-oauth-toolkit's own view answers any authenticated client about any token."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> JsonResponse:
        core = self.get_oauthlib_core()
        # The toolkit's own translation of the request; its authenticate_client() wrapper would
        # not tell us which client it authenticated.
        oauth_request = OauthlibRequest(*core._extract_params(request))
        if not core.server.request_validator.authenticate_client(oauth_request):
            response = JsonResponse({"error": "invalid_client"}, status=401)
            response["WWW-Authenticate"] = 'Basic realm="oauth"'
            return response
        token = request.POST.get("token")
        if not token:
            return IntrospectTokenView.get_token_response(None)  # 400 invalid_request
        if not oauth_token_issued_to(token=token, client=oauth_request.client):
            return JsonResponse({"active": False})
        return IntrospectTokenView.get_token_response(token)

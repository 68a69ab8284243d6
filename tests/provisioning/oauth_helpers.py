"""Okta's side of "Authenticate with …", played through Django's test client.

Two actors, as in real life:

- the admin's *browser* (a ``Client`` with cookies and CSRF checks) opens the authorization URL,
  signs in, reads the approval page and submits its form exactly as rendered (``submit_form``);
- *Okta's back channel* (``OktaClient``, a cookie-less ``Client``) exchanges the code, refreshes
  and revokes at the token endpoints with its client credentials.

Nothing of the application is mocked; the client is registered with the real service.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from django.http import HttpResponse
from django.test import Client
from lxml import html

from provisioning.oauth_clients import oauth_client_create

AUTHORIZE = "/oauth/authorize/"
TOKEN = "/oauth/token/"
REVOKE = "/oauth/revoke/"

#: The OIN app name of the customer setup guide's integration.
OKTA_APP = "sendoso"
OKTA_CALLBACKS = [
    f"https://system-admin.okta.com/admin/app/cpc/{OKTA_APP}/oauth/callback",
    f"https://system-admin.okta-emea.com/admin/app/cpc/{OKTA_APP}/oauth/callback",
    f"https://system-admin.oktapreview.com/admin/app/cpc/{OKTA_APP}/oauth/callback",
]
OKTA_CALLBACK = OKTA_CALLBACKS[0]


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge) as RFC 7636 section 4 builds them."""
    verifier = secrets.token_urlsafe(48)  # 64 characters of the unreserved set
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _basic(client_id: str, secret: str) -> str:
    # RFC 6749 section 2.3.1: both parts are form-urlencoded before base64.
    raw = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


@dataclass
class OktaClient:
    """The OAuth client Okta is: a confidential client with Okta's registered callbacks."""

    client_id: str
    client_secret: str
    redirect_uri: str = OKTA_CALLBACK
    http: Client = field(default_factory=Client)

    @classmethod
    def register(cls, name: str = "Okta", **kwargs: Any) -> OktaClient:
        redirect_uris = kwargs.pop("redirect_uris", [])
        client, secret = oauth_client_create(
            name=name, redirect_uris=redirect_uris, okta_app=OKTA_APP
        )
        if redirect_uris:
            kwargs.setdefault("redirect_uri", redirect_uris[0])
        return cls(client_id=client.client_id, client_secret=secret, **kwargs)

    def authorize_url(
        self, *, state: str, scope: str | None = "scim", redirect_uri: str | None = None, **extra
    ) -> str:
        query: dict[str, str] = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": redirect_uri or self.redirect_uri,
            "state": state,
        }
        if scope is not None:
            query["scope"] = scope
        query.update(extra)
        return f"{AUTHORIZE}?{urlencode(query)}"

    def _post(self, url: str, data: dict[str, str], *, basic: bool) -> HttpResponse:
        headers = {}
        if basic:
            headers["Authorization"] = _basic(self.client_id, self.client_secret)
        else:
            data = {**data, "client_id": self.client_id, "client_secret": self.client_secret}
        return self.http.post(url, data, headers=headers)

    def exchange(
        self,
        code: str,
        *,
        basic: bool = True,
        code_verifier: str | None = None,
        redirect_uri: str | None = None,
        **extra: str,
    ) -> HttpResponse:
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri or self.redirect_uri,
            **extra,
        }
        if code_verifier is not None:
            data["code_verifier"] = code_verifier
        return self._post(TOKEN, data, basic=basic)

    def refresh(self, refresh_token: str, *, basic: bool = False, **extra: str) -> HttpResponse:
        data = {"grant_type": "refresh_token", "refresh_token": refresh_token, **extra}
        return self._post(TOKEN, data, basic=basic)

    def revoke(self, token: str, *, hint: str = "access_token") -> HttpResponse:
        return self._post(REVOKE, {"token": token, "token_type_hint": hint}, basic=True)


def token_body(response: HttpResponse) -> dict[str, Any]:
    """The JSON of a successful token response (RFC 6749 section 5.1)."""
    assert response.status_code == 200, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json")
    assert response["Cache-Control"] == "no-store"
    return json.loads(response.content)


def token_error(response: HttpResponse, error: str, *, status: int = 400) -> dict[str, Any]:
    """An RFC 6749 section 5.2 error: the status and the ``error`` code."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    body = json.loads(response.content)
    assert body["error"] == error, body
    assert "access_token" not in body
    return body


# --- the browser -------------------------------------------------------------------------------


def browser() -> Client:
    """A browser: cookies kept, CSRF enforced as in production."""
    return Client(enforce_csrf_checks=True)


def page_text(response: HttpResponse) -> str:
    return response.content.decode("utf-8", "replace")


def approval_form(response: HttpResponse):
    """The approval page's one form (an lxml element)."""
    assert response.status_code == 200, (response.status_code, page_text(response)[:800])
    assert "oauth/authorize.html" in [t.name for t in response.templates]
    forms = html.fromstring(response.content).forms
    assert len(forms) == 1, page_text(response)
    return forms[0]


def connection_options(response: HttpResponse) -> dict[str, str]:
    """The connection choices of the approval page: option text -> value (the pk)."""
    form = approval_form(response)
    selects = form.xpath(".//select[@name='connection']")
    if not selects:
        return {}
    return {
        option.text_content().strip(): option.get("value") for option in selects[0].xpath("option")
    }


def selected_connection(response: HttpResponse) -> str | None:
    form = approval_form(response)
    selects = form.xpath(".//select[@name='connection']")
    return selects[0].value if selects else None


def submit_form(
    browser_client: Client,
    response: HttpResponse,
    *,
    allow: bool,
    overrides: dict[str, str] | None = None,
) -> HttpResponse:
    """Submit the approval page's form as a browser does: every field as rendered (hidden
    inputs, the select's chosen option, the CSRF token), plus the button pressed. ``allow``
    presses "Allow" (which carries ``allow=Authorize``) or "Deny" (which carries nothing).
    ``overrides`` changes field values the way a tampering user could."""
    form = approval_form(response)
    data = {name: value for name, value in form.form_values()}
    if allow:
        buttons = form.xpath(".//button[@name='allow']")
        assert len(buttons) == 1, "no Allow button"
        data["allow"] = buttons[0].get("value")
    data.update(overrides or {})
    action = form.get("action") or response.request["PATH_INFO"] + (
        "?" + response.request["QUERY_STRING"] if response.request.get("QUERY_STRING") else ""
    )
    return browser_client.post(action, data)


def redirect_query(response: HttpResponse, redirect_uri: str) -> dict[str, str]:
    """The response redirects to exactly ``redirect_uri`` plus a query: returns the query."""
    assert response.status_code == 302, (response.status_code, page_text(response)[:800])
    location = response["Location"]
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == redirect_uri, location
    assert not parts.fragment, location
    query = parse_qs(parts.query, keep_blank_values=True)
    assert all(len(values) == 1 for values in query.values()), location
    return {name: values[0] for name, values in query.items()}


def code_from(response: HttpResponse, okta: OktaClient, *, state: str) -> str:
    """The authorization response (RFC 6749 4.1.2): a code and the same state on the callback."""
    query = redirect_query(response, okta.redirect_uri)
    assert "error" not in query, query
    assert query["state"] == state, query
    assert query["code"], query
    return query["code"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}

"""Okta's "Authenticate with …" button, in the browser: Okta opens our authorization page, a
company admin signs in through their SSO, approves on the consent page, and Okta's callback
receives the code (the browser really goes there; Playwright answers for Okta's host, which is
not reachable from the tests). Okta's back channel then exchanges the code and provisions."""

from __future__ import annotations

import base64
import json
import re
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

from connections.models import Connection
from provisioning.oauth_clients import oauth_client_create
from tests.e2e.browser import expect
from tests.e2e.steps import E2E, assert_accessible, choose_person_at_idp, start_sign_in
from tests.provisioning.oauth_helpers import pkce_pair

pytestmark = E2E

OKTA_APP = "sendoso"
CALLBACK = f"https://system-admin.okta.com/admin/app/cpc/{OKTA_APP}/oauth/callback"
OKTA_PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Okta</title>'
    '<link rel="icon" href="data:,"></head><body><p>Okta received the authorization.</p></body>'
    "</html>"
)


def test_a_company_admin_approves_okta_and_the_callback_receives_the_code(site, demo, browser):
    client, secret = oauth_client_create(name="Okta", redirect_uris=[], okta_app=OKTA_APP)
    state = secrets.token_urlsafe(16)
    verifier, challenge = pkce_pair()
    received: list[str] = []

    def okta(route) -> None:  # runs on the browser thread
        received.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body=OKTA_PAGE)

    page = browser()
    page.route(re.compile("^" + re.escape(CALLBACK)), okta)
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client.client_id,
            "redirect_uri": CALLBACK,
            "scope": "scim",
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    page.goto(f"/oauth/authorize/?{query}")
    page.wait_for_url(re.compile(re.escape(f"{site.url}/sso/?next=")))
    start_sign_in(page, "ada@demo.example")
    choose_person_at_idp(page, site, "ada@demo.example", answering="demo")

    page.wait_for_url(re.compile(re.escape(f"{site.url}/oauth/authorize/?")))
    expect(page.get_by_role("heading", name="Allow Okta?")).to_be_visible()
    expect(page.locator("main")).to_contain_text("Signed in as ada@demo.example (Demo Inc)")
    connection = page.get_by_label("Connection that Okta provisions")
    expect(connection).to_have_value(str(Connection.objects.get(name="demo").pk))
    assert_accessible(page)
    page.get_by_role("button", name="Allow").click()

    page.wait_for_url(re.compile("^" + re.escape(CALLBACK)))
    expect(page.locator("body")).to_have_text("Okta received the authorization.")
    assert len(received) == 1
    answer = parse_qs(urlsplit(received[0]).query)
    assert answer["state"] == [state]
    code = answer["code"][0]

    # Okta's back channel: the code for tokens, then SCIM with the access token.
    credentials = base64.b64encode(f"{client.client_id}:{secret}".encode()).decode()
    status, tokens = site.server.fetch_json(
        "/oauth/token/",
        data=urlencode(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": CALLBACK,
                "code_verifier": verifier,
            }
        ).encode(),
        headers={
            "Authorization": f"Basic {credentials}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    assert status == 200, tokens
    status, _headers, body = site.server.fetch(
        "/scim/v2/Users?filter=" + urlencode({"": 'userName eq "ada@demo.example"'})[1:],
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )
    assert status == 200, body
    assert [user["userName"] for user in json.loads(body)["Resources"]] == ["ada@demo.example"]

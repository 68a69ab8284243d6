"""Okta's "Authenticate with …" button, in the browser: Okta's admin page opens our authorization
page in a pop-up (the guide: "A pop-up will appear asking you to log in"), a company admin signs
in through their SSO, approves on the consent page, and Okta's callback receives the code in that
pop-up (the browser really goes there; Playwright answers for Okta's host, which is not reachable
from the tests) and hands it to the admin page that opened it through ``window.opener``, the way
OAuth pop-ups report back. Okta's back channel then exchanges the code and provisions."""

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
OKTA_ORIGIN = "https://system-admin.okta.com"
CALLBACK = f"{OKTA_ORIGIN}/admin/app/cpc/{OKTA_APP}/oauth/callback"
PROVISIONING_PAGE = f"{OKTA_ORIGIN}/admin/app/{OKTA_APP}/instance/provisioning"
HEAD = '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Okta</title>'
HEAD += '<link rel="icon" href="data:,"></head>'
# Okta's provisioning tab: the button opens the authorization pop-up and waits for its message.
OKTA_ADMIN_PAGE = HEAD + (
    '<body><button id="authenticate">Authenticate with Sendoso</button><p id="result"></p>'
    "<script>"
    "document.getElementById('authenticate').onclick = () => window.open(AUTHORIZE, 'okta_oauth',"
    " 'popup,width=600,height=700');"
    "window.addEventListener('message', (event) => {"
    f" if (event.origin === '{OKTA_ORIGIN}') document.getElementById('result').textContent ="
    " 'code received: ' + event.data; });"
    "</script></body></html>"
)
# Okta's callback, in the pop-up: the code goes back to the page that opened it.
OKTA_CALLBACK_PAGE = HEAD + (
    "<body><p>Okta received the authorization.</p><script>"
    "const code = new URLSearchParams(location.search).get('code');"
    f"if (window.opener) window.opener.postMessage(code, '{OKTA_ORIGIN}');"
    "else document.body.append(' The page that opened this window is gone.');"
    "</script></body></html>"
)


def test_a_company_admin_approves_okta_and_the_callback_receives_the_code(site, demo, browser):
    client, secret = oauth_client_create(name="Okta", redirect_uris=[], okta_app=OKTA_APP)
    state = secrets.token_urlsafe(16)
    verifier, challenge = pkce_pair()
    received: list[str] = []

    def okta(route) -> None:  # runs on the browser thread
        if route.request.url.startswith(CALLBACK):
            received.append(route.request.url)
            body = OKTA_CALLBACK_PAGE
        else:
            body = OKTA_ADMIN_PAGE.replace("AUTHORIZE", json.dumps(authorize_url))
        route.fulfill(status=200, content_type="text/html", body=body)

    okta_admin = browser()
    okta_admin.context.route(re.compile("^" + re.escape(OKTA_ORIGIN)), okta)
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
    authorize_url = f"{site.url}/oauth/authorize/?{query}"
    okta_admin.goto(PROVISIONING_PAGE)
    with okta_admin.expect_popup() as popup:
        okta_admin.get_by_role("button", name="Authenticate with Sendoso").click()
    page = popup.value
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
    # The pop-up kept its opener through our pages (no Cross-Origin-Opener-Policy cut it off).
    expect(okta_admin.locator("#result")).to_have_text(f"code received: {code}")

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

"""RATE_LIMIT_SCIM per token and RATE_LIMIT_SCIM_AUTH failed authentications per address
(issue 12): a 429 with Retry-After and a SCIM error body; nothing is written by a refused
request; one token or one address never uses up another's allowance."""

from __future__ import annotations

import random

import pytest
from django.test import Client

from accounts.models import User
from config.env import Rate
from tests.provisioning.oauth_helpers import OktaClient, browser, code_from, submit_form
from tests.provisioning.scim_helpers import ScimClient, assert_scim_error

pytestmark = pytest.mark.django_db


def an_address() -> str:
    return f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"


def scim_from(address: str, raw_token: str | None) -> ScimClient:
    return ScimClient(raw_token, client=Client(HTTP_X_FORWARDED_FOR=address))


def new_user(email: str) -> dict:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": email,
        "emails": [{"value": email, "primary": True}],
    }


def assert_rate_limited(client: ScimClient, status, body) -> None:
    assert_scim_error(status, body, http_status=429, scim_type=None)
    retry_after = int(client.last["Retry-After"])
    assert 1 <= retry_after <= 60
    assert f"retry in {retry_after} seconds" in body["detail"]
    assert client.last["Content-Type"] == "application/scim+json"


def test_a_token_past_its_limit_gets_a_scim_429_and_writes_nothing(settings, acme, globex):
    settings.RATE_LIMIT_SCIM = Rate(count=2, seconds=60)
    acme_scim = ScimClient.for_connection(acme.connection)
    globex_scim = ScimClient.for_connection(globex.connection)

    assert acme_scim.get("Users")[0] == 200
    assert acme_scim.get("Users")[0] == 200
    status, body = acme_scim.post("Users", new_user("late@acme.com"))

    assert_rate_limited(acme_scim, status, body)
    assert not User.objects.filter(email="late@acme.com").exists()
    # Another company's token (another customer's Okta, maybe from the same address) is not
    # touched by acme's volume.
    assert globex_scim.get("Users")[0] == 200


def test_an_oauth_grant_is_limited_across_refreshes(settings, acme):
    settings.RATE_LIMIT_SCIM = Rate(count=2, seconds=60)
    okta = OktaClient.register()
    admin = browser()
    admin.force_login(acme.admin)
    page = admin.get(okta.authorize_url(state="s"))
    tokens = okta.exchange(code_from(submit_form(admin, page, allow=True), okta, state="s")).json()
    first = ScimClient(tokens["access_token"])
    assert first.get("Users")[0] == 200
    assert first.get("Users")[0] == 200

    refreshed = ScimClient(okta.refresh(tokens["refresh_token"]).json()["access_token"])
    status, body = refreshed.get("Users")

    assert_rate_limited(refreshed, status, body)


def test_failed_authentications_past_the_limit_get_429_per_address(settings, acme):
    settings.RATE_LIMIT_SCIM_AUTH = Rate(count=2, seconds=60)
    settings.TRUSTED_PROXY_HOPS = 1
    guesser, other = an_address(), an_address()
    valid = ScimClient.for_connection(acme.connection).raw_token

    for guess in ("scim_guess-1", "scim_guess-2"):
        status, body = scim_from(guesser, guess).get("Users")
        assert_scim_error(status, body, http_status=401, scim_type=None)
    limited = scim_from(guesser, "scim_guess-3")
    status, body = limited.get("Users")
    assert_rate_limited(limited, status, body)
    status, body = scim_from(guesser, None).post("Users", new_user("x@acme.com"))
    assert status == 429
    assert not User.objects.filter(email="x@acme.com").exists()

    # Another address is not affected ...
    status, body = scim_from(other, "scim_guess-4").get("Users")
    assert_scim_error(status, body, http_status=401, scim_type=None)
    # ... nor is a valid token from the guessing address: an IdP's provisioning requests come
    # from addresses it shares between all its customers.
    assert scim_from(guesser, valid).get("Users")[0] == 200

"""RATE_LIMIT_SSO (issue 12): hits per client address on the sign-in pages and the ACS; past the
limit a 429 with Retry-After, and a flood from one address never locks out another. The limits
are kept in Redis when REDIS_URL is set (the CI's second pass), else in the process; that every
web process shares them is tests/production/test_procfile_web.py."""

from __future__ import annotations

import random

import pytest
from django.test import Client

from config.env import Rate
from tests.connections.saml_helpers import idp_response, post_to_acs, signed_in_email
from tests.saml_idp import post_data

pytestmark = pytest.mark.django_db


def an_address() -> str:
    """A fresh address per test, so runs sharing one Redis never share a window."""
    return f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"


def browser(address: str) -> Client:
    """A browser behind the TLS proxy, which writes the address it saw into X-Forwarded-For."""
    return Client(HTTP_X_FORWARDED_FOR=address)


@pytest.fixture
def limit(settings):
    settings.RATE_LIMIT_SSO = Rate(count=3, seconds=60)
    settings.TRUSTED_PROXY_HOPS = 1


def test_past_the_limit_an_address_gets_429_with_retry_after(limit):
    flood = browser(an_address())

    statuses = [flood.get("/sso/").status_code for _ in range(3)]
    refused = flood.get("/sso/")

    assert statuses == [200, 200, 200]
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert "sso/rate_limited.html" in [t.name for t in refused.templates]
    assert b'<span class="code">rate_limited</span>' in refused.content


def test_a_flood_from_one_address_never_locks_out_another(limit, acme):
    flooding, colleague = an_address(), an_address()
    flood = browser(flooding)
    for _ in range(10):
        flood.get("/sso/")
    assert flood.get("/sso/").status_code == 429

    # Another person of the same company, from another address, signs in normally.
    other = browser(colleague)
    assert other.get("/sso/").status_code == 200
    response = post_to_acs(other, acme.connection, idp_response(acme, "member@acme.com"))
    assert response.status_code == 303
    assert other.get(response["Location"]).status_code == 302
    assert signed_in_email(other) == "member@acme.com"


def test_the_acs_counts_and_a_refused_post_changes_nothing(limit, acme):
    address = an_address()
    flood = browser(address)
    for _ in range(3):
        flood.get("/sso/")

    refused = flood.post("/sso/acme/acs/", post_data(idp_response(acme, "member@acme.com")))

    assert refused.status_code == 429
    assert "sso_finish" not in refused.cookies
    assert signed_in_email(flood) is None


def test_what_a_client_writes_into_x_forwarded_for_does_not_buy_new_windows(limit):
    address = an_address()
    for n in range(3):
        # The proxy appends the real address after whatever the client sent.
        assert browser(f"192.0.2.{n}, {address}").get("/sso/").status_code == 200

    assert browser(f"192.0.2.99, {address}").get("/sso/").status_code == 429


def test_pages_outside_sso_are_not_counted(limit):
    address = an_address()
    other_pages = browser(address)
    for _ in range(5):
        assert other_pages.get("/healthz").status_code == 200
        assert other_pages.get("/").status_code == 200

    assert other_pages.get("/sso/").status_code == 200

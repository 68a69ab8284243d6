"""Issue 11, "Low": behind the TLS proxy a same-origin POST with ``Origin: https://…`` must pass
CSRF (the proxy's X-Forwarded-Proto is trusted, BASE_URL is a trusted origin) and a session
must end after SESSION_IDLE_SECONDS without a request (default 8 hours; at most 12 by default)."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from lxml import html

from tests.connections.saml_helpers import idp_response, sign_in, signed_in_email

pytestmark = pytest.mark.django_db

BEHIND_PROXY = {"HTTP_X_FORWARDED_PROTO": "https", "HTTP_HOST": "sso.test"}


def csrf_token(response) -> str:
    return html.fromstring(response.content).forms[0].fields["csrfmiddlewaretoken"]


def test_a_same_origin_post_through_the_tls_proxy_passes_csrf(acme):
    browser = Client(enforce_csrf_checks=True)
    form = browser.get("/sso/", **BEHIND_PROXY)

    response = browser.post(
        "/sso/",
        {"identifier": "member@acme.com", "csrfmiddlewaretoken": csrf_token(form)},
        HTTP_ORIGIN="https://sso.test",
        HTTP_REFERER="https://sso.test/sso/",
        **BEHIND_PROXY,
    )

    assert response.status_code == 302
    assert response["Location"] == "/sso/acme/login/"


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "http://sso.test", "https://sso.test.evil.example", "null"]
)
def test_a_post_from_any_other_origin_is_still_refused(acme, origin):
    browser = Client(enforce_csrf_checks=True)
    form = browser.get("/sso/", **BEHIND_PROXY)

    response = browser.post(
        "/sso/",
        {"identifier": "member@acme.com", "csrfmiddlewaretoken": csrf_token(form)},
        HTTP_ORIGIN=origin,
        **BEHIND_PROXY,
    )

    assert response.status_code == 403


def test_the_trusted_origin_is_the_public_origin_and_the_proxy_header_is_trusted():
    assert settings.CSRF_TRUSTED_ORIGINS == [settings.BASE_URL]
    assert settings.SECURE_PROXY_SSL_HEADER == ("HTTP_X_FORWARDED_PROTO", "https")


class Clock:
    """The wall clock as the session store, auth and audit read it (``timezone.now``), moved
    forward by the test: idle hours pass without the test waiting for them."""

    def __init__(self) -> None:
        self.start = timezone.now()
        self.offset = timedelta()

    def now(self):
        return self.start + self.offset

    def advance(self, **delta) -> None:
        self.offset += timedelta(**delta)


@pytest.fixture
def clock():
    moving = Clock()
    with mock.patch("django.utils.timezone.now", side_effect=moving.now):
        yield moving


def test_an_idle_session_ends_after_the_idle_timeout(acme, clock):
    person = Client()
    sign_in(person, acme.connection, idp_response(acme, "member@acme.com"))
    assert signed_in_email(person) == "member@acme.com"

    clock.advance(seconds=settings.SESSION_IDLE_SECONDS + 1)

    page = person.get("/")
    assert b"You are signed in" not in page.content
    assert signed_in_email(person) is None


def test_activity_keeps_a_session_alive_past_the_timeout(acme, clock):
    person = Client()
    sign_in(person, acme.connection, idp_response(acme, "member@acme.com"))

    for _ in range(3):  # three idle stretches just short of the timeout, with a request each
        clock.advance(seconds=settings.SESSION_IDLE_SECONDS - 60)
        assert b"You are signed in" in person.get("/").content

    assert clock.offset > timedelta(seconds=settings.SESSION_IDLE_SECONDS * 2)
    assert signed_in_email(person) == "member@acme.com"


def test_the_idle_timeout_defaults_to_at_most_twelve_hours():
    from config import settings as production

    assert production.SESSION_IDLE_SECONDS <= 12 * 3600
    assert production.SESSION_COOKIE_AGE == production.SESSION_IDLE_SECONDS
    assert production.SESSION_SAVE_EVERY_REQUEST is True

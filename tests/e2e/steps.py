"""Steps the end-to-end tests share: what a person does in the browser."""

from __future__ import annotations

import re

import pytest

from tests.e2e.browser import Remote, expect, run_in_browser
from tests.e2e.checks import accessibility_problems

# Every end-to-end test: the live server sees what the test wrote, so the database is
# transactional; serialized_rollback brings back what the migrations made (the Support group)
# after the flushes of earlier transactional tests.
E2E = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def assert_accessible(page: Remote) -> None:
    problems = run_in_browser(page, accessibility_problems)
    assert not problems, "\n".join(problems)


def start_sign_in(page: Remote, identifier: str) -> None:
    """On the sign-in page: a work email or a connection name, then Continue."""
    page.get_by_label("Work email or connection name").fill(identifier)
    page.get_by_role("button", name="Continue").click()


def choose_person_at_idp(page: Remote, site, email: str, *, answering: str | None = None) -> None:
    """At the development IdP (another site): pick the person to sign in as."""
    page.wait_for_url(re.compile("^" + re.escape(site.idp_url)))
    if answering:
        expect(page.get_by_text("Answering a sign-in started at")).to_contain_text(answering)
    page.get_by_role("button", name=f"Sign in as {email}").click()


def signed_in_details(page: Remote) -> dict[str, str]:
    """The home page's list of who is signed in: {"Name": ..., "Role": ..., ...}."""
    expect(page.get_by_role("heading", name="You are signed in")).to_be_visible()
    terms = page.locator("dl dt").all_inner_texts()
    values = page.locator("dl dd").all_inner_texts()
    return dict(zip(terms, values, strict=True))


def sign_in(page: Remote, site, email: str, *, connection: str) -> dict[str, str]:
    """SP-initiated, from the sign-in page to the home page: who is signed in."""
    page.goto("/sso/")
    start_sign_in(page, email)
    choose_person_at_idp(page, site, email, answering=connection)
    page.wait_for_url(f"{site.url}/")
    return signed_in_details(page)

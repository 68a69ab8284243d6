"""Signing in through the development IdP in a real browser, SP- and IdP-initiated; signing out;
a refused sign-in. The IdP is another site, so the ACS receives a cross-site POST and the
sign-in finishes on the same-site GET that carries the browser's cookies."""

from __future__ import annotations

from accounts.models import User
from connections.models import Connection
from connections.services import connection_update
from tests.e2e.browser import expect
from tests.e2e.steps import (
    E2E,
    assert_accessible,
    choose_person_at_idp,
    signed_in_details,
    start_sign_in,
)

pytestmark = E2E


def test_sp_initiated_sign_in_lands_home_as_the_right_person_then_signs_out(site, demo, browser):
    page = browser()
    page.goto("/sso/")
    expect(page.get_by_role("heading", name="Sign in with single sign-on")).to_be_visible()
    assert_accessible(page)

    start_sign_in(page, "max@demo.example")
    choose_person_at_idp(page, site, "max@demo.example", answering="demo")
    page.wait_for_url(f"{site.url}/")
    assert signed_in_details(page) == {
        "Name": "Max Manager",
        "Email": "max@demo.example",
        "Company": "Demo Inc",
        "Role": "Manager",
        "Team": "Marketing",
    }
    assert_accessible(page)
    session = next(c for c in page.context.cookies() if c["name"] == "sessionid")
    assert (session["secure"], session["httpOnly"], session["sameSite"]) == (True, True, "Lax")

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{site.url}/sso/")
    page.goto("/")
    expect(page.get_by_role("heading", name="SSO connection manager")).to_be_visible()
    assert User.objects.get(email="max@demo.example").role == "manager"


def test_sp_initiated_sign_in_returns_to_the_page_asked_for(site, demo, browser):
    page = browser()
    page.goto("/sso/?next=/%3Ffrom%3Dbookmark")
    start_sign_in(page, "demo")  # the connection's name works as well as an email
    choose_person_at_idp(page, site, "sam@demo.example", answering="demo")
    page.wait_for_url(f"{site.url}/?from=bookmark")
    details = signed_in_details(page)
    assert (details["Email"], details["Role"], details["Team"]) == (
        "sam@demo.example",
        "Sender",
        "Sales",  # no division sent: the connection's default team
    )


def test_idp_initiated_sign_in_like_an_okta_tile(site, demo, browser):
    page = browser()
    page.goto(site.idp_url)
    expect(page.get_by_text("IdP-initiated sign-in")).to_be_visible()
    choose_person_at_idp(page, site, "ada@demo.example")
    page.wait_for_url(f"{site.url}/")
    details = signed_in_details(page)
    assert (details["Name"], details["Role"], details["Team"]) == ("Ada Admin", "Admin", "Sales")


def test_a_refused_sign_in_shows_its_error_page_and_code_and_signs_nobody_in(site, demo, browser):
    person = "sam@demo.example"
    connection_update(
        connection=Connection.objects.get(name="demo"),
        allow_idp_initiated=False,
        actor_label="test",
    )
    page = browser()
    page.goto(site.idp_url)
    with page.expect_response(f"{site.url}/sso/demo/acs/") as answer:
        choose_person_at_idp(page, site, person)
    assert answer.value.status == 403
    expect(page.get_by_role("heading", name="We couldn't sign you in")).to_be_visible()
    expect(page.locator(".code").first).to_have_text("saml_unsolicited")
    assert "connection demo" in page.locator("main").inner_text()
    assert_accessible(page)

    page.get_by_role("link", name="Try again").click()
    page.wait_for_url(f"{site.url}/sso/")
    page.goto("/")
    expect(page.get_by_role("heading", name="SSO connection manager")).to_be_visible()
    assert not User.objects.filter(email=person).exists()

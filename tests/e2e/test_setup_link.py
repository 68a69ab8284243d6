"""A customer's IT admin completes single sign-on through a setup link, in the browser: no
account, the values to enter at the IdP, the IdP's sign-on URL and certificate, a test sign-in
through the IdP, activation; then one of their people signs in."""

from __future__ import annotations

import shutil

from accounts.services import company_create
from connections.dev_idp import dev_idp_keypair
from connections.models import Connection
from tests.commands import run_command
from tests.e2e.browser import expect
from tests.e2e.steps import E2E, assert_accessible, choose_person_at_idp, sign_in

pytestmark = E2E


def test_an_it_admin_completes_a_setup_link_and_a_person_signs_in(site, browser, tmp_path):
    company_create(
        slug="globex", name="Globex", teams=["Sales", "Marketing"], domains=["globex.example"]
    )
    run_command("connection", "create", "globex", "--company", "globex", "--draft")
    link = run_command("connection", "setup-link", "globex").strip()
    assert link.startswith(f"{site.url}/setup/")
    certificate = tmp_path / "idp-signing.cer"
    shutil.copyfile(dev_idp_keypair()[1], certificate)

    admin = browser()
    admin.goto(link)
    admin.wait_for_url(f"{site.url}/setup/")  # the token has left the address bar
    expect(admin.get_by_role("heading", level=1)).to_have_text("Set up single sign-on for Globex")
    acs = admin.get_by_role("textbox", name="ACS URL (single sign-on URL, Reply URL)")
    expect(acs).to_have_value(f"{site.url}/sso/globex/acs/")
    entity = admin.get_by_role("textbox", name="Entity ID (Audience URI, Identifier)")
    expect(entity).to_have_value(f"{site.url}/sso/globex/metadata/")
    admin.get_by_role("button", name="Copy ACS URL").click()
    expect(admin.get_by_role("status").first).to_have_text(
        "ACS URL (single sign-on URL, Reply URL) copied"
    )
    assert_accessible(admin)

    admin.get_by_label("Sign-on URL (SSO URL)").fill(site.idp_url)
    admin.get_by_label("…and its signing certificate").set_input_files(str(certificate))
    admin.get_by_label("Just-in-Time").check()
    admin.get_by_label("Default team").select_option(label="Sales")
    admin.get_by_role("button", name="Save").click()
    admin.wait_for_url(f"{site.url}/setup/#test")
    expect(admin.locator(".success").first).to_contain_text(f"sign-on URL {site.idp_url}")

    admin.get_by_role("button", name="Test a sign-in through your IdP").click()
    choose_person_at_idp(admin, site, "max@globex.example", answering="globex")
    expect(admin.get_by_role("heading", name="Test login through globex")).to_be_visible()
    expect(admin.locator("main")).to_contain_text("would sign in as manager in team Marketing")
    admin.get_by_role("link", name="Back to your setup").click()
    admin.wait_for_url(f"{site.url}/setup/#test")
    assert_accessible(admin)

    admin.get_by_role("button", name="Activate single sign-on").click()
    expect(admin.get_by_role("heading", level=1)).to_have_text("Single sign-on is on for Globex")
    assert Connection.objects.get(name="globex").status == "active"
    admin.goto(link)
    expect(admin.locator("main")).to_contain_text("This setup link has done its job")

    details = sign_in(browser(), site, "max@globex.example", connection="globex")
    assert (details["Company"], details["Role"], details["Team"]) == (
        "Globex",
        "Manager",
        "Marketing",
    )

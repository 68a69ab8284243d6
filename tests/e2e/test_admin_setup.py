"""A support agent completes a customer's setup in the admin, from the three items the customer
setup guide asks for (connection name, sign-on URL, signing certificate file), with the login
`make run` prints; runs the test login, activates; then one of the customer's people signs in."""

from __future__ import annotations

import shutil

from accounts.services import company_create
from audit.models import AuditEvent
from connections.dev_idp import dev_idp_keypair
from connections.models import Connection
from tests.e2e.browser import expect
from tests.e2e.steps import E2E, choose_person_at_idp, sign_in

pytestmark = E2E


def test_support_completes_a_setup_in_the_admin_and_a_person_signs_in_through_it(
    site, demo, browser, tmp_path
):
    company_create(
        slug="acme", name="Acme Inc", teams=["Sales", "Marketing"], domains=["acme.example"]
    )
    # What the customer sends: the connection name, the IdP's sign-on URL, and the signing
    # certificate file downloaded from their IdP (here the development IdP, on its own site).
    certificate = tmp_path / "okta.cert"
    shutil.copyfile(dev_idp_keypair()[1], certificate)

    agent = browser()
    agent.goto(demo.admin_url)
    agent.locator("#id_username").fill(demo.email)
    agent.locator("#id_password").fill(demo.password)
    agent.get_by_role("button", name="Log in").click()
    expect(agent.get_by_role("heading", name="Site administration")).to_be_visible()

    agent.goto("/admin/connections/connection/add/")
    agent.locator("#id_company").select_option(label="Acme Inc (acme)")
    agent.locator("#id_name").fill("acme")
    agent.locator("#id_status").select_option("draft")
    agent.locator("#id_sign_on_url").fill(site.idp_url)
    agent.locator("#id_certificate_file").set_input_files(str(certificate))
    agent.locator("#id_default_team").select_option(label="Sales (acme)")
    agent.get_by_role("button", name="Save and continue editing").click()
    expect(agent.locator(".messagelist")).to_contain_text("was added successfully")

    # The values to send back to the customer.
    values = agent.locator(".field-service_provider_values")
    expect(values).to_contain_text(f"{site.url}/sso/acme/acs/")
    expect(values).to_contain_text(f"{site.url}/sso/acme/metadata/")
    expect(values).to_contain_text(f"{site.url}/sso/acme/login/")

    # The test login opens in a new tab, goes through the customer's IdP, signs nobody in.
    with agent.expect_popup() as opened:
        agent.get_by_role("link", name="Run a test login").click()
    test = opened.value
    choose_person_at_idp(test, site, "ada@acme.example", answering="acme")
    expect(test.get_by_role("heading", name="Test login through acme")).to_be_visible()
    expect(test.locator("main")).to_contain_text(
        "ada@acme.example would sign in as admin in team Sales"
    )
    test.close()
    assert not Connection.objects.get(name="acme").company.users.exists()

    agent.reload()
    agent.locator("#id_status").select_option("active")
    agent.get_by_role("button", name="Save", exact=True).click()
    expect(agent.locator(".messagelist")).to_contain_text("was changed successfully")
    assert Connection.objects.get(name="acme").status == "active"

    details = sign_in(browser(), site, "ada@acme.example", connection="acme")
    assert (details["Name"], details["Company"], details["Role"], details["Team"]) == (
        "Ada Admin",
        "Acme Inc",
        "Admin",
        "Sales",
    )
    actions = set(
        AuditEvent.objects.filter(actor__email=demo.email).values_list("action", flat=True)
    )
    assert {"connection.created", "connection.updated"} <= actions, actions

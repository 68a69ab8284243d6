"""The support console: the "Support" group (made by a data migration) used by a real staff user
signing in to the admin, the default-team rule, user list filters, unmatched divisions."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from lxml import html

from accounts.models import Role, User
from audit.models import AuditEvent, RefusalTally
from audit.services import audit_record
from connections.models import Connection, ConnectionStatus, SetupLink
from connections.services import connection_create
from provisioning.models import ScimToken
from provisioning.tokens import scim_token_issue
from tests import idp_metadata_samples as samples
from tests.certs import make_keypair
from tests.connections.saml_helpers import idp_response, sign_in
from tests.saml_idp import okta_attributes

PASSWORD = "support-staff-password-42"


@pytest.fixture
def support_user(db) -> User:
    user = User.objects.create_user("agent@sso.test", PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name="Support"))
    return user


@pytest.fixture
def support(client, support_user) -> Client:
    """The agent's browser, signed in on the admin's login page."""
    response = client.post(
        "/admin/login/?next=/admin/", {"username": support_user.email, "password": PASSWORD}
    )
    assert response.status_code == 302, response.content[:500]
    return client


@pytest.fixture(scope="module")
def idp_key():
    return make_keypair("support.console.test", slot="support")


def _actions(page) -> set[str]:
    return set(html.fromstring(page.content).xpath('//select[@name="action"]/option/@value')) - {""}


# --- the group -------------------------------------------------------------------------------------


def test_the_migration_made_the_support_group_with_exactly_its_permissions(db):
    codenames = {
        f"{p.content_type.app_label}.{p.codename}"
        for p in Group.objects.get(name="Support").permissions.all()
    }

    assert codenames == {
        "accounts.view_company", "accounts.view_domain", "accounts.view_team", "accounts.add_team",
        "accounts.view_user", "accounts.deprovision_user", "connections.view_connection",
        "connections.add_connection", "connections.change_connection", "connections.view_setuplink",
        "connections.add_setuplink", "connections.change_setuplink", "audit.view_auditevent",
        "audit.view_refusaltally", "provisioning.view_deprovisioning",
    }  # fmt: skip


def test_support_completes_a_setup_from_metadata(support, support_user, acme, idp_key):
    draft = connection_create(company=acme.company, name="acme-new", sign_on_url="",
                              certificate_data=None, status=ConnectionStatus.DRAFT)  # fmt: skip
    url = reverse("admin:connections_connection_change", args=[draft.pk])
    data = dict(
        html.fromstring(support.get(url).content).get_element_by_id("connection_form").form_values()
    )
    data["status"] = ConnectionStatus.ACTIVE
    data["metadata_file"] = SimpleUploadedFile("md.xml", samples.jumpcloud([idp_key]))

    response = support.post(url, data)

    assert response.status_code == 302, response.content.decode()[:2000]
    draft.refresh_from_db()
    assert draft.status == ConnectionStatus.ACTIVE and draft.idp_entity_id == "JumpCloud"
    changes = [
        e.details["changes"]
        for e in AuditEvent.objects.filter(action="connection.updated", actor=support_user)
    ]
    assert {"from": "draft", "to": "active"} in [c.get("status") for c in changes]


def test_support_issues_and_revokes_setup_links_but_never_scim_tokens(support, acme):
    draft = connection_create(company=acme.company, name="acme-new", sign_on_url="",
                              certificate_data=None, status=ConnectionStatus.DRAFT)  # fmt: skip
    changelist = reverse("admin:connections_connection_changelist")
    actions = _actions(support.get(changelist))
    # Support changes connections, so it may also rotate their SP keys (issue 16).
    assert actions == {
        "refresh_metadata",
        "issue_setup_link",
        "revoke_setup_links",
        "start_sp_key_rotation",
        "finish_sp_key_rotation",
        "cancel_sp_key_rotation",
    }

    issued = support.post(
        changelist, {"action": "issue_setup_link", "_selected_action": [draft.pk]}
    )
    assert issued.status_code == 200
    assert "https://sso.test/setup/" in issued.content.decode()
    assert SetupLink.objects.filter(connection=draft, revoked_at__isnull=True).count() == 1

    support.post(changelist, {"action": "revoke_setup_links", "_selected_action": [draft.pk]})
    assert SetupLink.objects.get(connection=draft).revoked_at is not None

    # A forged POST of the hidden action is refused (core.admin.PermittedActionsMixin).
    forged = support.post(
        changelist, {"action": "issue_scim_token", "_selected_action": [acme.connection.pk]}
    )
    assert forged.status_code == 403
    assert not ScimToken.objects.exists()


def test_support_never_sees_tokens_or_secrets(support, acme):
    scim_token_issue(connection=acme.connection, label="okta")
    page = support.get(reverse("admin:connections_connection_change", args=[acme.connection.pk]))

    assert page.status_code == 200
    assert "SCIM tokens and OAuth grants" not in page.content.decode()
    for url in ("admin:provisioning_scimtoken_changelist", "admin:provisioning_scimgrant_changelist",
                "admin:oauth2_provider_application_changelist"):  # fmt: skip
        assert support.get(reverse(url)).status_code == 403
    user_page = support.get(reverse("admin:accounts_user_change", args=[acme.member.pk]))
    assert user_page.status_code == 200
    assert "md5$" not in user_page.content.decode() and "Password" not in user_page.content.decode()


def test_support_deprovisions_and_reactivates_but_cannot_edit_users(support, acme):
    changelist = reverse("admin:accounts_user_changelist")
    assert _actions(support.get(changelist)) == {"deprovision", "reactivate"}

    support.post(changelist, {"action": "deprovision", "_selected_action": [acme.member.pk]})
    acme.member.refresh_from_db()
    assert not acme.member.is_active
    support.post(changelist, {"action": "reactivate", "_selected_action": [acme.member.pk]})
    acme.member.refresh_from_db()
    assert acme.member.is_active

    url = reverse("admin:accounts_user_change", args=[acme.member.pk])
    response = support.post(
        url, {"email": acme.member.email, "is_superuser": "on", "is_staff": "on"}
    )
    assert response.status_code == 403
    acme.member.refresh_from_db()
    assert not acme.member.is_staff and not acme.member.is_superuser


def test_support_reads_the_audit_trail_and_cannot_change_it(support, acme):
    event = audit_record(action="connection.created", connection=acme.connection, target="acme")

    assert support.get(reverse("admin:audit_auditevent_changelist")).status_code == 200
    assert support.get(reverse("admin:audit_auditevent_change", args=[event.pk])).status_code == 200
    assert support.post(reverse("admin:audit_auditevent_change", args=[event.pk]),
                        {"action": "tampered"}).status_code == 403  # fmt: skip
    assert support.post(reverse("admin:audit_auditevent_delete", args=[event.pk]),
                        {"post": "yes"}).status_code == 403  # fmt: skip
    event.refresh_from_db()
    assert event.action == "connection.created"


def test_support_reads_the_tally_of_requests_to_unknown_connections(support, client):
    """A customer's IdP posting to a misspelt connection name shows only in the tally."""
    anonymous = Client()
    for _ in range(3):
        anonymous.post("/sso/acme-crop/acs/", {"SAMLResponse": "x"})

    page = support.get(reverse("admin:audit_refusaltally_changelist"))

    assert page.status_code == 200
    row = html.fromstring(page.content).xpath('//tr[.//td[contains(., "acme-crop")]]')
    assert row and "3" in row[0].text_content()
    assert AuditEvent.objects.count() == 0
    tally = RefusalTally.objects.get(name="acme-crop")
    support.post(reverse("admin:audit_refusaltally_changelist"),
                 {"action": "delete_selected", "_selected_action": [tally.pk], "post": "yes"})  # fmt: skip
    assert RefusalTally.objects.filter(pk=tally.pk).exists()


def test_support_can_create_a_team_but_not_delete_companies(support, acme):
    add = reverse("admin:accounts_team_add")
    data = dict(
        html.fromstring(support.get(add).content).get_element_by_id("team_form").form_values()
    )
    data.update(company=str(acme.company.pk), name="Nope")
    response = support.post(add, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    assert acme.company.teams.filter(name="Nope").exists()
    assert (
        support.get(reverse("admin:accounts_company_delete", args=[acme.company.pk])).status_code
        == 403
    )


def test_a_staff_user_outside_the_group_sees_no_connection(client, acme):
    User.objects.create_user("newbie@sso.test", PASSWORD, is_staff=True)
    client.post("/admin/login/?next=/admin/", {"username": "newbie@sso.test", "password": PASSWORD})

    assert client.get(reverse("admin:connections_connection_changelist")).status_code == 403


# --- default team --------------------------------------------------------------------------------


def test_default_team_choices_are_the_connections_company_teams(support, acme, globex):
    page = support.get(reverse("admin:connections_connection_change", args=[acme.connection.pk]))

    options = html.fromstring(page.content).xpath('//select[@name="default_team"]/option/@value')
    assert set(options) - {""} == {str(team.pk) for team in acme.teams.values()}


def test_the_form_refuses_another_companys_team(support, acme, globex):
    url = reverse("admin:connections_connection_change", args=[acme.connection.pk])
    data = dict(
        html.fromstring(support.get(url).content).get_element_by_id("connection_form").form_values()
    )
    data["default_team"] = str(globex.teams["Sales"].pk)

    response = support.post(url, data)

    assert response.status_code == 200
    assert "default_team" in response.context["adminform"].form.errors
    assert Connection.objects.get(pk=acme.connection.pk).default_team == acme.teams["Sales"]


# --- user list filters -------------------------------------------------------------------------------


def test_user_list_filters(support, acme, globex):
    changelist = reverse("admin:accounts_user_changelist")
    manager = User.objects.create_user("boss@acme.com", None, company=acme.company, role=Role.MANAGER,
                                       team=acme.teams["Marketing"], source="scim")  # fmt: skip
    page = support.get(changelist)
    filters = {
        a.get("href")
        for a in html.fromstring(page.content).xpath('//nav[@id="changelist-filter"]//a')
    }
    assert any("company__id__exact" in f for f in filters)
    assert any("role__exact" in f for f in filters)
    assert any("source__exact" in f for f in filters)
    assert any("is_active__exact" in f for f in filters)
    assert any("team=" in f for f in filters)

    def emails(**query):
        response = support.get(changelist, query)
        return {
            row.text
            for row in html.fromstring(response.content).xpath('//th[@class="field-email"]/a')
        }

    assert emails(company__id__exact=acme.company.pk) == {
        "admin@acme.com",
        "member@acme.com",
        "boss@acme.com",
    }
    assert emails(role__exact="manager") == {manager.email}
    assert emails(team=acme.teams["Marketing"].pk) == {manager.email}
    assert emails(source__exact="scim") == {manager.email}
    teams_for_acme = support.get(
        changelist, {"company__id__exact": acme.company.pk}
    ).content.decode()
    assert "Sales (acme)" in teams_for_acme and "Sales (globex)" not in teams_for_acme


# --- unmatched divisions ------------------------------------------------------------------------------


def test_the_connection_page_lists_divisions_without_a_team(support, acme, client):
    for email, division in (
        ("a@acme.com", "Field Ops"),
        ("b@acme.com", "Field Ops"),
        ("c@acme.com", "sales"),
    ):
        browser = Client()
        sign_in(
            browser,
            acme.connection,
            idp_response(acme, email, attributes=okta_attributes(email, division=division)),
        )

    page = support.get(reverse("admin:connections_connection_change", args=[acme.connection.pk]))

    rows = html.fromstring(page.content).xpath(
        '//div[contains(@class, "field-unmatched_divisions")]//tr[td]'
    )
    assert [[cell.text_content() for cell in row.xpath("td")] for row in rows] == [
        ["Field Ops", "2"],
        ["sales", "1"],
    ]


def test_actions_need_their_permission_even_when_forged(client, acme):
    """A staff user who may only look at connections sees no action, and posting one anyway
    changes nothing."""
    viewer = User.objects.create_user("viewer@sso.test", PASSWORD, is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_connection"))
    client.post("/admin/login/?next=/admin/", {"username": viewer.email, "password": PASSWORD})
    draft = connection_create(company=acme.company, name="acme-new", sign_on_url="",
                              certificate_data=None, status=ConnectionStatus.DRAFT)  # fmt: skip
    changelist = reverse("admin:connections_connection_changelist")

    assert _actions(client.get(changelist)) == set()
    for action in (
        "issue_setup_link",
        "revoke_setup_links",
        "refresh_metadata",
        "issue_scim_token",
    ):
        client.post(
            changelist, {"action": action, "_selected_action": [draft.pk, acme.connection.pk]}
        )

    assert not SetupLink.objects.exists()
    assert not ScimToken.objects.exists()
    assert not AuditEvent.objects.filter(actor=viewer).exists()

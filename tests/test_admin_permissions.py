"""Every custom admin action and view needs its permission (issue 11: a staff account with only
view permissions could issue and rotate SCIM tokens for any company, and deprovision and
reactivate users).

A real staff user holding every *view* permission of the four apps and nothing else signs in on
the admin's login page. For each action: it is not offered, and a forged POST of it changes
nothing. For each page: it loads read-only, and a forged POST to it is refused (403). Controls:
a staff user given exactly the permission an action needs sees it, and it works, so a "nothing
changed" above means "refused", not "broken".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from lxml import html

from accounts.models import Company, Domain, Team, User
from audit.models import AuditEvent, RefusalTally
from audit.services import refusal_tally
from connections.models import Connection, ConnectionStatus, PendingAuthnRequest, SetupLink
from connections.services import connection_create
from connections.setup_links import setup_link_issue
from provisioning.models import Deprovisioning, ScimGrant, ScimToken
from provisioning.services import user_deprovision
from provisioning.tokens import scim_token_issue
from tests.provisioning.oauth_helpers import (
    OktaClient,
    browser,
    code_from,
    submit_form,
    token_body,
)

pytestmark = pytest.mark.django_db

PASSWORD = "view-only-staff-password-42"
APPS = ("accounts", "connections", "provisioning", "audit")


def _staff(email: str, codenames: list[str]) -> User:
    user = User.objects.create_user(email, PASSWORD, is_staff=True)
    for codename in codenames:
        app_label, name = codename.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=name)
        )
    return user


def _view_permissions() -> list[str]:
    return [
        f"{p.content_type.app_label}.{p.codename}"
        for p in Permission.objects.filter(
            content_type__app_label__in=APPS, codename__startswith="view_"
        ).select_related("content_type")
    ]


def _signed_in(user: User) -> Client:
    """The staff member's browser, signed in on the admin's login page like a person."""
    client = Client()
    response = client.post(
        "/admin/login/?next=/admin/", {"username": user.email, "password": PASSWORD}
    )
    assert response.status_code == 302, response.content[:500]
    return client


@pytest.fixture
def viewer(db) -> User:
    return _staff("viewer@sso.test", _view_permissions())


@pytest.fixture
def scene(acme, globex):
    """One of everything an action can change."""
    token, _raw = scim_token_issue(connection=acme.connection, label="okta")
    okta = OktaClient.register()
    person = browser()
    person.force_login(acme.admin)
    page = person.get(okta.authorize_url(state="s1"))
    approved = submit_form(person, page, allow=True)
    token_body(okta.exchange(code_from(approved, okta, state="s1")))
    grant = ScimGrant.objects.get()
    leaver = User.objects.create(company=acme.company, email="leaver@acme.com", username="leaver")
    user_deprovision(user=leaver, reason="left")
    stuck_user = User.objects.create(company=acme.company, email="stuck@acme.com", username="s")
    stuck_user.is_active = False
    stuck_user.save(update_fields=["is_active"])
    stuck = Deprovisioning.objects.create(user=stuck_user, reason="the worker failed")
    draft = connection_create(
        company=acme.company, name="acme-draft", sign_on_url="", certificate_data=None,
        status=ConnectionStatus.DRAFT,
    )  # fmt: skip
    linked = connection_create(
        company=acme.company, name="acme-linked", sign_on_url="", certificate_data=None,
        status=ConnectionStatus.DRAFT,
    )  # fmt: skip
    setup_link_issue(connection=linked)
    return SimpleNamespace(
        acme=acme, globex=globex, token=token, grant=grant, leaver=leaver, stuck=stuck,
        draft=draft, linked=linked,
    )  # fmt: skip


def _world() -> dict:
    """Everything an admin action or form can change, to compare before and after."""
    return {
        "users": list(User.objects.order_by("pk").values_list("pk", "email", "is_active",
                                                              "is_staff", "is_superuser")),
        "companies": list(Company.objects.order_by("pk").values_list("pk", "slug", "name")),
        "domains": list(Domain.objects.order_by("pk").values_list("pk", "domain", "company")),
        "teams": list(Team.objects.order_by("pk").values_list("pk", "name")),
        "connections": list(Connection.objects.order_by("pk").values_list("pk", "status",
                                                                          "sign_on_url")),
        "tokens": list(ScimToken.objects.order_by("pk").values_list("pk", "revoked_at")),
        "grants": list(ScimGrant.objects.order_by("pk").values_list("pk", "revoked")),
        "deprovisionings": list(Deprovisioning.objects.order_by("pk").values_list(
            "pk", "attempts", "completed_at")),
        "setup_links": list(SetupLink.objects.order_by("pk").values_list("pk", "revoked_at")),
        "pending": PendingAuthnRequest.objects.count(),
        "events": AuditEvent.objects.count(),
    }  # fmt: skip


def _offered(client: Client, changelist: str) -> set[str]:
    page = client.get(changelist)
    assert page.status_code == 200
    return set(html.fromstring(page.content).xpath('//select[@name="action"]/option/@value')) - {""}


def _shown_tokens(response) -> list[str]:
    return re.findall(r"scim_[A-Za-z0-9_-]{20,}", response.content.decode())


# --- actions -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    model: str  # the changelist's admin URL name, e.g. "provisioning_scimtoken"
    name: str
    needs: tuple[str, ...]  # the permissions it takes (besides viewing the list)
    selected: Callable[[SimpleNamespace], list[int]]
    control: bool = True  # whether the positive control can run here (see refresh_metadata)

    @property
    def id(self) -> str:
        return f"{self.model}-{self.name}"


ACTIONS = [
    Action("provisioning_scimtoken", "rotate",
           ("provisioning.add_scimtoken", "provisioning.change_scimtoken"),
           lambda s: [s.token.pk]),
    Action("provisioning_scimtoken", "revoke", ("provisioning.change_scimtoken",),
           lambda s: [s.token.pk]),
    Action("connections_connection", "issue_scim_token", ("provisioning.add_scimtoken",),
           lambda s: [s.acme.connection.pk, s.globex.connection.pk]),
    Action("provisioning_scimgrant", "revoke", ("provisioning.change_scimgrant",),
           lambda s: [s.grant.pk]),
    Action("accounts_user", "deprovision", ("accounts.deprovision_user",),
           lambda s: [s.acme.member.pk]),
    Action("accounts_user", "reactivate", ("accounts.deprovision_user",),
           lambda s: [s.leaver.pk]),
    Action("accounts_user", "delete_selected", ("accounts.delete_user",),
           lambda s: [s.globex.member.pk]),
    Action("provisioning_deprovisioning", "retry", ("accounts.deprovision_user",),
           lambda s: [s.stuck.pk]),
    Action("connections_connection", "issue_setup_link", ("connections.add_setuplink",),
           lambda s: [s.draft.pk]),
    Action("connections_connection", "revoke_setup_links", ("connections.change_setuplink",),
           lambda s: [s.linked.pk]),
    # Needs an IdP metadata URL to fetch (tests/connections/test_metadata_admin.py has that);
    # here it proves the action is hidden and refused.
    Action("connections_connection", "refresh_metadata", ("connections.change_connection",),
           lambda s: [s.acme.connection.pk], control=False),
]  # fmt: skip


def _post_action(client: Client, action: Action, scene) -> object:
    changelist = reverse(f"admin:{action.model}_changelist")
    data = {"action": action.name, "_selected_action": action.selected(scene), "index": "0"}
    if action.name == "delete_selected":
        data["post"] = "yes"  # the confirmation page's answer
    return client.post(changelist, data)


@pytest.mark.parametrize("action", ACTIONS, ids=[a.id for a in ACTIONS])
def test_a_view_only_staff_user_is_not_offered_the_action_and_forging_it_changes_nothing(
    viewer, scene, action
):
    client = _signed_in(viewer)
    changelist = reverse(f"admin:{action.model}_changelist")
    assert action.name not in _offered(client, changelist)
    before = _world()

    response = _post_action(client, action, scene)

    assert response.status_code == 403, response.status_code
    assert _world() == before
    assert _shown_tokens(response) == []
    assert not AuditEvent.objects.filter(actor=viewer).exists()


@pytest.mark.parametrize("action", [a for a in ACTIONS if a.control], ids=lambda a: a.id)
def test_the_permission_an_action_needs_is_enough(scene, action):
    staff = _staff(f"{action.name}@sso.test", [*_view_permissions(), *action.needs])
    client = _signed_in(staff)
    assert action.name in _offered(client, reverse(f"admin:{action.model}_changelist"))
    before = _world()

    _post_action(client, action, scene)

    assert _world() != before


def test_each_action_takes_every_permission_it_names(scene):
    # Rotation issues a token and revokes one: half of it is not enough.
    staff = _staff("half@sso.test", [*_view_permissions(), "provisioning.change_scimtoken"])
    client = _signed_in(staff)
    rotate = next(a for a in ACTIONS if a.name == "rotate")

    assert "rotate" not in _offered(client, reverse("admin:provisioning_scimtoken_changelist"))
    before = _world()
    _post_action(client, rotate, scene)
    assert _world() == before


# --- the test login ------------------------------------------------------------------------------


def test_the_test_login_needs_change_connection(viewer, scene):
    url = reverse("admin:connections_connection_change", args=[scene.draft.pk])
    viewer_client = _signed_in(viewer)
    assert "Run a test login" not in viewer_client.get(url).content.decode()
    before = _world()

    # Forged: the login view ignores ?test=1 from this user, and a draft refuses real logins.
    response = viewer_client.get(f"/sso/{scene.acme.connection.name}/login/?test=1")
    assert response.status_code == 302
    assert not PendingAuthnRequest.objects.filter(test_login=True).exists()
    response = viewer_client.get(f"/sso/{scene.draft.name}/login/?test=1")
    assert response.status_code == 403
    assert _world()["pending"] == before["pending"] + 1  # the plain login above, nothing else

    tester = _staff("tester@sso.test", [*_view_permissions(), "connections.change_connection"])
    tester_client = _signed_in(tester)
    assert "Run a test login" in tester_client.get(url).content.decode()
    response = tester_client.get(f"/sso/{scene.acme.connection.name}/login/?test=1")
    assert response.status_code == 302
    assert PendingAuthnRequest.objects.filter(test_login=True).count() == 1


# --- pages: they load read-only, and a forged POST is refused ------------------------------------


def _pages(scene) -> dict[str, str]:
    return {
        "connection": reverse("admin:connections_connection_change", args=[scene.acme.connection.pk]),
        "user": reverse("admin:accounts_user_change", args=[scene.acme.member.pk]),
        "company": reverse("admin:accounts_company_change", args=[scene.acme.company.pk]),
        "domain": reverse("admin:accounts_domain_change",
                          args=[scene.acme.company.domains.get().pk]),
        "team": reverse("admin:accounts_team_change", args=[scene.acme.teams["Sales"].pk]),
        "scim token": reverse("admin:provisioning_scimtoken_change", args=[scene.token.pk]),
        "scim grant": reverse("admin:provisioning_scimgrant_change", args=[scene.grant.pk]),
        "deprovisioning": reverse("admin:provisioning_deprovisioning_change",
                                  args=[scene.stuck.pk]),
        "audit event": reverse("admin:audit_auditevent_change",
                               args=[AuditEvent.objects.latest("pk").pk]),
    }  # fmt: skip


# What a forger posts to each page: the change that matters most on it.
FORGED = {
    "connection": {"status": "disabled", "sign_on_url": "https://evil.example/sso"},
    "user": {"email": "member@acme.com", "is_staff": "on", "is_superuser": "on"},
    "company": {"slug": "acme", "name": "Pwned", "domains-TOTAL_FORMS": "1",
                "domains-INITIAL_FORMS": "0", "domains-0-domain": "evil.example"},
    "domain": {"domain": "evil.example"},
    "team": {"name": "Pwned"},
    "scim token": {"label": "pwned"},
    "scim grant": {"revoked": "2030-01-01 00:00"},
    "deprovisioning": {"attempts": "99"},
    "audit event": {"action": "pwned"},
}  # fmt: skip


@pytest.mark.parametrize("page", list(FORGED))
def test_a_view_only_staff_user_reads_each_page_and_cannot_post_to_it(viewer, scene, page):
    client = _signed_in(viewer)
    url = _pages(scene)[page]
    shown = client.get(url)
    assert shown.status_code == 200
    assert (
        b'type="submit" value="Save"' not in shown.content and b'name="_save"' not in shown.content
    )
    before = _world()

    response = client.post(url, FORGED[page])

    assert response.status_code == 403
    assert _world() == before


@pytest.mark.parametrize(
    "name", ["connections_connection", "accounts_user", "accounts_company", "accounts_domain"]
)
def test_a_view_only_staff_user_cannot_add(viewer, name):
    client = _signed_in(viewer)
    url = reverse(f"admin:{name}_add")
    before = _world()

    assert client.get(url).status_code == 403
    assert client.post(url, {"name": "x", "slug": "x", "email": "x@x.example"}).status_code == 403
    assert _world() == before


def test_a_view_only_staff_user_cannot_set_a_password(viewer, acme):
    client = _signed_in(viewer)
    url = reverse("admin:auth_user_password_change", args=[acme.member.pk])
    password = User.objects.get(pk=acme.member.pk).password

    assert client.get(url).status_code == 403
    response = client.post(url, {"password1": "n3w-Passw0rd!x", "password2": "n3w-Passw0rd!x"})

    assert response.status_code == 403
    assert User.objects.get(pk=acme.member.pk).password == password


def test_refusal_tallies_are_read_only_and_need_their_view_permission(viewer, db):
    refusal_tally(code="connection_unknown", endpoint="metadata", name="acme-typo")
    changelist = reverse("admin:audit_refusaltally_changelist")
    page = _signed_in(viewer).get(changelist)
    assert page.status_code == 200
    assert "acme-typo" in page.content.decode()
    tally = RefusalTally.objects.get()
    response = _signed_in(viewer).post(
        reverse("admin:audit_refusaltally_change", args=[tally.pk]), {"count": "0"}
    )
    assert response.status_code == 403
    assert RefusalTally.objects.get().count == 1

    outsider = _staff("outsider@sso.test", ["accounts.view_user"])
    assert _signed_in(outsider).get(changelist).status_code == 403

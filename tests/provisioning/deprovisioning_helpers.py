"""A person with a live footprint, for the deprovisioning tests (eager and with a real worker).

``footprint(tenant, email)`` builds what deprovisioning must undo, through the real entry points:
SCIM creates the person (the tenant's connection provisions by SCIM), the person signs in through
SAML in two browsers, approves a personal OAuth token (scope ``profile``) for one app and, as the
company's admin, Okta's SCIM grant for the connection. ``assert_deprovisioned`` then checks every
promise of the SPEC's "Deprovisioning" from the outside: browsers, tokens, a new login.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module

from django.conf import settings
from django.test import Client

from accounts.models import Role, User, UserSession
from audit.models import AuditEvent, Severity
from connections.models import Connection, Provisioning
from provisioning.models import Deprovisioning
from tests.connections.jit_helpers import saml_login
from tests.connections.saml_helpers import assert_refused, idp_response, sign_in, signed_in_email
from tests.provisioning.oauth_helpers import (
    OktaClient,
    bearer,
    code_from,
    submit_form,
    token_body,
    token_error,
)
from tests.provisioning.scim_helpers import ENTERPRISE, USER_SCHEMA, ScimClient
from tests.saml_idp import okta_attributes

STATE = "deprovisioning-state"


SIGNED_OUT_TEXT = "single sign-on</a>"  # the home page's link to /sso/ when signed out


@dataclass
class Footprint:
    """Everything one person has live, and the handles to try each of them again."""

    tenant: object
    user: User
    scim: ScimClient  # the IdP's static SCIM token for the tenant's connection
    browsers: list[Client]
    session_keys: list[str]
    personal_app: OktaClient
    personal: dict  # token response of the personal (profile) grant
    okta: OktaClient
    scim_grant: dict  # token response of Okta's SCIM grant, authorized by this person

    @property
    def connection(self) -> Connection:
        return self.tenant.connection

    def reload(self) -> User:
        self.user.refresh_from_db()
        return self.user


def use_scim_provisioning(tenant) -> None:
    """Switch the tenant's connection to SCIM (the customer setup guide's SCIM method)."""
    Connection.objects.filter(pk=tenant.connection.pk).update(provisioning=Provisioning.SCIM)
    tenant.connection.refresh_from_db()  # keeps the test IdP keypair attribute


def scim_create(scim: ScimClient, email: str, *, user_type: str = "admin") -> dict:
    status, body = scim.post(
        "Users",
        {
            "schemas": [USER_SCHEMA, ENTERPRISE],
            "userName": email,
            "name": {"givenName": "Dee", "familyName": "Provisioned"},
            "emails": [{"primary": True, "value": email, "type": "work"}],
            "userType": user_type,
            "active": True,
        },
    )
    assert status == 201, body
    return body


def saml_browser(tenant, email: str) -> Client:
    """A new browser signed in as ``email`` through the tenant's IdP (IdP-initiated)."""
    browser = Client()
    xml = idp_response(tenant, email, attributes=okta_attributes(email, user_type="admin"))
    done = sign_in(browser, tenant.connection, xml)
    assert done.status_code == 302, (done.status_code, done.content[:800])
    assert signed_in_email(browser) == email
    return browser


def approve(okta: OktaClient, browser: Client, scope: str) -> dict:
    """The signed-in ``browser`` approves ``okta``'s request for ``scope`` on the page as
    rendered; Okta's back channel exchanges the code. Returns the token response."""
    page = browser.get(okta.authorize_url(state=STATE, scope=scope))
    code = code_from(submit_form(browser, page, allow=True), okta, state=STATE)
    return token_body(okta.exchange(code))


def footprint(tenant, email: str) -> Footprint:
    use_scim_provisioning(tenant)
    scim = ScimClient.for_connection(tenant.connection)
    scim_create(scim, email)
    user = User.objects.get(email=email)
    assert user.role == Role.ADMIN and user.is_active

    browsers = [saml_browser(tenant, email), saml_browser(tenant, email)]
    keys = [browser.session.session_key for browser in browsers]
    assert len(set(keys)) == 2
    assert set(UserSession.objects.filter(user=user).values_list("session_key", flat=True)) == set(
        keys
    )

    personal_app = OktaClient.register(name="Expense reports")
    personal = approve(personal_app, browsers[0], "profile")
    okta = OktaClient.register(name="Okta")
    scim_grant = approve(okta, browsers[1], "scim")
    assert scim_grant["scope"] == "scim"

    person = Footprint(
        tenant=tenant,
        user=user,
        scim=scim,
        browsers=browsers,
        session_keys=keys,
        personal_app=personal_app,
        personal=personal,
        okta=okta,
        scim_grant=scim_grant,
    )
    assert_live(person)
    return person


def me(token: str):
    return Client().get("/api/me/", headers=bearer(token))


def scim_with_grant(token: str) -> int:
    status, _body = ScimClient(token).get("Users")
    return status


def browser_user(browser: Client):
    """Who the home page sees in this browser (the request's user, as every view sees it)."""
    response = browser.get("/")
    assert response.status_code == 200
    return response, response.wsgi_request.user


def session_exists(key: str) -> bool:
    return import_module(settings.SESSION_ENGINE).SessionStore().exists(key)


def assert_live(person: Footprint) -> None:
    """Before: both browsers signed in, the personal token and the SCIM grant work."""
    for browser in person.browsers:
        _page, user = browser_user(browser)
        assert user.is_authenticated and user.pk == person.user.pk
    assert all(session_exists(key) for key in person.session_keys)
    response = me(person.personal["access_token"])
    assert response.status_code == 200, response.content
    assert response.json()["email"] == person.user.email
    assert scim_with_grant(person.scim_grant["access_token"]) == 200


def assert_browsers_signed_out(person: Footprint) -> None:
    for browser in person.browsers:
        page, user = browser_user(browser)
        assert not user.is_authenticated
        assert SIGNED_OUT_TEXT in page.content.decode()
        assert signed_in_email(browser) is None


def assert_sessions_ended(person: Footprint) -> None:
    """Ended in the store, not merely refused because the user is inactive."""
    assert not any(session_exists(key) for key in person.session_keys)
    assert not UserSession.objects.filter(user=person.user).exists()


def assert_personal_token_dead(person: Footprint) -> None:
    assert me(person.personal["access_token"]).status_code == 401
    token_error(person.personal_app.refresh(person.personal["refresh_token"]), "invalid_grant")


def assert_login_refused(person: Footprint) -> None:
    browser = Client()
    response = saml_login(
        person.connection,
        attributes=okta_attributes(person.user.email, user_type="admin"),
        client=browser,
        keypair=person.connection.keypair,
    )
    assert_refused(
        response,
        "user_deactivated",
        users_before=User.objects.count(),
        connection=person.connection,
        client=browser,
    )


def assert_scim_grant_kept(person: Footprint) -> None:
    """The company's SCIM grant still works, refresh included (Okta refreshes hourly)."""
    assert scim_with_grant(person.scim_grant["access_token"]) == 200
    refreshed = token_body(person.okta.refresh(person.scim_grant["refresh_token"]))
    assert scim_with_grant(refreshed["access_token"]) == 200
    person.scim_grant = refreshed
    event = AuditEvent.objects.get(action="oauth.scim_grant_needs_owner")
    assert event.severity == Severity.WARNING
    assert event.company_id == person.tenant.company.pk
    assert event.connection_id == person.connection.pk
    assert event.target == person.connection.name
    assert event.details["authorized_by"] == person.user.email


def assert_deprovisioned(person: Footprint) -> Deprovisioning:
    """Every promise, checked from the outside; returns the completed job."""
    user = person.reload()
    assert user.is_active is False
    job = Deprovisioning.objects.get(user=user)
    assert job.completed_at is not None, job.last_error
    assert job.last_error == ""
    assert job.sessions_ended == 2
    assert job.tokens_revoked >= 1
    assert_browsers_signed_out(person)
    assert_sessions_ended(person)
    assert_personal_token_dead(person)
    assert_login_refused(person)
    assert_scim_grant_kept(person)
    completed = AuditEvent.objects.get(action="user.deprovisioning_completed")
    assert completed.target == user.email
    assert completed.details["sessions_ended"] == 2
    return job

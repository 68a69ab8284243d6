"""Okta's "Authenticate with …" (customer setup guide, SCIM section; SPEC "OAuth for SCIM"):
the OAuth 2.0 authorization-code flow driven end to end through Django's test client, as Okta
and the customer's admin drive it, then the SCIM API called with the token it obtained.

The browser and Okta's back channel are separate clients (``tests.provisioning.oauth_helpers``);
the sign-in is a real SAML login signed by the test IdP; nothing of ours is mocked.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from io import StringIO
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.contrib.auth.hashers import check_password
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from lxml import html
from oauth2_provider.models import AccessToken, Application, Grant, RefreshToken

from accounts.models import Role, User
from audit.models import AuditEvent
from connections.models import ConnectionStatus, Provisioning
from provisioning.oauth import connection_resource_uri
from tests.commands import refusal_line, refused_command
from tests.connections.saml_helpers import idp_for, sign_in, signed_in_email
from tests.factories import ConnectionFactory, UserFactory
from tests.provisioning.oauth_helpers import (
    AUTHORIZE,
    OKTA_APP,
    OKTA_CALLBACK,
    OKTA_CALLBACKS,
    OktaClient,
    approval_form,
    bearer,
    browser,
    code_from,
    connection_options,
    page_text,
    pkce_pair,
    redirect_query,
    selected_connection,
    submit_form,
    token_body,
    token_error,
)
from tests.provisioning.scim_helpers import LIST_RESPONSE, ScimClient
from tests.saml_idp import okta_attributes

pytestmark = pytest.mark.django_db

STATE = "okta-state-Zm9vYmFy"


def scim_user_names(token: str) -> tuple[int, set[str]]:
    status, body = ScimClient(token).get("Users")
    if status != 200:
        return status, set()
    assert body["schemas"] == [LIST_RESPONSE], body
    return status, {resource["userName"] for resource in body["Resources"]}


def company_user_names(company) -> set[str]:
    return {user.username or user.email for user in User.objects.filter(company=company)}


def approved_code(okta: OktaClient, user, *, scope: str = "scim", **extra) -> str:
    """A signed-in ``user`` approves Okta's request on the page as rendered; returns the code."""
    client = browser()
    client.force_login(user)
    page = client.get(okta.authorize_url(state=STATE, scope=scope, **extra))
    return code_from(submit_form(client, page, allow=True), okta, state=STATE)


def scim_tokens(okta: OktaClient, user) -> dict:
    return token_body(okta.exchange(approved_code(okta, user)))


# --- the whole dance ---------------------------------------------------------------------------


def test_okta_dance_end_to_end_with_a_saml_sign_in(acme, globex, okta):
    """Authorize → sign in through SAML → approve → code → token → SCIM → refresh → revoke."""
    # acme has a second connection, the one Okta provisions (SCIM); globex's must never show.
    scim_connection = ConnectionFactory(
        company=acme.company, name="acme-okta", provisioning=Provisioning.SCIM
    )
    admin_browser = browser()
    authorize = okta.authorize_url(state=STATE, scope="scim")

    # 1. Okta's pop-up opens the authorization URL; nobody is signed in: to the sign-in page.
    first = admin_browser.get(authorize)
    assert first.status_code == 302
    location = urlsplit(first["Location"])
    assert location.path == reverse("sso-start")
    assert parse_qs(location.query)["next"] == [authorize]
    assert admin_browser.get(first["Location"]).status_code == 200

    # 2. SP-initiated SAML sign-in through acme's IdP, carrying the authorization URL as next.
    login = admin_browser.get(
        reverse("sso-login", args=[acme.connection.name]), {"next": authorize}
    )
    assert login.status_code == 302
    xml = idp_for(acme).respond_to(
        login["Location"],
        name_id=acme.admin.email,
        attributes=okta_attributes(acme.admin.email, user_type="admin"),
    )
    done = sign_in(admin_browser, acme.connection, xml)
    assert signed_in_email(admin_browser) == acme.admin.email
    assert done.status_code == 302
    assert done["Location"] == authorize

    # 3. Back on the authorization URL: the approval page, with acme's connections only.
    page = admin_browser.get(done["Location"])
    form = approval_form(page)
    assert form.get("method") == "post"
    assert f"Signed in as <strong>{acme.admin.email}</strong>" in page_text(page)
    options = connection_options(page)
    assert options == {
        "acme": str(acme.connection.pk),
        "acme-okta": str(scim_connection.pk),
    }
    assert globex.connection.name not in page_text(page)
    # The SCIM-provisioned connection is the one pre-selected.
    assert selected_connection(page) == str(scim_connection.pk)
    assert "Provision and deprovision your company" in page_text(page)

    # 4. Allow: the code comes back on the registered callback with Okta's state.
    code = code_from(submit_form(admin_browser, page, allow=True), okta, state=STATE)
    # Who authorized which connection, for which client, is on record.
    event = AuditEvent.objects.get(action="oauth.scim_authorized")
    assert (event.actor_id, event.connection_id, event.company_id) == (
        acme.admin.pk,
        scim_connection.pk,
        acme.company.pk,
    )
    assert event.target == okta.client_id
    assert event.details == {"redirect_uri": OKTA_CALLBACK}

    # 5. Okta's back channel: the code for tokens, client secret in HTTP Basic.
    tokens = token_body(okta.exchange(code, basic=True))
    assert tokens["token_type"] == "Bearer"
    assert tokens["scope"] == "scim"
    assert 0 < tokens["expires_in"] <= 3600  # short-lived
    assert tokens["expires_in"] == settings.OAUTH2_PROVIDER["ACCESS_TOKEN_EXPIRE_SECONDS"]
    assert tokens["refresh_token"] and tokens["refresh_token"] != tokens["access_token"]
    stored = AccessToken.objects.get()
    assert stored.user_id == acme.admin.pk
    assert stored.resource == [connection_resource_uri(scim_connection)]

    # 6. A SCIM call with the access token: acme's users, nobody else's.
    status, names = scim_user_names(tokens["access_token"])
    assert status == 200
    assert names == company_user_names(acme.company)
    assert not names & company_user_names(globex.company)

    # 7. Refresh, the client secret in the body this time: a new pair (rotation).
    refreshed = token_body(okta.refresh(tokens["refresh_token"], basic=False))
    assert refreshed["access_token"] != tokens["access_token"]
    assert refreshed["refresh_token"] != tokens["refresh_token"]
    assert refreshed["scope"] == "scim"
    assert scim_user_names(refreshed["access_token"]) == (200, company_user_names(acme.company))
    # The refreshed token is bound to the same connection; the old access token is gone.
    assert AccessToken.objects.get().resource == [connection_resource_uri(scim_connection)]
    assert scim_user_names(tokens["access_token"])[0] == 401

    # 8. Okta revokes the access token: the SCIM call that just worked fails with 401.
    revoked = okta.revoke(refreshed["access_token"])
    assert revoked.status_code == 200
    status, body = ScimClient(refreshed["access_token"]).get("Users")
    assert status == 401, body
    assert not AccessToken.objects.exists()
    # Revoking the access token revokes the refresh token bound to it (RFC 7009 2.1), or
    # the revocation could be undone by refreshing.
    token_error(okta.refresh(refreshed["refresh_token"]), "invalid_grant")

    # 9. The rotated-out refresh token no longer works.
    token_error(okta.refresh(tokens["refresh_token"]), "invalid_grant")


def test_typing_the_work_email_on_the_sign_in_page_comes_back_to_the_whole_request(acme, okta):
    """The pop-up's sign-in page as a person uses it: type the work email, continue, sign in at
    the IdP, and land back on the approval page of the same authorization request."""
    admin_browser = browser()
    authorize = okta.authorize_url(state=STATE, scope="scim")
    to_sign_in = admin_browser.get(authorize)
    sign_in_page = admin_browser.get(to_sign_in["Location"])
    form = html.fromstring(sign_in_page.content).forms[0]
    data = dict(form.form_values())
    assert data["next"] == authorize
    data["identifier"] = acme.admin.email
    chosen = admin_browser.post(to_sign_in["Location"], data)
    assert chosen.status_code == 302
    login = admin_browser.get(chosen["Location"])
    assert login.status_code == 302
    xml = idp_for(acme).respond_to(
        login["Location"],
        name_id=acme.admin.email,
        attributes=okta_attributes(acme.admin.email, user_type="admin"),
    )
    done = sign_in(admin_browser, acme.connection, xml)
    assert done["Location"] == authorize
    page = admin_browser.get(done["Location"])
    code = code_from(submit_form(admin_browser, page, allow=True), okta, state=STATE)
    assert token_body(okta.exchange(code))["scope"] == "scim"


def test_replaying_a_rotated_refresh_token_is_refused_and_ends_the_grant(acme, okta):
    """ROTATE_REFRESH_TOKEN with reuse protection: the old refresh token is refused, and since
    a replay means it leaked, the tokens refreshed from it stop working too."""
    tokens = scim_tokens(okta, acme.admin)
    refreshed = token_body(okta.refresh(tokens["refresh_token"]))
    assert scim_user_names(refreshed["access_token"])[0] == 200

    token_error(okta.refresh(tokens["refresh_token"]), "invalid_grant")

    assert scim_user_names(refreshed["access_token"])[0] == 401
    token_error(okta.refresh(refreshed["refresh_token"]), "invalid_grant")


def test_the_client_must_authenticate_at_the_token_endpoint(acme, okta):
    code = approved_code(okta, acme.admin)
    impostor = OktaClient(client_id=okta.client_id, client_secret="not-the-secret")
    token_error(impostor.exchange(code, basic=True), "invalid_client", status=401)
    token_error(impostor.exchange(code, basic=False), "invalid_client", status=401)
    # The failed attempts did not burn the code for the real client.
    assert token_body(okta.exchange(code))["scope"] == "scim"


# --- PKCE ----------------------------------------------------------------------------------------


def test_pkce_s256_with_the_right_verifier_is_accepted(acme, okta):
    verifier, challenge = pkce_pair()
    code = approved_code(okta, acme.admin, code_challenge=challenge, code_challenge_method="S256")
    assert Grant.objects.get().code_challenge_method == "S256"

    tokens = token_body(okta.exchange(code, code_verifier=verifier))

    assert scim_user_names(tokens["access_token"]) == (200, company_user_names(acme.company))


def test_pkce_a_code_sent_with_a_challenge_needs_the_verifier(acme, okta):
    _verifier, challenge = pkce_pair()
    code = approved_code(okta, acme.admin, code_challenge=challenge, code_challenge_method="S256")

    token_error(okta.exchange(code), "invalid_request")

    assert not AccessToken.objects.exists()


@pytest.mark.parametrize("sent", ["another-verifier", "the-challenge"])
def test_pkce_a_wrong_verifier_is_refused(acme, okta, sent):
    verifier, challenge = pkce_pair()
    code = approved_code(okta, acme.admin, code_challenge=challenge, code_challenge_method="S256")
    # The challenge itself must not pass either (that would be the "plain" method).
    wrong = pkce_pair()[0] if sent == "another-verifier" else challenge
    assert wrong != verifier

    token_error(okta.exchange(code, code_verifier=wrong), "invalid_grant")

    assert not AccessToken.objects.exists()


# --- who may approve -----------------------------------------------------------------------------


def _forged_approval(user, okta: OktaClient, *, scope: str, allow: bool = True, connection=None):
    """A POST of the approval form that the user never got to see (no CSRF enforcement: a
    forger can always get a token of their own)."""
    client = Client()
    client.force_login(user)
    data = {
        "client_id": okta.client_id,
        "redirect_uri": okta.redirect_uri,
        "response_type": "code",
        "state": STATE,
        "scope": scope,
    }
    if allow:
        data["allow"] = "Authorize"
    if connection is not None:
        data["connection"] = str(connection.pk)
    return client.post(okta.authorize_url(state=STATE, scope=scope), data)


def assert_refusal_page(response, text: str) -> None:
    assert response.status_code == 403, (response.status_code, page_text(response)[:800])
    assert "oauth/refused.html" in [t.name for t in response.templates]
    assert text in page_text(response)
    assert not response.has_header("Location")


def assert_nothing_granted() -> None:
    assert not Grant.objects.exists()
    assert not AccessToken.objects.exists()
    assert not AuditEvent.objects.filter(action="oauth.scim_authorized").exists()


@pytest.mark.parametrize("role", [Role.SENDER, Role.MANAGER, Role.DEPARTMENT_ADMIN])
def test_a_non_admin_gets_a_refusal_page_and_no_code(acme, okta, role):
    person = acme.member if role == Role.SENDER else UserFactory(company=acme.company, role=role)
    client = browser()
    client.force_login(person)

    page = client.get(okta.authorize_url(state=STATE, scope="scim"))

    assert_refusal_page(page, "Only an admin of your company can authorize provisioning")
    assert "<form" not in page_text(page)
    # Posting the approval form anyway, with or without naming the scope, changes nothing.
    for scope in ("scim", "", "profile scim"):
        forged = _forged_approval(person, okta, scope=scope, connection=acme.connection)
        assert_refusal_page(forged, "Only an admin of your company can authorize provisioning")
    assert_nothing_granted()


def test_a_staff_user_gets_a_refusal_page_and_no_code(acme, okta, staff_user):
    client = browser()
    client.force_login(staff_user)

    page = client.get(okta.authorize_url(state=STATE, scope="scim"))

    assert_refusal_page(page, "Staff accounts cannot authorize provisioning")
    forged = _forged_approval(staff_user, okta, scope="scim", connection=acme.connection)
    assert_refusal_page(forged, "Staff accounts cannot authorize provisioning")
    assert_nothing_granted()


def test_an_admin_whose_company_has_no_usable_connection_is_refused(stranger, okta):
    admin = UserFactory(company=stranger, email="admin@stranger.test", role=Role.ADMIN)
    ConnectionFactory(company=stranger, name="stranger-old", status=ConnectionStatus.DISABLED)
    client = browser()
    client.force_login(admin)

    page = client.get(okta.authorize_url(state=STATE, scope="scim"))

    assert_refusal_page(page, "no active sign-in connection")
    assert_nothing_granted()


def test_the_approval_page_offers_only_the_company_usable_connections(acme, globex, okta):
    ConnectionFactory(company=acme.company, name="acme-old", status=ConnectionStatus.DISABLED)
    ConnectionFactory(company=globex.company, name="globex-okta", provisioning=Provisioning.SCIM)
    client = browser()
    client.force_login(acme.admin)

    page = client.get(okta.authorize_url(state=STATE, scope="scim"))

    assert connection_options(page) == {"acme": str(acme.connection.pk)}
    assert selected_connection(page) == str(acme.connection.pk)
    for name in ("acme-old", "globex"):
        assert name not in page_text(page)


# --- another company's connection ----------------------------------------------------------------


def test_posting_another_company_connection_is_refused_and_issues_no_code(acme, globex, okta):
    client = browser()
    client.force_login(acme.admin)
    page = client.get(okta.authorize_url(state=STATE, scope="scim"))

    response = submit_form(
        client, page, allow=True, overrides={"connection": str(globex.connection.pk)}
    )

    assert_refusal_page(response, "Choose one of your company&#x27;s connections.")
    assert_nothing_granted()


def test_a_token_bound_to_acme_cannot_reach_globex(acme, globex, okta):
    # Okta (or anyone editing the URL) naming globex's SCIM API as the resource changes nothing:
    # the grant names the connection the admin chose.
    code = approved_code(okta, acme.admin, resource=connection_resource_uri(globex.connection))
    tokens = token_body(okta.exchange(code))
    assert AccessToken.objects.get().resource == [connection_resource_uri(acme.connection)]
    scim = ScimClient(tokens["access_token"])

    status, names = scim_user_names(tokens["access_token"])
    assert (status, names) == (200, company_user_names(acme.company))
    for email, found in ((acme.member.email, 1), (globex.member.email, 0)):
        status, body = scim.get("Users", {"filter": f'emails.value eq "{email}"'})
        assert (status, body["totalResults"]) == (200, found)
    status, _ = scim.get(f"Users/{globex.member.scim_id}")
    assert status == 404
    status, _ = scim.patch(
        f"Users/{globex.member.scim_id}",
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "value": {"active": False}}],
        },
    )
    assert status == 404
    globex.member.refresh_from_db()
    assert globex.member.is_active

    # Nor can a refresh widen the grant to globex's connection.
    body = token_error(
        okta.refresh(tokens["refresh_token"], resource=connection_resource_uri(globex.connection)),
        "invalid_target",
    )
    assert body


def test_a_code_cannot_be_exchanged_for_another_connection(acme, globex, okta):
    code = approved_code(okta, acme.admin)

    token_error(
        okta.exchange(code, resource=connection_resource_uri(globex.connection)), "invalid_target"
    )

    assert not AccessToken.objects.exists()


# --- redirect URIs -------------------------------------------------------------------------------

UNREGISTERED_REDIRECT_URIS = [
    "https://evil.example/callback",
    OKTA_CALLBACK.replace(OKTA_APP, "another-app"),
    # prefix and suffix variants of the registered URI: matching is exact
    OKTA_CALLBACK + "/",
    OKTA_CALLBACK + "s",
    OKTA_CALLBACK.removesuffix("/callback"),
    OKTA_CALLBACK.removesuffix("k"),
    OKTA_CALLBACK + "/../../../../evil",
    OKTA_CALLBACK + ";evil=1",
    OKTA_CALLBACK + "?",
    OKTA_CALLBACK + "?next=https://evil.example/",
    OKTA_CALLBACK + "#evil",
    OKTA_CALLBACK.replace("system-admin.okta.com", "system-admin.okta.com.evil.example"),
    OKTA_CALLBACK.replace("system-admin.okta.com", "evil.example@system-admin.okta.com"),
    OKTA_CALLBACK.replace("system-admin.okta.com", "system-admin.okta.com@evil.example"),
    OKTA_CALLBACK.replace("system-admin.okta.com", "system-admin.okta.com:8443"),
    OKTA_CALLBACK.replace("https://", "http://"),
    "https://evil.example/" + OKTA_CALLBACK,
]


def assert_error_page(response) -> None:
    """A broken request: an error page of ours, no redirect anywhere."""
    assert 400 <= response.status_code < 500, (response.status_code, page_text(response)[:800])
    assert not response.has_header("Location")
    assert "oauth/authorize.html" in [t.name for t in response.templates]
    assert "This authorization request cannot be completed" in page_text(response)
    assert "evil.example" not in page_text(response)


@pytest.mark.parametrize("redirect_uri", UNREGISTERED_REDIRECT_URIS)
def test_an_unregistered_redirect_uri_gets_an_error_page_and_never_a_redirect(
    acme, okta, redirect_uri
):
    client = browser()
    client.force_login(acme.admin)

    response = client.get(okta.authorize_url(state=STATE, redirect_uri=redirect_uri))

    assert_error_page(response)
    assert "<form" not in page_text(response)
    assert_nothing_granted()


def test_an_unregistered_redirect_uri_sends_an_anonymous_visitor_only_to_our_sign_in(okta):
    response = browser().get(okta.authorize_url(state=STATE, redirect_uri="https://evil.example/"))

    assert response.status_code == 302
    assert urlsplit(response["Location"]).path == reverse("sso-start")
    assert not urlsplit(response["Location"]).netloc


@pytest.mark.parametrize("allow", [True, False], ids=["allow", "deny"])
@pytest.mark.parametrize(
    "redirect_uri",
    ["https://evil.example/callback", OKTA_CALLBACK + "/", OKTA_CALLBACK + "?x=1"],
)
def test_a_tampered_redirect_uri_in_the_approval_form_never_redirects(
    acme, okta, allow, redirect_uri
):
    client = browser()
    client.force_login(acme.admin)
    page = client.get(okta.authorize_url(state=STATE))

    response = submit_form(client, page, allow=allow, overrides={"redirect_uri": redirect_uri})

    assert_error_page(response)
    assert_nothing_granted()


def test_another_registered_callback_is_honoured_exactly(acme):
    okta_emea = OktaClient.register(redirect_uri=OKTA_CALLBACKS[1])
    code = approved_code(okta_emea, acme.admin)  # asserts the redirect to the EMEA callback
    # The token request must name the same redirect URI as the authorization request. RFC 6749
    # 5.2 calls this invalid_grant; the pinned oauthlib answers invalid_request ("Mismatching
    # redirect URI."). Refused, no token, and the code still works with the right URI.
    refused = okta_emea.exchange(code, redirect_uri=OKTA_CALLBACKS[0])
    assert refused.status_code == 400
    assert json.loads(refused.content)["error"] == "invalid_request"
    assert not AccessToken.objects.exists()
    assert token_body(okta_emea.exchange(code, redirect_uri=OKTA_CALLBACKS[1]))["scope"] == "scim"


def test_a_request_without_a_redirect_uri_never_redirects(acme, okta):
    """Three callbacks are registered, so none is implied: an error page, no guess."""
    client = browser()
    client.force_login(acme.admin)
    query = {"response_type": "code", "client_id": okta.client_id, "state": STATE, "scope": "scim"}

    response = client.get(AUTHORIZE, query)

    assert_error_page(response)
    assert_nothing_granted()


@pytest.mark.parametrize("allow", [True, False], ids=["allow", "deny"])
def test_a_tampered_client_id_in_the_approval_form_never_redirects(acme, okta, allow):
    other = OktaClient.register(name="Other", redirect_uris=["https://other.example/cb"])
    client = browser()
    client.force_login(acme.admin)
    page = client.get(okta.authorize_url(state=STATE))

    for client_id in ("no-such-client", other.client_id, ""):
        response = submit_form(client, page, allow=allow, overrides={"client_id": client_id})
        assert_error_page(response)
    assert_nothing_granted()


def test_an_unknown_client_gets_an_error_page_and_no_redirect(acme, okta):
    client = browser()
    client.force_login(acme.admin)
    stranger_client = OktaClient(client_id="no-such-client", client_secret="x")

    response = client.get(stranger_client.authorize_url(state=STATE))

    assert_error_page(response)


def test_a_denied_approval_redirects_to_the_registered_uri_with_access_denied(acme, okta):
    client = browser()
    client.force_login(acme.admin)
    page = client.get(okta.authorize_url(state=STATE))

    response = submit_form(client, page, allow=False)

    query = redirect_query(response, OKTA_CALLBACK)
    assert query["error"] == "access_denied"
    assert query["state"] == STATE
    assert "code" not in query
    assert_nothing_granted()


# --- codes and tokens ----------------------------------------------------------------------------


def test_a_replayed_code_is_refused_and_revokes_the_tokens_it_issued(acme, okta):
    """RFC 6749 4.1.2: the code is refused the second time, and the tokens issued from it the
    first time (and everything refreshed from them) stop working (issue 11, Low / OAuth)."""
    code = approved_code(okta, acme.admin)
    first = token_body(okta.exchange(code))
    refreshed = token_body(okta.refresh(first["refresh_token"]))
    assert scim_user_names(refreshed["access_token"])[0] == 200

    token_error(okta.exchange(code), "invalid_grant")

    assert scim_user_names(first["access_token"])[0] == 401
    assert scim_user_names(refreshed["access_token"])[0] == 401
    token_error(okta.refresh(refreshed["refresh_token"]), "invalid_grant")
    assert AccessToken.objects.count() == 0
    assert not RefreshToken.objects.filter(revoked__isnull=True).exists()
    event = AuditEvent.objects.get(action="oauth.code_replayed")
    assert event.connection == acme.connection
    assert event.details["tokens_revoked"] == 1
    # Presented yet again, still refused (and nothing left to revoke).
    token_error(okta.exchange(code, basic=False), "invalid_grant")


def test_a_code_issued_to_okta_is_useless_to_another_client(acme, okta):
    other = OktaClient.register(name="Other")
    code = approved_code(okta, acme.admin)

    token_error(other.exchange(code), "invalid_grant")

    assert not AccessToken.objects.exists()


def test_an_expired_code_is_refused(acme, okta):
    code = approved_code(okta, acme.admin)
    Grant.objects.update(expires=timezone.now() - timedelta(seconds=1))

    token_error(okta.exchange(code), "invalid_grant")


def test_an_expired_access_token_fails_and_a_refresh_recovers(acme, okta):
    tokens = scim_tokens(okta, acme.admin)
    assert scim_user_names(tokens["access_token"])[0] == 200
    token = AccessToken.objects.get()
    # Short-lived: it expires ACCESS_TOKEN_EXPIRE_SECONDS after issue.
    lifetime = (token.expires - token.created).total_seconds()
    assert abs(lifetime - settings.OAUTH2_PROVIDER["ACCESS_TOKEN_EXPIRE_SECONDS"]) < 5
    AccessToken.objects.filter(pk=token.pk).update(expires=timezone.now() - timedelta(seconds=1))

    status, body = ScimClient(tokens["access_token"]).get("Users")

    assert status == 401, body
    refreshed = token_body(okta.refresh(tokens["refresh_token"]))
    assert scim_user_names(refreshed["access_token"])[0] == 200


def test_another_client_cannot_revoke_okta_tokens(acme, okta):
    other = OktaClient.register(name="Other")
    tokens = scim_tokens(okta, acme.admin)

    assert other.revoke(tokens["access_token"]).status_code == 200  # RFC 7009: no disclosure

    assert scim_user_names(tokens["access_token"])[0] == 200


@pytest.mark.parametrize("who", ["member", "admin"])
def test_a_personal_profile_token_works_on_api_me_but_not_on_scim(acme, okta, who):
    person = getattr(acme, who)
    client = browser()
    client.force_login(person)
    page = client.get(okta.authorize_url(state=STATE, scope="profile"))
    assert connection_options(page) == {}  # a personal grant names no connection
    assert "Read your own profile" in page_text(page)
    code = code_from(submit_form(client, page, allow=True), okta, state=STATE)

    tokens = token_body(okta.exchange(code))

    assert tokens["scope"] == "profile"
    assert AccessToken.objects.get().resource == []
    me = Client().get("/api/me/", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200, me.content
    assert json.loads(me.content) == {
        "email": person.email,
        "name": person.full_name,
        "company": "acme",
        "role": person.role,
        "team": person.team.name if person.team else None,
    }
    status, body = ScimClient(tokens["access_token"]).get("Users")
    assert status == 401, body
    assert not AuditEvent.objects.filter(action="oauth.scim_authorized").exists()


def test_a_scim_token_is_not_a_personal_token(acme, okta):
    tokens = scim_tokens(okta, acme.admin)

    me = Client().get("/api/me/", headers=bearer(tokens["access_token"]))

    assert me.status_code in (401, 403), me.content
    assert acme.admin.email not in me.content.decode()


def test_an_admin_asking_for_scim_and_profile_gets_scim_only(acme, okta):
    code = approved_code(okta, acme.admin, scope="scim profile")

    tokens = token_body(okta.exchange(code))

    assert tokens["scope"] == "scim"
    assert Client().get("/api/me/", headers=bearer(tokens["access_token"])).status_code in (
        401,
        403,
    )


def test_tokens_are_not_stored_in_plain_text(acme, okta):
    tokens = scim_tokens(okta, acme.admin)

    access = AccessToken.objects.get()
    refresh = RefreshToken.objects.get()
    assert access.token == ""
    assert access.token_checksum == hashlib.sha256(tokens["access_token"].encode()).hexdigest()
    assert refresh.token == ""
    assert refresh.token_checksum == hashlib.sha256(tokens["refresh_token"].encode()).hexdigest()


# --- registering the client ----------------------------------------------------------------------


def _create(*args: str) -> tuple[str, str, str, str]:
    """``oauth_client create ...``: (client_id, secret, stdout, stderr)."""
    out, err = StringIO(), StringIO()
    call_command("oauth_client", "create", *args, stdout=out, stderr=err)
    lines = out.getvalue().splitlines()
    assert [line.split(":", 1)[0] for line in lines] == ["client_id", "client_secret"], lines
    client_id = lines[0].split(": ", 1)[1]
    secret = lines[1].split(": ", 1)[1]
    return client_id, secret, out.getvalue(), err.getvalue()


def test_oauth_client_create_prints_the_secret_once_and_stores_it_hashed(acme):
    client_id, secret, out, err = _create("--name", "okta", "--okta-app", OKTA_APP)

    client = Application.objects.get(client_id=client_id)
    assert client.name == "okta"
    assert client.client_type == Application.CLIENT_CONFIDENTIAL
    assert client.authorization_grant_type == Application.GRANT_AUTHORIZATION_CODE
    assert not client.skip_authorization
    # Okta's three documented OIN callbacks, exactly.
    assert client.redirect_uris.split() == OKTA_CALLBACKS
    # The secret: printed once, stored only as a hash.
    assert len(secret) >= 32
    assert out.count(secret) == 1
    assert secret not in err
    assert client.client_secret != secret
    assert secret not in client.client_secret
    assert check_password(secret, client.client_secret)
    for event in AuditEvent.objects.all():
        assert secret not in json.dumps(event.details)
    # And the printed pair is what Okta then authenticates with.
    okta = OktaClient(client_id=client_id, client_secret=secret)
    assert token_body(okta.exchange(approved_code(okta, acme.admin)))["scope"] == "scim"


def test_oauth_client_create_defaults_to_the_okta_callbacks_of_its_name(db):
    client_id, _secret, _out, _err = _create("--name", "acme-scim")

    assert Application.objects.get(client_id=client_id).redirect_uris.split() == [
        uri.replace(OKTA_APP, "acme-scim") for uri in OKTA_CALLBACKS
    ]


def test_oauth_client_create_registers_the_given_redirect_uris(db):
    uris = ["https://idp.example/oauth/callback", "https://idp.example/other/callback"]

    client_id, _secret, _out, _err = _create(
        "--name", "custom", "--redirect-uri", uris[0], "--redirect-uri", uris[1]
    )

    assert Application.objects.get(client_id=client_id).redirect_uris.split() == uris


@pytest.mark.parametrize(
    "args",
    [
        ("--name", "okta", "--redirect-uri", "http://idp.example/callback"),
        ("--name", "okta", "--redirect-uri", "https://idp.example/callback#x"),
        ("--name", "okta", "--redirect-uri", "/relative/callback"),
        ("--name", "okta", "--redirect-uri", "https://idp.example/cb", "--okta-app", OKTA_APP),
        ("--name", "okta", "--okta-app", "../evil"),
    ],
    ids=["http", "fragment", "relative", "both", "bad-okta-app"],
)
def test_oauth_client_create_refuses_bad_redirect_uris(db, args):
    refused_command("oauth_client", "create", *args, watched=(Application, AuditEvent))

    assert not Application.objects.exists()


def test_oauth_client_create_refusal_on_the_command_line(manage_py):
    result = manage_py(
        "oauth_client", "create", "--name", "okta", "--redirect-uri", "http://idp.example/cb"
    )

    assert "http://idp.example/cb" in refusal_line(result)
    assert "Traceback" not in result.stderr

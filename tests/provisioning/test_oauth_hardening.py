"""Issue 11, "Low / OAuth", and issue 12's RFC 9700 settings: access tokens only in the
Authorization header, PKCE with S256 only (required of public clients), no PKCE downgrade,
clients introspect only their own tokens, and the authorization response names its issuer
(RFC 9207). The replayed-code rule (RFC 6749 4.1.2) is in test_oauth_flow.py
(test_a_replayed_code_is_refused_and_revokes_the_tokens_it_issued)."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.test import Client
from oauth2_provider.models import AccessToken, Application, Grant

from tests.provisioning.oauth_helpers import (
    OktaClient,
    _basic,
    bearer,
    browser,
    code_from,
    pkce_pair,
    redirect_query,
    submit_form,
    token_body,
    token_error,
)
from tests.provisioning.scim_helpers import ERROR_SCHEMA

pytestmark = pytest.mark.django_db

STATE = "hardening-state"


def approve(okta: OktaClient, user, *, scope: str = "scim", **extra):
    """The user approves on the page as rendered; returns the redirect to the callback."""
    client = browser()
    client.force_login(user)
    page = client.get(okta.authorize_url(state=STATE, scope=scope, **extra))
    return submit_form(client, page, allow=True)


def tokens_for(okta: OktaClient, user, *, scope: str = "scim") -> dict:
    code = code_from(approve(okta, user, scope=scope), okta, state=STATE)
    return token_body(okta.exchange(code))


# --- tokens in the header only -------------------------------------------------------------


def test_an_access_token_in_the_query_string_authorizes_nothing(acme, okta):
    scim = tokens_for(okta, acme.admin)["access_token"]
    personal = tokens_for(OktaClient.register(name="App"), acme.member, scope="profile")[
        "access_token"
    ]
    anonymous = Client()

    in_query = anonymous.get(f"/scim/v2/Users?{urlencode({'access_token': scim})}")
    me_in_query = anonymous.get(f"/api/me/?{urlencode({'access_token': personal})}")

    assert in_query.status_code == 401
    assert in_query.json()["schemas"] == [ERROR_SCHEMA]
    assert me_in_query.status_code in (401, 403)
    assert "email" not in me_in_query.json()
    # The same tokens in the Authorization header work.
    assert anonymous.get("/scim/v2/Users", headers=bearer(scim)).status_code == 200
    assert anonymous.get("/api/me/", headers=bearer(personal)).json()["email"] == acme.member.email


def test_an_access_token_in_a_form_body_authorizes_nothing(acme, okta):
    scim = tokens_for(okta, acme.admin)["access_token"]

    response = Client().post(
        "/scim/v2/Users",
        urlencode({"access_token": scim, "userName": "planted@acme.com"}),
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 401
    assert not acme.company.users.filter(email="planted@acme.com").exists()


# --- PKCE ------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["plain", None], ids=["plain", "method-omitted-means-plain"])
def test_pkce_plain_is_refused(acme, okta, method):
    verifier, _challenge = pkce_pair()
    extra = {"code_challenge": verifier}
    if method:
        extra["code_challenge_method"] = method

    query = redirect_query(approve(okta, acme.admin, **extra), okta.redirect_uri)

    assert query["error"] == "invalid_request"
    assert "S256" in query["error_description"]
    assert query["state"] == STATE
    assert "code" not in query
    assert not Grant.objects.exists()


def test_a_verifier_for_a_code_issued_without_a_challenge_is_refused(acme, okta):
    """RFC 9700 2.1.1: the challenge was stripped on the way (a PKCE downgrade)."""
    code = code_from(approve(okta, acme.admin), okta, state=STATE)

    token_error(okta.exchange(code, code_verifier=pkce_pair()[0]), "invalid_grant")

    assert not AccessToken.objects.exists()


def test_pkce_is_required_of_a_public_client(acme):
    public = Application.objects.create(
        name="Public",
        client_type=Application.CLIENT_PUBLIC,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris="https://app.example/callback",
        algorithm="",
    )
    client = OktaClient(
        client_id=public.client_id, client_secret="", redirect_uri="https://app.example/callback"
    )
    admin = browser()
    admin.force_login(acme.admin)
    # Without a challenge the request is sent back before any approval page.
    without = admin.get(client.authorize_url(state=STATE))
    verifier, challenge = pkce_pair()
    with_s256 = approve(client, acme.admin, code_challenge=challenge, code_challenge_method="S256")

    refused = redirect_query(without, client.redirect_uri)
    assert refused["error"] == "invalid_request"
    assert refused["error_description"] == "Code challenge required."
    code = code_from(with_s256, client, state=STATE)
    response = client.http.post(
        "/oauth/token/",
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": client.redirect_uri,
            "client_id": public.client_id,
            "code_verifier": verifier,
        },
    )
    assert token_body(response)["access_token"]


def test_okta_confidential_client_needs_no_pkce(acme, okta):
    """Okta's "Authenticate with …" sends no code challenge; its client secret authenticates
    the exchange (the whole dance is test_oauth_flow.py)."""
    assert token_body(okta.exchange(code_from(approve(okta, acme.admin), okta, state=STATE)))


# --- the authorization response names its issuer (RFC 9207) --------------------------------


def test_the_authorization_response_carries_the_issuer(acme, okta):
    query = redirect_query(approve(okta, acme.admin), okta.redirect_uri)

    assert query["iss"] == settings.BASE_URL
    assert query["code"] and query["state"] == STATE


# --- introspection: a client's own tokens only ------------------------------------------------


def introspect(okta: OktaClient, token: str, **headers):
    headers.setdefault("HTTP_AUTHORIZATION", _basic(okta.client_id, okta.client_secret))
    return Client().post("/oauth/introspect/", {"token": token}, **headers)


def test_a_client_introspects_its_own_token(acme, okta):
    token = tokens_for(okta, acme.admin)["access_token"]

    body = introspect(okta, token).json()

    assert body["active"] is True
    assert body["client_id"] == okta.client_id
    assert body["scope"] == "scim"


def test_a_client_learns_nothing_of_another_clients_token(acme, okta):
    token = tokens_for(okta, acme.admin)["access_token"]
    other = OktaClient.register(name="Other")

    response = introspect(other, token)

    assert response.status_code == 200
    assert response.json() == {"active": False}


@pytest.mark.parametrize(
    "authorization",
    [None, "Basic b3RoZXI6d3Jvbmc=", "bearer-of-the-token"],
    ids=["none", "wrong-secret", "the-access-token-itself"],
)
def test_introspection_needs_client_credentials(acme, okta, authorization):
    token = tokens_for(okta, acme.admin)["access_token"]
    if authorization == "bearer-of-the-token":
        authorization = f"Bearer {token}"
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}

    response = Client().post("/oauth/introspect/", {"token": token}, **headers)

    assert response.status_code == 401
    assert "active" not in response.json()


def test_introspection_is_post_only(acme, okta):
    token = tokens_for(okta, acme.admin)["access_token"]

    response = Client().get(
        f"/oauth/introspect/?{urlencode({'token': token})}",
        HTTP_AUTHORIZATION=_basic(okta.client_id, okta.client_secret),
    )

    assert response.status_code == 405

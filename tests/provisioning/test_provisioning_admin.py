"""The admin pages support staff use for provisioning credentials: SCIM tokens (issued and
rotated with the token shown once) and the OAuth grants that authorize SCIM per connection."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from provisioning.models import ScimToken
from provisioning.selectors import scim_grants
from provisioning.tokens import scim_token_find, scim_token_issue
from tests.provisioning.oauth_helpers import (
    OktaClient,
    bearer,
    browser,
    code_from,
    submit_form,
    token_body,
)


def _authorize(okta: OktaClient, admin, connection) -> dict:
    person = browser()
    person.force_login(admin)
    page = person.get(okta.authorize_url(state="s1"))
    approved = submit_form(person, page, allow=True, overrides={"connection": str(connection.pk)})
    return token_body(okta.exchange(code_from(approved, okta, state="s1")))


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


def _shown_tokens(response) -> list[str]:
    return re.findall(r"<code>(scim_[A-Za-z0-9_-]+)</code>", response.content.decode())


def test_issuing_a_scim_token_in_the_admin_shows_it_once_and_it_works(staff_client, acme, globex):
    response = staff_client.post(
        reverse("admin:connections_connection_changelist"),
        {"action": "issue_scim_token", "_selected_action": [acme.connection.pk]},
    )
    assert response.status_code == 200
    (raw,) = _shown_tokens(response)
    token = scim_token_find(raw)
    assert token is not None and token.connection == acme.connection
    assert raw not in ScimToken.objects.get(pk=token.pk).token_hash
    assert AuditEvent.objects.filter(
        action="scim_token.issued", connection=acme.connection
    ).exists()
    # Nothing for the connection that was not selected.
    assert not ScimToken.objects.filter(connection=globex.connection).exists()


def test_rotating_a_scim_token_revokes_the_old_one_and_shows_the_new(staff_client, acme):
    old, old_raw = scim_token_issue(connection=acme.connection, label="okta")
    response = staff_client.post(
        reverse("admin:provisioning_scimtoken_changelist"),
        {"action": "rotate", "_selected_action": [old.pk]},
    )
    (new_raw,) = _shown_tokens(response)
    assert scim_token_find(old_raw) is None
    new = scim_token_find(new_raw)
    assert new.connection == acme.connection and new.label == "okta"


def test_the_connection_page_lists_tokens_and_who_authorized_each_grant(staff_client, acme, globex):
    scim_token_issue(connection=acme.connection, label="okta-prod")
    okta = OktaClient.register()
    _authorize(okta, acme.admin, acme.connection)
    page = staff_client.get(
        reverse("admin:connections_connection_change", args=[acme.connection.pk])
    )
    text = page.content.decode()
    assert "okta-prod" in text
    assert f"authorized by {acme.admin.email}" in text
    other = staff_client.get(
        reverse("admin:connections_connection_change", args=[globex.connection.pk])
    )
    assert acme.admin.email not in other.content.decode()


def test_revoking_a_grant_in_the_admin_stops_scim_for_that_connection(staff_client, acme):
    okta = OktaClient.register()
    tokens = _authorize(okta, acme.admin, acme.connection)
    assert (
        okta.http.get("/scim/v2/Users", headers=bearer(tokens["access_token"])).status_code == 200
    )
    (grant,) = scim_grants(connection=acme.connection)
    listing = staff_client.get(
        reverse("admin:provisioning_scimgrant_changelist"), {"connection": "acme"}
    )
    assert acme.admin.email in listing.content.decode()
    staff_client.post(
        reverse("admin:provisioning_scimgrant_changelist"),
        {"action": "revoke", "_selected_action": [grant.pk]},
    )
    assert scim_grants(connection=acme.connection) == []
    assert (
        okta.http.get("/scim/v2/Users", headers=bearer(tokens["access_token"])).status_code == 401
    )
    assert AuditEvent.objects.filter(
        action="oauth.scim_grant_revoked", connection=acme.connection
    ).exists()

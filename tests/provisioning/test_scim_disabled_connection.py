"""A disabled connection's SCIM credentials (its static tokens and the OAuth grants bound to it)
get 401 on every request while it is disabled, write nothing, and work again once it is enabled
(issue 11: the review found a disabled connection's token kept provisioning)."""

from __future__ import annotations

import pytest

from accounts.models import User
from audit.models import AuditEvent
from connections.models import ConnectionStatus
from connections.services import connection_set_status
from tests.provisioning.oauth_helpers import (
    OktaClient,
    browser,
    code_from,
    submit_form,
    token_body,
)
from tests.provisioning.scim_helpers import USER_SCHEMA, ScimClient, assert_scim_error, patch_op

pytestmark = pytest.mark.django_db

STATE = "okta-state-disabled"


def _oauth_scim(acme) -> ScimClient:
    """A SCIM client holding an access token from the real "Authenticate with …" flow."""
    okta = OktaClient.register()
    client = browser()
    client.force_login(acme.admin)
    page = client.get(okta.authorize_url(state=STATE))
    code = code_from(submit_form(client, page, allow=True), okta, state=STATE)
    return ScimClient(token_body(okta.exchange(code))["access_token"])


@pytest.fixture(params=["static token", "oauth grant"])
def credential(request, acme) -> ScimClient:
    if request.param == "static token":
        return ScimClient.for_connection(acme.connection)
    return _oauth_scim(acme)


def _every_verb(scim: ScimClient, member: User):
    new_user = {"schemas": [USER_SCHEMA], "userName": "new@acme.com"}
    return [
        ("get", ("Users",)),
        ("get", (f"Users/{member.scim_id}",)),
        ("get", ("ServiceProviderConfig",)),
        ("post", ("Users", new_user)),
        ("put", (f"Users/{member.scim_id}", new_user | {"userName": "member@acme.com"})),
        (
            "patch",
            (f"Users/{member.scim_id}", patch_op({"op": "replace", "value": {"active": False}})),
        ),
        ("delete", (f"Users/{member.scim_id}",)),
    ]


def test_a_disabled_connections_credential_gets_401_until_it_is_enabled(acme, credential):
    assert credential.get("Users")[0] == 200
    connection_set_status(connection=acme.connection, status=ConnectionStatus.DISABLED)
    users = list(User.objects.order_by("pk").values())
    events = AuditEvent.objects.count()

    for verb, args in _every_verb(credential, acme.member):
        status, body = getattr(credential, verb)(*args)
        assert_scim_error(status, body, http_status=401, scim_type=None)
        assert credential.last["WWW-Authenticate"] == 'Bearer realm="scim"'
        assert "disabled" in body["detail"]

    assert list(User.objects.order_by("pk").values()) == users
    assert AuditEvent.objects.count() == events

    connection_set_status(connection=acme.connection, status=ConnectionStatus.ACTIVE)
    status, body = credential.get("Users")
    assert status == 200, body
    assert body["totalResults"] == User.objects.filter(company=acme.company).count()


def test_a_draft_connection_provisions(acme, credential):
    # Setting SCIM up before going live is the normal order: a draft is not disabled.
    connection_set_status(connection=acme.connection, status=ConnectionStatus.DRAFT)

    assert credential.get("Users")[0] == 200

"""A draft that has only its name: its SP metadata is served (the customer's IdP may read it
during the setup), and a login or test login says it is not set up, without an error page of
the library or a 500."""

from __future__ import annotations

import pytest

from connections.models import ConnectionStatus
from connections.services import connection_create


@pytest.fixture
def bare_draft(acme):
    return connection_create(company=acme.company, name="acme-sso", sign_on_url="",
                             certificate_data=None, status=ConnectionStatus.DRAFT)  # fmt: skip


def test_sp_metadata_of_a_bare_draft_is_served(client, bare_draft):
    response = client.get("/sso/acme-sso/metadata/")

    assert response.status_code == 200
    assert b'entityID="https://sso.test/sso/acme-sso/metadata/"' in response.content


def test_a_test_login_of_a_bare_draft_says_it_is_not_set_up(client, staff_user, bare_draft):
    client.force_login(staff_user)

    response = client.get("/sso/acme-sso/login/", {"test": "1"})

    assert response.status_code == 403
    assert b"connection_disabled" in response.content
    assert b"not set up yet" in response.content

"""The python-scim project's independent compliance checker, scim2-tester, against the running
product: discovery, CRUD, attribute selection, .search and PATCH on Users and Groups, over real
HTTP (pytest-django's ``live_server``) with a real SCIM token. Zero errors, or the failing checks
by name."""

from __future__ import annotations

import pytest
from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

from connections.models import Provisioning
from provisioning.tokens import scim_token_issue
from tests.factories import CompanyFactory, ConnectionFactory, DomainFactory, TeamFactory

FAILED = (Status.ERROR, Status.CRITICAL)


@pytest.fixture
def scim_base_url(live_server, settings) -> str:
    # meta.location and Location headers name the server the checker talks to.
    settings.BASE_URL = live_server.url
    return f"{live_server.url}/scim/v2"


def test_scim2_tester_finds_no_error(transactional_db, scim_base_url):
    company = CompanyFactory(slug="checked", name="Checked Inc")
    DomainFactory(company=company, domain="checked.example")
    TeamFactory(company=company, name="Sales")
    connection = ConnectionFactory(company=company, name="checked")
    connection.provisioning = Provisioning.SCIM
    connection.save(update_fields=["provisioning"])
    _token, raw = scim_token_issue(connection=connection, label="scim2-tester")

    with Client(base_url=scim_base_url, headers={"Authorization": f"Bearer {raw}"}) as http:
        results = check_server(SyncSCIMClient(http))

    for result in results:
        print(f"{result.status.name:<10} {result.resource_type or '-':<6} {result.title}")
    failed = [
        f"{result.resource_type or '-'} {result.title}: {result.reason}"
        for result in results
        if result.status in FAILED
    ]
    ran = [result for result in results if result.status != Status.SKIPPED]
    assert len(ran) > 60, f"only {len(ran)} checks ran"
    assert not failed, "scim2-tester failures:\n" + "\n".join(failed)

"""SCIM clients for the three-company layout, each with a bearer token of its connection."""

from __future__ import annotations

import pytest

from tests.provisioning.oauth_helpers import OktaClient
from tests.provisioning.scim_helpers import ScimClient


@pytest.fixture
def scim(acme) -> ScimClient:
    return ScimClient.for_connection(acme.connection)


@pytest.fixture
def acme_scim(scim) -> ScimClient:
    """The same client as ``scim``, named for tests that use two companies."""
    return scim


@pytest.fixture
def globex_scim(globex) -> ScimClient:
    return ScimClient.for_connection(globex.connection)


@pytest.fixture
def okta(db) -> OktaClient:
    """Okta's "Authenticate with ..." client, registered as an OAuth application."""
    return OktaClient.register()

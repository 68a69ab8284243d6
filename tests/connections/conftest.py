"""Fixtures for the metadata tests: DNS for the test host names and a real HTTP(S) server
publishing metadata on a free loopback port (see tests/metadata_server.py)."""

from __future__ import annotations

import pytest

from connections import metadata_fetch
from connections.metadata_fetch import MetadataFetchFailed
from connections.models import ConnectionStatus
from tests.certs import make_keypair
from tests.factories import ConnectionFactory
from tests.metadata_server import HOST, MetadataServer


@pytest.fixture
def dns(monkeypatch):
    """Test host names → addresses; records every lookup."""
    table = {HOST: ["127.0.0.1"], "other.example.test": ["127.0.0.1"]}
    lookups: list[str] = []

    def resolve(host, port):
        lookups.append(host)
        if host not in table:
            raise MetadataFetchFailed(f"The host {host} of the metadata URL does not resolve.")
        return list(table[host])

    monkeypatch.setattr(metadata_fetch, "resolve", resolve)
    return table, lookups


@pytest.fixture
def https_server(tmp_path, monkeypatch, dns):
    server = MetadataServer.start(tmp_path, https=True)
    monkeypatch.setenv("SSL_CERT_FILE", str(server.tls.ca))
    yield server
    server.stop()


@pytest.fixture
def http_server(tmp_path, dns):
    server = MetadataServer.start(tmp_path, https=False)
    yield server
    server.stop()


@pytest.fixture
def allow(settings):
    settings.IDP_METADATA_ALLOW_HOSTS = [HOST]
    return settings


# --- the refusal corpus (tests/connections/refusals/): what its cases need ----------------------


@pytest.fixture
def attacker_key():
    """The attacker's own key and certificate (never configured on any connection)."""
    return make_keypair("attacker.example", slot="attacker")


@pytest.fixture
def attacker_ec_key():
    """The attacker's own EC (P-256) key and certificate."""
    return make_keypair("attacker.example", slot="attacker-ec", curve=True)


@pytest.fixture
def draft(acme):
    """A second acme connection still in draft (only the staff test login works there)."""
    return ConnectionFactory(
        company=acme.company,
        name="acme-draft",
        status=ConnectionStatus.DRAFT,
        default_team=acme.teams["Sales"],
        keypair=acme.connection.keypair,
    )


@pytest.fixture
def acme_without_domains(acme):
    """acme with no proven domain, so the domain rule lets every email through to the user
    rules (the SPEC checks domains only "when it has any")."""
    acme.company.domains.all().delete()
    return acme

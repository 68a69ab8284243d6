"""Fixtures for the metadata tests: DNS for the test host names and a real HTTP(S) server
publishing metadata on a free loopback port (see tests/metadata_server.py)."""

from __future__ import annotations

import pytest

from connections import metadata_fetch
from connections.metadata_fetch import MetadataFetchFailed
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

"""The SSRF-guarded metadata fetcher, against a real HTTP(S) server on a free loopback port.

DNS is the only thing simulated (it is outside the process): ``resolve`` maps the test host names
to the addresses each test needs. Whenever an address must be refused, opening any connection
fails the test, so "refused" also means "nothing was contacted".
"""

from __future__ import annotations

import pytest

from connections import metadata_fetch
from connections.metadata_fetch import MetadataFetchFailed, fetch_metadata, refused_address_reason
from tests.metadata_server import HOST, MetadataServer, dribble, endless

BODY = b'<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"/>'


@pytest.fixture
def no_connections(monkeypatch):
    """Any attempt to open a connection fails the test."""

    def refuse(address, *args, **kwargs):
        raise AssertionError(f"a connection to {address} was attempted")

    monkeypatch.setattr(metadata_fetch.socket, "create_connection", refuse)


def _refused(url: str) -> str:
    with pytest.raises(MetadataFetchFailed) as failed:
        fetch_metadata(url)
    assert failed.value.code == "metadata_fetch_failed"
    return failed.value.message


# --- what is allowed -------------------------------------------------------------------------


def test_fetches_over_https_verifying_the_certificate_for_the_host_name(https_server, allow):
    url = https_server.publish("/app/exk1/sso/saml/metadata", BODY)

    assert fetch_metadata(url) == BODY
    path, headers = https_server.requests[-1]
    assert path == "/app/exk1/sso/saml/metadata"
    assert headers["Host"] == f"{HOST}:{https_server.port}"


def test_allowed_hosts_may_use_plain_http(http_server, allow):
    assert fetch_metadata(http_server.publish("/md", BODY)) == BODY


def test_allow_list_matches_host_names_case_insensitively(http_server, settings):
    settings.IDP_METADATA_ALLOW_HOSTS = [HOST]

    assert fetch_metadata(http_server.publish("/md", BODY).replace(HOST, HOST.upper())) == BODY


# --- addresses ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1", "127.8.9.10", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254",
        "100.64.0.1", "0.0.0.0", "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255",
        "192.0.2.1", "::1", "::", "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1",
        "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "2002:7f00:1::1",
        "64:ff9b::a9fe:a9fe", "2001:db8::1", "fe80::1%eth0",
    ],
)  # fmt: skip
def test_non_public_addresses_are_refused(address):
    assert refused_address_reason(address) is not None


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_allowed(address):
    assert refused_address_reason(address) is None


def test_ipv4_mapped_loopback_names_the_inner_address():
    assert "127.0.0.1 is a loopback address" in refused_address_reason("::ffff:127.0.0.1")


def test_a_host_resolving_to_loopback_is_refused_without_connecting(dns, no_connections):
    message = _refused(f"https://{HOST}/metadata")

    assert "127.0.0.1 is a loopback address" in message


@pytest.mark.parametrize(
    "addresses",
    [
        ["10.20.30.40"],
        ["169.254.169.254"],
        ["93.184.216.34", "192.168.0.10"],  # one bad address among good ones is enough
        ["::ffff:127.0.0.1"],
        ["fd00:ec2::254"],
    ],
)
def test_a_host_with_any_internal_address_is_refused(dns, no_connections, addresses):
    table, _ = dns
    table["idp.customer.example"] = addresses

    assert "is refused" in _refused("https://idp.customer.example/metadata")


def test_literal_addresses_in_the_url_are_checked_too(no_connections):
    assert "loopback" in _refused("https://127.0.0.1/metadata")
    assert "loopback" in _refused("https://[::1]/metadata")
    assert "link-local" in _refused("https://169.254.169.254/latest/meta-data/")


def test_connects_to_the_address_that_was_checked(dns, monkeypatch):
    """DNS rebinding: the name is resolved once; the connection goes to that checked public
    address even if the name would resolve to loopback a moment later. (The connection is
    intercepted before any packet leaves.)"""
    table, lookups = dns
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])
    monkeypatch.setattr(
        metadata_fetch, "resolve", lambda host, port: lookups.append(host) or next(answers)
    )
    contacted = []

    def intercept(address, *args, **kwargs):
        contacted.append(address)
        raise ConnectionRefusedError

    monkeypatch.setattr(metadata_fetch.socket, "create_connection", intercept)

    _refused("https://rebind.example.test/metadata")

    assert contacted == [("93.184.216.34", 443)]
    assert lookups == ["rebind.example.test"]


def test_a_name_that_does_not_resolve_is_refused(dns):
    assert "does not resolve" in _refused("https://nowhere.example.test/metadata")


# --- URL rules ------------------------------------------------------------------------------


def test_plain_http_is_refused_for_other_hosts(http_server, no_connections):
    assert "must use https" in _refused(http_server.url("/md"))


@pytest.mark.parametrize(
    "url", ["ftp://idp.example.test/md", "file:///etc/passwd", "gopher://x/", "//x/md", ""]
)
def test_other_schemes_are_refused(url, no_connections):
    assert "https://" in _refused(url)


def test_credentials_in_the_url_are_refused(allow, no_connections):
    assert "user name or password" in _refused(f"https://user:secret@{HOST}/md")


# --- the exchange ----------------------------------------------------------------------------


def test_a_certificate_for_another_host_is_refused(tmp_path, monkeypatch, dns, allow):
    server = MetadataServer.start(tmp_path, https=True, names=("other.example.test",))
    monkeypatch.setenv("SSL_CERT_FILE", str(server.tls.ca))
    try:
        message = _refused(server.publish("/md", BODY))
    finally:
        server.stop()

    assert "TLS certificate" in message and "not valid" in message


def test_an_untrusted_certificate_is_refused(https_server, allow, monkeypatch):
    monkeypatch.delenv("SSL_CERT_FILE")

    assert "TLS certificate" in _refused(https_server.publish("/md", BODY))


def test_redirects_are_not_followed(https_server, allow):
    https_server.routes["/md"] = (
        302,
        {"Location": f"http://127.0.0.1:{https_server.port}/secret"},
        b"",
    )

    message = _refused(https_server.url("/md"))

    assert "redirects (HTTP 302)" in message and "127.0.0.1" in message
    assert [path for path, _ in https_server.requests] == ["/md"]


def test_an_error_status_is_refused(https_server, allow):
    assert "HTTP 404" in _refused(https_server.url("/missing"))


def test_a_declared_body_over_one_megabyte_is_refused(https_server, allow):
    https_server.routes["/md"] = (200, {"Content-Length": str(2 * 1024 * 1024)}, b"")

    assert "larger than 1024 KB" in _refused(https_server.url("/md"))


def test_an_endless_body_is_cut_at_one_megabyte(https_server, allow):
    https_server.routes["/md"] = endless()

    assert "larger than 1024 KB" in _refused(https_server.url("/md"))


def test_a_body_of_exactly_one_megabyte_is_read(https_server, allow):
    body = b"x" * metadata_fetch.MAX_BYTES

    assert fetch_metadata(https_server.publish("/md", body)) == body


def test_a_server_that_dribbles_is_cut_off_at_the_deadline(https_server, allow, monkeypatch):
    monkeypatch.setattr(metadata_fetch, "TIMEOUT_SECONDS", 0.5)
    https_server.routes["/md"] = dribble(BODY, every=0.2)

    assert "within" in _refused(https_server.url("/md"))


def test_a_closed_port_is_refused_with_a_reason(dns, allow, monkeypatch):
    import socket

    with socket.socket() as probe:  # a port that was free a moment ago and has no listener
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    assert "connection was refused" in _refused(f"http://{HOST}:{port}/md")

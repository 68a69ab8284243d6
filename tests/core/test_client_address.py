"""Which address counts behind the proxy (TRUSTED_PROXY_HOPS): the one our own proxies saw,
never what the client wrote into X-Forwarded-For itself."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from core.proxy import address_key, client_address


def request(remote: str = "10.0.0.5", forwarded: str | None = None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/sso/", **extra)


@pytest.mark.parametrize(
    ("hops", "forwarded", "expected"),
    [
        (1, "203.0.113.7", "203.0.113.7"),  # client -> TLS proxy -> gunicorn
        (1, "198.51.100.1, 203.0.113.7", "203.0.113.7"),  # the client's own claim is ignored
        (1, "1.1.1.1, 2.2.2.2, 203.0.113.7", "203.0.113.7"),
        (2, "203.0.113.7, 192.0.2.10", "203.0.113.7"),  # CDN -> load balancer -> gunicorn
        (2, "6.6.6.6, 203.0.113.7, 192.0.2.10", "203.0.113.7"),
        (2, "203.0.113.7", "203.0.113.7"),  # fewer entries than proxies: the furthest known
        (1, "203.0.113.7:51234", "203.0.113.7"),  # a proxy that adds the port
        (1, "[2001:db8::7]:443", "2001:db8::7"),
        (1, "2001:db8::7", "2001:db8::7"),
        (1, None, "10.0.0.5"),  # no header: the peer
        (1, "not-an-address", "10.0.0.5"),
        (1, "", "10.0.0.5"),
        (0, "203.0.113.7", "10.0.0.5"),  # no proxy: the header is the client's text
    ],
)
def test_the_client_address_is_the_one_the_trusted_proxies_saw(settings, hops, forwarded, expected):
    settings.TRUSTED_PROXY_HOPS = hops

    assert client_address(request(forwarded=forwarded)) == expected


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),  # the same /64: one client
        ("::ffff:203.0.113.7", "203.0.113.7"),
    ],
)
def test_limits_count_ipv4_addresses_and_ipv6_slash_64s(address, key):
    assert address_key(address) == key

"""Which address is the client's, behind the TLS proxy (setting ``TRUSTED_PROXY_HOPS``).

Each proxy appends the address it received the request from to ``X-Forwarded-For``, so the
entries a client may have sent itself are on the left and the ones our own proxies wrote are on
the right. With N trusted proxies the client is the N-th entry from the right; anything further
left is whatever the client claimed and is never used. With 0, clients reach gunicorn directly
and ``REMOTE_ADDR`` is the client.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str:
    remote = request.META.get("REMOTE_ADDR", "")
    hops = settings.TRUSTED_PROXY_HOPS
    if hops:
        forwarded = [
            part.strip()
            for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
            if part.strip()
        ]
        if forwarded:
            # Fewer entries than proxies: the request skipped one of them (a misconfiguration);
            # the leftmost entry is then the furthest address known.
            candidate = _address(forwarded[-hops] if len(forwarded) >= hops else forwarded[0])
            if candidate:
                return candidate
    return remote


def address_key(address: str) -> str:
    """The unit a per-address limit counts: the address itself for IPv4, its /64 for IPv6 (one
    host commonly holds a whole /64, so single IPv6 addresses would be free for the taking)."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if parsed.version == 6:
        if parsed.ipv4_mapped:  # ::ffff:192.0.2.1 is 192.0.2.1
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


def _address(entry: str) -> str | None:
    """An IP address from one X-Forwarded-For entry (some proxies add a port), or None."""
    candidates = [entry]
    if entry.startswith("[") and "]" in entry:  # [2001:db8::1]:443
        candidates.append(entry[1 : entry.index("]")])
    elif entry.count(":") == 1:  # 192.0.2.1:443
        candidates.append(entry.split(":", 1)[0])
    for candidate in candidates:
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            continue
    return None

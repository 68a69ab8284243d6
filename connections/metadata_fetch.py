"""Fetch an IdP's metadata from its URL without letting the URL reach inside our network (SSRF).

A metadata URL is typed by support or by a customer's admin through a setup link, and the fetch
runs on our servers, so the URL could name the cloud metadata service, a database or an admin
port on our network. The rules:

- https only; no user name or password in the URL;
- the host name is resolved once, and refused if any of its addresses is loopback, private,
  link-local, multicast, reserved, unspecified or otherwise not globally routable (IPv4 and IPv6,
  including IPv4 addresses embedded in IPv6: mapped, 6to4, Teredo, NAT64);
- the connection goes to the address that was checked, while TLS verifies the certificate for
  the host name in the URL (SNI and Host header too), so DNS rebinding between the check and the
  connection cannot bypass the check;
- redirects are never followed (the message names the target, to be used instead);
- 5 seconds in all, 1 MB counted while reading (a lying or absent Content-Length changes nothing).

``IDP_METADATA_ALLOW_HOSTS`` names hosts (exact names, case-insensitive) exempt from the address
rule, and allowed over plain http: for in-house IdPs and for tests.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import socket
import ssl
import threading
import time
from urllib.parse import urlsplit

from django.conf import settings

from core.exceptions import ValidationFailed

TIMEOUT_SECONDS = 5.0
MAX_BYTES = 1024 * 1024
_CHUNK = 64 * 1024
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class MetadataFetchFailed(ValidationFailed):
    code = "metadata_fetch_failed"


def resolve(host: str, port: int) -> list[str]:
    """Every address of ``host`` (the system resolver). Tests replace it to simulate DNS."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise MetadataFetchFailed(
            f"The host {host} of the metadata URL does not resolve."
        ) from None
    return list(dict.fromkeys(info[4][0] for info in infos))


def refused_address_reason(address: str) -> str | None:
    """Why ``address`` may not be fetched from, or None when it is a public unicast address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            inner = refused_address_reason(str(embedded))
            return f"{inner} (inside the IPv6 address {ip})" if inner else None
    for label, flag in (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
    ):
        if flag:
            return f"{ip} is a {label} address"
    if not ip.is_global:
        return f"{ip} is not a public address"
    return None


def _allowed_hosts() -> set[str]:
    return {host.lower() for host in getattr(settings, "IDP_METADATA_ALLOW_HOSTS", [])}


class _Deadline:
    """Shuts the socket down when the time is up, whatever phase the exchange is in (a server
    that dribbles one byte every few seconds defeats per-operation timeouts)."""

    def __init__(self, seconds: float) -> None:
        self.ends = time.monotonic() + seconds
        self._timer: threading.Timer | None = None

    @property
    def remaining(self) -> float:
        return self.ends - time.monotonic()

    @property
    def passed(self) -> bool:
        return self.remaining <= 0

    def guard(self, sock: socket.socket) -> None:
        self._timer = threading.Timer(max(self.remaining, 0), _shut, [sock])
        self._timer.daemon = True
        self._timer.start()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class _PinnedConnection(http.client.HTTPConnection):
    """HTTP to the address that was checked, not to whatever the host name resolves to now."""

    def __init__(self, host: str, port: int, *, address: str, deadline: _Deadline) -> None:
        super().__init__(host, port, timeout=max(deadline.remaining, 0.01))
        self._address = address
        self._deadline = deadline

    def _open(self) -> socket.socket:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self._deadline.guard(sock)
        return sock

    def connect(self) -> None:
        self.sock = self._open()


class _PinnedHTTPSConnection(_PinnedConnection):
    """HTTPS to the checked address; SNI, the certificate check and Host use the URL's host."""

    def connect(self) -> None:
        context = ssl.create_default_context()
        self.sock = context.wrap_socket(self._open(), server_hostname=self.host)


def fetch_metadata(url: str) -> bytes:
    """The body of ``url`` (a 200 answer), or ``MetadataFetchFailed`` saying why not."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    allowed = host in _allowed_hosts()
    if parts.scheme not in ("https", "http") or not host:
        raise MetadataFetchFailed("The metadata URL must be an https:// address.")
    if parts.scheme == "http" and not allowed:
        raise MetadataFetchFailed(
            "The metadata URL must use https (plain http could be altered on the way)."
        )
    if parts.username or parts.password:
        raise MetadataFetchFailed("The metadata URL cannot carry a user name or password.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise MetadataFetchFailed("The metadata URL has an invalid port.") from None

    deadline = _Deadline(TIMEOUT_SECONDS)
    addresses = resolve(host, port)
    if not addresses:
        raise MetadataFetchFailed(f"The host {host} of the metadata URL does not resolve.")
    if not allowed:
        for address in addresses:
            reason = refused_address_reason(address)
            if reason:
                raise MetadataFetchFailed(
                    f"The metadata URL is refused: {host} resolves to {reason}. Metadata must "
                    "come from the IdP's public address."
                )
    connection_class = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedConnection
    connection = connection_class(host, port, address=addresses[0], deadline=deadline)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request(
            "GET",
            path,
            headers={"Accept": "application/samlmetadata+xml, application/xml, text/xml"},
        )
        response = connection.getresponse()
        if 300 <= response.status < 400:
            target = response.getheader("Location", "")[:300]
            raise MetadataFetchFailed(
                f"The metadata URL redirects (HTTP {response.status}) to {target or 'elsewhere'}; "
                "redirects are not followed: use the final address instead."
            )
        if response.status != 200:
            raise MetadataFetchFailed(
                f"The metadata URL answered HTTP {response.status} instead of the metadata."
            )
        return _read_capped(response, deadline)
    except ssl.SSLCertVerificationError as error:
        raise MetadataFetchFailed(
            f"The TLS certificate of {host} is not valid for it ({error.verify_message})."
        ) from None
    except (OSError, http.client.HTTPException) as error:
        if deadline.passed or isinstance(error, TimeoutError):
            raise MetadataFetchFailed(
                f"{host} did not send the metadata within {TIMEOUT_SECONDS:.0f} seconds."
            ) from None
        raise MetadataFetchFailed(
            f"The metadata could not be fetched from {host}: {_describe(error)}."
        ) from None
    finally:
        deadline.cancel()
        connection.close()


def _read_capped(response: http.client.HTTPResponse, deadline: _Deadline) -> bytes:
    declared = response.getheader("Content-Length")
    if declared and declared.isdigit() and int(declared) > MAX_BYTES:
        raise MetadataFetchFailed(
            f"The metadata at this URL is larger than {MAX_BYTES // 1024} KB; it is not one "
            "IdP's metadata."
        )
    body = bytearray()
    while True:
        chunk = response.read1(_CHUNK)
        if deadline.passed:
            # The deadline shut the socket: what was read so far is cut short, never used.
            raise TimeoutError
        if not chunk:
            return bytes(body)
        body += chunk
        if len(body) > MAX_BYTES:
            raise MetadataFetchFailed(
                f"The metadata at this URL is larger than {MAX_BYTES // 1024} KB; it is not one "
                "IdP's metadata."
            )


def _describe(error: Exception) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "the connection was refused"
    if isinstance(error, ssl.SSLError):
        return "the TLS handshake failed"
    if isinstance(error, http.client.HTTPException):
        return "the answer is not valid HTTP"
    return error.strerror or error.__class__.__name__ if isinstance(error, OSError) else str(error)

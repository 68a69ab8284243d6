"""A real HTTP(S) server on a free loopback port that plays an IdP publishing its metadata.

TLS uses a throwaway CA made at test time; ``trust_ca`` points OpenSSL's default trust store
(``SSL_CERT_FILE``, read by ``ssl.create_default_context``) at it for the test, the way an
operator would add an in-house CA. ``resolve_to_loopback`` stands in for DNS (outside the process):
the test host names resolve to 127.0.0.1.

    server = MetadataServer.start(tmp_path, https=True)
    server.routes["/metadata"] = (200, {"Content-Type": "application/xml"}, b"<md:...>")
    url = server.url("/metadata")        # https://idp.example.test:<port>/metadata
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from tests.certs import _rsa_key

HOST = "idp.example.test"

Route = tuple[int, dict[str, str], bytes] | Callable[[BaseHTTPRequestHandler], None]


def _certificate(subject: str, key, issuer_name, issuer_key, *, ca: bool, names=()):
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )  # fmt: skip
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        )
    else:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(name) for name in names]), critical=False
        ).add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


@dataclass
class TlsFiles:
    ca: Path
    cert: Path
    key: Path


def make_tls_files(directory: Path, names: tuple[str, ...] = (HOST,)) -> TlsFiles:
    ca_key = _rsa_key(2048, "test-ca")
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test metadata CA")])
    ca = _certificate("Test metadata CA", ca_key, ca_name, ca_key, ca=True)
    key = _rsa_key(2048, "test-server")
    leaf = _certificate(names[0], key, ca_name, ca_key, ca=False, names=names)
    directory.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(
        ca=directory / "ca.pem", cert=directory / "server.pem", key=directory / "key.pem"
    )
    files.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.cert.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


@dataclass
class MetadataServer:
    server: ThreadingHTTPServer
    https: bool
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    tls: TlsFiles | None = None

    @classmethod
    def start(cls, directory: Path, *, https: bool = True, names=(HOST,)) -> MetadataServer:
        holder: dict[str, MetadataServer] = {}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                owner = holder["server"]
                owner.requests.append((self.path, dict(self.headers)))
                route = owner.routes.get(self.path)
                if route is None:
                    self.send_error(404)
                    return
                if callable(route):
                    route(self)
                    return
                status, headers, body = route
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if "Content-Length" not in headers:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        tls = None
        if https:
            tls = make_tls_files(directory / "tls", names)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(tls.cert, tls.key)
            server.socket = context.wrap_socket(server.socket, server_side=True)
        instance = cls(server=server, https=https, tls=tls)
        holder["server"] = instance
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return instance

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def url(self, path: str, host: str = HOST) -> str:
        return f"{'https' if self.https else 'http'}://{host}:{self.port}{path}"

    def publish(self, path: str, body: bytes) -> str:
        self.routes[path] = (200, {"Content-Type": "application/samlmetadata+xml"}, body)
        return self.url(path)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def dribble(body: bytes, *, every: float) -> Callable[[BaseHTTPRequestHandler], None]:
    """A route that sends headers, then one byte of ``body`` every ``every`` seconds."""

    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        for byte in body:
            try:
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
            except OSError:
                return
            time.sleep(every)

    return route


def endless(chunk: bytes = b"<a>" * 10000) -> Callable[[BaseHTTPRequestHandler], None]:
    """A route that streams forever without a Content-Length (the cap must stop the read)."""

    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.close_connection = True
        sent = 0
        while sent < 50 * 1024 * 1024:  # bounded, so a broken client cannot keep it busy
            try:
                handler.wfile.write(chunk)
            except OSError:
                return
            sent += len(chunk)

    return route

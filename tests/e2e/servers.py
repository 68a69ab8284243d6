"""pytest-django's live server, over TLS.

Outside debug the product asks for https where a browser is concerned: an IdP's sign-on URL must
be https (the admin and the setup page refuse http), cookies are ``Secure``, OAuth redirect URIs
are https. Turning debug on for the tests would test another product, so the live server speaks
TLS instead, with a certificate made for the run (``tests/metadata_server.make_tls_files``):
Chromium trusts exactly that key (``--ignore-certificate-errors-spki-list``), Python's back
channel (Okta's token exchange, SCIM) trusts its CA.

The server answers as ``localhost`` (``BASE_URL``: the service) and as ``127.0.0.1``, another
site for the browser, where the development IdP is served (``DEV_IDP_ORIGIN``), so SAML's
cross-site POST to the ACS and the same-site finish step behave as with a real IdP.
"""

from __future__ import annotations

import base64
import hashlib
import json
import ssl
from pathlib import Path
from urllib.request import Request, urlopen

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from django.core.servers.basehttp import ThreadedWSGIServer
from pytest_django.live_server_helper import LiveServer

from tests.metadata_server import TlsFiles, make_tls_files

SERVICE_HOST = "localhost"
IDP_HOST = "127.0.0.1"


class _TlsWSGIServer(ThreadedWSGIServer):
    ssl_context: ssl.SSLContext

    def get_request(self):
        sock, address = super().get_request()
        # The handshake happens in the request's own thread, on its first read.
        return self.ssl_context.wrap_socket(
            sock, server_side=True, do_handshake_on_connect=False
        ), address

    def setup_environ(self) -> None:
        super().setup_environ()
        self.base_environ["HTTPS"] = "on"  # wsgi.url_scheme: request.is_secure() is True

    def handle_error(self, request, client_address) -> None:
        # A browser dropping a kept-alive connection mid-handshake is not a test failure.
        pass


class HttpsLiveServer(LiveServer):
    def __init__(self, tls: TlsFiles) -> None:
        super().__init__(SERVICE_HOST, start=False)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls.cert, tls.key)
        self.thread.server_class = type("Server", (_TlsWSGIServer,), {"ssl_context": context})
        self.tls = tls
        self.start()

    @property
    def url(self) -> str:
        return f"https://{SERVICE_HOST}:{self.thread.port}"

    @property
    def idp_origin(self) -> str:
        return f"https://{IDP_HOST}:{self.thread.port}"

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.tls.ca))

    def spki_hash(self) -> str:
        """What ``--ignore-certificate-errors-spki-list`` names: base64(SHA-256(SPKI))."""
        certificate = x509.load_pem_x509_certificate(self.tls.cert.read_bytes())
        spki = certificate.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(hashlib.sha256(spki).digest()).decode("ascii")

    def fetch(self, path: str, *, data: bytes | None = None, headers: dict | None = None):
        """A back-channel request (no browser): (status, headers, body)."""
        request = Request(f"{self.url}{path}", data=data, headers=headers or {})
        try:
            with urlopen(request, context=self.client_context(), timeout=30) as response:  # noqa: S310
                return response.status, dict(response.headers), response.read()
        except Exception as error:
            if hasattr(error, "code"):
                return error.code, dict(error.headers), error.read()
            raise

    def fetch_json(self, path: str, **kwargs) -> tuple[int, dict]:
        status, _headers, body = self.fetch(path, **kwargs)
        return status, json.loads(body or b"{}")


def start_https_live_server(directory: Path) -> HttpsLiveServer:
    return HttpsLiveServer(make_tls_files(directory, names=(SERVICE_HOST,)))

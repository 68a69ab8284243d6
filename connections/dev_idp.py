"""The bundled development IdP: an Okta stand-in for `make run` and `manage.py demo`.

Served only with DJANGO_DEBUG on (``DEV_IDP_ENABLED``; a 404 otherwise). It signs real SAML
responses with a key made at run time under var/dev-idp/ (never committed), with pysaml2's IdP side
(dev_idp_saml.py), and posts them to the connection's ACS, where they go through every production
check. It answers for every connection whose sign-on URL is its own (``dev_idp_sso_url()``), with
four people in the email domain of that connection's company.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from connections.models import Connection
from connections.selectors import connections_signing_on_at

SSO_PATH = "/dev-idp/sso/"


@dataclass(frozen=True)
class Persona:
    local_part: str
    first: str
    last: str
    user_type: str | None
    division: str | None
    note: str

    def email(self, domain: str) -> str:
        return f"{self.local_part}@{domain}"


DEMO_DOMAIN = "demo.example"
PERSONAS = (
    Persona("ada", "Ada", "Admin", "admin", "Sales", "admin in Sales"),
    Persona("max", "Max", "Manager", "manager", "Marketing", "manager in Marketing"),
    Persona(
        "sam",
        "Sam",
        "Sender",
        None,
        None,
        "no userType, no division: sender, default team",
    ),
    Persona(
        "uma",
        "Uma",
        "Unknown",
        "superuser",
        "sales",
        "unknown role, near-miss team: warnings",
    ),
)


def dev_idp_dir() -> Path:
    return Path(settings.BASE_DIR) / "var" / "dev-idp"


def _origin() -> str:
    return settings.DEV_IDP_ORIGIN or settings.BASE_URL


def dev_idp_sso_url() -> str:
    """The sign-on URL a connection gives to use this IdP."""
    return f"{_origin()}{SSO_PATH}"


def dev_idp_entity_id() -> str:
    return f"{_origin()}/dev-idp/metadata/"


def dev_idp_keypair() -> tuple[Path, Path]:
    """The IdP's key and self-signed certificate, made on first use (mode 0600 for the key)."""
    folder = dev_idp_dir()
    key_path, cert_path = folder / "key.pem", folder / "cert.pem"
    if key_path.exists() and cert_path.exists():
        return key_path, cert_path
    folder.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Development IdP")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


def _server_options(connection: Connection) -> dict:
    key_path, cert_path = dev_idp_keypair()
    return {
        "entity_id": dev_idp_entity_id(),
        "sso_url": dev_idp_sso_url(),
        "key_path": str(key_path),
        "cert_path": str(cert_path),
        "connection": connection,
    }


def _attributes(persona: Persona, email: str) -> dict[str, list[str]]:
    """The guide's attribute statement (user_name, email, givenName, familyName, userType, division)."""
    values = {
        "user_name": email,
        "email": email,
        "givenName": persona.first,
        "familyName": persona.last,
        "userType": persona.user_type,
        "division": persona.division,
    }
    return {name: [value] for name, value in values.items() if value}


def _require_enabled() -> None:
    if not settings.DEV_IDP_ENABLED:
        raise Http404("The development IdP is served only with DJANGO_DEBUG on.")


def _people(connection: Connection) -> list[tuple[Persona, str]]:
    """The personas with emails in the connection's company's (first) domain, so that a connection
    set up against this IdP for any company signs its own people in."""
    domain = connection.company.domains.first()
    return [
        (persona, persona.email(domain.domain if domain else DEMO_DOMAIN)) for persona in PERSONAS
    ]


@csrf_exempt  # a stand-in for a foreign IdP: its form posts carry no session of ours
@require_http_methods(["GET", "POST"])
def sso(request: HttpRequest) -> HttpResponse:
    """SP-initiated (GET with SAMLRequest) and IdP-initiated (GET without): pick a persona."""
    _require_enabled()
    # Imported here, not at the top: pysaml2 takes about a second to import, and config.urls
    # imports this module for every management command that loads the URLs.
    from connections import dev_idp_saml

    connections = list(connections_signing_on_at(url=dev_idp_sso_url()).select_related("company"))
    if request.method == "GET":
        choices = [{"connection": c, "people": _people(c)} for c in connections]
        context = {"choices": choices, "connections": connections, "request_info": None}
        saml_request = request.GET.get("SAMLRequest")
        if saml_request:
            # Which connection asked: the one whose SP entity ID issued the request.
            for connection in connections:
                try:
                    info = dev_idp_saml.dev_idp_read_request(
                        saml_request, **_server_options(connection)
                    )
                except Exception:  # noqa: BLE001,S112 - not this connection's request
                    continue
                if info.sp_entity_id == connection.sp_entity_id:
                    context["request_info"] = {"id": info.request_id, "connection": connection}
                    break
        return render(request, "dev_idp/choose.html", context)

    connection = next((c for c in connections if c.name == request.POST.get("connection")), None)
    chosen = request.POST.get("persona")
    person = next((p for p in _people(connection) if p[1] == chosen), None) if connection else None
    if person is None:
        raise Http404("Unknown connection or persona.")
    persona, email = person
    xml = dev_idp_saml.dev_idp_response(
        email=email,
        attributes=_attributes(persona, email),
        in_response_to=request.POST.get("in_response_to") or None,
        **_server_options(connection),
    )
    return render(
        request,
        "dev_idp/post.html",
        {
            "acs_url": connection.acs_url,
            "saml_response": base64.b64encode(xml).decode("ascii"),
            "relay_state": request.POST.get("relay_state", ""),
        },
    )

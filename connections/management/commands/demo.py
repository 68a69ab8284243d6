from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.selectors import company_find
from accounts.services import company_create
from connections.certificates import parse_certificate
from connections.dev_idp import DEMO_DOMAIN, PERSONAS, SSO_PATH, dev_idp_entity_id, dev_idp_keypair
from connections.models import Connection
from connections.selectors import connection_find
from connections.services import connection_add_certificate, connection_create, connection_update
from core.commands import Refused

DEMO_SLUG = "demo"
DEMO_TEAMS = ("Sales", "Marketing", "Support")


class Command(BaseCommand):
    help = "A demo company wired to the bundled development IdP (development only; idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise Refused("The demo uses the development IdP, which runs only with DJANGO_DEBUG=1.")
        _key, cert_path = dev_idp_keypair()
        with transaction.atomic():
            company = company_find(slug=DEMO_SLUG) or company_create(
                slug=DEMO_SLUG,
                name="Demo Inc",
                teams=DEMO_TEAMS,
                domains=[DEMO_DOMAIN],
                actor_label="demo",
            )
            connection = connection_find(name=DEMO_SLUG)
            if connection is None:
                connection = connection_create(
                    company=company,
                    name=DEMO_SLUG,
                    sign_on_url=f"{settings.BASE_URL}{SSO_PATH}",
                    certificate_data=cert_path.read_bytes(),
                    idp_entity_id=dev_idp_entity_id(),
                    default_team=company.teams.get(name="Sales"),
                    actor_label="demo",
                )
            _trust_current_certificate(connection, cert_path.read_bytes())
            # Served somewhere else this time (make run PORT=...): follow the IdP's address.
            connection = connection_update(
                connection=connection,
                sign_on_url=f"{settings.BASE_URL}{SSO_PATH}",
                idp_entity_id=dev_idp_entity_id(),
                actor_label="demo",
            )
        self.stdout.write(
            f"Demo ready: company {company.slug}, connection {connection.name} (JIT)."
        )
        self.stdout.write(
            f"  SP-initiated:  {settings.BASE_URL}/sso/  (type ada@{DEMO_DOMAIN} or 'demo')"
        )
        self.stdout.write(f"  IdP-initiated: {settings.BASE_URL}{SSO_PATH}")
        self.stdout.write("  People: " + ", ".join(p.email for p in PERSONAS))


def _trust_current_certificate(connection: Connection, pem: bytes) -> None:
    """If var/dev-idp/ was recreated, the connection must trust the new key too."""
    fingerprint = parse_certificate(pem).fingerprint_sha256
    if not connection.certificates.filter(fingerprint_sha256=fingerprint).exists():
        connection_add_certificate(connection=connection, certificate_data=pem, actor_label="demo")

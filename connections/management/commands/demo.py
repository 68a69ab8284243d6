from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.selectors import company_find
from accounts.services import company_create, staff_login_set
from connections.certificates import parse_certificate
from connections.dev_idp import (
    DEMO_DOMAIN,
    PERSONAS,
    dev_idp_entity_id,
    dev_idp_keypair,
    dev_idp_sso_url,
)
from connections.models import Connection
from connections.selectors import connection_find
from connections.services import connection_add_certificate, connection_create, connection_update
from core.commands import Refused
from core.exceptions import ApplicationError

DEMO_SLUG = "demo"
DEMO_TEAMS = ("Sales", "Marketing", "Support")
# The admin login of the demo: a support agent (the group made by
# provisioning/migrations/0004_support_group.py), in a domain no company holds.
SUPPORT_EMAIL = "support@staff.example"
SUPPORT_GROUP = "Support"


class Command(BaseCommand):
    help = (
        "A demo company wired to the bundled development IdP, and a support login for the admin "
        "with a new password each run (development only; idempotent)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise Refused("The demo uses the development IdP, which runs only with DJANGO_DEBUG=1.")
        _key, cert_path = dev_idp_keypair()
        # Made now and printed below, never written anywhere but as the login's password hash:
        # each run replaces the previous one.
        password = secrets.token_urlsafe(12)
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
                    sign_on_url=dev_idp_sso_url(),
                    certificate_data=cert_path.read_bytes(),
                    idp_entity_id=dev_idp_entity_id(),
                    default_team=company.teams.get(name="Sales"),
                    actor_label="demo",
                )
            _trust_current_certificate(connection, cert_path.read_bytes())
            # Served somewhere else this time (make run PORT=...): follow the IdP's address.
            connection = connection_update(
                connection=connection,
                sign_on_url=dev_idp_sso_url(),
                idp_entity_id=dev_idp_entity_id(),
                actor_label="demo",
            )
            try:
                staff_login_set(
                    email=SUPPORT_EMAIL, password=password, group=SUPPORT_GROUP, actor_label="demo"
                )
            except ApplicationError as error:
                raise Refused(error.message) from None
        self.stdout.write(
            f"Demo ready: company {company.slug}, connection {connection.name} (JIT)."
        )
        self.stdout.write(
            f"  SP-initiated:  {settings.BASE_URL}/sso/  (type ada@{DEMO_DOMAIN} or 'demo')"
        )
        self.stdout.write(f"  IdP-initiated: {dev_idp_sso_url()}")
        self.stdout.write("  People: " + ", ".join(p.email(DEMO_DOMAIN) for p in PERSONAS))
        self.stdout.write(f"  Admin:    {settings.BASE_URL}/admin/  (a support agent's login)")
        self.stdout.write(f"  Email:    {SUPPORT_EMAIL}")
        self.stdout.write(f"  Password: {password}  (new on every run)")


def _trust_current_certificate(connection: Connection, pem: bytes) -> None:
    """If var/dev-idp/ was recreated, the connection must trust the new key too."""
    fingerprint = parse_certificate(pem).fingerprint_sha256
    if not connection.certificates.filter(fingerprint_sha256=fingerprint).exists():
        connection_add_certificate(connection=connection, certificate_data=pem, actor_label="demo")

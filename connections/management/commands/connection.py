from __future__ import annotations

from pathlib import Path
from typing import Any

from accounts.selectors import company_find, team_lookup
from connections.models import ConnectionStatus, Provisioning
from connections.selectors import (
    certificate_describe,
    certificates_expiring,
    connection_describe,
    connection_get,
    connection_list,
)
from connections.services import (
    connection_add_certificate,
    connection_create,
    connection_set_status,
)
from core.commands import Refused, SubcommandCommand


def _read_certificate(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise Refused(f"Cannot read the certificate file {path}: {error.strerror}.") from None


class Command(SubcommandCommand):
    help = "Manage SAML connections."

    def add_subcommands(self, subparsers: Any) -> None:
        create = subparsers.add_parser("create", help="Create an active connection.")
        create.add_argument("name")
        create.add_argument("--company", required=True, metavar="SLUG")
        create.add_argument("--sign-on-url", required=True, metavar="URL")
        create.add_argument("--cert", required=True, metavar="FILE", help="PEM, DER or base64.")
        create.add_argument("--issuer", default="", metavar="ENTITY_ID")
        create.add_argument("--provisioning", choices=Provisioning.values, default=Provisioning.JIT)
        create.add_argument("--default-team", metavar="TEAM")
        create.add_argument("--no-idp-initiated", action="store_true")

        listing = subparsers.add_parser("list", help="List every connection.")
        listing.add_argument("--json", action="store_true")

        show = subparsers.add_parser("show", help="Show a connection and the SP values to send.")
        show.add_argument("name")
        show.add_argument("--json", action="store_true")

        rotate = subparsers.add_parser("rotate-cert", help="Trust a new signing certificate.")
        rotate.add_argument("name")
        rotate.add_argument("--cert", required=True, metavar="FILE")

        for action in ("enable", "disable"):
            subparsers.add_parser(action, help=f"{action.capitalize()} a connection.").add_argument(
                "name"
            )

        check = subparsers.add_parser(
            "check-certs", help="Exit 1 when a certificate expires within N days."
        )
        check.add_argument("--within-days", type=int, default=30, metavar="N")

    def handle_create(self, **options: Any) -> None:
        company = company_find(slug=options["company"])
        if company is None:
            raise Refused(f"No company has the slug '{options['company']}'.")
        default_team = None
        if options["default_team"]:
            default_team, _near_miss = team_lookup(company=company, name=options["default_team"])
            if default_team is None:
                raise Refused(f"{company.slug} has no team named '{options['default_team']}'.")
        connection = connection_create(
            company=company,
            name=options["name"],
            sign_on_url=options["sign_on_url"],
            certificate_data=_read_certificate(options["cert"]),
            idp_entity_id=options["issuer"],
            provisioning=options["provisioning"],
            default_team=default_team,
            allow_idp_initiated=not options["no_idp_initiated"],
            status=ConnectionStatus.ACTIVE,
            actor_label=self.actor_label,
        )
        self.stdout.write(f"Created connection {connection.name} for {company.slug} (active).")
        self._write_sp_values(connection_describe(connection))

    def handle_list(self, *, json: bool, **_: Any) -> None:
        rows = [connection_describe(c) for c in connection_list()]
        if json:
            self.write_json(rows)
            return
        if not rows:
            self.stdout.write("No connections.")
            return
        header = f"{'NAME':<24} {'COMPANY':<20} {'STATUS':<9} {'PROV':<5} {'CERT EXPIRES':<12}"
        self.stdout.write(header)
        for row in rows:
            soonest = min((c["not_after"][:10] for c in row["certificates"]), default="-")
            self.stdout.write(
                f"{row['name']:<24} {row['company']:<20} {row['status']:<9} "
                f"{row['provisioning']:<5} {soonest:<12}"
            )

    def handle_show(self, *, name: str, json: bool, **_: Any) -> None:
        data = connection_describe(connection_get(name=name))
        if json:
            self.write_json(data)
            return
        for key in ("name", "company", "status", "provisioning", "sign_on_url", "idp_entity_id",
                    "observed_idp_entity_id", "default_team", "allow_idp_initiated"):  # fmt: skip
            self.stdout.write(
                f"{key + ':':<24} {data[key] if data[key] not in ('', None) else '-'}"
            )
        for certificate in data["certificates"]:
            self.stdout.write(
                f"{'certificate:':<24} {certificate['fingerprint_sha256']} "
                f"expires {certificate['not_after'][:10]} ({certificate['days_left']} days)"
            )
        self._write_sp_values(data)

    def _write_sp_values(self, data: dict[str, Any]) -> None:
        sp = data["service_provider"]
        self.stdout.write("Send these to the customer's IdP admin:")
        self.stdout.write(f"  {'Audience / SP entity ID:':<26} {sp['entity_id']}")
        self.stdout.write(f"  {'ACS (single sign-on) URL:':<26} {sp['acs_url']}")
        self.stdout.write(f"  {'SP metadata:':<26} {sp['metadata_url']}")
        self.stdout.write(f"  {'Name ID format:':<26} {sp['name_id_format']}")

    def handle_rotate_cert(self, *, name: str, cert: str, **_: Any) -> None:
        connection = connection_get(name=name)
        certificate = connection_add_certificate(
            connection=connection,
            certificate_data=_read_certificate(cert),
            actor_label=self.actor_label,
        )
        self.stdout.write(
            f"{connection.name} now also trusts {certificate.fingerprint_sha256} "
            f"(expires {certificate.not_after:%Y-%m-%d}); "
            f"{connection.certificates.count()} certificates in all."
        )

    def handle_enable(self, *, name: str, **_: Any) -> None:
        self._set_status(name, ConnectionStatus.ACTIVE)

    def handle_disable(self, *, name: str, **_: Any) -> None:
        self._set_status(name, ConnectionStatus.DISABLED)

    def _set_status(self, name: str, status: str) -> None:
        before = connection_get(name=name)
        connection = connection_set_status(
            connection=before, status=status, actor_label=self.actor_label
        )
        verb = "already" if before.status == status else "now"
        self.stdout.write(f"{connection.name} is {verb} {connection.status}.")

    def handle_check_certs(self, *, within_days: int, **_: Any) -> None:
        if within_days < 0:
            raise Refused("--within-days must be 0 or more.")
        expiring = list(certificates_expiring(within_days=within_days))
        for certificate in expiring:
            info = certificate_describe(certificate)
            state = "EXPIRED" if info["expired"] else f"expires in {info['days_left']} days"
            self.stdout.write(
                f"{certificate.connection.name}: {info['fingerprint_sha256']} {state} "
                f"({info['not_after'][:10]})"
            )
        if expiring:
            raise Refused(f"{len(expiring)} certificate(s) expire within {within_days} days.")
        self.stdout.write(f"No certificate expires within {within_days} days.")

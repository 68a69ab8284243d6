from __future__ import annotations

from pathlib import Path
from typing import Any

from accounts.selectors import company_find, team_lookup
from connections.idp_metadata import parse_idp_metadata
from connections.metadata import (
    connection_apply_metadata,
    connection_create_from_metadata,
    connection_refresh_metadata,
    is_url,
    metadata_from_url,
)
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
from connections.setup_links import DEFAULT_DAYS, setup_link_issue, setup_link_revoke
from core.commands import Refused, SubcommandCommand, Usage


def _read_file(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise Refused(f"Cannot read the {what} file {path}: {error.strerror}.") from None


def _read_certificate(path: str) -> bytes:
    return _read_file(path, "certificate")


def _load_metadata(source: str, entity_id: str | None):
    """(metadata, URL or "" for a file) from a URL or a file path."""
    if is_url(source):
        return metadata_from_url(source.strip(), entity_id=entity_id), source.strip()
    return parse_idp_metadata(_read_file(source, "metadata"), entity_id=entity_id), ""


class Command(SubcommandCommand):
    help = "Manage SAML connections."

    def add_subcommands(self, subparsers: Any) -> None:
        create = subparsers.add_parser(
            "create",
            help="Create an active connection from --sign-on-url and --cert, or from --metadata; "
            "or a draft (--draft) that the customer completes through a setup link.",
        )
        create.add_argument("name")
        create.add_argument("--company", required=True, metavar="SLUG")
        create.add_argument("--sign-on-url", metavar="URL")
        create.add_argument("--cert", metavar="FILE", help="PEM, DER or base64.")
        create.add_argument("--issuer", default="", metavar="ENTITY_ID")
        create.add_argument(
            "--metadata", metavar="FILE_OR_URL", help="The IdP's metadata (a file or its URL)."
        )
        create.add_argument(
            "--entity-id", metavar="ID", help="Which IdP, when the metadata describes several."
        )
        create.add_argument("--draft", action="store_true", help="The name only, for a setup link.")
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

        imported = subparsers.add_parser(
            "import-metadata",
            help="Take the IdP's sign-on URL, issuer and certificates from "
            "its metadata (a URL is kept and refreshed daily).",
        )
        imported.add_argument("name")
        imported.add_argument("source", metavar="FILE_OR_URL")
        imported.add_argument("--entity-id", metavar="ID")

        refresh = subparsers.add_parser(
            "refresh-metadata", help="Fetch the connection's metadata URL again and apply it."
        )
        refresh.add_argument("name")

        link = subparsers.add_parser(
            "setup-link",
            help="A link for the customer's IT admin to complete a draft connection (the link "
            "alone on stdout); --revoke revokes it.",
        )
        link.add_argument("name")
        link.add_argument("--days", type=int, default=DEFAULT_DAYS, metavar="N")
        link.add_argument("--revoke", action="store_true")

        for action in ("enable", "disable"):
            subparsers.add_parser(action, help=f"{action.capitalize()} a connection.").add_argument(
                "name"
            )

        check = subparsers.add_parser(
            "check-certs", help="Exit 1 when a certificate expires within N days."
        )
        check.add_argument("--within-days", type=int, default=30, metavar="N")

    def handle_create(self, **options: Any) -> None:
        manual = options["sign_on_url"] is not None or options["cert"] is not None
        if options["draft"] and (manual or options["metadata"] or options["issuer"]):
            raise Usage(
                "--draft takes the name and company only; the rest comes from the setup link."
            )
        if options["metadata"] and (manual or options["issuer"]):
            raise Usage(
                "--metadata replaces --sign-on-url, --cert and --issuer; give one or the other."
            )
        if options["entity_id"] and not options["metadata"]:
            raise Usage("--entity-id goes with --metadata.")
        if (
            not options["draft"]
            and not options["metadata"]
            and not (options["sign_on_url"] and options["cert"])
        ):
            raise Usage("Give --sign-on-url and --cert, or --metadata FILE_OR_URL, or --draft.")
        company = company_find(slug=options["company"])
        if company is None:
            raise Refused(f"No company has the slug '{options['company']}'.")
        default_team = None
        if options["default_team"]:
            default_team, _near_miss = team_lookup(company=company, name=options["default_team"])
            if default_team is None:
                raise Refused(f"{company.slug} has no team named '{options['default_team']}'.")
        common = {
            "company": company,
            "name": options["name"],
            "provisioning": options["provisioning"],
            "default_team": default_team,
            "allow_idp_initiated": not options["no_idp_initiated"],
            "actor_label": self.actor_label,
        }
        if options["metadata"]:
            metadata, url = _load_metadata(options["metadata"], options["entity_id"])
            connection = connection_create_from_metadata(
                metadata=metadata, metadata_url=url, status=ConnectionStatus.ACTIVE, **common
            )
        elif options["draft"]:
            connection = connection_create(
                sign_on_url="", certificate_data=None, status=ConnectionStatus.DRAFT, **common
            )
        else:
            connection = connection_create(
                sign_on_url=options["sign_on_url"],
                certificate_data=_read_certificate(options["cert"]),
                idp_entity_id=options["issuer"],
                status=ConnectionStatus.ACTIVE,
                **common,
            )
        self.stdout.write(
            f"Created connection {connection.name} for {company.slug} ({connection.status})."
        )
        if options["draft"]:
            self.stdout.write(f"Next: manage.py connection setup-link {connection.name}")
        self._write_sp_values(connection_describe(connection))

    def handle_import_metadata(
        self, *, name: str, source: str, entity_id: str | None, **_: Any
    ) -> None:
        connection = connection_get(name=name)
        metadata, url = _load_metadata(source, entity_id)
        changes = connection_apply_metadata(
            connection=connection,
            metadata=metadata,
            metadata_url=url,
            source="import",
            actor_label=self.actor_label,
        )
        self._write_changes(connection.name, changes)
        if url:
            self.stdout.write(f"{connection.name} will refresh its metadata from {url} daily.")

    def handle_refresh_metadata(self, *, name: str, **_: Any) -> None:
        connection = connection_get(name=name)
        changes = connection_refresh_metadata(connection=connection, actor_label=self.actor_label)
        self._write_changes(connection.name, changes)

    def handle_setup_link(self, *, name: str, days: int, revoke: bool, **_: Any) -> None:
        connection = connection_get(name=name)
        if revoke:
            count = setup_link_revoke(connection=connection, actor_label=self.actor_label)
            self.stdout.write(
                f"Revoked {count} setup link(s) of {connection.name}."
                if count
                else f"{connection.name} has no live setup link."
            )
            return
        issued = setup_link_issue(connection=connection, days=days, actor_label=self.actor_label)
        self.stdout.write(issued.url)
        self.stderr.write(
            f"Send this link to the customer's IT admin; it works for {days} day(s) "
            f"(until {issued.link.expires_at:%Y-%m-%d %H:%M} UTC) and replaces any earlier one."
        )

    def _write_changes(self, name: str, changes) -> None:
        if not changes.any:
            self.stdout.write(f"{name}: the metadata matches the connection; nothing changed.")
        for line in changes.lines():
            self.stdout.write(f"{name}: {line}")

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
                    "observed_idp_entity_id", "metadata_url", "default_team",
                    "allow_idp_initiated"):  # fmt: skip
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

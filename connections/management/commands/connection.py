from __future__ import annotations

from pathlib import Path
from typing import Any

from accounts.selectors import company_find, team_lookup
from connections.idp_metadata import parse_idp_metadata
from connections.management.connection_arguments import add_connection_subcommands
from connections.metadata import (
    connection_apply_metadata,
    connection_create_from_metadata,
    connection_refresh_metadata,
    is_url,
    metadata_from_url,
)
from connections.models import ConnectionStatus
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
    connection_update,
)
from connections.setup_links import setup_link_issue, setup_link_revoke
from connections.sp_keys import (
    sp_key_rotation_cancel,
    sp_key_rotation_finish,
    sp_key_rotation_start,
    sp_keys_reencrypt,
)
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
        add_connection_subcommands(subparsers)

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
                    "allow_idp_initiated", "sign_requests", "require_encryption",
                    "slo_url"):  # fmt: skip
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
        self.stdout.write(f"  {'Single logout URL:':<26} {sp['slo_url']}")
        self.stdout.write(f"  {'SP metadata:':<26} {sp['metadata_url']}")
        self.stdout.write(f"  {'Name ID format:':<26} {sp['name_id_format']}")
        for key in sp["keys"]:
            if key["published"]:
                label = f"SP {key['use']} cert ({key['state']}):"
                self.stdout.write(
                    f"  {label:<26} {key['fingerprint_sha256']} "
                    f"expires {key['not_after'][:10]} (in the SP metadata)"
                )

    def handle_set(
        self,
        *,
        name: str,
        sign_requests: str | None,
        require_encryption: str | None,
        slo_url: str | None,
        **_: Any,
    ) -> None:
        changes: dict[str, Any] = {}
        if sign_requests is not None:
            changes["sign_requests"] = sign_requests == "on"
        if require_encryption is not None:
            changes["require_encryption"] = require_encryption == "on"
        if slo_url is not None:
            changes["slo_url"] = slo_url.strip()
        if not changes:
            raise Usage("Give --sign-requests, --require-encryption or --slo-url.")
        before = connection_get(name=name)
        connection = connection_update(connection=before, actor_label=self.actor_label, **changes)
        for field, value in changes.items():
            old = getattr(before, field)
            shown = ("on" if value else "off") if isinstance(value, bool) else (value or "none")
            verb = "already" if old == value else "now"
            self.stdout.write(f"{connection.name}: {field.replace('_', ' ')} {verb} {shown}.")
        if changes.get("slo_url") and not connection.sign_requests:
            self.stderr.write(
                "Note: most IdPs (Okta among them) accept only signed LogoutRequests; "
                "see --sign-requests on."
            )
        if connection.sign_requests and not before.sign_requests:
            self.stdout.write(
                f"{connection.name}: requests are signed with the SP signing certificate now in "
                f"the SP metadata ({connection.sp_entity_id}); the IdP needs it."
            )

    def handle_rotate_sp_key(self, *, name: str, finish: bool, cancel: bool, **_: Any) -> None:
        connection = connection_get(name=name)
        if cancel:
            count = sp_key_rotation_cancel(connection=connection, actor_label=self.actor_label)
            self.stdout.write(
                f"{connection.name}: rotation cancelled; {count} next key(s) dropped."
            )
            return
        if finish:
            keys = sp_key_rotation_finish(connection=connection, actor_label=self.actor_label)
            for key in keys:
                self.stdout.write(
                    f"{connection.name}: the {key.use} key {key.fingerprint_sha256} is now current; "
                    "the previous one is destroyed and left the SP metadata."
                )
            return
        keys = sp_key_rotation_start(connection=connection, actor_label=self.actor_label)
        for key in keys:
            self.stdout.write(
                f"{connection.name}: next {key.use} key {key.fingerprint_sha256} published in the "
                "SP metadata beside the current one."
            )
        self.stdout.write(
            f"Next: give the IdP the new certificates (or let it re-read {connection.sp_entity_id}),"
            f" then: manage.py connection rotate-sp-key {connection.name} --finish"
        )

    def handle_reencrypt_sp_keys(self, **_: Any) -> None:
        count = sp_keys_reencrypt(actor_label=self.actor_label)
        self.stdout.write(
            f"Re-encrypted {count} SP private key(s) with the first key of SAML_KEY_ENCRYPTION_KEY."
        )

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

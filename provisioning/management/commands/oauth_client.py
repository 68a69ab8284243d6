from __future__ import annotations

from typing import Any

from core.commands import Refused, SubcommandCommand
from provisioning.oauth_clients import oauth_client_create


class Command(SubcommandCommand):
    help = 'Register OAuth clients (Okta\'s "Authenticate with …").'

    def add_subcommands(self, subparsers: Any) -> None:
        create = subparsers.add_parser(
            "create", help="Register a confidential client; prints its id and secret once."
        )
        create.add_argument("--name", required=True)
        create.add_argument(
            "--redirect-uri", action="append", default=[], dest="redirect_uris", metavar="URL",
            help="An exact redirect URI (repeatable).",
        )  # fmt: skip
        create.add_argument(
            "--okta-app", metavar="APP",
            help="Register Okta's documented OIN callbacks for this app name (the default "
            "when no --redirect-uri is given: the --name).",
        )  # fmt: skip

    def handle_create(
        self, *, name: str, redirect_uris: list[str], okta_app: str | None, **_: Any
    ) -> None:
        if redirect_uris and okta_app:
            raise Refused("Give --redirect-uri or --okta-app, not both.")
        client, secret = oauth_client_create(
            name=name, redirect_uris=redirect_uris, okta_app=okta_app, actor_label=self.actor_label
        )
        self.stdout.write(f"client_id: {client.client_id}")
        self.stdout.write(f"client_secret: {secret}")
        self.stderr.write(
            "The secret is stored hashed and will not be shown again. Redirect URIs:\n  "
            + "\n  ".join(client.redirect_uris.split())
        )

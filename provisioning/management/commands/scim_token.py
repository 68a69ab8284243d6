from __future__ import annotations

from typing import Any

from django.conf import settings

from connections.selectors import connection_get
from core.commands import SubcommandCommand
from provisioning.tokens import scim_token_issue, scim_token_revoke


class Command(SubcommandCommand):
    help = "Issue or revoke SCIM bearer tokens."

    def add_subcommands(self, subparsers: Any) -> None:
        issue = subparsers.add_parser(
            "issue", help="Issue a token for a connection; printed once, alone on stdout."
        )
        issue.add_argument("connection")
        issue.add_argument("--label", default="", metavar="TEXT")
        revoke = subparsers.add_parser("revoke", help="Revoke a token by its id.")
        revoke.add_argument("token_id", type=int, metavar="token-id")

    def handle_issue(self, *, connection: str, label: str, **_: Any) -> None:
        target = connection_get(name=connection)
        token, raw = scim_token_issue(connection=target, label=label, actor_label=self.actor_label)
        # The token alone on stdout (so scripts can capture it); everything else on stderr.
        self.stdout.write(raw)
        self.stderr.write(
            f"Issued SCIM token {token.pk} ({token.prefix}…) for {target.name}. "
            f"SCIM base URL: {settings.BASE_URL}/scim/v2/ . It will not be shown again."
        )

    def handle_revoke(self, *, token_id: int, **_: Any) -> None:
        token = scim_token_revoke(token_id=token_id, actor_label=self.actor_label)
        self.stdout.write(
            f"SCIM token {token.pk} ({token.prefix}…) of {token.connection.name} is revoked."
        )

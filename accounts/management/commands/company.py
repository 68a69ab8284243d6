from __future__ import annotations

from typing import Any

from accounts.services import company_create
from core.commands import SubcommandCommand


class Command(SubcommandCommand):
    help = "Manage customer companies."

    def add_subcommands(self, subparsers: Any) -> None:
        create = subparsers.add_parser(
            "create", help="Create a company with its teams and domains."
        )
        create.add_argument("slug", help="Unique identifier, e.g. acme.")
        create.add_argument("--name", required=True, help='Display name, e.g. "Acme Inc".')
        create.add_argument(
            "--team", action="append", default=[], dest="teams", metavar="NAME",
            help="A team (repeatable); SAML/SCIM division names it exactly.",
        )  # fmt: skip
        create.add_argument(
            "--domain", action="append", default=[], dest="domains", metavar="DOMAIN",
            help="An email domain the company has proven (repeatable).",
        )  # fmt: skip

    def handle_create(
        self, *, slug: str, name: str, teams: list[str], domains: list[str], **_: Any
    ) -> None:
        company = company_create(
            slug=slug, name=name, teams=teams, domains=domains, actor_label=self.actor_label
        )
        summary = [f"Created company {company.slug} ({company.name})"]
        if teams:
            summary.append(f"teams: {', '.join(teams)}")
        if domains:
            stored = company.domains.order_by("pk").values_list("domain", flat=True)
            summary.append(f"domains: {', '.join(stored)}")
        self.stdout.write("; ".join(summary))

"""What every management command shares: sub-commands, exit statuses and one-line errors.

Exit statuses follow the SPEC: 2 for a usage error (argparse's own), 1 for a refusal. A refusal is
one line on stderr, and the service behind the command runs in a transaction, so nothing is
half-written.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.exceptions import ApplicationError

EXIT_REFUSED = 1
EXIT_USAGE = 2


class Refused(CommandError):
    def __init__(self, message: str) -> None:
        super().__init__(message, returncode=EXIT_REFUSED)


class Usage(CommandError):
    """Options that do not go together (argparse cannot say so itself): exit status 2."""

    def __init__(self, message: str) -> None:
        super().__init__(message, returncode=EXIT_USAGE)


class SubcommandCommand(BaseCommand):
    """A command with sub-commands (``connection create``, ``connection list``...).

    Subclasses implement ``add_subcommands(subparsers)`` and a ``handle_<name>`` per sub-command
    (hyphens become underscores).
    """

    actor_label = "command"

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        # Django's CommandParser hands ``called_from_command_line`` to sub-parsers, so a usage
        # error in a sub-command exits with status 2 like one in the command itself.
        subparsers = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        self.add_subcommands(subparsers)
        return parser

    def add_subcommands(self, subparsers: Any) -> None:
        raise NotImplementedError

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        handler: Callable[..., None] = getattr(self, f"handle_{action.replace('-', '_')}")
        try:
            handler(**options)
        except ApplicationError as error:
            raise Refused(error.message) from None

    def write_json(self, data: Any) -> None:
        self.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str))

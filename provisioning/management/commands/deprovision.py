from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from accounts.normalize import normalize_email
from accounts.selectors import user_find
from core.commands import Refused
from core.exceptions import ApplicationError
from provisioning.services import user_deprovision


class Command(BaseCommand):
    help = "Deactivate a user now; their sessions end and their personal tokens are revoked."

    def add_arguments(self, parser) -> None:
        parser.add_argument("email")
        parser.add_argument("--reason", default="", metavar="TEXT")

    def handle(self, *args: Any, email: str, reason: str, **options: Any) -> None:
        user = user_find(email=email)
        if user is None:
            raise Refused(f"No user has the email {normalize_email(email)}.")
        if user.is_staff or user.company_id is None:
            raise Refused(f"{user.email} is a staff account; deactivate it in the admin.")
        if not user.is_active:
            self.stdout.write(f"{user.email} is already deactivated.")
            return
        try:
            user_deprovision(
                user=user, actor_label="command", reason=reason or "manage.py deprovision"
            )
        except ApplicationError as error:
            raise Refused(error.message) from None
        self.stdout.write(
            f"{user.email} is deactivated; ending their sessions and revoking their tokens "
            "(see the audit trail)."
        )

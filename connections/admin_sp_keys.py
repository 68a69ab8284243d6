"""The connection admin's SP keys: what the connection publishes, and the two-step rotation."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.html import format_html, format_html_join

from connections.models import Connection
from connections.selectors import sp_key_describe
from connections.sp_keys import (
    sp_key_rotation_cancel,
    sp_key_rotation_finish,
    sp_key_rotation_start,
)
from core.exceptions import ApplicationError


class SpKeysAdminMixin:
    """For ``ConnectionAdmin``: the ``sp_keys`` read-only field and the rotation actions (each
    needs the change permission)."""

    @admin.display(description="SP keys")
    def sp_keys(self, obj: Connection) -> str:
        if not obj.pk:
            return "-"
        keys = [sp_key_describe(key) for key in obj.sp_keys.all()]
        if not keys:
            return "None yet: made when first needed (the SP metadata, signed requests)."
        return format_html(
            "<table><tr><th>use</th><th>state</th><th>SHA-256 fingerprint</th><th>expires</th>"
            "<th>in the SP metadata</th></tr>{}</table>",
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                (
                    (key["use"], key["state"], key["fingerprint_sha256"], key["not_after"][:10],
                     "yes" if key["published"] else "no (requests are not signed)")
                    for key in keys
                ),
            ),
        )  # fmt: skip

    def _sp_key_action(self, request, queryset, service, done: str) -> None:
        for connection in queryset.select_related("company"):
            try:
                service(connection=connection, acting_user=request.user)
            except ApplicationError as error:
                self.message_user(request, f"{connection.name}: {error.message}", messages.ERROR)
                continue
            self.message_user(request, f"{connection.name}: {done}", messages.SUCCESS)

    @admin.action(
        description="Start an SP key rotation (publish the next keys beside the current ones)",
        permissions=["change"],
    )
    def start_sp_key_rotation(self, request, queryset) -> None:
        self._sp_key_action(
            request,
            queryset,
            sp_key_rotation_start,
            "next SP keys published in the SP metadata; once the IdP has the new certificates, "
            "finish the rotation.",
        )

    @admin.action(
        description="Finish the SP key rotation (the next keys sign; the old ones are destroyed)",
        permissions=["change"],
    )
    def finish_sp_key_rotation(self, request, queryset) -> None:
        self._sp_key_action(
            request,
            queryset,
            sp_key_rotation_finish,
            "the new SP keys are current; the previous ones are destroyed.",
        )

    @admin.action(description="Cancel the SP key rotation", permissions=["change"])
    def cancel_sp_key_rotation(self, request, queryset) -> None:
        self._sp_key_action(
            request, queryset, sp_key_rotation_cancel, "rotation cancelled; next keys dropped."
        )

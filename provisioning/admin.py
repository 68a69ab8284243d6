from __future__ import annotations

from django.contrib import admin, messages

from provisioning.models import Deprovisioning, ScimToken
from provisioning.tasks import deprovision_complete
from provisioning.tokens import scim_token_revoke


@admin.register(ScimToken)
class ScimTokenAdmin(admin.ModelAdmin):
    list_display = (
        "prefix",
        "connection",
        "label",
        "created_at",
        "created_by",
        "last_used_at",
        "revoked_at",
    )
    list_filter = ("connection__company", "connection")
    search_fields = ("prefix", "label", "connection__name")
    readonly_fields = (
        "prefix",
        "connection",
        "label",
        "created_at",
        "created_by",
        "last_used_at",
        "revoked_at",
    )
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        return False  # issued from the connection page, where the token is shown once

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # revoke instead: the row stays for the audit trail

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset) -> None:
        for token in queryset:
            scim_token_revoke(token_id=token.pk, acting_user=request.user)
        self.message_user(request, f"Revoked {queryset.count()} token(s).")


@admin.register(Deprovisioning)
class DeprovisioningAdmin(admin.ModelAdmin):
    list_display = (
        "user",
        "requested_at",
        "completed_at",
        "attempts",
        "sessions_ended",
        "tokens_revoked",
        "failing",
    )
    list_filter = (("completed_at", admin.EmptyFieldListFilter),)
    search_fields = ("user__email",)
    readonly_fields = [f.name for f in Deprovisioning._meta.fields]
    actions = ["retry"]

    @admin.display(boolean=True, description="failing")
    def failing(self, obj: Deprovisioning) -> bool:
        return bool(obj.last_error) and obj.completed_at is None

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Retry selected (unfinished) deprovisionings now")
    def retry(self, request, queryset) -> None:
        pending = [job.pk for job in queryset if job.completed_at is None]
        for pk in pending:
            deprovision_complete.delay(pk)
        self.message_user(request, f"Queued {len(pending)} deprovisioning(s).", messages.INFO)

from __future__ import annotations

from django.contrib import admin

from audit.models import AuditEvent
from core.admin import HistoryAdminMixin


@admin.register(AuditEvent)
class AuditEventAdmin(HistoryAdminMixin, admin.ModelAdmin):
    list_display = (
        "created_at",
        "severity",
        "action",
        "error_code",
        "company",
        "connection",
        "target",
        "actor_label",
    )
    list_filter = ("severity", "action", "error_code", "company")
    search_fields = ("target", "actor_label", "connection__name", "company__slug")
    date_hierarchy = "created_at"
    list_select_related = ("company", "connection")
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    # The trail is append-only: nobody edits or deletes history from the admin.
    def has_change_permission(self, request, obj=None) -> bool:
        return False

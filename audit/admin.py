from __future__ import annotations

from django.contrib import admin

from audit.models import AuditEvent, RefusalTally
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


@admin.register(RefusalTally)
class RefusalTallyAdmin(HistoryAdminMixin, admin.ModelAdmin):
    """Requests refused for naming an unknown connection, counted per day (a customer's IdP
    pointed at a misspelt connection shows here, and so does someone probing names)."""

    list_display = ("day", "code", "endpoint", "name", "count", "first_seen", "last_seen")
    list_filter = ("code", "endpoint")
    search_fields = ("name",)
    date_hierarchy = "day"
    readonly_fields = [f.name for f in RefusalTally._meta.fields]

    def has_change_permission(self, request, obj=None) -> bool:
        return False

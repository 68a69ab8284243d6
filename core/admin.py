from __future__ import annotations


class HistoryAdminMixin:
    """For records that are history (audit events, tokens, grants, deprovisionings): made by
    services, never added or deleted by hand, so the trail stays whole."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

from __future__ import annotations

from django.core.exceptions import PermissionDenied


class HistoryAdminMixin:
    """For records that are history (audit events, tokens, grants, deprovisionings): made by
    services, never added or deleted by hand, so the trail stays whole."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class PermittedActionsMixin:
    """A POSTed action this user is not offered (``get_actions`` leaves out those whose
    ``permissions`` the user lacks) is refused with 403, where Django would quietly ignore it:
    a forged request gets a clear answer and changes nothing."""

    def changelist_view(self, request, extra_context=None):
        action = request.POST.get("action") if request.method == "POST" else None
        if action and action not in self.get_actions(request):
            raise PermissionDenied
        return super().changelist_view(request, extra_context)

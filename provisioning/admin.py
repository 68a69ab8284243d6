from __future__ import annotations

from django.contrib import admin, messages
from django.utils.text import Truncator

from core.admin import HistoryAdminMixin
from provisioning.grants import scim_grant_revoke, scim_grants
from provisioning.models import Deprovisioning, ScimGrant, ScimToken
from provisioning.tasks import deprovisioning_run
from provisioning.tokens import scim_token_issue, scim_token_revoke


@admin.register(ScimToken)
class ScimTokenAdmin(HistoryAdminMixin, admin.ModelAdmin):
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
    actions = ["revoke", "rotate"]

    @admin.action(description="Rotate selected tokens (issue a replacement, revoke the old one)")
    def rotate(self, request, queryset):
        issued = []
        for token in queryset.filter(revoked_at__isnull=True).select_related("connection"):
            new, raw = scim_token_issue(
                connection=token.connection, label=token.label, acting_user=request.user
            )
            scim_token_revoke(token_id=token.pk, acting_user=request.user)
            issued.append((new, raw))
        return render_issued_tokens(request, issued)

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset) -> None:
        for token in queryset:
            scim_token_revoke(token_id=token.pk, acting_user=request.user)
        self.message_user(request, f"Revoked {queryset.count()} token(s).")


@admin.register(Deprovisioning)
class DeprovisioningAdmin(HistoryAdminMixin, admin.ModelAdmin):
    list_display = (
        "user",
        "requested_at",
        "completed_at",
        "attempts",
        "sessions_ended",
        "tokens_revoked",
        "failing",
        "error",
    )
    list_filter = (("completed_at", admin.EmptyFieldListFilter),)
    search_fields = ("user__email",)
    readonly_fields = [f.name for f in Deprovisioning._meta.fields]
    actions = ["retry"]

    @admin.display(boolean=True, description="failing")
    def failing(self, obj: Deprovisioning) -> bool:
        return bool(obj.last_error) and obj.completed_at is None

    @admin.display(description="last error")
    def error(self, obj: Deprovisioning) -> str:
        # Why it fails, on the list itself: support should not open every row to find out.
        return Truncator(obj.last_error).chars(120)

    @admin.action(description="Retry selected (unfinished) deprovisionings now")
    def retry(self, request, queryset) -> None:
        pending = [job.pk for job in queryset if job.completed_at is None]
        for pk in pending:
            deprovisioning_run.delay(pk)
        self.message_user(request, f"Queued {len(pending)} deprovisioning(s).", messages.INFO)


class ConnectionGrantFilter(admin.SimpleListFilter):
    title = "connection"
    parameter_name = "connection"

    def lookups(self, request, model_admin):
        from connections.models import Connection

        return [(c.name, c.name) for c in Connection.objects.order_by("name")]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        from connections.models import Connection

        connection = Connection.objects.filter(name=self.value()).first()
        if connection is None:
            return queryset.none()
        ids = [token.pk for token in scim_grants(connection=connection, include_revoked=True)]
        return queryset.filter(pk__in=ids)


@admin.register(ScimGrant)
class ScimGrantAdmin(HistoryAdminMixin, admin.ModelAdmin):
    """Who authorized Okta to provision which connection, and revocation."""

    list_display = ("connection_name", "user", "application", "created", "updated", "revoked")
    list_filter = (ConnectionGrantFilter, ("revoked", admin.EmptyFieldListFilter))
    search_fields = ("user__email", "application__name")
    readonly_fields = ("connection_name", "user", "application", "created", "updated", "revoked")
    fields = readonly_fields
    actions = ["revoke"]

    def get_queryset(self, request):
        from provisioning.oauth import is_scim_grant

        queryset = super().get_queryset(request).select_related("user", "application")
        return queryset.filter(pk__in=[t.pk for t in queryset if is_scim_grant(t)])

    @admin.display(description="connection")
    def connection_name(self, obj) -> str:
        from provisioning.oauth import connection_from_resources

        connection = connection_from_resources(obj.resource)
        return connection.name if connection else "-"

    @admin.action(description="Revoke selected grants (Okta must authenticate again)")
    def revoke(self, request, queryset) -> None:
        for token in queryset:
            scim_grant_revoke(token=token, acting_user=request.user)
        self.message_user(request, f"Revoked {queryset.count()} grant(s).")


def render_issued_tokens(request, issued):
    """The one time a token is shown: a page, never a message stored in a cookie or session."""
    from django.conf import settings
    from django.template.response import TemplateResponse

    return TemplateResponse(
        request,
        "admin/provisioning/issued_tokens.html",
        {
            "issued": issued,
            "scim_base_url": f"{settings.BASE_URL}/scim/v2/",
            "title": "SCIM tokens issued",
        },
    )

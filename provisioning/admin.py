"""Support staff's provisioning pages: SCIM tokens, OAuth grants, deprovisionings; and what
provisioning adds to the user and connection pages of the apps below it (the deprovisioning
actions, the SCIM credentials), by registering subclasses of their admins."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator

from accounts.admin import UserAdmin
from accounts.models import User
from connections.admin import ConnectionAdmin
from connections.models import Connection
from connections.selectors import connection_find
from core.admin import HistoryAdminMixin, PermittedActionsMixin
from provisioning.grants import scim_grant_revoke
from provisioning.models import Deprovisioning, ScimGrant, ScimToken
from provisioning.oauth import connection_from_resources, is_scim_grant
from provisioning.selectors import scim_grants
from provisioning.services import user_deprovision, user_reactivate
from provisioning.tasks import deprovisioning_run
from provisioning.tokens import scim_token_issue, scim_token_revoke


@admin.register(ScimToken)
class ScimTokenAdmin(PermittedActionsMixin, HistoryAdminMixin, admin.ModelAdmin):
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

    def has_rotate_permission(self, request) -> bool:
        # A rotation issues a token (shown to whoever rotates) and revokes the customer's.
        return request.user.has_perms(
            ["provisioning.add_scimtoken", "provisioning.change_scimtoken"]
        )

    @admin.action(
        description="Rotate selected tokens (issue a replacement, revoke the old one)",
        permissions=["rotate"],
    )
    def rotate(self, request, queryset):
        issued = []
        for token in queryset.filter(revoked_at__isnull=True).select_related("connection"):
            new, raw = scim_token_issue(
                connection=token.connection, label=token.label, acting_user=request.user
            )
            scim_token_revoke(token_id=token.pk, acting_user=request.user)
            issued.append((new, raw))
        return render_issued_tokens(request, issued)

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke(self, request, queryset) -> None:
        for token in queryset:
            scim_token_revoke(token_id=token.pk, acting_user=request.user)
        self.message_user(request, f"Revoked {queryset.count()} token(s).")


@admin.register(Deprovisioning)
class DeprovisioningAdmin(PermittedActionsMixin, HistoryAdminMixin, admin.ModelAdmin):
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

    def has_retry_permission(self, request) -> bool:
        # Finishing a deprovisioning is part of deprovisioning: the same permission.
        return request.user.has_perm("accounts.deprovision_user")

    @admin.action(
        description="Retry selected (unfinished) deprovisionings now", permissions=["retry"]
    )
    def retry(self, request, queryset) -> None:
        pending = [job.pk for job in queryset if job.completed_at is None]
        for pk in pending:
            deprovisioning_run.delay(pk)
        self.message_user(request, f"Queued {len(pending)} deprovisioning(s).", messages.INFO)


class ConnectionGrantFilter(admin.SimpleListFilter):
    title = "connection"
    parameter_name = "connection"

    def lookups(self, request, model_admin):
        return [(c.name, c.name) for c in Connection.objects.order_by("name")]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        connection = connection_find(name=self.value())
        if connection is None:
            return queryset.none()
        ids = [token.pk for token in scim_grants(connection=connection, include_revoked=True)]
        return queryset.filter(pk__in=ids)


@admin.register(ScimGrant)
class ScimGrantAdmin(PermittedActionsMixin, HistoryAdminMixin, admin.ModelAdmin):
    """Who authorized Okta to provision which connection, and revocation."""

    list_display = ("connection_name", "user", "application", "created", "updated", "revoked")
    list_filter = (ConnectionGrantFilter, ("revoked", admin.EmptyFieldListFilter))
    search_fields = ("user__email", "application__name")
    readonly_fields = ("connection_name", "user", "application", "created", "updated", "revoked")
    fields = readonly_fields
    actions = ["revoke"]

    def get_queryset(self, request):
        queryset = super().get_queryset(request).select_related("user", "application")
        return queryset.filter(pk__in=[t.pk for t in queryset if is_scim_grant(t)])

    @admin.display(description="connection")
    def connection_name(self, obj) -> str:
        connection = connection_from_resources(obj.resource)
        return connection.name if connection else "-"

    @admin.action(
        description="Revoke selected grants (Okta must authenticate again)", permissions=["change"]
    )
    def revoke(self, request, queryset) -> None:
        for token in queryset:
            scim_grant_revoke(token=token, acting_user=request.user)
        self.message_user(request, f"Revoked {queryset.count()} grant(s).")


def render_issued_tokens(request, issued):
    """The one time a token is shown: a page, never a message stored in a cookie or session."""
    return TemplateResponse(
        request,
        "admin/provisioning/issued_tokens.html",
        {
            "issued": issued,
            "scim_base_url": f"{settings.BASE_URL}/scim/v2/",
            "title": "SCIM tokens issued",
        },
    )


class ProvisioningUserAdmin(UserAdmin):
    """The accounts user admin with the deprovisioning actions."""

    actions = [*UserAdmin.actions, "deprovision", "reactivate"]

    def has_deprovision_permission(self, request) -> bool:
        # Its own permission, not change_user: the Support group ends access without being able
        # to edit who is staff or superuser.
        return request.user.has_perm("accounts.deprovision_user")

    @admin.action(
        description="Deprovision selected users (sign out everywhere, revoke tokens)",
        permissions=["deprovision"],
    )
    def deprovision(self, request, queryset) -> None:
        users = [user for user in queryset if user.is_active and user.company_id]
        for user in users:
            user_deprovision(user=user, acting_user=request.user, reason="admin action")
        self.message_user(request, f"Deprovisioned {len(users)} user(s).")

    @admin.action(description="Reactivate selected users", permissions=["deprovision"])
    def reactivate(self, request, queryset) -> None:
        users = [user for user in queryset if not user.is_active]
        for user in users:
            user_reactivate(user=user, acting_user=request.user, reason="admin action")
        self.message_user(request, f"Reactivated {len(users)} user(s).")


class ProvisioningConnectionAdmin(ConnectionAdmin):
    """The connections admin with the connection's SCIM tokens and OAuth grants, and the action
    that issues a SCIM token."""

    readonly_fields = (*ConnectionAdmin.readonly_fields, "provisioning_credentials")
    # Their section goes just before the last one (History).
    fieldsets = (
        *ConnectionAdmin.fieldsets[:-1],
        ("Provisioning credentials", {"fields": ("provisioning_credentials",)}),
        ConnectionAdmin.fieldsets[-1],
    )
    actions = [*ConnectionAdmin.actions, "issue_scim_token"]

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if request.user.has_perm("provisioning.view_scimtoken"):
            return fieldsets
        # Staff without access to credentials (the Support group) see no trace of them.
        return [fs for fs in fieldsets if fs[0] != "Provisioning credentials"]

    def has_issue_scim_token_permission(self, request) -> bool:
        # The token is shown once to whoever issues it: only those who may hold a secret.
        return request.user.has_perm("provisioning.add_scimtoken")

    @admin.action(
        description="Issue a SCIM token for each selected connection (shown once)",
        permissions=["issue_scim_token"],
    )
    def issue_scim_token(self, request, queryset):
        issued = [
            scim_token_issue(
                connection=connection,
                label=f"issued in the admin by {request.user.email}",
                acting_user=request.user,
            )
            for connection in queryset
        ]
        return render_issued_tokens(request, issued)

    @admin.display(description="SCIM tokens and OAuth grants")
    def provisioning_credentials(self, obj: Connection) -> str:
        if not obj.pk:
            return "-"
        tokens = obj.scim_tokens.order_by("-created_at")[:20]
        token_rows = format_html_join(
            "",
            "<tr><td>token</td><td><code>{}…</code> {}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    t.prefix,
                    t.label,
                    f"{t.created_at:%Y-%m-%d}",
                    t.last_used_at and f"{t.last_used_at:%Y-%m-%d %H:%M}" or "never",
                    "revoked" if t.revoked_at else "active",
                )
                for t in tokens
            ),
        )
        grant_rows = format_html_join(
            "",
            "<tr><td>OAuth grant</td><td>{}</td><td>{}</td><td>authorized by {}</td><td>active</td></tr>",
            (
                (
                    g.application.name if g.application else "-",
                    f"{g.created:%Y-%m-%d}",
                    g.user.email if g.user else "-",
                )
                for g in scim_grants(connection=obj)
            ),
        )
        links = format_html(
            '<a href="{}?connection__id__exact={}">manage tokens</a> · <a href="{}?connection={}">manage OAuth grants</a>',
            reverse("admin:provisioning_scimtoken_changelist"),
            obj.pk,
            reverse("admin:provisioning_scimgrant_changelist"),
            obj.name,
        )
        return format_html(
            "<table><tr><th>kind</th><th>what</th><th>created</th><th>used / by</th><th>state</th></tr>{}{}</table><p>{}</p>",
            token_rows,
            grant_rows,
            links,
        )


admin.site.unregister(User)
admin.site.register(User, ProvisioningUserAdmin)
admin.site.unregister(Connection)
admin.site.register(Connection, ProvisioningConnectionAdmin)

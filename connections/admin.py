from __future__ import annotations

from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from connections.admin_forms import ConnectionForm
from connections.metadata import (
    connection_apply_metadata,
    connection_create_from_metadata,
    connection_refresh_metadata,
)
from connections.models import Connection, SigningCertificate
from connections.selectors import (
    connection_recent_events,
    connection_refusal_counts,
    connection_unmatched_divisions,
)
from connections.services import connection_add_certificate, connection_create, connection_update
from connections.setup_links import setup_link_issue, setup_link_revoke
from connections.sign_in import may_test_login
from core.admin import PermittedActionsMixin
from core.exceptions import ApplicationError


class SigningCertificateInline(admin.TabularInline):
    model = SigningCertificate
    extra = 0
    can_delete = False
    fields = ("fingerprint_sha256", "subject", "not_before", "not_after", "created_at")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # certificates are added through the form's certificate field


@admin.register(Connection)
class ConnectionAdmin(PermittedActionsMixin, admin.ModelAdmin):
    form = ConnectionForm
    list_display = (
        "name",
        "company",
        "status",
        "provisioning",
        "allow_idp_initiated",
        "updated_at",
    )
    list_filter = ("status", "provisioning", "company")
    search_fields = ("name", "company__slug", "company__name", "sign_on_url", "idp_entity_id")
    list_select_related = ("company",)
    readonly_fields = (
        "observed_idp_entity_id",
        "metadata_status",
        "service_provider_values",
        "setup_links",
        "test_login",
        "sign_in_health",
        "unmatched_divisions",
        "created_at",
        "updated_at",
    )
    inlines = [SigningCertificateInline]
    # SCIM tokens and OAuth grants (their section, the "issue a SCIM token" action) are added by
    # provisioning/admin.py, which registers a subclass: connections does not import provisioning.
    fieldsets = (
        (None, {"fields": ("company", "name", "status")}),
        ("Identity provider", {"fields": (
            "sign_on_url", "idp_entity_id", "observed_idp_entity_id",
            "certificate_file", "certificate_text",
        )}),
        ("Identity provider metadata", {
            "fields": ("metadata_url", "metadata_file", "metadata_text", "metadata_status"),
            "description": "Instead of the sign-on URL and certificate: the IdP's metadata. "
            "It sets the sign-on URL, entity ID and signing certificates.",
        }),
        ("Provisioning", {"fields": ("provisioning", "default_team", "allow_idp_initiated", "attribute_mapping")}),
        ("Send to the customer", {"fields": ("service_provider_values", "setup_links")}),
        ("Diagnose", {"fields": ("test_login", "sign_in_health", "unmatched_divisions")}),
        ("History", {"fields": ("created_at", "updated_at")}),
    )  # fmt: skip

    def has_delete_permission(self, request, obj=None) -> bool:
        # A connection is disabled, never deleted: its audit trail and the users' history stay.
        return False

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if may_test_login(request.user):
            return fieldsets
        return [
            (name, {**options, "fields": tuple(f for f in options["fields"] if f != "test_login")})
            for name, options in fieldsets
        ]

    def get_readonly_fields(self, request, obj=None) -> tuple:
        # The name is in the customer's Okta configuration and in every URL: fixed once created.
        return (*self.readonly_fields, "company", "name") if obj else self.readonly_fields

    @admin.display(description="SP values")
    def service_provider_values(self, obj: Connection) -> str:
        if not obj.pk:
            return "-"
        rows = [
            ("Audience / SP entity ID", obj.sp_entity_id),
            ("ACS (single sign-on) URL", obj.acs_url),
            ("SP metadata", obj.sp_entity_id),
            ("SP-initiated login", obj.login_url),
        ]
        return format_html(
            "<table>{}</table>",
            format_html_join("", "<tr><th>{}</th><td><code>{}</code></td></tr>", rows),
        )

    actions = ["refresh_metadata", "issue_setup_link", "revoke_setup_links"]

    def has_issue_setup_link_permission(self, request) -> bool:
        return request.user.has_perm("connections.add_setuplink")

    def has_revoke_setup_links_permission(self, request) -> bool:
        return request.user.has_perm("connections.change_setuplink")

    @admin.action(
        description="Issue a setup link for each selected draft (shown once)",
        permissions=["issue_setup_link"],
    )
    def issue_setup_link(self, request, queryset):
        issued, refused = [], []
        for connection in queryset.select_related("company"):
            try:
                issued.append(setup_link_issue(connection=connection, acting_user=request.user))
            except ApplicationError as error:
                refused.append((connection.name, error.message))
        return TemplateResponse(
            request,
            "admin/connections/setup_links_issued.html",
            {**self.admin_site.each_context(request), "title": "Setup links issued",
             "links": issued, "refused": refused},
        )  # fmt: skip

    @admin.action(
        description="Revoke the setup links of the selected connections",
        permissions=["revoke_setup_links"],
    )
    def revoke_setup_links(self, request, queryset) -> None:
        count = sum(
            setup_link_revoke(connection=connection, acting_user=request.user)
            for connection in queryset
        )
        self.message_user(request, f"Revoked {count} setup link(s).", messages.SUCCESS)

    @admin.display(description="Setup links")
    def setup_links(self, obj: Connection) -> str:
        if not obj.pk:
            return "-"
        links = obj.setup_links.all()[:5]
        if not links:
            return "None. A draft can be completed by the customer through a setup link "
            "(action “Issue a setup link”)."
        return format_html(
            "<table><tr><th>#</th><th>issued</th><th>by</th><th>expires</th><th>state</th>"
            "<th>last test</th></tr>{}</table>",
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                (
                    (link.pk, f"{link.created_at:%Y-%m-%d %H:%M}", link.created_by_label,
                     f"{link.expires_at:%Y-%m-%d %H:%M}", link.state,
                     link.last_test.get("outcome", "-") if link.last_test else "-")
                    for link in links
                ),
            ),
        )  # fmt: skip

    @admin.action(
        description="Refresh the IdP metadata of the selected connections from their URLs",
        permissions=["change"],
    )
    def refresh_metadata(self, request, queryset) -> None:
        refreshed = 0
        for connection in queryset.select_related("company"):
            if not connection.metadata_url:
                self.message_user(request, f"{connection.name}: no metadata URL.", messages.WARNING)
                continue
            try:
                changes = connection_refresh_metadata(
                    connection=connection, acting_user=request.user, actor_label=""
                )
            except ApplicationError as error:
                self.message_user(request, f"{connection.name}: {error.message}", messages.ERROR)
                continue
            refreshed += 1
            summary = "; ".join(changes.lines()) or "nothing changed"
            self.message_user(request, f"{connection.name}: {summary}.", messages.SUCCESS)
        return None

    @admin.display(description="Metadata refresh")
    def metadata_status(self, obj: Connection) -> str:
        if not obj.pk or not obj.metadata_url:
            return "Not imported from a URL: nothing is refreshed."
        fetched = (
            f"{obj.metadata_refreshed_at:%Y-%m-%d %H:%M} UTC"
            if obj.metadata_refreshed_at
            else "never"
        )
        if not obj.metadata_failures:
            return format_html("Refreshed daily from its URL; last fetched {}.", fetched)
        return format_html(
            '<p class="errornote">The last {} refresh(es) failed: {}</p>'
            "<p>Last successful fetch: {}. Nothing changes until a refresh succeeds; "
            "use the action “Refresh the IdP metadata” to try again.</p>",
            obj.metadata_failures,
            obj.metadata_last_error,
            fetched,
        )

    @admin.display(description="Divisions without a team (30 days)")
    def unmatched_divisions(self, obj: Connection) -> str:
        if not obj.pk:
            return "-"
        rows = connection_unmatched_divisions(connection=obj)
        if not rows:
            return "Every division sent in the last 30 days matched a team."
        return format_html(
            "<p>Create the team (exact name) or ask the customer to fix the division in their "
            'IdP. <a href="{}?company__id__exact={}">Teams of {}</a></p>'
            "<table><tr><th>division sent</th><th>people</th></tr>{}</table>",
            reverse("admin:accounts_team_changelist"),
            obj.company_id,
            obj.company.slug,
            format_html_join("", "<tr><td><code>{}</code></td><td>{}</td></tr>", rows),
        )

    @admin.display(description="Test login")
    def test_login(self, obj: Connection) -> str:
        if not obj.pk:
            return "-"
        url = reverse("sso-login", args=[obj.name]) + "?test=1"
        return format_html(
            '<a class="button" href="{}" target="_blank" rel="noopener">Run a test login</a> '
            "<span>Signs in at the IdP and shows what it sent and what would happen; works while "
            "the connection is a draft, and signs nobody in.</span>",
            url,
        )

    @admin.display(description="Sign-ins (last 7 days)")
    def sign_in_health(self, obj: Connection) -> str:
        if not obj.pk:
            return "-"
        counts = connection_refusal_counts(connection=obj)
        events = connection_recent_events(connection=obj)
        summary = (
            format_html_join(", ", "<code>{}</code> × {}", counts)
            if counts
            else "No refused sign-ins."
        )
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            (
                (
                    f"{e.created_at:%Y-%m-%d %H:%M:%S}",
                    e.action,
                    e.error_code,
                    e.target,
                    _short(e.details),
                )
                for e in events
            ),
        )
        return format_html(
            "<p>Refusals: {}</p><table><tr><th>time</th><th>event</th><th>code</th><th>who</th>"
            "<th>details</th></tr>{}</table>",
            summary,
            rows,
        )

    def save_model(self, request, obj: Connection, form: ConnectionForm, change: bool) -> None:
        """Every write goes through the connection services, so admin changes are validated and
        audited exactly like command-line ones. The admin wraps this in a transaction."""
        data = form.cleaned_data
        metadata = data["metadata"]
        common = {
            "provisioning": data["provisioning"],
            "default_team": data["default_team"],
            "allow_idp_initiated": data["allow_idp_initiated"],
            "status": data["status"],
            "acting_user": request.user,
        }
        if not change:
            if metadata is not None:
                created = connection_create_from_metadata(
                    company=data["company"], name=data["name"], metadata=metadata,
                    metadata_url=_url_source(form), **common,
                )  # fmt: skip
            else:
                created = connection_create(
                    company=data["company"],
                    name=data["name"],
                    sign_on_url=data["sign_on_url"] or "",
                    certificate_data=data["certificate_data"],
                    idp_entity_id=data["idp_entity_id"],
                    attribute_mapping=data["attribute_mapping"],
                    **common,
                )
            obj.pk = created.pk
            return
        if metadata is not None:
            # First, so that a draft enabled in the same save already has its IdP side.
            connection_apply_metadata(
                connection=obj, metadata=metadata, metadata_url=_url_source(form),
                source="import", acting_user=request.user,
            )  # fmt: skip
        # ``form`` is the subclass ModelAdmin builds from the fieldsets, whose Meta.fields also
        # lists the certificate fields; only the model fields go to the update service, and
        # not the IdP fields that the metadata just set.
        overridden = {"sign_on_url", "idp_entity_id"} if metadata is not None else set()
        changes = {
            field: data[field]
            for field in form.changed_data
            if field in ConnectionForm.Meta.fields and field not in overridden
        }
        if "metadata_url" in form.changed_data and not data.get("metadata_url"):
            changes["metadata_url"] = ""  # cleared: refreshes stop
        connection_update(connection=obj, acting_user=request.user, **changes)
        if data["certificate_data"]:
            connection_add_certificate(
                connection=obj, certificate_data=data["certificate_data"], acting_user=request.user
            )


def _url_source(form: ConnectionForm) -> str:
    """The metadata URL to keep for refreshes: the one given, or "" for a file or pasted XML."""
    data = form.cleaned_data
    if data.get("metadata_file") or (data.get("metadata_text") or "").strip():
        return ""
    return (data.get("metadata_url") or "").strip()


def _short(details: dict) -> str:
    text = ", ".join(f"{key}={value}" for key, value in details.items())
    return text if len(text) <= 300 else text[:297] + "..."

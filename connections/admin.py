from __future__ import annotations

from django import forms
from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from connections.certificates import parse_certificate
from connections.models import Connection, SigningCertificate
from connections.selectors import connection_recent_events, connection_refusal_counts
from connections.services import connection_add_certificate, connection_create, connection_update
from core.exceptions import ApplicationError


class SigningCertificateInline(admin.TabularInline):
    model = SigningCertificate
    extra = 0
    can_delete = False
    fields = ("fingerprint_sha256", "subject", "not_before", "not_after", "created_at")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # certificates are added through the form's certificate field


class ConnectionForm(forms.ModelForm):
    sign_on_url = forms.URLField(
        label="IdP sign-on URL",
        max_length=1000,
        assume_scheme="https",
        widget=forms.URLInput(attrs={"class": "vURLField", "size": 80}),
    )
    certificate_file = forms.FileField(
        required=False, help_text="The IdP signing certificate (PEM, DER or .cer)."
    )
    certificate_text = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 70}),
        help_text="…or paste it (PEM or base64). On an existing connection this adds a "
        "certificate for a rotation; the current ones stay trusted.",
    )

    class Meta:
        model = Connection
        fields = (
            "company", "name", "status", "sign_on_url", "idp_entity_id", "provisioning",
            "default_team", "allow_idp_initiated", "attribute_mapping",
        )  # fmt: skip
        widgets = {"idp_entity_id": forms.TextInput(attrs={"size": 80})}

    def clean(self) -> dict:
        data = super().clean()
        upload = data.get("certificate_file")
        raw = upload.read() if upload else (data.get("certificate_text") or "").strip()
        if raw:
            try:
                parsed = parse_certificate(raw)
            except ApplicationError as error:
                raise forms.ValidationError({"certificate_file": error.message}) from None
            # Caught here so it is a form error; in save_model the service's Conflict is a 500.
            if (
                self.instance.pk
                and self.instance.certificates.filter(
                    fingerprint_sha256=parsed.fingerprint_sha256
                ).exists()
            ):
                raise forms.ValidationError(
                    {"certificate_file": "This certificate is already on the connection."}
                )
        elif self.instance.pk is None:
            raise forms.ValidationError({"certificate_file": "A signing certificate is required."})
        data["certificate_data"] = raw or None
        return data


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
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
        "service_provider_values",
        "test_login",
        "sign_in_health",
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
        ("Provisioning", {"fields": ("provisioning", "default_team", "allow_idp_initiated", "attribute_mapping")}),
        ("Send to the customer", {"fields": ("service_provider_values",)}),
        ("Diagnose", {"fields": ("test_login", "sign_in_health")}),
        ("History", {"fields": ("created_at", "updated_at")}),
    )  # fmt: skip

    def has_delete_permission(self, request, obj=None) -> bool:
        # A connection is disabled, never deleted: its audit trail and the users' history stay.
        return False

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
        if not change:
            created = connection_create(
                company=data["company"],
                name=data["name"],
                sign_on_url=data["sign_on_url"],
                certificate_data=data["certificate_data"],
                idp_entity_id=data["idp_entity_id"],
                provisioning=data["provisioning"],
                default_team=data["default_team"],
                allow_idp_initiated=data["allow_idp_initiated"],
                status=data["status"],
                attribute_mapping=data["attribute_mapping"],
                acting_user=request.user,
            )
            obj.pk = created.pk
            return
        # ``form`` is the subclass ModelAdmin builds from the fieldsets, whose Meta.fields also
        # lists the certificate fields; only the model fields go to the update service.
        changes = {
            field: data[field] for field in form.changed_data if field in ConnectionForm.Meta.fields
        }
        connection_update(connection=obj, acting_user=request.user, **changes)
        if data["certificate_data"]:
            connection_add_certificate(
                connection=obj, certificate_data=data["certificate_data"], acting_user=request.user
            )


def _short(details: dict) -> str:
    text = ", ".join(f"{key}={value}" for key, value in details.items())
    return text if len(text) <= 300 else text[:297] + "..."

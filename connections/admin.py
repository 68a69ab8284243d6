from __future__ import annotations

from django import forms
from django.contrib import admin
from django.utils.html import format_html, format_html_join

from connections.certificates import parse_certificate
from connections.models import Connection, SigningCertificate
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
    sign_on_url = forms.URLField(label="IdP sign-on URL", max_length=1000, assume_scheme="https")
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

    def clean(self) -> dict:
        data = super().clean()
        upload = data.get("certificate_file")
        raw = upload.read() if upload else (data.get("certificate_text") or "").strip()
        if raw:
            try:
                parse_certificate(raw)
            except ApplicationError as error:
                raise forms.ValidationError({"certificate_file": error.message}) from None
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
        "created_at",
        "updated_at",
    )
    inlines = [SigningCertificateInline]
    fieldsets = (
        (None, {"fields": ("company", "name", "status")}),
        ("Identity provider", {"fields": (
            "sign_on_url", "idp_entity_id", "observed_idp_entity_id",
            "certificate_file", "certificate_text",
        )}),
        ("Provisioning", {"fields": ("provisioning", "default_team", "allow_idp_initiated", "attribute_mapping")}),
        ("Send to the customer", {"fields": ("service_provider_values",)}),
        ("History", {"fields": ("created_at", "updated_at")}),
    )  # fmt: skip

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
        changes = {field: data[field] for field in form.changed_data if field in form.Meta.fields}
        connection_update(connection=obj, acting_user=request.user, **changes)
        if data["certificate_data"]:
            connection_add_certificate(
                connection=obj, certificate_data=data["certificate_data"], acting_user=request.user
            )

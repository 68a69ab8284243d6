"""The admin's connection form: the IdP side from a certificate and sign-on URL, or from the IdP's
metadata (a file, pasted XML or its URL). Everything is parsed and checked here, so a bad input is
a form error beside its field and nothing is written."""

from __future__ import annotations

from django import forms

from accounts.models import Team
from connections.certificates import parse_certificate
from connections.idp_metadata import parse_idp_metadata
from connections.metadata import metadata_from_url
from connections.models import Connection, ConnectionStatus
from core.exceptions import ApplicationError


class TeamChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, team: Team) -> str:
        return f"{team.name} ({team.company.slug})"


class ConnectionForm(forms.ModelForm):
    sign_on_url = forms.URLField(
        label="IdP sign-on URL",
        max_length=1000,
        required=False,
        assume_scheme="https",
        widget=forms.URLInput(attrs={"class": "vURLField", "size": 80}),
        help_text="Not needed when the IdP's metadata is given below.",
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
    metadata_url = forms.URLField(
        label="IdP metadata URL",
        max_length=1000,
        required=False,
        assume_scheme="https",
        widget=forms.URLInput(attrs={"class": "vURLField", "size": 80}),
        help_text="The IdP's metadata address (https). Its sign-on URL, entity ID and signing "
        "certificates are imported, and refreshed daily so certificate rotations are followed. "
        "Clear it to stop refreshing.",
    )
    metadata_file = forms.FileField(
        label="IdP metadata file", required=False, help_text="…or the metadata XML file."
    )
    metadata_text = forms.CharField(
        label="IdP metadata XML",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 70}),
        help_text="…or paste the metadata XML. The entity ID field above picks one IdP when the "
        "metadata describes several.",
    )

    class Meta:
        model = Connection
        fields = (
            "company", "name", "status", "sign_on_url", "idp_entity_id", "provisioning",
            "default_team", "allow_idp_initiated", "attribute_mapping",
        )  # fmt: skip
        widgets = {"idp_entity_id": forms.TextInput(attrs={"size": 80})}
        field_classes = {"default_team": TeamChoiceField}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields.get("default_team")
        if field is not None:
            teams = Team.objects.select_related("company").order_by("company__slug", "name")
            if self.instance.pk:
                # Only the connection's own company's teams; on the add page the company is
                # not chosen yet, so every team shows its company and clean() checks the pair.
                teams = teams.filter(company_id=self.instance.company_id)
            field.queryset = teams
        if self.instance.pk and "metadata_url" in self.fields:
            self.fields["metadata_url"].initial = self.instance.metadata_url

    def clean(self) -> dict:
        data = super().clean()
        data["metadata"] = self._clean_metadata(data)
        if data["metadata"] is not None:
            # The model's own checks (run after this) see the IdP side the metadata brings.
            data["sign_on_url"] = data["metadata"].sign_on_url
            data["idp_entity_id"] = data["metadata"].entity_id
        upload = data.get("certificate_file")
        raw = upload.read() if upload else (data.get("certificate_text") or "").strip()
        if raw and data["metadata"] is not None:
            raise forms.ValidationError(
                {"certificate_file": "Give the metadata or a certificate, not both: the "
                 "metadata's certificates are imported."}
            )  # fmt: skip
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
        elif (
            self.instance.pk is None
            and data["metadata"] is None
            and data.get("status") != ConnectionStatus.DRAFT
        ):
            raise forms.ValidationError(
                {"certificate_file": "A signing certificate is required (or the IdP's metadata; "
                 "a draft may start without either)."}
            )  # fmt: skip
        if (
            self.instance.pk is None
            and data["metadata"] is None
            and raw
            and not data.get("sign_on_url")
        ):
            raise forms.ValidationError({"sign_on_url": "The IdP sign-on URL is required."})
        data["certificate_data"] = raw or None
        return data

    def _clean_metadata(self, data: dict):
        """The parsed metadata, when some was given; the URL is fetched (SSRF-guarded) here."""
        upload = data.get("metadata_file")
        text = (data.get("metadata_text") or "").strip()
        url = (data.get("metadata_url") or "").strip()
        url_given = bool(url) and url != (self.instance.metadata_url or "")
        given = [name for name, present in
                 (("metadata_file", upload), ("metadata_text", text), ("metadata_url", url_given))
                 if present]  # fmt: skip
        if not given:
            return None
        if len(given) > 1:
            raise forms.ValidationError(
                {given[1]: "Give the metadata one way only: its URL, a file or the pasted XML."}
            )
        entity_changed = "idp_entity_id" in self.changed_data or self.instance.pk is None
        entity_id = (data.get("idp_entity_id") or "").strip() if entity_changed else ""
        try:
            if url_given:
                return metadata_from_url(url, entity_id=entity_id or None)
            return parse_idp_metadata(
                upload.read() if upload else text,
                entity_id=entity_id or None,
                prefer_entity_id=self.instance.idp_entity_id or None,
            )
        except ApplicationError as error:
            raise forms.ValidationError({given[0]: error.message}) from None

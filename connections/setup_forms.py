"""The form of the setup page: the IdP side (its metadata URL, file or XML, or a sign-on URL and
a certificate) and the provisioning choices. Everything is parsed and checked here, so each
mistake shows beside its field and nothing is saved."""

from __future__ import annotations

from django import forms

from accounts.models import Team
from connections.certificates import parse_certificate
from connections.idp_metadata import parse_idp_metadata
from connections.metadata import metadata_from_url
from connections.models import Connection, Provisioning
from core.exceptions import ApplicationError

_MAX_UPLOAD = 1024 * 1024


class SetupForm(forms.Form):
    metadata_url = forms.URLField(
        label="Metadata URL",
        required=False,
        max_length=1000,
        assume_scheme="https",
        help_text="Best: your IdP's metadata address (https). We fetch it daily, so a "
        "certificate rotation at your IdP needs nothing from you.",
    )
    metadata_file = forms.FileField(label="…or the metadata file", required=False)
    metadata_xml = forms.CharField(
        label="…or the metadata XML, pasted",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    sign_on_url = forms.URLField(
        label="Sign-on URL (SSO URL)",
        required=False,
        max_length=1000,
        assume_scheme="https",
        help_text="Without metadata: the IdP's single sign-on URL…",
    )
    certificate_file = forms.FileField(
        label="…and its signing certificate", required=False, help_text="PEM, DER or .cer."
    )
    provisioning = forms.ChoiceField(
        label="Provisioning", choices=Provisioning.choices, widget=forms.RadioSelect
    )
    default_team = forms.ModelChoiceField(
        label="Default team",
        queryset=Team.objects.none(),
        required=False,
        empty_label="No default team",
        help_text="Just-in-Time puts people here when their division is missing or names no team.",
    )

    def __init__(self, *args, connection: Connection, **kwargs) -> None:
        kwargs.setdefault(
            "initial",
            {
                "provisioning": connection.provisioning,
                "default_team": connection.default_team_id,
                "sign_on_url": connection.sign_on_url if not connection.metadata_url else "",
                "metadata_url": connection.metadata_url,
            },
        )
        super().__init__(*args, **kwargs)
        self.connection = connection
        # Only this connection's company's teams can be chosen (or even named: another id is
        # "not one of the available choices").
        self.fields["default_team"].queryset = Team.objects.filter(
            company_id=connection.company_id
        ).order_by("name")

    def clean(self) -> dict:
        data = super().clean()
        data["metadata"] = None
        data["certificate_data"] = None
        upload = data.get("metadata_file")
        text = (data.get("metadata_xml") or "").strip()
        url = (data.get("metadata_url") or "").strip()
        url_new = bool(url) and url != self.connection.metadata_url
        sources = [name for name, given in (("metadata_url", url_new), ("metadata_file", upload),
                                             ("metadata_xml", text)) if given]  # fmt: skip
        # The sign-on URL field shows the current value: it counts only when it changed.
        sign_on_url = data.get("sign_on_url") or ""
        manual = data.get("certificate_file") or (
            sign_on_url and sign_on_url != self.connection.sign_on_url
        )
        if len(sources) > 1:
            self.add_error(sources[1], "Give the metadata one way only.")
            return data
        if sources and manual:
            self.add_error(
                "sign_on_url", "Give the metadata, or the sign-on URL and certificate, not both."
            )
            return data
        try:
            if url_new:
                data["metadata"] = metadata_from_url(url)
            elif upload or text:
                raw = upload.read(_MAX_UPLOAD + 1) if upload else text
                data["metadata"] = parse_idp_metadata(raw)
        except ApplicationError as error:
            self.add_error(sources[0], error.message)
            return data
        if manual:
            if not data.get("sign_on_url"):
                self.add_error("sign_on_url", "The sign-on URL goes with the certificate.")
            if not data.get("certificate_file"):
                self.add_error("certificate_file", "The certificate goes with the sign-on URL.")
                return data
            raw = data["certificate_file"].read(_MAX_UPLOAD + 1)
            try:
                parse_certificate(raw)
            except ApplicationError as error:
                self.add_error("certificate_file", error.message)
                return data
            data["certificate_data"] = raw
        if data["metadata"] is None and not manual and not self.connection.is_configured:
            self.add_error(
                "metadata_url",
                "Give your IdP's metadata (URL, file or XML), or its sign-on URL and certificate.",
            )
        return data

    def service_arguments(self) -> dict:
        data = self.cleaned_data
        metadata_url = ""
        if (
            data["metadata"] is not None
            and not data.get("metadata_file")
            and not (data.get("metadata_xml") or "").strip()
        ):
            metadata_url = data["metadata_url"].strip()
        return {
            "metadata": data["metadata"],
            "metadata_url": metadata_url,
            "sign_on_url": data.get("sign_on_url") or "",
            "certificate_data": data["certificate_data"],
            "provisioning": data["provisioning"],
            "default_team": data["default_team"],
        }

"""A connection, the IdP certificates it trusts, our SP keys for it, and its setup links."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from connections.attributes import validate_attribute_mapping
from connections.sso_paths import sso_path
from connections.validators import (
    validate_connection_name,
    validate_sign_on_url,
    validate_slo_url,
)


class Provisioning(models.TextChoices):
    JIT = "jit", "Just-in-Time (first login creates the user)"
    SCIM = "scim", "SCIM (the IdP pushes users)"


class ConnectionStatus(models.TextChoices):
    DRAFT = "draft", "Draft (only a test login from the admin)"
    ACTIVE = "active", "Active"
    DISABLED = "disabled", "Disabled (every login refused)"


class Connection(models.Model):
    """One customer IdP: a SAML 2.0 trust relationship owned by one company."""

    company = models.ForeignKey(
        "accounts.Company", on_delete=models.PROTECT, related_name="connections"
    )
    name = models.CharField(max_length=63, unique=True, validators=[validate_connection_name])
    # Blank only while a draft waits for the customer's IdP (a setup link fills it in).
    sign_on_url = models.URLField(
        "IdP sign-on URL", max_length=1000, blank=True, validators=[validate_sign_on_url]
    )
    idp_entity_id = models.CharField(
        "IdP entity ID (issuer)",
        max_length=1000,
        blank=True,
        help_text="Leave blank to trust the signing certificate alone; the first issuer seen "
        "is then recorded below.",
    )
    observed_idp_entity_id = models.CharField(
        "issuer first seen", max_length=1000, blank=True, editable=False
    )
    provisioning = models.CharField(
        max_length=4, choices=Provisioning.choices, default=Provisioning.JIT
    )
    default_team = models.ForeignKey(
        "accounts.Team",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="JIT puts users here when division is missing or names no team.",
    )
    allow_idp_initiated = models.BooleanField(
        "allow IdP-initiated login", default=True, help_text="Logins started from the Okta tile."
    )
    status = models.CharField(
        max_length=10, choices=ConnectionStatus.choices, default=ConnectionStatus.DRAFT
    )
    attribute_mapping = models.JSONField(
        default=dict,
        blank=True,
        validators=[validate_attribute_mapping],
        help_text='Overrides of SAML attribute names, e.g. {"email": "mail", "division": "dept"}.',
    )
    # Imported from a URL: refreshed from it daily (connections.metadata). A failed refresh
    # changes nothing but these fields; ``metadata_failures`` counts failures in a row.
    metadata_url = models.URLField(
        "IdP metadata URL",
        max_length=1000,
        blank=True,
        help_text="Where the IdP publishes its metadata; refreshed daily, so a certificate "
        "rotation at the IdP is followed.",
    )
    metadata_refreshed_at = models.DateTimeField(
        "metadata last fetched", null=True, blank=True, editable=False
    )
    metadata_failures = models.PositiveIntegerField(
        "metadata refresh failures in a row", default=0, editable=False
    )
    metadata_last_error = models.TextField(
        "last metadata refresh error", blank=True, editable=False
    )
    # Our side of the trust (connections.sp_keys, connections.sp_metadata, connections.logout).
    sign_requests = models.BooleanField(
        "sign requests",
        default=False,
        help_text="Sign AuthnRequests and LogoutRequests (HTTP-Redirect binding, RSA-SHA256) with "
        "this connection's SP signing key, published in the SP metadata. For IdPs that require "
        "signed requests (AD FS, Shibboleth, Okta's single logout...).",
    )
    require_encryption = models.BooleanField(
        "require encrypted assertions",
        default=False,
        help_text="Refuse assertions that are not encrypted to this connection's SP encryption "
        "certificate (encrypted ones are always accepted).",
    )
    slo_url = models.URLField(
        "IdP single logout URL",
        max_length=1000,
        blank=True,
        validators=[validate_slo_url],
        help_text="Where signing out sends a LogoutRequest (and where IdP-initiated logouts are "
        "answered). Blank: signing out ends the session here only.",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        if self.default_team_id and self.default_team.company_id != self.company_id:
            raise ValidationError({"default_team": "The default team belongs to another company."})
        if self.status != ConnectionStatus.DRAFT and not self.sign_on_url:
            raise ValidationError(
                {"sign_on_url": "A connection needs the IdP's sign-on URL before it is enabled."}
            )

    @property
    def is_configured(self) -> bool:
        """The IdP side is known: a sign-on URL and at least one signing certificate."""
        return bool(self.sign_on_url) and self.certificates.exists()

    # The SP values we send back to the customer; all derived from BASE_URL and the name.
    @property
    def sp_entity_id(self) -> str:
        return _absolute(sso_path("sso-metadata", self.name))

    @property
    def acs_url(self) -> str:
        return _absolute(sso_path("sso-acs", self.name))

    @property
    def login_url(self) -> str:
        return _absolute(sso_path("sso-login", self.name))

    @property
    def slo_service_url(self) -> str:
        """Our Single Logout service (HTTP-Redirect and HTTP-POST)."""
        return _absolute(sso_path("sso-slo", self.name))

    @property
    def is_usable(self) -> bool:
        return self.status == ConnectionStatus.ACTIVE


def _absolute(path: str) -> str:
    return f"{settings.BASE_URL}{path}"


class SigningCertificate(models.Model):
    """An IdP signing certificate trusted for one connection. Several during a rotation."""

    connection = models.ForeignKey(
        Connection, on_delete=models.CASCADE, related_name="certificates"
    )
    pem = models.TextField()
    fingerprint_sha256 = models.CharField("SHA-256 fingerprint", max_length=95)
    subject = models.CharField(max_length=500, blank=True)
    not_before = models.DateTimeField()
    not_after = models.DateTimeField("expires")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-not_after"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "fingerprint_sha256"],
                name="certificate_unique_per_connection",
                violation_error_message="This certificate is already on the connection.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.subject or 'certificate'} (expires {self.not_after:%Y-%m-%d})"

    @property
    def base64_der(self) -> str:
        return "".join(line for line in self.pem.splitlines() if not line.startswith("-----"))


class SpKeyUse(models.TextChoices):
    SIGNING = "signing", "Signing (requests)"
    ENCRYPTION = "encryption", "Encryption (assertions)"


class SpKeyState(models.TextChoices):
    CURRENT = "current", "Current"
    NEXT = "next", "Next (published during a rotation, not yet signing)"


class SpKey(models.Model):
    """One of our (the SP's) key pairs for a connection, made by the product
    (``connections.sp_keys``). The private key is stored encrypted with the environment's key
    (``connections.key_encryption``); the certificate is self-signed, a container for the public
    key that goes into the SP metadata.

    Per use, one ``current`` key and, during a rotation, a ``next`` one: both are published and
    both decrypt; the current one signs until the rotation is finished.
    """

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="sp_keys")
    use = models.CharField(max_length=10, choices=SpKeyUse.choices)
    state = models.CharField(max_length=10, choices=SpKeyState.choices)
    private_key_encrypted = models.TextField(editable=False)
    certificate_pem = models.TextField(editable=False)
    fingerprint_sha256 = models.CharField("SHA-256 fingerprint", max_length=95, editable=False)
    not_after = models.DateTimeField("expires", editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["use", "state"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "use", "state"], name="sp_key_one_per_use_and_state"
            )
        ]

    def __str__(self) -> str:
        return f"{self.use} key ({self.state}) of {self.connection_id}"

    @property
    def base64_der(self) -> str:
        return "".join(
            line for line in self.certificate_pem.splitlines() if not line.startswith("-----")
        )


class SetupLink(models.Model):
    """A link that lets a customer's IT admin complete one draft connection without an account.

    Only the SHA-256 of its token is kept (the token is shown once, in the link). It stops
    working when it expires, is revoked, or once the connection leaves draft (activated through
    the link or by support); it never reaches any other connection.
    """

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="setup_links")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    created_by = models.ForeignKey(
        "accounts.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_by_label = models.CharField(max_length=100, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    used_at = models.DateTimeField("activated the connection at", null=True, blank=True)
    # When the IdP side was last saved through the link, and when a test sign-in through the
    # link last passed every SAML check: activation needs a test after the last change.
    configured_at = models.DateTimeField(null=True, blank=True)
    tested_at = models.DateTimeField(null=True, blank=True)
    last_test = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"setup link #{self.pk} for {self.connection_id}"

    @property
    def state(self) -> str:
        if self.used_at:
            return "used"
        if self.revoked_at:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        if self.connection.status != ConnectionStatus.DRAFT:
            return "used"  # activated (or disabled) by support: the link's work is over
        return "live"

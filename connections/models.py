from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse
from django.utils import timezone

from connections.attributes import validate_attribute_mapping
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
        return _absolute(reverse("sso-metadata", args=[self.name]))

    @property
    def acs_url(self) -> str:
        return _absolute(reverse("sso-acs", args=[self.name]))

    @property
    def login_url(self) -> str:
        return _absolute(reverse("sso-login", args=[self.name]))

    @property
    def slo_service_url(self) -> str:
        """Our Single Logout service (HTTP-Redirect and HTTP-POST)."""
        return _absolute(reverse("sso-slo", args=[self.name]))

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


# --- state of sign-ins in flight ------------------------------------------------------------
# Kept in the database (shared by every web process), never in process memory, so any process
# can finish any login. Expired rows are purged periodically; lookups ignore them anyway.


class PendingAuthnRequest(models.Model):
    """An SP-initiated AuthnRequest awaiting its response. Consumed once.

    ``browser_binding`` is the SHA-256 of a random value kept in a cookie of the browser that
    started the login: the response only completes in that browser.
    """

    request_id = models.CharField(max_length=100, unique=True)
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="+")
    browser_binding = models.CharField(max_length=64)
    next_path = models.CharField(max_length=2000, blank=True)
    test_login = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.request_id} ({self.connection_id})"


class SeenAssertion(models.Model):
    """Assertion IDs already accepted, for replay detection; kept until the assertion expires."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="+")
    assertion_id = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "assertion_id"], name="seen_assertion_unique"
            )
        ]

    def __str__(self) -> str:
        return self.assertion_id


class VerifiedSignIn(models.Model):
    """A response that passed every check at the ACS, waiting for the same browser to come back
    on a same-site request (where its session cookie is visible) to finish the sign-in; and,
    until its assertion expires, the ACS's memory of that assertion ID (replay).

    The ACS is a cross-site POST, on which a SameSite=Lax session cookie is not sent; finishing
    on a same-site GET is what lets us see who is already signed in (no silent session swap)
    and check the browser binding of an SP-initiated request.

    The ACS writes this row and nothing else (one statement): its unique (connection,
    assertion ID) refuses a second use of the assertion there. The finish step takes it
    (``token_hash`` emptied: used up, kept for the replay check until ``remember_until``) and
    records the assertion in ``SeenAssertion`` in the transaction that signs the person in.

    On PostgreSQL the table is UNLOGGED (migration 0006): a row lives minutes, so its writes
    skip the WAL and the ACS's commit waits for no disk flush. A server crash empties it:
    sign-ins in flight are lost (the person signs in again), and an assertion whose sign-in
    had finished is still refused, at its finish step, by the durable ``SeenAssertion``.
    """

    # NULL once used: unique among the pending ones only (every database allows many NULLs).
    token_hash = models.CharField(max_length=64, unique=True, null=True)  # noqa: DJ001
    # No foreign key constraint in the database: checking it locks the connection's row, a
    # WAL record that the ACS's commit would then wait to flush (the whole point of the
    # unlogged table). Django deletes these rows with their connection all the same (on_delete
    # is carried out by the ORM), and a row naming a connection that is gone matches nothing.
    connection = models.ForeignKey(
        Connection, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    assertion_id = models.CharField(max_length=200)
    identity = models.JSONField()
    request_id = models.CharField(max_length=100, blank=True)
    browser_binding = models.CharField(max_length=64, blank=True)
    next_path = models.CharField(max_length=2000, blank=True)
    test_login = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)  # the hand-off: minutes
    remember_until = models.DateTimeField(db_index=True)  # the assertion ID (replay)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "assertion_id"], name="verified_sign_in_assertion_unique"
            )
        ]

    def __str__(self) -> str:
        return f"sign-in via {self.connection_id} at {self.created_at:%H:%M:%S}"


# --- Single Logout ---------------------------------------------------------------------------


class SamlSession(models.Model):
    """How the IdP named the person of a session signed in through a connection: a LogoutRequest
    names them the same way (NameID with its format and qualifiers, SessionIndex). One per
    recorded session; it goes when the session record does (sign-out, deprovisioning, SLO)."""

    user_session = models.OneToOneField(
        "accounts.UserSession",
        to_field="session_key",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="saml",
    )
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="+")
    name_id = models.CharField(max_length=1000)
    name_id_format = models.CharField(max_length=200, blank=True)
    name_qualifier = models.CharField(max_length=1000, blank=True)
    sp_name_qualifier = models.CharField(max_length=1000, blank=True)
    session_index = models.CharField(max_length=1000, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["connection", "name_id"], name="saml_session_name_id")]

    def __str__(self) -> str:
        return f"{self.name_id} via {self.connection_id}"


class PendingLogoutRequest(models.Model):
    """A LogoutRequest we sent (SP-initiated Single Logout), awaiting the IdP's LogoutResponse."""

    request_id = models.CharField(max_length=100, unique=True)
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="+")
    name_id = models.CharField(max_length=1000)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.request_id} ({self.connection_id})"


class SeenLogoutMessage(models.Model):
    """IDs of verified logout messages from an IdP, for replay detection; kept until the message
    would be refused as stale anyway."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="+")
    message_id = models.CharField(max_length=200)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "message_id"], name="seen_logout_message_unique"
            )
        ]

    def __str__(self) -> str:
        return self.message_id


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

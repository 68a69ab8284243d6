from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class Severity(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    ERROR = "error", "Error"


class AuditEvent(models.Model):
    """One thing that happened: a change, a login, a refused login, a warning."""

    created_at = models.DateTimeField(default=timezone.now, db_index=True, editable=False)
    # Every event is a write on the sign-in path, so no index is kept twice: company and
    # connection are the first column of their "-created_at" indexes below, which serve lookups
    # by either alone; action and error_code are looked up whole (no LIKE 'prefix%' index).
    company = models.ForeignKey(
        "accounts.Company",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    connection = models.ForeignKey(
        "connections.Connection",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="audit_events",
        db_index=False,
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    # Who acted when no user did: "command", "scim", "idp", "system".
    actor_label = models.CharField(max_length=100, blank=True)
    action = models.CharField(max_length=64)
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.INFO)
    error_code = models.CharField(max_length=64, blank=True)
    target = models.CharField(max_length=255, blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["connection", "-created_at"], name="audit_connection_time"),
            models.Index(fields=["company", "-created_at"], name="audit_company_time"),
            models.Index(fields=["action"], name="audit_action"),
            models.Index(fields=["error_code"], name="audit_error_code"),
        ]

    def __str__(self) -> str:
        suffix = f" [{self.error_code}]" if self.error_code else ""
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.action}{suffix} {self.target}"


class RefusalTally(models.Model):
    """How many requests one day were refused for naming something that does not exist (a
    connection nobody configured, at ``/sso/<name>/...``): counted, never stored one by one, so
    anonymous requests with made-up names cannot grow the audit trail.

    One row per day, code, endpoint and name (its hash; the name itself clipped) for the first
    ``audit.services.TALLY_NAMES_PER_DAY`` names of the day, then one "other names" row per day,
    code and endpoint: storage stays bounded whatever the names. Rows go after
    ``TALLY_RETENTION_DAYS``.
    """

    OTHER_NAMES = "(other names)"

    day = models.DateField(db_index=True)
    code = models.CharField(max_length=64)
    endpoint = models.CharField(max_length=32)
    name_hash = models.CharField(max_length=16, blank=True, help_text="Empty for other names.")
    name = models.CharField(max_length=64)
    count = models.PositiveBigIntegerField(default=0)
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-day", "-count"]
        constraints = [
            models.UniqueConstraint(
                fields=["day", "code", "endpoint", "name_hash"], name="refusal_tally_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.code} {self.endpoint} {self.name}: {self.count}"

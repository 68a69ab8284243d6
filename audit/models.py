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
    company = models.ForeignKey(
        "accounts.Company", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    connection = models.ForeignKey(
        "connections.Connection",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="audit_events",
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
    action = models.CharField(max_length=64, db_index=True)
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.INFO)
    error_code = models.CharField(max_length=64, blank=True, db_index=True)
    target = models.CharField(max_length=255, blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["connection", "-created_at"], name="audit_connection_time"),
            models.Index(fields=["company", "-created_at"], name="audit_company_time"),
        ]

    def __str__(self) -> str:
        suffix = f" [{self.error_code}]" if self.error_code else ""
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.action}{suffix} {self.target}"

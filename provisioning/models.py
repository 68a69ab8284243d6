from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from oauth2_provider.models import RefreshToken


class ScimToken(models.Model):
    """A static bearer token for one connection's SCIM API (and so for one company).

    Only the SHA-256 of the token is stored; the token itself is shown once, when issued. The
    token has 256 bits of entropy, so a fast hash is right here (a slow password hash would
    only slow every SCIM request down without adding safety).
    """

    connection = models.ForeignKey(
        "connections.Connection", on_delete=models.CASCADE, related_name="scim_tokens"
    )
    label = models.CharField(max_length=100, blank=True)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    # The first characters of the token, to tell tokens apart in lists (not enough to use it).
    prefix = models.CharField(max_length=12, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "SCIM token"

    def __str__(self) -> str:
        state = "revoked" if self.revoked_at else "active"
        return f"{self.prefix}… for {self.connection} ({state})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class Deprovisioning(models.Model):
    """The follow-up work of one deactivation: ending sessions, revoking tokens. The user is
    inactive before this row exists; the row tracks the Celery task until it completes."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="deprovisionings"
    )
    reason = models.CharField(max_length=500, blank=True)
    requested_at = models.DateTimeField(default=timezone.now, db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    sessions_ended = models.PositiveIntegerField(default=0)
    tokens_revoked = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-requested_at"]

    def __str__(self) -> str:
        state = "done" if self.completed_at else "pending"
        return f"deprovisioning of {self.user} ({state})"


class ScimGrant(RefreshToken):
    """Admin view of the OAuth refresh tokens that authorize SCIM for a connection."""

    class Meta:
        proxy = True
        verbose_name = "SCIM OAuth grant"


class AuthorizationCodeUse(models.Model):
    """An OAuth authorization code that was exchanged, by its SHA-256, and the refresh-token
    family it issued: presented again, the code revokes that family (RFC 6749 4.1.2)."""

    code_hash = models.CharField(max_length=64, unique=True)
    client_id = models.CharField(max_length=100)
    token_family = models.UUIDField(null=True)
    used_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"authorization code {self.code_hash[:12]}… used {self.used_at:%Y-%m-%d %H:%M}"


class ScimUserTally(models.Model):
    """How many users SCIM shows for a company (company set, not SCIM-deleted), and a
    generation that changes whenever that set changes.

    Kept by database triggers on accounts_user (migration 0007_scim_read_models), so every
    writer (services, bulk_create, a raw UPDATE, the admin's delete) keeps it exact in the same
    transaction; never written from Python. ``totalResults`` of an unfiltered user list reads
    it instead of counting rows, and a page position remembered under a generation
    (selectors/scim.py) is only reused while nothing was added or removed.

    Keyed by the company's id without a foreign key: the trigger may write while Django deletes
    a company, and a row left for a deleted company is harmless (ids are never reused)."""

    company_id = models.BigIntegerField(primary_key=True)
    users = models.BigIntegerField(default=0)
    generation = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = "SCIM user tally"

    def __str__(self) -> str:
        return f"company {self.company_id}: {self.users} users (generation {self.generation})"


class ScimGroupMembers(models.Model):
    """A version of a team's member list, changed whenever a user SCIM shows joins or leaves
    the team (or stops being shown, or moves to another company).

    Kept by the same trigger, never from Python: the Group resource's members are rows of
    another table, so its ETag (meta.version) and meta.lastModified need this to change when
    they do. Keyed by the team's id without a foreign key, for the reason ScimUserTally is."""

    team_id = models.BigIntegerField(primary_key=True)
    version = models.BigIntegerField(default=0)
    changed_at = models.DateTimeField()

    class Meta:
        verbose_name = "SCIM group member list version"

    def __str__(self) -> str:
        return f"members of team {self.team_id}: version {self.version}"

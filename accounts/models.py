from __future__ import annotations

import uuid

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from accounts.validators import normalize_email, validate_company_slug, validate_domain


class Company(models.Model):
    slug = models.SlugField(max_length=50, unique=True, validators=[validate_company_slug])
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["slug"]
        verbose_name_plural = "companies"

    def __str__(self) -> str:
        return f"{self.name} ({self.slug})"


class Domain(models.Model):
    """An email domain the company has proven; unique across the whole system."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="domains")
    domain = models.CharField(max_length=253, unique=True, validators=[validate_domain])
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["domain"]

    def __str__(self) -> str:
        return self.domain


class Team(models.Model):
    """What SAML/SCIM ``division`` names. Unique within a company regardless of case, so that an
    exact-match lookup can never be ambiguous and a near miss has one suggestion."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="teams")
    name = models.CharField(max_length=150)
    # The SCIM Group id: opaque, so ids reveal nothing about other companies' teams.
    scim_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    external_id = models.CharField("SCIM externalId", max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["company", "name"]
        constraints = [
            models.UniqueConstraint(
                "company",
                Lower("name"),
                name="team_name_unique_in_company_ci",
                violation_error_message="This company already has a team with that name.",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    """Lowest to highest; ``RANK`` orders them."""

    SENDER = "sender", "Sender"
    MANAGER = "manager", "Manager"
    DEPARTMENT_ADMIN = "department_admin", "Department admin"
    ADMIN = "admin", "Admin"


ROLE_RANK = {role.value: rank for rank, role in enumerate(Role)}


class UserSource(models.TextChoices):
    MANUAL = "manual", "Created by staff or a command"
    JIT = "jit", "Just-in-Time (first SAML login)"
    SCIM = "scim", "SCIM provisioning"


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **fields) -> User:
        if not email:
            raise ValueError("An email is required.")
        user = self.model(email=normalize_email(email), **fields)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.full_clean(exclude=["password"])
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields) -> User:
        fields.update(is_staff=True, is_superuser=True)
        return self.create_user(email, password, **fields)

    def get_by_natural_key(self, username: str) -> User:
        return self.get(email=normalize_email(username))


class User(AbstractBaseUser, PermissionsMixin):
    email = models.EmailField(max_length=254, unique=True)
    # The SCIM User id: opaque, so ids reveal nothing about other companies' users.
    scim_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    username = models.CharField(
        max_length=254,
        blank=True,
        help_text="The IdP's user name (SAML user_name / SCIM userName).",
    )
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    company = models.ForeignKey(
        Company, on_delete=models.PROTECT, null=True, blank=True, related_name="users"
    )
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.SENDER)
    team = models.ForeignKey(
        Team, on_delete=models.SET_NULL, null=True, blank=True, related_name="members"
    )
    source = models.CharField(
        "provisioning source", max_length=10, choices=UserSource.choices, default=UserSource.MANUAL
    )
    # SCIM keeps the division it was sent even when no team has that name (the SPEC's rule), so
    # support can see what the IdP asked for; ``team`` is the resolved team, if any.
    division = models.CharField(max_length=150, blank=True)
    external_id = models.CharField("SCIM externalId", max_length=255, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now, db_index=True)
    deactivated_at = models.DateTimeField(null=True, blank=True)
    # A SCIM DELETE: the user is deactivated and no longer exists for SCIM (404), but the row
    # stays for the audit trail and so the email can never be taken over by another company.
    scim_deleted_at = models.DateTimeField(null=True, blank=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["email"]
        # Deprovisioning is not editing: support may end a person's access without being able
        # to change who is staff or superuser.
        permissions = [("deprovision_user", "Can deprovision and reactivate users")]
        constraints = [
            # Case-insensitive uniqueness, enforced by the database: every email is stored
            # lowercased, so the plain unique index on ``email`` covers every spelling.
            models.CheckConstraint(
                condition=models.Q(email=Lower("email")),
                name="user_email_lowercase",
                violation_error_message="Emails are stored in lowercase.",
            ),
            models.CheckConstraint(
                condition=models.Q(company__isnull=False) | models.Q(team__isnull=True),
                name="user_team_needs_company",
            ),
            # SCIM userName is case-insensitive and unique within a company (RFC 7643 4.1.1);
            # the database settles two concurrent creates.
            # Every user has a userName (the email unless the IdP sends one: User.clean), so
            # the index is whole and serves every `userName eq` lookup without conditions.
            models.CheckConstraint(condition=~models.Q(username=""), name="user_username_set"),
            models.UniqueConstraint(
                "company",
                Lower("username"),
                name="user_username_unique_in_company_ci",
                violation_error_message="A user with this userName already exists.",
            ),
        ]
        # Entra ID looks users up by externalId.
        indexes = [models.Index(fields=["company", "external_id"], name="user_company_external_id")]

    def __str__(self) -> str:
        return self.email

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    def clean(self) -> None:
        super().clean()
        self.email = normalize_email(self.email)
        # SCIM shows and finds every user by userName; without one from the IdP it is the email.
        self.username = self.username.strip() or self.email
        if self.team_id and self.team.company_id != self.company_id:
            raise ValidationError({"team": "The team belongs to another company."})
        if self.company_id and self.is_staff:
            raise ValidationError({"is_staff": "Staff users belong to no company."})


class UserSession(models.Model):
    """A session a user signed in with, recorded at login so that ending all of a user's
    sessions (deprovisioning) is a query, not a scan of every session."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="recorded_sessions")
    session_key = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"session of {self.user_id} since {self.created_at:%Y-%m-%d %H:%M}"

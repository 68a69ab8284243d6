from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from accounts.exceptions import EmailDomainHeld
from accounts.normalize import (
    domain_normalize,
    email_domain,
    email_key,
    identity_key,
    normalize_email,
)
from accounts.validators import validate_company_slug, validate_domain
from core.persistence import advisory_lock


class Company(models.Model):
    slug = models.SlugField(max_length=50, unique=True, validators=[validate_company_slug])
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["slug"]
        verbose_name_plural = "companies"

    def __str__(self) -> str:
        return f"{self.name} ({self.slug})"


class DomainNameField(models.CharField):
    """A domain, normalized as it is read from a form or a service (``domain_normalize``), so
    every spelling of one domain (``ACME.com.``, ``ａｃｍｅ.com``) is stored, and unique, once."""

    def to_python(self, value):
        value = super().to_python(value)
        if not value:
            return value
        try:
            return domain_normalize(value)
        except ValueError:
            return value.strip().lower()  # validate_domain says what is wrong with it


def domain_and_parents(domain: str) -> list[str]:
    """``a.b.acme.com`` → ``[a.b.acme.com, b.acme.com, acme.com, com]``: the domains that can
    cover it, most specific first."""
    labels = domain.split(".")
    return [".".join(labels[i:]) for i in range(len(labels))]


def _domain_family(domain: str) -> str:
    """The lock key shared by a domain, its parents and its subdomains (their last two labels):
    a domain claim and the user writes it affects take the same lock."""
    return "domain-family:" + ".".join(domain.split(".")[-2:])


class DomainQuerySet(models.QuerySet):
    def holding(self, domain: str) -> Domain | None:
        """The held domain that makes ``domain`` (normalized) a company's: the domain itself or
        its most specific held parent. Holding acme.com covers sub.acme.com, unless another
        domain row (of any company) holds sub.acme.com itself."""
        if not domain:
            return None
        return most_specific_holder(domain, self.filter(domain__in=domain_and_parents(domain)))


def most_specific_holder(domain: str, held: Iterable[Domain]) -> Domain | None:
    """Among the held rows of ``domain`` and its parents, the one that covers it: the most
    specific (the rule of ``DomainQuerySet.holding``)."""
    by_name = {row.domain: row for row in held}
    return next((by_name[c] for c in domain_and_parents(domain) if c in by_name), None)


class Domain(models.Model):
    """An email domain the company has proven; unique across the whole system, and its holder's
    alone: no user of another company, and no staff user, has an email in it or in a subdomain
    (``DomainQuerySet.holding``, ``email_domain_check``)."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="domains")
    domain = DomainNameField(max_length=253, unique=True, validators=[validate_domain])
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = DomainQuerySet.as_manager()

    class Meta:
        ordering = ["domain"]

    def __str__(self) -> str:
        return self.domain

    def clean(self) -> None:
        super().clean()
        if not self.domain:
            return
        # No company yet: a company being created with its domains (the admin's inline).
        problem = domain_claim_problem(company_id=self.company_id, domain=self.domain, pk=self.pk)
        if problem:
            raise ValidationError({"domain": problem}, code="domain_held")


def domain_claim_problem(*, company_id: int | None, domain: str, pk: int | None = None) -> str:
    """Why ``company_id`` (None: a company not saved yet) may not hold ``domain`` (normalized),
    or "" when it may.

    A claim may not take what is already someone else's: a domain covered by another company's
    domain, or one in which users outside the company (or staff users) have emails. Run inside
    the transaction that saves the claim: it takes the lock that user writes in the same domain
    family take too (``email_domain_check``), so the two cannot slip past each other."""
    advisory_lock(_domain_family(domain))
    others = Domain.objects.exclude(pk=pk) if pk else Domain.objects.all()
    current = others.holding(domain)
    if current is not None and current.company_id != company_id:
        if current.domain == domain:
            return f"The domain {domain} is already claimed."
        return f"The domain {domain} is covered by {current.domain}, which another company holds."
    # Users whose email would become this company's: at the domain or a subdomain not covered
    # by a more specific held domain.
    outsiders = User.objects.filter(
        models.Q(email_key__endswith=f"@{domain}") | models.Q(email_key__endswith=f".{domain}")
    ).order_by("pk")
    if company_id is not None:
        outsiders = outsiders.exclude(company_id=company_id)
    taken, covered = [], {}  # covered: by a held domain more specific than this one
    for email, key in outsiders.values_list("email", "email_key"):
        at = email_domain(key)
        if at not in covered:
            holder = others.holding(at)
            covered[at] = holder is not None and len(holder.domain) > len(domain)
        if not covered[at]:
            taken.append(email)
    if taken:
        return (
            f"{len(taken)} user(s) outside this company have an email at {domain} "
            f"(e.g. {taken[0]}): move or change them before the domain is claimed."
        )
    return ""


def email_domain_check(*, company_id: int | None, email: str) -> None:
    """The rule that a domain is its holder's alone, for every writer of a user's email or
    company: raises ``EmailDomainHeld`` when ``email`` is in a domain (or a subdomain of one)
    that a company other than ``company_id`` holds. Staff users (no company) are outside every
    company. Services call it before they write; ``User.clean`` calls it for every other writer
    (admin forms, ``createsuperuser``)."""
    domain = email_domain(email)
    if not domain:
        return
    advisory_lock(_domain_family(domain), shared=True)
    holder = Domain.objects.holding(domain)
    if holder is not None and holder.company_id != company_id:
        raise EmailDomainHeld(domain)


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
        return self.get(email_key=email_key(username))


class User(AbstractBaseUser, PermissionsMixin):
    email = models.EmailField(max_length=254, unique=True)
    # The keys every lookup compares (accounts/normalize.py), set by save(): the database never
    # folds case itself, so SQLite and PostgreSQL agree with Python.
    email_key = models.CharField(max_length=512, unique=True, editable=False)
    # The SCIM User id: opaque, so ids reveal nothing about other companies' users.
    scim_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    username = models.CharField(
        max_length=254,
        blank=True,
        help_text="The IdP's user name (SAML user_name / SCIM userName).",
    )
    username_key = models.CharField(max_length=1024, editable=False)
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
    # The product keeps one email (the login identity); these keep how the IdP described it
    # (SCIM emails[].type and .primary) so that SCIM reads return what was set.
    email_type = models.CharField("SCIM email type", max_length=32, blank=True, default="work")
    email_primary = models.BooleanField("SCIM email primary", null=True, blank=True, default=True)
    # The IdP removed userType (RFC 7644 3.5.2.2: it is then unassigned): the role is the
    # default, sender, and SCIM shows no userType until one is assigned again.
    user_type_unassigned = models.BooleanField("SCIM userType unassigned", default=False)
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
            # Emails are shown as stored, lowercased (normalize_email); a raw update cannot
            # store another spelling. Uniqueness is the unique ``email_key``'s.
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
            # the database settles two concurrent creates, on the key (identity_key) so that
            # "case-insensitive" means the same in Python, SQLite and PostgreSQL.
            # Every user has a userName (the email unless the IdP sends one: User.clean), so
            # the index is whole and serves every `userName eq` lookup without conditions.
            models.CheckConstraint(condition=~models.Q(username=""), name="user_username_set"),
            # (Written with F() so that it is a named index on SQLite too, not an autoindex.)
            models.UniqueConstraint(
                models.F("company"),
                models.F("username_key"),
                name="user_username_key_unique_in_company",
                violation_error_message="A user with this userName already exists.",
            ),
        ]
        indexes = [
            # Entra ID looks users up by externalId.
            models.Index(fields=["company", "external_id"], name="user_company_external_id"),
            # The users SCIM shows, in the order it lists them: a page of them is a seek on
            # this index (provisioning/selectors/scim.py: scim_user_page).
            models.Index(
                fields=["company", "id"],
                name="user_scim_visible",
                condition=models.Q(scim_deleted_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return self.email

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @classmethod
    def from_db(cls, db, field_names, values):
        user = super().from_db(db, field_names, values)
        # What the domain rule was last checked against (see clean()).
        user._stored_identity = (user.__dict__.get("company_id"), user.__dict__.get("email_key"))
        return user

    def set_keys(self) -> None:
        self.email_key = email_key(self.email)
        self.username_key = identity_key(self.username)

    def save(self, *args, **kwargs) -> None:
        update_fields = kwargs.get("update_fields")
        if update_fields is None or {"email", "username"} & set(update_fields):
            self.set_keys()
            if update_fields is not None:
                kwargs["update_fields"] = {*update_fields, "email_key", "username_key"}
        super().save(*args, **kwargs)

    def clean(self) -> None:
        super().clean()
        self.email = normalize_email(self.email)
        # SCIM shows and finds every user by userName; without one from the IdP it is the email.
        self.username = self.username.strip() or self.email
        self.set_keys()
        if len(self.username_key) > self._meta.get_field("username_key").max_length:
            raise ValidationError({"username": "This userName is too long."})
        if self.team_id and self.team.company_id != self.company_id:
            raise ValidationError({"team": "The team belongs to another company."})
        if self.company_id and self.is_staff:
            raise ValidationError({"is_staff": "Staff users belong to no company."})
        # Checked when the email or the company is new or changes: a user that is already in
        # place keeps working for every other change (deprovisioning above all).
        if getattr(self, "_stored_identity", None) != (self.company_id, self.email_key):
            try:
                email_domain_check(company_id=self.company_id, email=self.email)
            except EmailDomainHeld as error:
                raise ValidationError({"email": error.message}, code="email_domain_held") from None


class UserSession(models.Model):
    """A session a user signed in with, recorded at login so that ending all of a user's
    sessions (deprovisioning) is a query, not a scan of every session."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="recorded_sessions")
    session_key = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"session of {self.user_id} since {self.created_at:%Y-%m-%d %H:%M}"

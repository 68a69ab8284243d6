"""Writes for companies, domains, teams and users. Every change is validated, atomic and audited."""

from __future__ import annotations

from collections.abc import Iterable
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from accounts.models import (
    Company,
    Domain,
    Role,
    Team,
    User,
    UserSession,
    UserSource,
    domain_claim_problem,
    email_domain_check,
)
from accounts.normalize import domain_normalize, normalize_email
from audit.services import audit_record
from core.exceptions import Conflict, ValidationFailed
from core.persistence import apply_changes, save_or_conflict, validated


@transaction.atomic
def company_create(
    *,
    slug: str,
    name: str,
    teams: Iterable[str] = (),
    domains: Iterable[str] = (),
    acting_user: User | None = None,
    actor_label: str = "",
) -> Company:
    company = validated(Company(slug=slug, name=name.strip()))
    company.save()
    audit_record(
        action="company.created",
        company=company,
        actor=acting_user,
        actor_label=actor_label,
        target=company.slug,
        details={"name": company.name},
    )
    for team_name in teams:
        team_create(
            company=company, name=team_name, acting_user=acting_user, actor_label=actor_label
        )
    for domain in domains:
        domain_add(company=company, domain=domain, acting_user=acting_user, actor_label=actor_label)
    return company


@transaction.atomic
def team_create(
    *,
    company: Company,
    name: str,
    external_id: str = "",
    acting_user: User | None = None,
    actor_label: str = "",
) -> Team:
    name = name.strip()
    if not name:
        raise ValidationFailed("A team name cannot be empty.")
    team = validated(
        Team(company=company, name=name, external_id=external_id), validate_constraints=False
    )
    save_or_conflict(team, "This company already has a team with that name.")
    audit_record(
        action="team.created",
        company=company,
        actor=acting_user,
        actor_label=actor_label,
        target=team.name,
        details={"external_id": external_id} if external_id else None,
    )
    return team


@transaction.atomic
def team_set_external_id(
    *, team: Team, external_id: str, acting_user: User | None = None, actor_label: str = ""
) -> Team:
    """The id the IdP knows the team by (SCIM externalId; Entra sends it with every group)."""
    team = Team.objects.select_for_update().get(pk=team.pk)
    if team.external_id == external_id:
        return team
    previous, team.external_id, team.updated_at = team.external_id, external_id, timezone.now()
    validated(team, validate_constraints=False)
    team.save(update_fields=["external_id", "updated_at"])
    audit_record(
        action="team.updated",
        company=team.company,
        actor=acting_user,
        actor_label=actor_label,
        target=team.name,
        details={"changes": {"external_id": {"from": previous, "to": external_id}}},
    )
    return team


@transaction.atomic
def domain_add(
    *, company: Company, domain: str, acting_user: User | None = None, actor_label: str = ""
) -> Domain:
    """Claim a domain for ``company``. Refused (``Conflict``, never naming another company)
    when it, or a domain covering it, is another company's, or when people outside the company
    already have emails in it (``domain_claim_problem``)."""
    try:
        value = domain_normalize(domain)
    except ValueError:
        value = domain.strip().lower()  # validate_domain below says what is wrong with it
    problem = domain_claim_problem(company_id=company.pk, domain=value) if value else ""
    if problem:
        raise Conflict(problem)
    record = validated(Domain(company=company, domain=value))
    record.save()
    audit_record(
        action="domain.added",
        company=company,
        actor=acting_user,
        actor_label=actor_label,
        target=value,
    )
    return record


@transaction.atomic
def user_create(
    *,
    email: str,
    company: Company | None,
    first_name: str = "",
    last_name: str = "",
    username: str = "",
    role: str = Role.SENDER,
    team: Team | None = None,
    source: str = UserSource.MANUAL,
    is_active: bool = True,
    profile: dict[str, Any] | None = None,
    acting_user: User | None = None,
    actor_label: str = "",
    audit_details: dict[str, Any] | None = None,
) -> User:
    """Create a company user, in one write and one audit event whatever the caller sets (a SCIM
    create sets every field it has here, not in a later update). ``profile`` holds further
    fields among ``USER_EDITABLE_FIELDS`` (division, external_id...). Never makes staff or
    superusers: those come from createsuperuser. An email in a domain another company holds is
    refused (``EmailDomainHeld``)."""
    profile = profile or {}
    unknown = set(profile) - _PROFILE_FIELDS
    if unknown:
        raise ValidationFailed(f"These fields cannot be set: {', '.join(sorted(unknown))}.")
    email_domain_check(company_id=company.pk if company else None, email=email)
    user = User(
        email=normalize_email(email),
        company=company,
        first_name=first_name[:150],
        last_name=last_name[:150],
        username=(username.strip() or normalize_email(email))[:254],
        role=role,
        team=team,
        source=source,
        is_active=is_active,
        deactivated_at=None if is_active else timezone.now(),
        **profile,
    )
    user.set_unusable_password()
    # Uniqueness is left to the database so that a taken email is a Conflict (SCIM's 409
    # "uniqueness"), not a validation message, even when two requests race.
    validated(user, exclude=["password"], validate_unique=False, validate_constraints=False)
    save_or_conflict(user, "A user with this email or userName already exists.")
    audit_record(
        action="user.created",
        company=company,
        actor=acting_user,
        actor_label=actor_label,
        target=user.email,
        details={"role": user.role, "team": team.name if team else None, "source": source}
        | ({} if is_active else {"active": False})
        | ({"division": user.division} if user.division else {})
        | (audit_details or {}),
    )
    return user


USER_EDITABLE_FIELDS = frozenset(
    {
        "email", "username", "first_name", "last_name", "role", "team", "division", "external_id",
        "email_type", "email_primary", "user_type_unassigned",
    }
)  # fmt: skip
# What user_create takes in ``profile``: the editable fields it has no parameter of its own for.
_PROFILE_FIELDS = USER_EDITABLE_FIELDS - {
    "email", "username", "first_name", "last_name", "role", "team",
}  # fmt: skip
# Changes to these are what the login identity hangs on; the audit event marks them.
_IDENTITY_FIELDS = frozenset({"email", "username"})


@transaction.atomic
def user_update(
    *,
    user: User,
    changes: dict[str, Any],
    acting_user: User | None = None,
    actor_label: str = "",
) -> User:
    """Change a user's profile fields; the audit event lists each field's old and new value.
    Staff and superuser flags are not among the fields any caller can change here."""
    unknown = set(changes) - USER_EDITABLE_FIELDS
    if unknown:
        raise ValidationFailed(f"These fields cannot be changed: {', '.join(sorted(unknown))}.")
    user = User.objects.select_for_update().get(pk=user.pk)
    if "email" in changes:
        changes = {**changes, "email": normalize_email(changes["email"])}
    diff = apply_changes(user, changes)
    if not diff:
        return user
    if "email" in diff:
        email_domain_check(company_id=user.company_id, email=user.email)
    # Uniqueness and constraints are the database's: a taken email or userName is a Conflict.
    validated(user, exclude=["password"], validate_unique=False, validate_constraints=False)
    user.updated_at = timezone.now()
    save_or_conflict(user, "A user with this email or userName already exists.")
    audit_record(
        action="user.identity_changed" if _IDENTITY_FIELDS & set(diff) else "user.updated",
        company=user.company,
        actor=acting_user,
        actor_label=actor_label,
        target=user.email,
        details={"changes": diff},
    )
    return user


@transaction.atomic
def staff_login_set(
    *, email: str, password: str, group: str, actor_label: str = ""
) -> tuple[User, bool]:
    """A staff login (of no company) in ``group``, with ``password``: made on the first call, its
    password replaced on each later one (``manage.py demo``'s support login). Returns (user,
    created). An email that is anyone else's (a company user, a superuser) is refused untouched."""
    email = normalize_email(email)
    staff_group = Group.objects.filter(name=group).first()
    if staff_group is None:
        raise ValidationFailed(f"There is no group {group!r}: run the migrations first.")
    user = User.objects.select_for_update().filter(email=email).first()
    if user is not None and (user.company_id or not user.is_staff or user.is_superuser):
        raise Conflict(f"{email} is already someone else's login; it is left unchanged.")
    created = user is None
    if created:
        user = validated(User(email=email, is_staff=True), exclude=["password"])
    user.set_password(password)
    user.save()
    user.groups.add(staff_group)
    audit_record(
        action="user.created" if created else "user.password_set",
        actor_label=actor_label,
        target=email,
        details={"staff": True, "group": group},
    )
    return user, created


@transaction.atomic
def user_set_source(
    *, user: User, source: str, acting_user: User | None = None, actor_label: str = ""
) -> User:
    """Hand a user over to another provisioning source (a JIT user adopted by SCIM)."""
    user = User.objects.select_for_update().get(pk=user.pk)
    if user.source == source:
        return user
    previous, user.source, user.updated_at = user.source, source, timezone.now()
    user.save(update_fields=["source", "updated_at"])
    audit_record(
        action="user.adopted",
        company=user.company,
        actor=acting_user,
        actor_label=actor_label,
        target=user.email,
        details={"from": previous, "to": source},
    )
    return user


@transaction.atomic
def team_rename(
    *, team: Team, name: str, acting_user: User | None = None, actor_label: str = ""
) -> Team:
    team = Team.objects.select_for_update().get(pk=team.pk)
    name = name.strip()
    if team.name == name:
        return team
    previous, team.name, team.updated_at = team.name, name, timezone.now()
    validated(team, validate_constraints=False)
    save_or_conflict(team, "This company already has a team with that name.")
    audit_record(
        action="team.renamed",
        company=team.company,
        actor=acting_user,
        actor_label=actor_label,
        target=name,
        details={"from": previous, "to": name},
    )
    return team


@transaction.atomic
def team_delete(*, team: Team, acting_user: User | None = None, actor_label: str = "") -> None:
    """Members keep their accounts and lose the team."""
    members = list(team.members.values_list("email", flat=True))
    User.objects.filter(team=team).update(team=None, updated_at=timezone.now())
    name, company = team.name, team.company
    team.delete()
    audit_record(
        action="team.deleted",
        company=company,
        actor=acting_user,
        actor_label=actor_label,
        target=name,
        details={"members": members[:100], "member_count": len(members)},
    )


def user_sessions_end(*, session_keys: Iterable[str]) -> int:
    """End these recorded sessions: each deleted through the configured session engine (so it
    works for the database, cache and cached_db backends alike), then its record (and what
    hangs off it, such as the SAML details kept for Single Logout). Returns how many there
    were; ending an ended session is harmless."""
    keys = list(dict.fromkeys(session_keys))
    store = import_module(settings.SESSION_ENGINE).SessionStore
    for key in keys:
        store(session_key=key).delete()
    UserSession.objects.filter(session_key__in=keys).delete()
    return len(keys)

"""Writes for companies, domains, teams and users. Every change is validated, atomic and audited."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.models import Company, Domain, Role, Team, User, UserSource
from accounts.validators import normalize_email
from audit.services import audit_record
from core.exceptions import Conflict, ValidationFailed


def _validated(instance: Any, **kwargs: Any) -> Any:
    try:
        instance.full_clean(**kwargs)
    except ValidationError as error:
        raise ValidationFailed.from_django(error) from None
    return instance


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
    company = _validated(Company(slug=slug, name=name.strip()))
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
    *, company: Company, name: str, acting_user: User | None = None, actor_label: str = ""
) -> Team:
    name = name.strip()
    if not name:
        raise ValidationFailed("A team name cannot be empty.")
    team = _validated(Team(company=company, name=name))
    team.save()
    audit_record(
        action="team.created",
        company=company,
        actor=acting_user,
        actor_label=actor_label,
        target=team.name,
    )
    return team


@transaction.atomic
def domain_add(
    *, company: Company, domain: str, acting_user: User | None = None, actor_label: str = ""
) -> Domain:
    value = domain.strip().lower().rstrip(".")
    if Domain.objects.filter(domain=value).exists():
        # Never say which company owns it: that would leak another tenant's identity.
        raise Conflict(f"The domain {value} is already claimed.")
    record = _validated(Domain(company=company, domain=value))
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
    acting_user: User | None = None,
    actor_label: str = "",
    audit_details: dict[str, Any] | None = None,
) -> User:
    """Create a company user. Never makes staff or superusers: those come from createsuperuser."""
    user = User(
        email=normalize_email(email),
        company=company,
        first_name=first_name[:150],
        last_name=last_name[:150],
        username=username[:254],
        role=role,
        team=team,
        source=source,
    )
    user.set_unusable_password()
    _validated(user, exclude=["password"])
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:
        raise Conflict("A user with this email already exists.") from None
    audit_record(
        action="user.created",
        company=company,
        actor=acting_user,
        actor_label=actor_label,
        target=user.email,
        details={"role": user.role, "team": team.name if team else None, "source": source}
        | (audit_details or {}),
    )
    return user

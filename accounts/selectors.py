"""Reads for companies, teams and users. Anything of one tenant takes ``company=``."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from accounts.models import (
    Company,
    Domain,
    Team,
    User,
    domain_and_parents,
    most_specific_holder,
)
from accounts.normalize import email_domain, email_key
from core.compiled import CompiledQuery, fetch_together


def team_lookup(*, company: Company, name: str) -> tuple[Team | None, Team | None]:
    """The team ``name`` names in ``company``: (exact match, near miss differing only in case).
    SAML and SCIM ``division`` resolve through this, so both treat a near miss alike."""
    exact = Team.objects.filter(company=company, name=name).first()
    if exact is not None:
        return exact, None
    return None, Team.objects.filter(company=company, name__iexact=name).first()


def company_find(*, slug: str) -> Company | None:
    return Company.objects.filter(slug=slug).first()


def user_find(*, email: str) -> User | None:
    """The user with this email (of any company, or staff): for operators, never for a tenant."""
    return User.objects.filter(email_key=email_key(email)).first()


def users_by_email_key(key) -> QuerySet[User]:
    """The user an email key names (at most one): a sign-in's first read."""
    return User.objects.filter(email_key=key)


def domains_named(names) -> QuerySet[Domain]:
    """The held domains among ``names``: a sign-in's second read, of the email's domain and its
    parents (``domain_and_parents``)."""
    return Domain.objects.filter(domain__in=names)


# The two reads of every sign-in's finish step, compiled once per process (core.compiled).
_USER_BY_EMAIL_KEY = CompiledQuery(users_by_email_key)
_DOMAINS_NAMED = CompiledQuery(domains_named)


@dataclass(frozen=True)
class SignInRead:
    """What the finish step read ahead for the email ``sign_in_lookup`` gave keys for: the
    user of that email key (if any) and the held domains among its domain and parents."""

    email_key: str
    users: list[User]
    domains: list[Domain]


def sign_in_lookup(email: str) -> dict:
    """The keys the finish step reads a sign-in's user and held domain by, kept with the
    verified sign-in (``connections.sign_in.take`` reads with them on PostgreSQL)."""
    domain = email_domain(email)
    return {"email_key": email_key(email), "domains": domain_and_parents(domain) if domain else []}


def user_find_for_sign_in(*, email: str) -> User | None:
    """The user a verified email names (any company: the sign-in then checks which). The user
    row alone: the sign-in reads its ``company_id``; a company or team is read when used."""
    return _USER_BY_EMAIL_KEY.first(key=email_key(email))


def user_and_domain_holder_for_sign_in(
    *, email: str, read: SignInRead | None = None
) -> tuple[User | None, Domain | None]:
    """``user_find_for_sign_in`` and ``email_domain_holder`` of one email, read in one
    statement: a sign-in's finish step always needs both. ``read``: what was read ahead
    (``SignInRead``), used if it was read for this email's key, else read here."""
    domain = email_domain(email)
    if read is not None and read.email_key == email_key(email):
        held = most_specific_holder(domain, read.domains) if domain else None
        return (read.users[0] if read.users else None), held
    if not domain:
        return user_find_for_sign_in(email=email), None
    users, held = fetch_together(
        (_USER_BY_EMAIL_KEY, {"key": email_key(email)}),
        (_DOMAINS_NAMED, {"names": domain_and_parents(domain)}),
    )
    return (users[0] if users else None), most_specific_holder(domain, held)


def email_domain_holder(*, email: str) -> Domain | None:
    """The held domain that makes ``email`` a company's (its domain or the most specific held
    parent of it), or None when no company holds it (``DomainQuerySet.holding``'s rule; the
    row alone, its company read when used)."""
    domain = email_domain(email)
    if not domain:
        return None
    return most_specific_holder(domain, _DOMAINS_NAMED.fetch(names=domain_and_parents(domain)))


def company_domain_names(*, company: Company) -> list[str]:
    return list(company.domains.order_by("domain").values_list("domain", flat=True))

"""Reads for companies, teams and users. Anything of one tenant takes ``company=``."""

from __future__ import annotations

from accounts.models import Company, Team, User
from accounts.validators import normalize_email


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
    return User.objects.filter(email=normalize_email(email)).first()

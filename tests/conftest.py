"""Shared fixtures: the three-company layout every cross-tenant test uses.

- ``acme`` and ``globex``: customers with teams, a domain, users and a SAML connection each.
- ``stranger``: a company with nothing but its name, to prove that nothing leaks to it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from accounts.models import Company, Role, Team, User
from connections.models import Connection
from tests.factories import (
    CompanyFactory,
    ConnectionFactory,
    DomainFactory,
    TeamFactory,
    UserFactory,
)


@dataclass
class Tenant:
    company: Company
    connection: Connection
    teams: dict[str, Team]
    admin: User
    member: User


def _tenant(slug: str) -> Tenant:
    company = CompanyFactory(slug=slug, name=f"{slug.capitalize()} Inc")
    DomainFactory(company=company, domain=f"{slug}.com")
    teams = {name: TeamFactory(company=company, name=name) for name in ("Sales", "Marketing")}
    connection = ConnectionFactory(company=company, name=slug, default_team=teams["Sales"])
    admin = UserFactory(company=company, email=f"admin@{slug}.com", role=Role.ADMIN)
    member = UserFactory(company=company, email=f"member@{slug}.com", team=teams["Sales"])
    return Tenant(company=company, connection=connection, teams=teams, admin=admin, member=member)


@pytest.fixture
def acme(db) -> Tenant:
    return _tenant("acme")


@pytest.fixture
def globex(db) -> Tenant:
    return _tenant("globex")


@pytest.fixture
def stranger(db) -> Company:
    return CompanyFactory(slug="stranger", name="Stranger Ltd")


@pytest.fixture
def staff_user(db) -> User:
    return User.objects.create_superuser("support@sso.test", "correct-horse-battery")

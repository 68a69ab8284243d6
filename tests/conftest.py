"""Shared fixtures: the three-company layout every cross-tenant test uses.

- ``acme`` and ``globex``: customers with teams, a domain, users and a SAML connection each.
- ``stranger``: a company with nothing but its name, to prove that nothing leaks to it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.db import connection

from accounts.models import Company, Role, Team, User
from connections.connection_cache import forget_all
from connections.models import Connection
from tests.factories import (
    CompanyFactory,
    ConnectionFactory,
    DomainFactory,
    TeamFactory,
    UserFactory,
)

# Plain asserts in these helper modules report their values like those of test modules do.
pytest.register_assert_rewrite("tests.connections.saml_helpers", "tests.connections.refusals")


# What tests marked ``postgres`` or ``redis`` need, and how to give it them. Without it they are
# skipped (the default install, ``make test``); with REQUIRE_SERVICES=1 (.ci/run's second pass)
# a missing service is an error instead, so that pass can never skip them silently.
SERVICES = {
    "postgres": (
        lambda: connection.vendor == "postgresql",
        "needs PostgreSQL (DATABASE_URL=postgres://...)",
    ),
    "redis": (lambda: bool(os.environ.get("REDIS_URL")), "needs Redis (REDIS_URL=redis://...)"),
}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        _restore_migrated_rows(item)
        _skip_without_services(config, item)


def _restore_migrated_rows(item: pytest.Item) -> None:
    """Every transactional test restores what the migrations wrote (content types, permissions,
    the Support group) with ``serialized_rollback``. Without it, the flush after such a test
    makes the content types again with new ids and the next test that does restore them fails
    on a duplicate: the suite would pass only in the order it happens to be collected in."""
    marker = item.get_closest_marker("django_db")
    transactional = (marker is not None and marker.kwargs.get("transaction")) or (
        "transactional_db" in getattr(item, "fixturenames", ())
    )
    if transactional and not (marker and marker.kwargs.get("serialized_rollback")):
        kwargs = {**(marker.kwargs if marker else {}), "transaction": True}
        item.add_marker(pytest.mark.django_db(**kwargs, serialized_rollback=True), append=False)


def _skip_without_services(config: pytest.Config, item: pytest.Item) -> None:
    """``@pytest.mark.postgres("why")``: the test is only meaningful on that service; the
    marker's argument (required) says why, the skip reason says what to run it with."""
    for name, (available, need) in SERVICES.items():
        marker = item.get_closest_marker(name)
        if marker is None:
            continue
        if not (marker.args and str(marker.args[0]).strip()):
            raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.{name} needs a reason: why")
        if available():
            continue
        reason = f"{need} ({marker.args[0]}); .ci/run's second pass runs it"
        if os.environ.get("REQUIRE_SERVICES") == "1":
            raise pytest.UsageError(f"{item.nodeid}: {reason}, and REQUIRE_SERVICES=1")
        item.add_marker(pytest.mark.skip(reason=reason))


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


@pytest.fixture(autouse=True)
def _no_connection_remembered():
    """Each test starts with no connection row remembered (``connections.connection_cache``,
    PostgreSQL): a row an earlier test left would be checked and read again anyway, but the
    statement counts would depend on the order the tests ran in."""
    forget_all()


@pytest.fixture(params=["xmlsec", "xmlsec1"])
def signature_backend(request, settings) -> str:
    """Run the test twice: with signatures verified in process (``xmlsec``, the default) and by
    stock pysaml2 running the ``xmlsec1`` program. The SAML security tests use it (module-level
    ``pytestmark``), which proves the fast path refuses exactly what the stock one refuses."""
    settings.SAML_SIGNATURE_BACKEND = request.param
    return request.param


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


# --- running the real manage.py -------------------------------------------------------------
# A subprocess cannot see pytest's test database, so it gets its own SQLite file, migrated once
# per session and copied for each test.

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _manage_env(database: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "config.test_settings"
    env["DATABASE_URL"] = f"sqlite:///{database}"
    return env


def _run_manage(database: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT_ROOT,
        env=_manage_env(database),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="session")
def migrated_sqlite_template(tmp_path_factory) -> Path:
    database = tmp_path_factory.mktemp("manage-py") / "template.sqlite3"
    result = _run_manage(database, "migrate", "--noinput")
    assert result.returncode == 0, result.stderr
    return database


@pytest.fixture
def manage_py(migrated_sqlite_template, tmp_path):
    """``manage_py("company", "create", ...)`` runs the real command line in a subprocess
    against a fresh migrated SQLite database; returns the ``CompletedProcess``."""
    database = tmp_path / "db.sqlite3"
    shutil.copyfile(migrated_sqlite_template, database)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return _run_manage(database, *args)

    return run

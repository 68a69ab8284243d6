"""``manage.py company create``: success, refusals (exit 1, one line, nothing written), usage (2)."""

from __future__ import annotations

from functools import partial

import pytest
from django.core.management import CommandError

from accounts.models import Company, Domain, Team
from audit.models import AuditEvent
from tests.commands import refusal_line, refused_command, run_command

_company = partial(run_command, "company")
_refused = partial(refused_command, "company", watched=(Company, Team, Domain, AuditEvent))


def test_company_create_with_teams_and_domains(db):
    output = _company(
        "create", "initech", "--name", "Initech Inc",
        "--team", "Engineering", "--team", "TPS Reports",
        "--domain", "initech.com", "--domain", "Initech.IO",
    )  # fmt: skip

    assert output == (
        "Created company initech (Initech Inc); teams: Engineering, TPS Reports; "
        "domains: initech.com, initech.io\n"
    )
    company = Company.objects.get(slug="initech")
    assert company.name == "Initech Inc"
    assert sorted(company.teams.values_list("name", flat=True)) == ["Engineering", "TPS Reports"]
    assert sorted(company.domains.values_list("domain", flat=True)) == [
        "initech.com",
        "initech.io",
    ]
    events = AuditEvent.objects.filter(company=company)
    assert events.count() == 5
    assert set(events.values_list("actor_label", flat=True)) == {"command"}


def test_company_create_with_name_only(db):
    output = _company("create", "initech", "--name", "Initech")

    assert output == "Created company initech (Initech)\n"
    assert Company.objects.filter(slug="initech").exists()


def test_company_create_refuses_a_duplicate_slug(acme):
    error = _refused("create", "acme", "--name", "Acme Again")

    assert "slug" in str(error)
    assert Company.objects.get(slug="acme").name == "Acme Inc"


@pytest.mark.parametrize("slug", ["Initech", "init tech", "initech-", "initech_inc"])
def test_company_create_refuses_a_bad_slug(db, slug):
    error = _refused("create", slug, "--name", "Initech")

    assert "A company slug is 1-50 lowercase letters, digits and hyphens" in str(error)


def test_company_create_refuses_a_claimed_domain_and_writes_nothing(acme):
    error = _refused(
        "create", "initech", "--name", "Initech", "--team", "Engineering", "--domain", "acme.com"
    )

    assert str(error) == "The domain acme.com is already claimed."
    assert not Company.objects.filter(slug="initech").exists()


def test_company_create_refuses_a_bad_domain_and_writes_nothing(db):
    error = _refused("create", "initech", "--name", "Initech", "--domain", "initech")

    assert "'initech' is not an email domain" in str(error)


def test_company_create_refuses_a_repeated_team(db):
    error = _refused("create", "initech", "--name", "Initech", "--team", "Ops", "--team", "OPS")

    assert "already has a team with that name" in str(error)


def test_company_create_without_name_is_a_usage_error(db):
    with pytest.raises(CommandError, match="the following arguments are required: --name"):
        _company("create", "initech")

    assert not Company.objects.exists()


# --- the real command line ------------------------------------------------------------------


def test_command_line_usage_error_exits_2(manage_py):
    result = manage_py("company", "create", "initech")

    assert result.returncode == 2
    assert "the following arguments are required: --name" in result.stderr
    assert result.stdout == ""


def test_command_line_refusal_exits_1_with_one_line_on_stderr(manage_py):
    result = manage_py("company", "create", "Bad Slug", "--name", "Initech")

    assert "A company slug is 1-50 lowercase letters" in refusal_line(result)

"""Companies, domains, teams and users: the rules, and the audit event each service writes."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.models import ROLE_RANK, Company, Domain, Role, Team, User, UserSource
from accounts.services import company_create, domain_add, team_create, user_create
from audit.models import AuditEvent
from core.exceptions import Conflict, ValidationFailed


def _counts() -> dict[str, int]:
    return {
        "companies": Company.objects.count(),
        "teams": Team.objects.count(),
        "domains": Domain.objects.count(),
        "users": User.objects.count(),
        "events": AuditEvent.objects.count(),
    }


# --- users: email ---------------------------------------------------------------------------


def test_user_email_is_stored_lowercase(acme):
    user = user_create(email="  Grace.Hopper@ACME.com ", company=acme.company)

    user.refresh_from_db()
    assert user.email == "grace.hopper@acme.com"


def test_user_manager_stores_email_lowercase(db):
    user = User.objects.create_user("Ops@Example.COM", "s3cret-pass-phrase")

    assert User.objects.get(pk=user.pk).email == "ops@example.com"
    assert User.objects.get_by_natural_key("OPS@example.com") == user


def test_user_email_is_unique_case_insensitively(acme):
    user_create(email="grace@acme.com", company=acme.company)
    before = _counts()

    with pytest.raises(Conflict, match=r"^A user with this email .*already exists\.$"):
        user_create(email="GRACE@Acme.com", company=acme.company)

    assert _counts() == before


def test_user_email_taken_in_another_company_is_a_conflict(acme, globex):
    with pytest.raises(Conflict):
        user_create(email="Admin@Acme.com", company=globex.company)

    assert User.objects.get(email="admin@acme.com").company == acme.company


def test_database_refuses_an_uppercase_email(acme):
    # The lowercase rule is a CHECK constraint too, so a raw update cannot get around it.
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.filter(pk=acme.member.pk).update(email="UPPER@x.com")

    acme.member.refresh_from_db()
    assert acme.member.email == "member@acme.com"


def test_full_clean_lowercases_the_email(acme):
    user = User(email="lower@acme.com", company=acme.company)
    user.email = "Mixed@Acme.com"

    # clean() lowercases the email, so a model validated the normal way always passes.
    user.full_clean(exclude=["password"])
    assert user.email == "mixed@acme.com"


def test_invalid_email_is_refused(acme):
    with pytest.raises(ValidationFailed, match="^email: "):
        user_create(email="not-an-email", company=acme.company)


# --- users: roles and teams -----------------------------------------------------------------


def test_user_role_defaults_to_sender(acme):
    user = user_create(email="new@acme.com", company=acme.company)

    assert user.role == Role.SENDER == "sender"
    assert User._meta.get_field("role").default == Role.SENDER


def test_the_four_roles_lowest_to_highest():
    assert Role.values == ["sender", "manager", "department_admin", "admin"]
    assert sorted(ROLE_RANK, key=ROLE_RANK.get) == Role.values


@pytest.mark.parametrize("role", ["sender", "manager", "department_admin", "admin"])
def test_each_role_can_be_given(acme, role):
    user = user_create(email=f"{role}.person@acme.com", company=acme.company, role=role)

    assert User.objects.get(pk=user.pk).role == role


def test_unknown_role_is_refused(acme):
    before = _counts()

    with pytest.raises(ValidationFailed, match="^role: "):
        user_create(email="boss@acme.com", company=acme.company, role="owner")

    assert _counts() == before


def test_user_team_of_the_same_company_is_kept(acme):
    user = user_create(email="seller@acme.com", company=acme.company, team=acme.teams["Sales"])

    assert User.objects.get(pk=user.pk).team == acme.teams["Sales"]


def test_user_team_of_another_company_is_refused(acme, globex):
    before = _counts()

    with pytest.raises(ValidationFailed) as refused:
        user_create(email="spy@acme.com", company=acme.company, team=globex.teams["Sales"])

    assert refused.value.message == "team: The team belongs to another company."
    assert _counts() == before


def test_user_without_company_cannot_have_a_team_in_the_database(acme):
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(email="loose@sso.test", company=None, team=acme.teams["Sales"])


def test_staff_users_belong_to_no_company(acme):
    user = User(email="support2@sso.test", company=acme.company, is_staff=True)
    user.set_unusable_password()

    with pytest.raises(ValidationError, match="Staff users belong to no company"):
        user.full_clean(exclude=["password"])


def test_user_create_records_an_audit_event(acme, staff_user):
    user = user_create(
        email="new@acme.com",
        company=acme.company,
        role=Role.MANAGER,
        team=acme.teams["Marketing"],
        source=UserSource.JIT,
        acting_user=staff_user,
    )

    event = AuditEvent.objects.get(action="user.created")
    assert event.target == user.email
    assert event.company == acme.company
    assert event.actor == staff_user
    assert event.details == {"role": "manager", "team": "Marketing", "source": "jit"}


def test_user_create_never_gives_a_usable_password(acme):
    user = user_create(email="new@acme.com", company=acme.company)

    assert not user.has_usable_password()
    assert not user.is_staff and not user.is_superuser


# --- teams ----------------------------------------------------------------------------------


def test_team_name_is_unique_within_a_company_case_insensitively(acme):
    before = _counts()

    # A duplicate is a Conflict (SCIM's 409 uniqueness), settled by the database even in a race.
    with pytest.raises(Conflict) as refused:
        team_create(company=acme.company, name="SALES")

    assert "This company already has a team with that name." in refused.value.message
    assert _counts() == before


def test_team_name_uniqueness_is_enforced_by_the_database(acme):
    with pytest.raises(IntegrityError), transaction.atomic():
        Team.objects.create(company=acme.company, name="sales")


def test_same_team_name_is_allowed_in_two_companies(acme, globex, stranger):
    team = team_create(company=stranger, name="Sales")

    assert Team.objects.filter(name="Sales").count() == 3  # acme, globex, stranger
    assert team.company == stranger


def test_team_name_is_trimmed_and_must_not_be_empty(acme):
    assert team_create(company=acme.company, name="  Support  ").name == "Support"

    with pytest.raises(ValidationFailed, match="A team name cannot be empty."):
        team_create(company=acme.company, name="   ")


def test_team_create_records_an_audit_event(acme):
    team_create(company=acme.company, name="Support", actor_label="command")

    event = AuditEvent.objects.get(action="team.created")
    assert (event.company, event.target, event.actor_label) == (acme.company, "Support", "command")


# --- domains --------------------------------------------------------------------------------


def test_domain_is_stored_lowercase_without_trailing_dot(acme):
    domain = domain_add(company=acme.company, domain=" Acme.CO.uk. ")

    assert domain.domain == "acme.co.uk"


def test_domain_is_unique_across_the_system(acme, globex):
    before = _counts()

    with pytest.raises(Conflict) as refused:
        domain_add(company=globex.company, domain="ACME.com")

    assert refused.value.message == "The domain acme.com is already claimed."
    assert _counts() == before


def test_domain_conflict_does_not_name_the_other_company(acme, stranger):
    with pytest.raises(Conflict) as refused:
        domain_add(company=stranger, domain="acme.com")

    message = refused.value.message
    assert message == "The domain acme.com is already claimed."
    assert acme.company.name not in message
    assert acme.company.slug not in message.replace("acme.com", "")
    assert refused.value.extra == {}


def test_domain_uniqueness_is_enforced_by_the_database(acme, stranger):
    with pytest.raises(IntegrityError), transaction.atomic():
        Domain.objects.create(company=stranger, domain="acme.com")


@pytest.mark.parametrize(
    "value", ["localhost", "acme", "-acme.com", "acme-.com", "ac me.com", "@acme.com"]
)
def test_bad_domain_is_refused(stranger, value):
    with pytest.raises(ValidationFailed, match="is not an email domain"):
        domain_add(company=stranger, domain=value)

    assert not stranger.domains.exists()


def test_domain_add_records_an_audit_event(stranger):
    domain_add(company=stranger, domain="stranger.io")

    event = AuditEvent.objects.get(action="domain.added")
    assert (event.company, event.target) == (stranger, "stranger.io")


# --- companies ------------------------------------------------------------------------------


def test_company_create_with_teams_and_domains(db):
    company = company_create(
        slug="initech",
        name="  Initech  ",
        teams=["Engineering", "TPS Reports"],
        domains=["initech.com", "Initech.IO"],
        actor_label="command",
    )

    assert company.name == "Initech"
    assert sorted(company.teams.values_list("name", flat=True)) == ["Engineering", "TPS Reports"]
    assert sorted(company.domains.values_list("domain", flat=True)) == [
        "initech.com",
        "initech.io",
    ]
    actions = sorted(AuditEvent.objects.filter(company=company).values_list("action", flat=True))
    assert actions == [
        "company.created",
        "domain.added",
        "domain.added",
        "team.created",
        "team.created",
    ]
    assert set(AuditEvent.objects.values_list("actor_label", flat=True)) == {"command"}


def test_company_create_records_its_audit_event(db):
    company = company_create(slug="initech", name="Initech")

    event = AuditEvent.objects.get(action="company.created")
    assert (event.company, event.target, event.details) == (company, "initech", {"name": "Initech"})
    assert event.actor_label == "system"


def test_company_create_is_all_or_nothing_on_a_bad_domain(db):
    before = _counts()

    with pytest.raises(ValidationFailed, match="is not an email domain"):
        company_create(
            slug="initech", name="Initech", teams=["Engineering"], domains=["initech.com", "bad"]
        )

    assert _counts() == before
    assert not Company.objects.filter(slug="initech").exists()


def test_company_create_is_all_or_nothing_on_a_claimed_domain(acme):
    before = _counts()

    with pytest.raises(Conflict):
        company_create(slug="initech", name="Initech", teams=["Engineering"], domains=["acme.com"])

    assert _counts() == before


def test_company_create_is_all_or_nothing_on_a_repeated_team(db):
    with pytest.raises(Conflict, match="already has a team with that name"):
        company_create(slug="initech", name="Initech", teams=["Engineering", "engineering"])

    assert not Company.objects.exists()
    assert not Team.objects.exists()
    assert not AuditEvent.objects.exists()


def test_company_slug_is_unique(acme):
    before = _counts()

    with pytest.raises(ValidationFailed, match="^slug: "):
        company_create(slug="acme", name="Another Acme")

    assert _counts() == before


@pytest.mark.parametrize("slug", ["Acme", "acme inc", "-acme", "acme-", "acme_inc", "", "a" * 51])
def test_bad_company_slug_is_refused(db, slug):
    with pytest.raises(ValidationFailed, match="slug: "):
        company_create(slug=slug, name="Acme")

    assert not Company.objects.exists()


def test_company_name_is_required(db):
    with pytest.raises(ValidationFailed, match="^name: "):
        company_create(slug="initech", name="   ")

    assert not Company.objects.exists()

"""The JIT and SCIM-mode rules of the SPEC and the identity-safety rules, through real signed
responses posted to the ACS: who gets created, with which role and team, which warnings support
sees, who is refused with which code, and that nothing crosses from one company to another.
"""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import Role, User, UserSource
from audit.models import AuditEvent, Severity
from connections.models import Provisioning
from connections.services import connection_update
from tests.connections.jit_helpers import (
    assert_refused,
    login_as,
    saml_login,
    session_user,
    warnings_of,
)
from tests.factories import ConnectionFactory, DomainFactory, TeamFactory, UserFactory
from tests.saml_idp import okta_attributes

# Every test twice: signatures verified in process, and by pysaml2 with xmlsec1 (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("signature_backend")

ROLE_UNKNOWN = "provisioning.role_unknown"
TEAM_UNMATCHED = "provisioning.team_unmatched"


def _refused_login(connection, code, **login):
    """A login that must be refused with ``code``; returns (response, refusal event)."""
    client = Client()
    response = saml_login(connection, client=client, **login)
    return response, assert_refused(response, connection, code, client=client)


# --- JIT: the first login creates, later logins change nothing ---------------------------------


def test_first_login_creates_the_user_in_the_connections_company(acme):
    client = Client()
    response = saml_login(
        acme.connection,
        attributes=okta_attributes("new.hire@acme.com", user_type="manager", division="Marketing"),
        client=client,
        relay_state="/after-login",
    )

    assert response.status_code == 302
    assert response["Location"] == "/after-login"
    user = User.objects.get(email="new.hire@acme.com")
    assert session_user(client) == user
    assert user.company == acme.company
    assert user.source == UserSource.JIT
    assert user.is_active
    assert not user.has_usable_password()  # SSO users have no password of ours
    created = AuditEvent.objects.get(action="user.created", target="new.hire@acme.com")
    assert created.company == acme.company
    assert AuditEvent.objects.filter(
        action="sso.login", connection=acme.connection, actor=user
    ).exists()


def test_a_second_login_with_different_attributes_changes_nothing(acme):
    first = login_as(
        acme.connection,
        attributes=okta_attributes(
            "steady@acme.com",
            user_name="steady",
            first="Stella",
            last="Steady",
            user_type="manager",
            division="Marketing",
        ),
    )

    again = login_as(
        acme.connection,
        attributes=okta_attributes(
            "steady@acme.com",
            user_name="changed",
            first="Changed",
            last="Name",
            user_type="admin",
            division="Sales",
        ),
    )

    assert again.pk == first.pk
    assert again.username == "steady"
    assert (again.first_name, again.last_name) == ("Stella", "Steady")
    assert again.role == Role.MANAGER
    assert again.team == acme.teams["Marketing"]
    assert User.objects.filter(email="steady@acme.com").count() == 1
    assert AuditEvent.objects.filter(action="user.created", target="steady@acme.com").count() == 1


def test_an_existing_user_signs_in_unchanged_whatever_the_assertion_says(acme):
    member = acme.member
    user = login_as(
        acme.connection,
        attributes=okta_attributes(
            "Member@ACME.com", first="Someone", last="Else", user_type="admin", division="Marketing"
        ),
    )
    assert user.pk == member.pk  # the email matched case-insensitively: no second user
    assert (user.first_name, user.last_name) == (member.first_name, member.last_name)
    assert user.role == member.role == Role.SENDER
    assert user.team == acme.teams["Sales"]
    assert user.source == UserSource.MANUAL


# --- JIT: role rules ---------------------------------------------------------------------------


@pytest.mark.parametrize("asked_for", ["superuser", "owner", "Team Lead"])
def test_unknown_user_type_becomes_sender_with_a_warning(acme, asked_for):
    user = login_as(
        acme.connection,
        attributes=okta_attributes("odd.role@acme.com", user_type=asked_for),
    )

    assert user.role == Role.SENDER
    [warning] = warnings_of(acme.connection, ROLE_UNKNOWN)
    assert warning.severity == Severity.WARNING
    assert warning.company == acme.company
    assert warning.target == "odd.role@acme.com"
    assert warning.details["asked_for"] == asked_for
    assert warning.details["used"] == Role.SENDER


def test_missing_user_type_becomes_sender_without_a_warning(acme):
    user = login_as(
        acme.connection, attributes=okta_attributes("no.role@acme.com", division="Marketing")
    )
    assert user.role == Role.SENDER
    assert warnings_of(acme.connection, ROLE_UNKNOWN) == []
    assert AuditEvent.objects.filter(severity=Severity.WARNING).count() == 0


def test_a_known_user_type_raises_no_warning(acme):
    login_as(
        acme.connection,
        attributes=okta_attributes("known@acme.com", user_type="Department_Admin"),
    )
    assert warnings_of(acme.connection, ROLE_UNKNOWN) == []


# --- JIT: team rules ---------------------------------------------------------------------------


def test_missing_division_lands_on_the_default_team_without_a_warning(acme):
    # Make Marketing the default, so the result cannot come from anything but default_team.
    connection_update(connection=acme.connection, default_team=acme.teams["Marketing"])
    user = login_as(acme.connection, attributes=okta_attributes("no.team@acme.com"))
    assert user.team == acme.teams["Marketing"]
    assert warnings_of(acme.connection, TEAM_UNMATCHED) == []


def test_empty_division_counts_as_missing(acme):
    user = login_as(
        acme.connection, attributes=okta_attributes("empty.div@acme.com") | {"division": ""}
    )
    assert user.team == acme.teams["Sales"]
    assert warnings_of(acme.connection, TEAM_UNMATCHED) == []


def test_unmatched_division_lands_on_the_default_team_with_a_warning_naming_it(acme):
    user = login_as(
        acme.connection, attributes=okta_attributes("eng@acme.com", division="Engineering")
    )

    assert user.team == acme.teams["Sales"]
    [warning] = warnings_of(acme.connection, TEAM_UNMATCHED)
    assert warning.severity == Severity.WARNING
    assert warning.company == acme.company
    assert warning.target == "eng@acme.com"
    assert warning.details["asked_for"] == "Engineering"
    assert warning.details["used"] == "Sales"
    assert warning.details["did_you_mean"] is None


def test_near_miss_division_suggests_the_team_differing_only_in_case(acme):
    user = login_as(acme.connection, attributes=okta_attributes("lower@acme.com", division="sales"))

    assert user.team == acme.teams["Sales"]
    [warning] = warnings_of(acme.connection, TEAM_UNMATCHED)
    assert warning.details["asked_for"] == "sales"
    assert warning.details["used"] == "Sales"
    assert warning.details["did_you_mean"] == "Sales"


def test_near_miss_division_is_not_silently_taken_as_that_team(acme):
    # "exact team name": MARKETING is not Marketing, so the default team (Sales) is used and
    # the warning suggests Marketing.
    user = login_as(
        acme.connection, attributes=okta_attributes("upper@acme.com", division="MARKETING")
    )

    assert user.team == acme.teams["Sales"]
    [warning] = warnings_of(acme.connection, TEAM_UNMATCHED)
    assert warning.details["asked_for"] == "MARKETING"
    assert warning.details["used"] == "Sales"
    assert warning.details["did_you_mean"] == "Marketing"


def test_without_a_default_team_a_missing_division_means_no_team(acme):
    connection_update(connection=acme.connection, default_team=None)
    user = login_as(acme.connection, attributes=okta_attributes("teamless@acme.com"))
    assert user.team is None
    assert warnings_of(acme.connection, TEAM_UNMATCHED) == []


def test_without_a_default_team_an_unmatched_division_means_no_team_and_a_warning(acme):
    connection_update(connection=acme.connection, default_team=None)
    user = login_as(
        acme.connection, attributes=okta_attributes("nowhere@acme.com", division="Engineering")
    )
    assert user.team is None
    [warning] = warnings_of(acme.connection, TEAM_UNMATCHED)
    assert warning.details["asked_for"] == "Engineering"
    assert warning.details["used"] is None


# --- SCIM mode ---------------------------------------------------------------------------------


@pytest.fixture
def scim_acme(acme):
    connection_update(connection=acme.connection, provisioning=Provisioning.SCIM)
    acme.connection.refresh_from_db()
    assert acme.connection.provisioning == Provisioning.SCIM
    return acme


def test_scim_mode_refuses_an_unknown_user_and_creates_nobody(scim_acme):
    users_before = User.objects.count()
    _refused_login(
        scim_acme.connection,
        "user_not_provisioned",
        attributes=okta_attributes("unknown@acme.com", user_type="admin", division="Sales"),
    )
    assert User.objects.count() == users_before
    assert not User.objects.filter(email="unknown@acme.com").exists()


def test_scim_mode_signs_in_an_active_scim_user_unchanged(scim_acme):
    provisioned = UserFactory(
        company=scim_acme.company,
        email="provisioned@acme.com",
        source=UserSource.SCIM,
        role=Role.MANAGER,
        team=scim_acme.teams["Marketing"],
    )
    user = login_as(
        scim_acme.connection,
        attributes=okta_attributes("provisioned@acme.com", user_type="admin", division="Sales"),
    )
    assert user.pk == provisioned.pk
    assert user.role == Role.MANAGER
    assert user.team == scim_acme.teams["Marketing"]


def test_scim_mode_refuses_a_deactivated_scim_user_and_keeps_them_deactivated(scim_acme):
    UserFactory(
        company=scim_acme.company,
        email="gone@acme.com",
        source=UserSource.SCIM,
        is_active=False,
    )
    _refused_login(
        scim_acme.connection, "user_deactivated", attributes=okta_attributes("gone@acme.com")
    )
    assert not User.objects.get(email="gone@acme.com").is_active


def test_scim_mode_refuses_a_user_jit_created(acme):
    login_as(acme.connection, attributes=okta_attributes("early@acme.com"))
    connection_update(connection=acme.connection, provisioning=Provisioning.SCIM)
    _refused_login(
        acme.connection, "user_not_provisioned", attributes=okta_attributes("early@acme.com")
    )


def test_scim_mode_refuses_a_user_created_by_staff(scim_acme):
    assert scim_acme.member.source == UserSource.MANUAL
    _refused_login(
        scim_acme.connection,
        "user_not_provisioned",
        attributes=okta_attributes(scim_acme.member.email),
    )


# --- identity safety ---------------------------------------------------------------------------


def test_a_user_of_another_company_is_refused_without_naming_it(acme, globex):
    # A globex user whose address is on acme's domain (a contractor, say): the domain rule
    # passes, so the only thing that refuses them is that they belong to globex.
    contractor = UserFactory(
        company=globex.company, email="contractor@acme.com", team=globex.teams["Sales"]
    )
    response, event = _refused_login(
        acme.connection,
        "user_other_company",
        attributes=okta_attributes("contractor@acme.com", user_type="admin", division="Sales"),
    )

    page = response.content.decode()
    assert "globex" not in page.lower()
    contractor.refresh_from_db()
    assert contractor.company == globex.company
    assert contractor.team == globex.teams["Sales"]
    assert contractor.role == Role.SENDER
    assert event.company == acme.company


def test_globex_member_through_acme_connection_is_refused_without_naming_globex(acme, globex):
    # member@globex.com is both outside acme's domains and a user of another company. The domain
    # rule comes first (connections/sign_in/identity.py), so the code says nothing about the other company.
    client = Client()
    response = saml_login(
        acme.connection,
        attributes=okta_attributes(globex.member.email, user_type="admin", division="Marketing"),
        client=client,
    )

    assert response.status_code == 403
    assert session_user(client) is None
    [event] = AuditEvent.objects.filter(action="sso.login_refused", connection=acme.connection)
    assert event.error_code == "email_domain_not_allowed"
    page = response.content.decode()
    assert event.error_code in page
    assert "globex" not in page.lower()
    member = User.objects.get(pk=globex.member.pk)
    assert member.company == globex.company
    assert member.team == globex.teams["Sales"]
    assert member.role == Role.SENDER


def test_another_companys_user_is_refused_where_the_company_has_no_domains(globex, stranger):
    # An address in no company's domain, so only the user rule can refuse it.
    contractor = UserFactory(company=globex.company, email="contractor@freelance.example")
    connection = ConnectionFactory(company=stranger, name="stranger")
    response, _ = _refused_login(
        connection, "user_other_company", attributes=okta_attributes(contractor.email)
    )
    assert "globex" not in response.content.decode().lower()
    assert User.objects.get(pk=contractor.pk).company == globex.company


@pytest.mark.parametrize("email", ["cfo@globex.com", "cfo@eu.globex.com", "member@globex.com"])
def test_a_company_without_domains_cannot_sign_in_an_email_in_a_held_domain(
    globex, stranger, email
):
    """The review's attack: a company without domains signed in, by JIT, anyone its IdP asserted
    (cfo@globex.com included), and the real person was then refused as user_other_company."""
    connection = ConnectionFactory(company=stranger, name="stranger")
    _refused_login(connection, "email_domain_not_allowed", attributes=okta_attributes(email))
    assert not User.objects.filter(company=stranger).exists()
    # The real person still signs in through their own company's connection.
    user = login_as(globex.connection, attributes=okta_attributes("cfo@globex.com"))
    assert user.company == globex.company


def test_an_email_at_a_subdomain_of_the_companys_domain_signs_in(acme):
    # Holding acme.com covers eu.acme.com (accounts.models.DomainQuerySet.holding).
    user = login_as(acme.connection, attributes=okta_attributes("newhire@eu.acme.com"))
    assert user.company == acme.company


def test_a_subdomain_held_by_another_company_is_that_companys(acme, globex):
    DomainFactory(company=globex.company, domain="labs.acme.com")
    _refused_login(
        acme.connection,
        "email_domain_not_allowed",
        attributes=okta_attributes("newhire@labs.acme.com"),
    )
    user = login_as(globex.connection, attributes=okta_attributes("newhire@labs.acme.com"))
    assert user.company == globex.company


def test_a_staff_user_cannot_sign_in_through_a_customer_connection(stranger, staff_user):
    # Staff emails are in no customer's domain (accounts refuses them there), so the company
    # without domains lets the address through to the user rule.
    connection = ConnectionFactory(company=stranger, name="stranger")
    _refused_login(connection, "user_other_company", attributes=okta_attributes(staff_user.email))
    staff_user.refresh_from_db()
    assert staff_user.company is None


@pytest.mark.parametrize(
    "email", ["outsider@initech.com", "spoof@acme.com.evil.example", "spoof@notacme.com"]
)
def test_email_outside_the_companys_domains_is_refused(acme, email):
    users_before = User.objects.count()
    _refused_login(acme.connection, "email_domain_not_allowed", attributes=okta_attributes(email))
    assert User.objects.count() == users_before


def test_a_company_without_domains_accepts_any_email_domain(stranger):
    assert not stranger.domains.exists()
    connection = ConnectionFactory(company=stranger, name="stranger")
    user = login_as(connection, attributes=okta_attributes("anyone@anywhere.example"))
    assert user.company == stranger
    assert user.source == UserSource.JIT
    assert user.team is None  # no default team on this connection


def test_a_deactivated_user_is_never_reactivated_by_a_login(acme):
    acme.member.is_active = False
    acme.member.save(update_fields=["is_active"])

    _refused_login(
        acme.connection,
        "user_deactivated",
        attributes=okta_attributes("MEMBER@acme.com", user_type="admin", division="Marketing"),
    )

    member = User.objects.get(pk=acme.member.pk)
    assert not member.is_active
    assert member.role == Role.SENDER
    assert member.team == acme.teams["Sales"]
    assert User.objects.filter(email__iexact="member@acme.com").count() == 1


PRIVILEGE_ATTRIBUTES = {
    "is_staff": "true",
    "is_superuser": "true",
    "isAdmin": "true",
    "staff": "true",
    "superuser": "true",
    "groups": ["admin", "Superusers"],
}


@pytest.mark.parametrize("user_type", ["superuser", "staff", "is_superuser"])
def test_no_assertion_makes_a_new_user_staff_or_superuser(acme, user_type):
    user = login_as(
        acme.connection,
        attributes=okta_attributes("climber@acme.com", user_type=user_type) | PRIVILEGE_ATTRIBUTES,
    )
    assert not user.is_staff
    assert not user.is_superuser
    assert user.role == Role.SENDER
    assert not user.user_permissions.exists()
    assert not user.groups.exists()


def test_no_assertion_makes_an_existing_user_staff_or_superuser(acme):
    user = login_as(
        acme.connection,
        attributes=okta_attributes(acme.member.email, user_type="superuser") | PRIVILEGE_ATTRIBUTES,
    )
    assert user.pk == acme.member.pk
    assert not user.is_staff
    assert not user.is_superuser
    assert user.role == Role.SENDER


def test_a_refused_login_writes_nothing_but_the_refusal_event(acme):
    events_before = set(AuditEvent.objects.values_list("pk", flat=True))
    users_before = list(User.objects.order_by("pk").values())
    _refused_login(
        acme.connection,
        "email_domain_not_allowed",
        attributes=okta_attributes("x@initech.com", user_type="banana", division="Nowhere"),
    )
    assert list(User.objects.order_by("pk").values()) == users_before
    new_events = AuditEvent.objects.exclude(pk__in=events_before)
    assert [event.action for event in new_events] == ["sso.login_refused"]


# --- across two companies ----------------------------------------------------------------------


def test_the_same_attribute_statement_creates_each_user_in_its_own_company(acme, globex):
    statement = {"user_type": "manager", "division": "Sales", "first": "Pat", "last": "Doe"}
    at_acme = login_as(acme.connection, attributes=okta_attributes("pat@acme.com", **statement))
    at_globex = login_as(
        globex.connection, attributes=okta_attributes("pat@globex.com", **statement)
    )

    assert at_acme.company == acme.company
    assert at_acme.team == acme.teams["Sales"]
    assert at_globex.company == globex.company
    assert at_globex.team == globex.teams["Sales"]
    assert at_globex.team != acme.teams["Sales"]
    assert (at_acme.role, at_globex.role) == (Role.MANAGER, Role.MANAGER)


@pytest.mark.parametrize("division", ["Marketing", None])
def test_acme_teams_are_never_assigned_to_a_globex_user(acme, globex, division):
    user = login_as(
        globex.connection, attributes=okta_attributes("g@globex.com", division=division)
    )
    assert user.team is not None
    assert user.team.company == globex.company
    assert user.team not in acme.teams.values()


def test_a_division_naming_only_another_companys_team_is_unmatched(acme, globex):
    engineering = TeamFactory(company=acme.company, name="Engineering")
    user = login_as(
        globex.connection, attributes=okta_attributes("eng@globex.com", division="Engineering")
    )

    assert user.team == globex.teams["Sales"]  # globex's default team, never acme's Engineering
    assert not engineering.members.exists()
    [warning] = warnings_of(globex.connection, TEAM_UNMATCHED)
    assert warning.company == globex.company
    assert warning.details["asked_for"] == "Engineering"
    assert warning.details["did_you_mean"] is None  # acme's team is not suggested either
    assert warnings_of(acme.connection, TEAM_UNMATCHED) == []


def test_a_near_miss_never_suggests_another_companys_team(acme, globex):
    TeamFactory(company=acme.company, name="Research")
    login_as(globex.connection, attributes=okta_attributes("r@globex.com", division="research"))
    [warning] = warnings_of(globex.connection, TEAM_UNMATCHED)
    assert warning.details["did_you_mean"] is None

"""A domain a company holds is that company's alone (SPEC, Tenancy; issue 11).

No service, admin form or command gives a user outside the holder (another company's user, a
user of a company without domains, a staff user) an email in a held domain or in a subdomain of
one; a domain is claimed by one company only, whatever its spelling; a claim cannot take people
who already have emails in the domain. Every refusal here writes nothing. SCIM and the sign-in
have their own tests (tests/provisioning/test_scim_domain_ownership.py, the refusal corpus and
tests/connections/test_jit_rules.py).
"""

from __future__ import annotations

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.urls import reverse
from lxml import html

from accounts.exceptions import EmailDomainHeld
from accounts.models import Company, Domain, User
from accounts.normalize import domain_normalize, email_domain, email_key, identity_key
from accounts.services import company_create, domain_add, user_create, user_update
from audit.models import AuditEvent
from core.exceptions import Conflict
from tests.commands import refused_command, row_counts, run_command
from tests.factories import DomainFactory, UserFactory

WATCHED = (Company, Domain, User, AuditEvent)


def _counts() -> tuple[int, ...]:
    return row_counts(*WATCHED)


# --- the normalization of domains --------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("ACME.com.", "acme.com"),
        ("  acme.com ", "acme.com"),
        ("ａｃｍｅ.com", "acme.com"),  # full-width letters
        ("acme。com", "acme.com"),  # an ideographic full stop
        ("bücher.de", "xn--bcher-kva.de"),
        ("BÜCHER.de", "xn--bcher-kva.de"),
        ("XN--BCHER-KVA.de", "xn--bcher-kva.de"),
    ],
)
def test_domains_are_normalized_once(given, stored):
    assert domain_normalize(given) == stored


def test_an_emails_domain_is_normalized_the_same_way():
    assert email_domain("Ceo@ＧＬＯＢＥＸ.com") == "globex.com"
    assert email_domain("ceo@globex.com\u200b") == "globex.com"  # IDNA maps it to nothing
    assert email_key("CEO@Bücher.de") == "ceo@xn--bcher-kva.de"


@pytest.mark.parametrize(
    "spelling", ["GLOBEX.com", "globex.com.", "ｇｌｏｂｅｘ.com", "globex。com"]
)
def test_a_held_domain_cannot_be_claimed_again_in_another_spelling(acme, globex, spelling):
    before = _counts()

    with pytest.raises(Conflict, match=r"^The domain globex\.com is already claimed\.$"):
        domain_add(company=acme.company, domain=spelling)

    assert _counts() == before


def test_an_idn_domain_is_stored_as_its_a_label_and_unique_in_every_spelling(acme, globex):
    domain_add(company=acme.company, domain="Bücher.de")
    assert acme.company.domains.filter(domain="xn--bcher-kva.de").exists()

    with pytest.raises(Conflict):
        domain_add(company=globex.company, domain="xn--bcher-kva.de")


# --- subdomains ----------------------------------------------------------------------------------


def test_holding_a_domain_covers_its_subdomains(acme):
    holder = Domain.objects.holding("eu.sales.acme.com")
    assert holder is not None and holder.company == acme.company
    assert Domain.objects.holding("acme.com.evil.example") is None
    assert Domain.objects.holding("notacme.com") is None


def test_a_subdomain_another_company_holds_is_that_companys(acme, globex):
    DomainFactory(company=globex.company, domain="labs.acme.com")

    assert Domain.objects.holding("labs.acme.com").company == globex.company
    assert Domain.objects.holding("x.labs.acme.com").company == globex.company
    assert Domain.objects.holding("eu.acme.com").company == acme.company


def test_a_subdomain_of_another_companys_domain_cannot_be_claimed(acme, globex):
    before = _counts()

    with pytest.raises(Conflict, match="covered by acme.com, which another company holds"):
        domain_add(company=globex.company, domain="EU.acme.com")

    assert _counts() == before


def test_a_company_may_claim_a_subdomain_of_its_own_domain(acme):
    domain_add(company=acme.company, domain="eu.acme.com")

    assert Domain.objects.holding("x.eu.acme.com").company == acme.company


# --- a claim cannot take people who are already someone else's -----------------------------------


def test_a_domain_in_which_another_companys_users_have_emails_cannot_be_claimed(acme, stranger):
    # The company without domains signed someone in at initech.com before Initech became a
    # customer: Initech's claim must not silently make that user's email Initech's.
    UserFactory(company=stranger, email="cfo@initech.com")
    before = _counts()

    with pytest.raises(Conflict, match=r"1 user\(s\) outside this company have an email at"):
        company_create(slug="initech", name="Initech", domains=["initech.com"])

    assert _counts() == before


def test_a_domain_in_which_a_staff_user_has_an_email_cannot_be_claimed(staff_user, stranger):
    with pytest.raises(Conflict, match="outside this company"):
        domain_add(company=stranger, domain="sso.test")


def test_a_parent_domain_cannot_take_users_of_a_subdomain_claim(acme, globex, stranger):
    UserFactory(company=stranger, email="someone@mail.initech.com")
    with pytest.raises(Conflict):
        domain_add(company=globex.company, domain="initech.com")
    # Once the subdomain is the stranger's own, the parent may be claimed: the stranger keeps
    # what is under its more specific domain.
    domain_add(company=stranger, domain="mail.initech.com")
    domain_add(company=globex.company, domain="initech.com")
    assert Domain.objects.holding("mail.initech.com").company == stranger


# --- services: users -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "email",
    [
        "ceo@globex.com",
        "CEO@GLOBEX.COM",
        "ceo@eu.globex.com",  # a subdomain
        "ceo@ｇｌｏｂｅｘ.com",  # full-width
    ],
)
def test_user_create_refuses_an_email_in_another_companys_domain(acme, globex, email):
    before = _counts()

    with pytest.raises(EmailDomainHeld, match="belongs to another company"):
        user_create(email=email, company=acme.company)

    assert _counts() == before


def test_a_company_without_domains_cannot_take_a_held_one(globex, stranger):
    with pytest.raises(EmailDomainHeld):
        user_create(email="cfo@globex.com", company=stranger)
    # Any domain nobody holds is fine for it.
    assert user_create(email="cfo@initech.example", company=stranger).company == stranger


def test_a_company_may_give_emails_in_domains_nobody_holds(acme):
    # The rule protects held domains; which other domains a company's IdP uses is its business
    # (only its SAML sign-in is limited to its own domains, by the SPEC's JIT rule).
    assert user_create(email="contractor@gmail.example", company=acme.company)
    assert user_create(email="new@eu.acme.com", company=acme.company)


def test_user_update_refuses_moving_an_email_into_another_companys_domain(acme, globex):
    before = _counts()

    with pytest.raises(EmailDomainHeld):
        user_update(user=acme.member, changes={"email": "cfo@globex.com"})

    assert _counts() == before
    acme.member.refresh_from_db()
    assert acme.member.email == "member@acme.com"


def test_a_user_already_in_place_keeps_working_for_other_changes(acme, globex):
    # A user made before the rule (or before the domain was claimed) is not locked: only a new
    # email or company is checked.
    legacy = UserFactory(company=acme.company, email="legacy@globex.com")
    user_update(user=legacy, changes={"first_name": "Still"})
    assert User.objects.get(pk=legacy.pk).first_name == "Still"


def test_a_staff_user_cannot_have_an_email_in_a_held_domain(acme):
    with pytest.raises(ValidationError) as refused:
        User.objects.create_superuser("it@acme.com", "correct-horse-battery")

    assert "belongs to another company" in str(refused.value)
    assert not User.objects.filter(email="it@acme.com").exists()


def test_the_model_refuses_it_for_every_other_writer(acme, globex):
    user = User.objects.get(pk=globex.member.pk)
    user.company = acme.company
    user.team = None

    with pytest.raises(ValidationError) as refused:
        user.full_clean(exclude=["password"])

    assert refused.value.message_dict["email"] == [
        "This email's domain belongs to another company: no user outside it can have an email "
        "there."
    ]


# --- commands --------------------------------------------------------------------------------


@pytest.mark.parametrize("domain", ["acme.com", "ACME.com.", "eu.acme.com"])
def test_company_create_refuses_a_held_domain(acme, domain):
    error = refused_command(
        "company", "create", "beta", "--name", "Beta", "--domain", domain, watched=WATCHED
    )

    assert "acme.com" in str(error)
    assert "Acme" not in str(error)  # never names the holder


def test_company_create_refuses_a_domain_with_other_companies_users(stranger):
    UserFactory(company=stranger, email="cfo@initech.com")

    refused_command(
        "company", "create", "initech", "--name", "Initech", "--domain", "initech.com",
        watched=WATCHED,
    )  # fmt: skip


def test_company_create_prints_the_stored_domain(db):
    output = run_command("company", "create", "beta", "--name", "Beta", "--domain", "BÜCHER.de.")

    assert output == "Created company beta (Beta); domains: xn--bcher-kva.de\n"


# --- the admin -------------------------------------------------------------------------------


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


def _form(response, form_id: str) -> dict[str, str]:
    assert response.status_code == 200
    return dict(html.fromstring(response.content).get_element_by_id(form_id).form_values())


def _errors(response) -> str:
    return " ".join(html.fromstring(response.content).xpath("//ul[@class='errorlist']//text()"))


def _refused_post(staff_client, url: str, values: dict) -> str:
    """Post an admin form that must be refused: the form comes back (200), nothing is written,
    and its errors are returned."""
    before = _counts()

    response = staff_client.post(url, values)

    assert response.status_code == 200
    assert _counts() == before
    return _errors(response)


def test_admin_user_add_refuses_an_email_in_another_companys_domain(staff_client, acme, globex):
    url = reverse("admin:accounts_user_add")
    values = _form(staff_client.get(url), "user_form") | {
        "email": "CFO@globex.com",
        "company": str(acme.company.pk),
        "password1": "",
        "password2": "",
        "usable_password": "false",
    }
    assert "belongs to another company" in _refused_post(staff_client, url, values)


@pytest.mark.parametrize(
    ("field", "value"),
    [("email", "cfo@globex.com"), ("email", "cfo@eu.globex.com"), ("company", "globex")],
)
def test_admin_user_change_refuses_giving_a_held_email(staff_client, acme, globex, field, value):
    url = reverse("admin:accounts_user_change", args=[acme.member.pk])
    values = _form(staff_client.get(url), "user_form")
    values["team"] = ""
    values[field] = str(globex.company.pk) if value == "globex" else value
    assert "belongs to another company" in _refused_post(staff_client, url, values)
    member = User.objects.get(pk=acme.member.pk)
    assert (member.email, member.company) == ("member@acme.com", acme.company)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", "ſales@acme.com"),  # ſ (long s) folds to s: the email of sales@acme.com
        ("username", "\u212aelvin"),  # a Kelvin sign: the userName of kelvin@acme.com
    ],
)
def test_admin_user_change_refuses_another_spelling_of_a_taken_identity(
    staff_client, acme, field, value
):
    UserFactory(company=acme.company, email="sales@acme.com", username="sales@acme.com")
    UserFactory(company=acme.company, email="kelvin@acme.com", username="kelvin")
    url = reverse("admin:accounts_user_change", args=[acme.member.pk])
    values = _form(staff_client.get(url), "user_form") | {field: value}

    response = staff_client.post(url, values)

    assert response.status_code == 200
    assert "already" in _errors(response)
    member = User.objects.get(pk=acme.member.pk)
    assert (member.email, member.username) == ("member@acme.com", "member@acme.com")


def _inline_values(staff_client, company: Company, domain: str) -> tuple[str, dict]:
    url = reverse("admin:accounts_company_change", args=[company.pk])
    values = _form(staff_client.get(url), "company_form")
    index = int(values["domains-TOTAL_FORMS"])
    values[f"domains-{index}-domain"] = domain
    values[f"domains-{index}-company"] = str(company.pk)
    values["domains-TOTAL_FORMS"] = str(index + 1)
    return url, values


@pytest.mark.parametrize("domain", ["GLOBEX.com.", "eu.globex.com", "ｇｌｏｂｅｘ.com"])
def test_admin_domain_inline_refuses_a_held_domain(staff_client, acme, globex, domain):
    url, values = _inline_values(staff_client, acme.company, domain)
    assert "globex.com" in _refused_post(staff_client, url, values)


def test_admin_domain_inline_normalizes_and_audits_a_new_domain(staff_client, acme):
    url, values = _inline_values(staff_client, acme.company, "ACME.io.")

    response = staff_client.post(url, values)

    assert response.status_code == 302, _errors(response)
    assert acme.company.domains.filter(domain="acme.io").exists()
    assert AuditEvent.objects.filter(action="domain.added", target="acme.io").exists()


def test_admin_domain_inline_refuses_a_domain_with_other_companies_users(
    staff_client, acme, stranger
):
    UserFactory(company=stranger, email="cfo@initech.com")
    url, values = _inline_values(staff_client, acme.company, "initech.com")

    response = staff_client.post(url, values)

    assert response.status_code == 200
    assert "outside this company" in _errors(response)
    assert not Domain.objects.filter(domain="initech.com").exists()


def test_admin_new_company_cannot_take_a_subdomain_of_a_held_domain(staff_client, acme):
    url = reverse("admin:accounts_company_add")
    values = _form(staff_client.get(url), "company_form") | {
        "slug": "beta",
        "name": "Beta",
        "domains-TOTAL_FORMS": "1",
        "domains-0-domain": "eu.acme.com",
    }
    assert "acme.com" in _refused_post(staff_client, url, values)


def test_admin_cannot_move_a_domain_to_another_company(staff_client, acme, globex):
    domain = globex.company.domains.get()
    url = reverse("admin:accounts_domain_change", args=[domain.pk])
    values = _form(staff_client.get(url), "domain_form") | {"company": str(acme.company.pk)}

    response = staff_client.post(url, values)

    assert response.status_code == 200
    assert "outside this company" in _errors(response)
    assert Domain.objects.get(pk=domain.pk).company == globex.company


# --- a claim and a user write racing (PostgreSQL) ------------------------------------------------


# serialized_rollback: the flush after this test then leaves the content types to the next
# serialized test (the end-to-end ones restore the database that way).
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.postgres("SQLite lets one transaction write at a time: the two cannot race")
def test_a_domain_claim_and_a_user_in_it_cannot_both_commit(acme, stranger):
    """Company ``stranger`` gives a user an email at initech.com while Initech claims the
    domain. Without a lock, each transaction checks before the other commits and both commit:
    the claim takes the stranger's user. The claim holds the domain family's lock until it
    commits, so the user write waits, then sees the claim and is refused."""
    claimed, release, written = threading.Event(), threading.Event(), threading.Event()
    outcome: dict[str, object] = {}
    initech = Company.objects.create(slug="initech", name="Initech")

    def claim() -> None:
        try:
            with transaction.atomic():
                domain_add(company=initech, domain="initech.com")
                claimed.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    def write_user() -> None:
        try:
            user_create(email="cfo@initech.com", company=stranger)
            outcome["user"] = "created"
        except EmailDomainHeld:
            outcome["user"] = "refused"
        finally:
            written.set()
            connection.close()

    claimer = threading.Thread(target=claim)
    claimer.start()
    assert claimed.wait(timeout=30)
    writer = threading.Thread(target=write_user)
    writer.start()
    # Give the write every chance to finish before the claim commits (it does without a lock).
    written.wait(timeout=2)
    release.set()
    claimer.join(timeout=30)
    writer.join(timeout=30)

    assert outcome == {"user": "refused"}
    assert not User.objects.filter(email="cfo@initech.com").exists()
    assert Domain.objects.get(domain="initech.com").company == initech


# --- keys --------------------------------------------------------------------------------------


def test_identity_key_folds_what_lower_does_not():
    assert identity_key("\u212aelvin@Acme.com") == identity_key("kelvin@acme.com")
    assert identity_key("JOSÉ@acme.com") == identity_key("jose\u0301@acme.com") == "josé@acme.com"
    assert identity_key("ſupport") == "support"

"""userName and emails fold case the same way in Python, SQLite and PostgreSQL (issue 11).

The review's attack, on SQLite: a userName with a Kelvin sign (U+212A) made a second user beside
``kelvin@…`` (SQLite's LOWER() only knows ASCII, Python's lower() makes it a "k"), the filter on
it found the other user, and ``userName eq "JOSÉ@…"`` found nothing. Every writer now stores
``identity_key``/``email_key`` (accounts/normalize.py) and every lookup compares them, so each
test below means the same on both databases.
"""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from accounts.models import User
from tests.connections.jit_helpers import login_as
from tests.provisioning.scim_helpers import USER_SCHEMA, assert_scim_error
from tests.saml_idp import okta_attributes

pytestmark = pytest.mark.django_db

KELVIN_SIGN = "\u212a"


def _user(user_name: str, email: str | None = None) -> dict:
    body = {"schemas": [USER_SCHEMA], "userName": user_name}
    if email:
        body["emails"] = [{"primary": True, "value": email, "type": "work"}]
    return body


def _found(scim, filter_: str) -> list[str]:
    status, body = scim.get("Users", {"filter": filter_})
    assert status == 200, body
    return [resource["userName"] for resource in body["Resources"]]


def test_a_kelvin_sign_username_is_the_same_username(scim, acme):
    assert scim.post("Users", _user("kelvin@acme.com"))[0] == 201
    before = User.objects.count()

    status, body = scim.post("Users", _user(f"{KELVIN_SIGN}elvin@acme.com", "other@acme.com"))

    assert_scim_error(status, body, http_status=409, scim_type="uniqueness")
    assert User.objects.count() == before
    assert _found(scim, f'userName eq "{KELVIN_SIGN}elvin@acme.com"') == ["kelvin@acme.com"]


def test_a_username_stored_with_a_kelvin_sign_is_found_by_its_plain_spelling(scim, acme):
    assert scim.post("Users", _user(f"{KELVIN_SIGN}elvin", "kelvin@acme.com"))[0] == 201

    assert _found(scim, 'userName eq "kelvin"') == [f"{KELVIN_SIGN}elvin"]
    assert _found(scim, 'userName eq "KELVIN"') == [f"{KELVIN_SIGN}elvin"]


@pytest.mark.parametrize(
    "spelling",
    ["JOSÉ@acme.com", "josé@acme.com", "JOSE\u0301@ACME.COM", "José@Acme.Com"],
    ids=["upper", "lower", "decomposed", "mixed"],
)
def test_a_non_ascii_username_is_found_in_every_case(scim, acme, spelling):
    assert scim.post("Users", _user("JOSÉ@acme.com", "jose@acme.com"))[0] == 201

    assert _found(scim, f'userName eq "{spelling}"') == ["JOSÉ@acme.com"]


def test_username_starts_with_folds_case_too(scim, acme):
    assert scim.post("Users", _user("ÉLODIE@acme.com", "elodie@acme.com"))[0] == 201

    assert _found(scim, 'userName sw "élodie"') == ["ÉLODIE@acme.com"]


@pytest.mark.parametrize("spelling", ["MEMBER@ACME.COM", "member@acme.com", "member@ＡＣＭＥ.com"])
def test_emails_value_compares_by_the_email_key(scim, acme, spelling):
    assert _found(scim, f'emails.value eq "{spelling}"') == ["member@acme.com"]


def test_a_long_s_email_is_the_same_email(scim, acme):
    # ſ (U+017F) is a lowercase letter that case-folds to "s": Python's lower() keeps it, so a
    # plain lowercase comparison would let "ſales@" live beside "sales@".
    assert scim.post("Users", _user("sales@acme.com"))[0] == 201
    before = User.objects.count()

    status, body = scim.post("Users", _user("ſales-2", "ſales@acme.com"))

    assert_scim_error(status, body, http_status=409, scim_type="uniqueness")
    assert User.objects.count() == before


def test_the_sign_in_finds_the_user_by_the_email_key(acme):
    sales = User.objects.create(company=acme.company, email="sales@acme.com", username="sales")

    user = login_as(acme.connection, attributes=okta_attributes("ſales@acme.com"))

    assert user == sales
    assert User.objects.filter(company=acme.company).count() == 3  # no second "sales"


def test_the_deprovision_command_finds_the_user_by_the_email_key(acme):
    sales = User.objects.create(company=acme.company, email="sales@acme.com", username="sales")

    call_command("deprovision", "ſALES@acme.com", stdout=io.StringIO())

    sales.refresh_from_db()
    assert sales.is_active is False


def test_the_admin_login_finds_the_user_by_the_email_key(client, staff_user):
    assert client.login(username="SUPPORT@SSO.TEST", password="correct-horse-battery")
    client.logout()
    assert client.login(username="ſupport@ſſo.test", password="correct-horse-battery")

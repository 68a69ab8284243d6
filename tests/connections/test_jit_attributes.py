"""The attribute contract: every row of the SPEC's attribute table, the common alternative names,
and a connection's override, each through a real signed response posted to the ACS (plus a few
direct checks of ``map_identity`` where the precedence rules read more clearly in isolation).

Every login here is a first JIT login, so what the user row holds is exactly what the mapping read.
"""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from accounts.models import Role, User, UserSource
from connections.attributes import map_identity
from connections.models import Connection
from connections.services import connection_update
from tests.connections.jit_helpers import assert_refused, login_as, saml_login
from tests.saml_idp import okta_attributes

WS2005 = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims"


# --- the Okta attribute table of the customer guide --------------------------------------------


def test_guide_attribute_statement_fills_every_user_field(acme):
    user = login_as(
        acme.connection,
        attributes=okta_attributes(
            "ada.lovelace@acme.com",
            user_name="ada.lovelace",
            first="Ada",
            last="Lovelace",
            user_type="manager",
            division="Marketing",
        ),
    )

    assert user.email == "ada.lovelace@acme.com"
    assert user.username == "ada.lovelace"
    assert user.first_name == "Ada"
    assert user.last_name == "Lovelace"
    assert user.role == Role.MANAGER
    assert user.team == acme.teams["Marketing"]
    assert user.company == acme.company
    assert user.source == UserSource.JIT


def test_user_name_maps_to_username(acme):
    user = login_as(
        acme.connection,
        attributes=okta_attributes("grace@acme.com", user_name="ghopper"),
    )
    assert user.username == "ghopper"
    assert user.email == "grace@acme.com"


def test_email_attribute_is_the_login_identity_not_the_name_id(acme):
    # Okta can send an opaque NameID (its user id) when the app uses "Okta username" or a custom
    # format; the email attribute is the identity then.
    user = login_as(
        acme.connection,
        attributes=okta_attributes("linus@acme.com"),
        name_id="00u1a2b3c4d5e6f7g8h9",
    )
    assert user.email == "linus@acme.com"
    assert User.objects.filter(company=acme.company).count() == 3  # admin, member, linus


def test_email_attribute_wins_over_an_email_shaped_name_id(acme):
    user = login_as(
        acme.connection,
        attributes=okta_attributes("real@acme.com"),
        name_id="alias@acme.com",
    )
    assert user.email == "real@acme.com"
    assert not User.objects.filter(email="alias@acme.com").exists()


def test_name_id_is_the_email_when_the_email_attribute_is_absent(acme):
    user = login_as(
        acme.connection,
        attributes={"givenName": "Nina", "familyName": "Simone"},
        name_id="Nina.Simone@Acme.com",
    )
    assert user.email == "nina.simone@acme.com"  # emails are stored lowercased
    assert (user.first_name, user.last_name) == ("Nina", "Simone")


def test_name_id_is_the_email_when_there_is_no_attribute_statement_at_all(acme):
    user = login_as(acme.connection, attributes=None, name_id="bare@acme.com")
    assert user.email == "bare@acme.com"
    assert user.role == Role.SENDER
    assert user.team == acme.connection.default_team


def test_no_email_anywhere_is_attribute_missing_and_creates_nobody(acme):
    client = Client()
    users_before = User.objects.count()
    response = saml_login(
        acme.connection,
        attributes={"givenName": "Nobody", "division": "Sales"},
        name_id="00u1a2b3c4d5e6f7g8h9",
        client=client,
    )
    assert_refused(response, acme.connection, "attribute_missing", client=client)
    assert User.objects.count() == users_before


def test_given_name_and_family_name_map_to_first_and_last_name(acme):
    user = login_as(
        acme.connection,
        attributes=okta_attributes("alan@acme.com", first="Alan", last="Turing"),
    )
    assert (user.first_name, user.last_name) == ("Alan", "Turing")


@pytest.mark.parametrize(
    ("user_type", "role"),
    [
        ("sender", Role.SENDER),
        ("manager", Role.MANAGER),
        ("department_admin", Role.DEPARTMENT_ADMIN),
        ("admin", Role.ADMIN),
    ],
)
def test_user_type_maps_to_each_of_the_four_roles(acme, user_type, role):
    user = login_as(
        acme.connection,
        attributes=okta_attributes(f"{user_type}@acme.com", user_type=user_type),
    )
    assert user.role == role


@pytest.mark.parametrize(
    ("user_type", "role"),
    [
        ("Department_Admin", Role.DEPARTMENT_ADMIN),
        ("ADMIN", Role.ADMIN),
        ("Manager", Role.MANAGER),
        ("SeNdEr", Role.SENDER),
        (" manager ", Role.MANAGER),
    ],
)
def test_user_type_is_case_insensitive(acme, user_type, role):
    user = login_as(
        acme.connection,
        attributes=okta_attributes("casey@acme.com", user_type=user_type),
    )
    assert user.role == role


@pytest.mark.parametrize("team", ["Sales", "Marketing"])
def test_division_maps_to_the_team_of_that_exact_name(acme, team):
    # Marketing is not the default team, so landing there proves the division was read.
    user = login_as(
        acme.connection,
        attributes=okta_attributes("dana@acme.com", division=team),
    )
    assert user.team == acme.teams[team]


# --- the common alternatives ------------------------------------------------------------------


def test_entra_ws2005_claim_uris(acme):
    user = login_as(
        acme.connection,
        attributes={
            f"{WS2005}/emailaddress": "Entra.User@acme.com",
            f"{WS2005}/givenname": "Entra",
            f"{WS2005}/surname": "User",
            f"{WS2005}/name": "entra.user@acme.onmicrosoft.com",
        },
        # Entra's default NameID is an opaque persistent identifier, not the email.
        name_id="X5xQm1Xo3w0D7GmKvPj1wT0Yq6hE0i3bq2r0Qw9L8pE",
    )
    assert user.email == "entra.user@acme.com"
    assert (user.first_name, user.last_name) == ("Entra", "User")
    assert user.username == "entra.user@acme.onmicrosoft.com"


def test_first_name_and_last_name_alternatives(acme):
    user = login_as(
        acme.connection,
        attributes={"email": "fl@acme.com", "firstName": "Frances", "lastName": "Allen"},
    )
    assert (user.first_name, user.last_name) == ("Frances", "Allen")


def test_mail_alternative_for_the_email(acme):
    user = login_as(
        acme.connection,
        attributes={"mail": "mail.user@acme.com", "givenName": "Mail"},
        name_id="00u_opaque_okta_id",
    )
    assert user.email == "mail.user@acme.com"
    assert user.first_name == "Mail"


# --- the per-connection override ----------------------------------------------------------------


def _override(acme, mapping):
    connection_update(connection=acme.connection, attribute_mapping=mapping, actor_label="test")
    acme.connection.refresh_from_db()
    assert acme.connection.attribute_mapping == mapping


def test_override_reads_the_named_attributes(acme):
    _override(acme, {"email": "corpEmail", "team": "dept"})
    user = login_as(
        acme.connection,
        attributes={"corpEmail": "override@acme.com", "dept": "Marketing", "givenName": "Olive"},
        name_id="00u_opaque_okta_id",
    )
    assert user.email == "override@acme.com"
    assert user.team == acme.teams["Marketing"]
    assert user.first_name == "Olive"  # fields without an override keep their defaults


def test_override_means_the_default_email_attribute_is_not_read(acme):
    _override(acme, {"email": "corpEmail", "team": "dept"})
    user = login_as(
        acme.connection,
        attributes={"email": "default.name@acme.com", "corpEmail": "override@acme.com"},
        name_id="00u_opaque_okta_id",
    )
    assert user.email == "override@acme.com"
    assert not User.objects.filter(email="default.name@acme.com").exists()


def test_override_without_its_attribute_falls_back_to_the_name_id_not_the_default_name(acme):
    _override(acme, {"email": "corpEmail", "team": "dept"})
    user = login_as(
        acme.connection,
        attributes={"email": "default.name@acme.com"},
        name_id="from.name.id@acme.com",
    )
    assert user.email == "from.name.id@acme.com"
    assert not User.objects.filter(email="default.name@acme.com").exists()


def test_override_means_the_default_division_attribute_is_not_read(acme):
    _override(acme, {"email": "corpEmail", "team": "dept"})
    user = login_as(
        acme.connection,
        attributes={"corpEmail": "divless@acme.com", "division": "Marketing"},
        name_id="00u_opaque_okta_id",
    )
    # "division" is ignored, so the team is missing: the default team, not Marketing.
    assert user.team == acme.teams["Sales"]


def test_override_is_per_connection(acme, globex):
    _override(acme, {"email": "corpEmail", "team": "dept"})
    user = login_as(
        globex.connection,
        attributes=okta_attributes("plain@globex.com", division="Marketing")
        | {"corpEmail": "ignored@globex.com", "dept": "Sales"},
    )
    assert user.email == "plain@globex.com"
    assert user.team == globex.teams["Marketing"]


def test_the_mapping_example_the_admin_shows_is_accepted(acme):
    help_text = str(Connection._meta.get_field("attribute_mapping").help_text)
    example = json.loads(re.search(r"\{.*\}", help_text).group(0))
    connection_update(connection=acme.connection, attribute_mapping=example, actor_label="test")
    acme.connection.refresh_from_db()
    assert acme.connection.attribute_mapping == example


def test_a_mapping_keyed_by_the_guides_attribute_names_is_honoured(acme):
    connection_update(
        connection=acme.connection, attribute_mapping={"division": "dept"}, actor_label="test"
    )
    acme.connection.refresh_from_db()
    user = login_as(
        acme.connection,
        attributes=okta_attributes("dept@acme.com", division="Sales") | {"dept": "Marketing"},
    )
    assert user.team == acme.teams["Marketing"]


# --- map_identity on its own -------------------------------------------------------------------


def test_map_identity_reads_the_guide_names():
    identity = map_identity(
        attributes={
            "user_name": ["ada"],
            "email": ["Ada@Acme.com"],
            "givenName": ["Ada"],
            "familyName": ["Lovelace"],
            "userType": ["admin"],
            "division": ["Sales"],
        },
        name_id="ignored@acme.com",
    )
    assert identity is not None
    assert (identity.email, identity.email_source) == ("ada@acme.com", "attribute")
    assert identity.username == "ada"
    assert (identity.first_name, identity.last_name) == ("Ada", "Lovelace")
    assert (identity.role, identity.team) == ("admin", "Sales")


def test_map_identity_prefers_the_okta_name_over_an_alternative():
    identity = map_identity(
        attributes={
            "mail": ["alt@acme.com"],
            "email": ["okta@acme.com"],
            "firstName": ["Alt"],
            "givenName": ["Okta"],
        },
        name_id="x@acme.com",
    )
    assert identity is not None
    assert identity.email == "okta@acme.com"
    assert identity.first_name == "Okta"


def test_map_identity_absent_fields_are_none_and_name_id_is_the_email():
    identity = map_identity(attributes={}, name_id=" Someone@Acme.com ")
    assert identity is not None
    assert (identity.email, identity.email_source) == ("someone@acme.com", "name_id")
    assert identity.username is None
    assert identity.first_name is None
    assert identity.last_name is None
    assert identity.role is None
    assert identity.team is None


def test_map_identity_blank_values_count_as_absent():
    identity = map_identity(
        attributes={"email": ["  "], "division": [""], "userType": ["   "]},
        name_id="fallback@acme.com",
    )
    assert identity is not None
    assert identity.email == "fallback@acme.com"
    assert identity.team is None
    assert identity.role is None


def test_map_identity_without_a_usable_email_is_none():
    assert map_identity(attributes={"givenName": ["A"]}, name_id="00u_opaque") is None
    assert map_identity(attributes={"email": ["not-an-email"]}, name_id="") is None


def test_map_identity_override_replaces_the_default_names():
    attributes = {"email": ["default@acme.com"], "division": ["Sales"], "dept": ["Marketing"]}
    identity = map_identity(
        attributes=attributes,
        name_id="nameid@acme.com",
        overrides={"email": "corpEmail", "team": "dept"},
    )
    assert identity is not None
    assert (identity.email, identity.email_source) == ("nameid@acme.com", "name_id")
    assert identity.team == "Marketing"

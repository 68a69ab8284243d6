"""Every major IdP out of the box: responses shaped exactly as each product sends them
(``tests/idp_shapes.py``), signed by the test IdP, through the real SP-initiated flow; each signs
the person in with the right email, names, role and team. Then what goes wrong with them: a
OneLogin app left on SHA-1, and an IdP that sends no email at all.
"""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import Role, User
from audit.models import AuditEvent
from connections.models import Connection
from connections.services import connection_update
from tests.certs import make_keypair
from tests.connections.saml_helpers import (
    assert_refused,
    finish,
    post_to_acs,
    signed_in_email,
    start_login,
)
from tests.factories import ConnectionFactory
from tests.idp_shapes import PROFILES, Attr, Person, Profile, ShapedIdP

pytestmark = pytest.mark.usefixtures("signature_backend")

PERSON = Person(
    email="ada.lovelace@acme.com",
    username="alovelace",
    first="Ada",
    last="Lovelace",
    role="manager",
    team="Marketing",  # not acme's default team (Sales): landing there proves it was read
)


@pytest.fixture
def idp_key():
    return make_keypair("idp.acme.example", slot="idp-shapes")


def _connection(acme, profile: Profile, idp_key) -> Connection:
    return ConnectionFactory(
        company=acme.company,
        name=f"acme-{profile.key}",
        sign_on_url=profile.sso_url,
        idp_entity_id=profile.entity_id,
        default_team=acme.teams["Sales"],
        keypair=idp_key,
    )


def _sign_in(client: Client, connection: Connection, idp: ShapedIdP, person: Person, **options):
    start, _ = start_login(client, connection)
    xml = idp.respond_to(start["Location"], person, **options)
    return post_to_acs(client, connection, xml)


@pytest.mark.parametrize("key", sorted(PROFILES))
def test_each_idp_signs_in_with_the_right_names_role_and_team(acme, idp_key, client, key):
    profile = PROFILES[key]
    connection = _connection(acme, profile, idp_key)

    done = finish(client, _sign_in(client, connection, ShapedIdP(profile, idp_key), PERSON))

    assert done.status_code == 302, done.content[:1000]
    assert signed_in_email(client) == PERSON.email
    user = User.objects.get(email=PERSON.email)
    assert (user.first_name, user.last_name) == ("Ada", "Lovelace")
    assert user.role == Role.MANAGER
    assert user.team == acme.teams["Marketing"]
    assert user.company == acme.company


def test_twelve_configurations_of_eleven_products_are_covered():
    assert len(PROFILES) == 12
    assert len({profile.product for profile in PROFILES.values()}) == 10  # Keycloak thrice


@pytest.mark.parametrize(
    ("role", "expected"),
    [("admin", Role.ADMIN), ("department_admin", Role.DEPARTMENT_ADMIN), (None, Role.SENDER)],
)
def test_keycloak_role_list_gives_the_highest_of_the_four_roles_among_realm_roles(
    acme, idp_key, client, role, expected
):
    """Keycloak's role list sends every realm role (default-roles-acme, offline_access...) as
    its own Attribute: the one that is ours counts; none of ours is the default, sender."""
    profile = PROFILES["keycloak-x500"]
    connection = _connection(acme, profile, idp_key)
    person = Person(**{**PERSON.__dict__, "role": role})

    finish(client, _sign_in(client, connection, ShapedIdP(profile, idp_key), person))

    assert User.objects.get(email=PERSON.email).role == expected


def test_keycloak_x500_username_name_id_is_not_taken_for_the_email(acme, idp_key, client):
    profile = PROFILES["keycloak-x500"]
    connection = _connection(acme, profile, idp_key)

    finish(client, _sign_in(client, connection, ShapedIdP(profile, idp_key), PERSON))

    assert not User.objects.filter(email__startswith="alovelace").exists()
    event = AuditEvent.objects.get(action="sso.login", target=PERSON.email)
    assert event.connection_id == connection.pk


def test_friendly_name_counts_only_where_the_name_is_an_oid(acme, idp_key, client):
    """A FriendlyName "email" on an attribute whose Name is not an OID is not the email."""
    profile = PROFILES["keycloak-user-property"]
    tricky = Profile(
        **{
            **profile.__dict__,
            "key": "keycloak-friendly-decoy",
            "name_id": lambda p: ("alovelace", "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"),
            "attributes": lambda p: [Attr("contact", (p.email,), friendly_name="email")],
        }
    )  # fmt: skip
    connection = _connection(acme, tricky, idp_key)
    users_before = User.objects.count()

    response = finish(client, _sign_in(client, connection, ShapedIdP(tricky, idp_key), PERSON))

    assert_refused(response, "attribute_missing", users_before=users_before, connection=connection)


# --- attribute_missing says what the IdP sent ------------------------------------------------------


def test_attribute_missing_names_the_attributes_it_saw(acme, idp_key, client):
    """Keycloak with only the role list mapper and a username NameID: the page and the event say
    what arrived (names and FriendlyNames, never values) and where the email is expected."""
    profile = PROFILES["keycloak-x500"]
    bare = Profile(
        **{
            **profile.__dict__,
            "key": "keycloak-bare",
            "attributes": lambda p: [
                Attr("urn:oid:2.5.4.42", (p.first,), friendly_name="givenName"),
                Attr("Role", ("offline_access",)),
            ],
        }
    )
    connection = _connection(acme, bare, idp_key)
    users_before = User.objects.count()

    response = finish(client, _sign_in(client, connection, ShapedIdP(bare, idp_key), PERSON))

    event = assert_refused(
        response, "attribute_missing", users_before=users_before, connection=connection
    )
    page = response.content.decode()
    assert "Role, urn:oid:2.5.4.42 (givenName)" in page
    assert "format &#x27;unspecified&#x27;" in page
    assert "attribute named &#x27;email&#x27;" in page
    assert "Ada" not in page and "offline_access" not in page  # names only, no values
    assert event.details["attributes"] == ["Role", "urn:oid:2.5.4.42 (givenName)"]
    assert event.details["name_id"] == "alovelace"
    assert event.details["name_id_format"].endswith(":unspecified")


def test_attribute_missing_with_an_override_names_the_attribute_it_looked_for(
    acme, idp_key, client
):
    profile = PROFILES["keycloak-x500"]
    connection = _connection(acme, profile, idp_key)
    connection = connection_update(connection=connection, attribute_mapping={"email": "corpMail"})
    connection.keypair = idp_key
    users_before = User.objects.count()

    response = finish(client, _sign_in(client, connection, ShapedIdP(profile, idp_key), PERSON))

    event = assert_refused(
        response, "attribute_missing", users_before=users_before, connection=connection
    )
    assert "the attribute &#x27;corpMail&#x27;" in response.content.decode()
    assert event.details["looked_for"] == "corpMail"


def test_attribute_missing_lists_a_bounded_number_of_names(acme, idp_key, client):
    profile = PROFILES["entra"]
    many = Profile(
        **{
            **profile.__dict__,
            "key": "entra-many-groups",
            "name_id": lambda p: ("4b3c2d1e-opaque", "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"),
            "attributes": lambda p: [Attr(f"group{n}-" + "x" * 300, ("v",)) for n in range(40)],
        }
    )  # fmt: skip
    connection = _connection(acme, many, idp_key)

    response = finish(client, _sign_in(client, connection, ShapedIdP(many, idp_key), PERSON))

    event = AuditEvent.objects.filter(action="sso.login_refused").latest("id")
    assert event.error_code == "attribute_missing"
    # The page names the first 25 (120 characters each at most) and says how many more; the
    # audit event keeps what fits its size limit (core.untrusted) and says what it cut.
    page = response.content.decode()
    assert "and 15 more" in page
    assert ("group0-" + "x" * 113) in page and ("group0-" + "x" * 114) not in page
    listed, cut = event.details["attributes"][:-1], event.details["attributes"][-1]
    assert listed and all(name.startswith("group") and len(name) <= 120 for name in listed)
    assert cut == f"…[+{25 - len(listed)} items]"
    assert event.details["attributes_not_listed"] == 15
    assert signed_in_email(client) is None


# --- SHA-1: the algorithm and the fix, not the certificate ------------------------------------------


def _refused_for_sha1(acme, idp_key, client, profile: Profile):
    """``profile``'s IdP signs with RSA-SHA1: refused as saml_signature_invalid, nobody signed
    in; returns (the page, the audit event)."""
    connection = _connection(acme, profile, idp_key)
    users_before = User.objects.count()

    response = _sign_in(
        client, connection, ShapedIdP(profile, idp_key), PERSON, algorithm="rsa-sha1"
    )

    event = assert_refused(
        response, "saml_signature_invalid", users_before=users_before, connection=connection
    )
    return response.content.decode(), event


def test_onelogin_on_its_sha1_default_is_told_to_set_sha256_in_onelogin(acme, idp_key, client):
    page, event = _refused_for_sha1(acme, idp_key, client, PROFILES["onelogin"])

    assert "OneLogin signs with RSA-SHA1" in page
    assert "set SHA-256 as the SAML signature algorithm in OneLogin" in page
    assert "does not match the certificate" not in page
    assert event.details["algorithm"] == "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
    assert event.details["idp_product"] == "OneLogin"
    assert event.details["fix"].startswith(
        "set SHA-256 as the SAML signature algorithm in OneLogin"
    )
    assert "configured_certificates" not in event.details
    assert not User.objects.filter(email=PERSON.email).exists()


@pytest.mark.parametrize(
    ("key", "product", "where"),
    [
        ("entra", "Microsoft Entra ID", "Signing Algorithm"),
        ("adfs", "AD FS", "secure hash algorithm"),
        ("keycloak-x500", "Keycloak", "RSA_SHA256"),
        ("okta-signed-response", "Okta", "RSA-SHA256"),
    ],
)
def test_sha1_from_other_idps_names_where_their_admin_changes_it(
    acme, idp_key, client, key, product, where
):
    page, event = _refused_for_sha1(acme, idp_key, client, PROFILES[key])

    assert f"{product} signs with RSA-SHA1" in page
    assert where in event.details["fix"]


def test_sha1_from_an_unrecognised_idp_gets_the_generic_fix(acme, idp_key, client):
    profile = Profile(
        **{
            **PROFILES["pingone"].__dict__,
            "entity_id": "https://idp.acme.example/saml",
            "sso_url": "https://idp.acme.example/saml/sso",
        }
    )

    page, event = _refused_for_sha1(acme, idp_key, client, profile)

    assert "the identity provider signs with RSA-SHA1" in page
    assert "set the SAML signature algorithm (and digest) to SHA-256" in page
    assert event.details["idp_product"] == "the identity provider"

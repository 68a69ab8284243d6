"""SAML sign-in that succeeds: SP- and IdP-initiated end to end through the test client, the SP
metadata, the home page, sign-out, the ``/sso/`` sign-in page and the deliberate account switch.

Every response is signed by the test IdP and verified by the production code (pysaml2, xmlsec1).
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.conf import settings
from django.test import Client
from lxml import etree

from accounts.models import Role, User, UserSource
from connections.models import ConnectionStatus, PendingAuthnRequest
from connections.services import connection_add_certificate, connection_update
from tests.certs import make_keypair
from tests.connections.saml_helpers import (
    assert_refused,
    finish,
    idp_for,
    idp_response,
    post_to_acs,
    sign_in,
    signed_in_email,
    signed_in_user,
    start_login,
)
from tests.factories import ConnectionFactory
from tests.saml_idp import BINDING_POST, NS_MD, TestIdP, okta_attributes

# Every test twice: signatures verified in process, and by pysaml2 with xmlsec1 (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("signature_backend")

NEW_EMAIL = "grace.hopper@acme.com"


def grace_attributes(**overrides):
    values = {
        "user_name": "ghopper",
        "first": "Grace",
        "last": "Hopper",
        "user_type": "Manager",
        "division": "Marketing",
    }
    values.update(overrides)
    return okta_attributes(NEW_EMAIL, **values)


# --- SP-initiated ------------------------------------------------------------------------------


def test_login_redirects_to_the_idp_with_an_authn_request_for_the_connection(acme, client):
    connection = acme.connection

    response, request = start_login(client, connection, next_path="/reports/")

    assert response["Location"].startswith(connection.sign_on_url + "?")
    assert request.acs_url == connection.acs_url
    assert request.issuer == connection.sp_entity_id
    assert request.destination == connection.sign_on_url
    assert request.id
    # The request is bound to this browser by a cookie only this login uses.
    binding = [name for name in response.cookies if name.startswith("sso_bind_")]
    assert len(binding) == 1
    assert response.cookies[binding[0]]["httponly"]
    assert PendingAuthnRequest.objects.filter(request_id=request.id).count() == 1


def test_sp_initiated_login_creates_the_jit_user_and_lands_on_next(acme, client):
    connection = acme.connection
    response, request = start_login(client, connection, next_path="/reports/?page=2")
    xml = idp_for(acme).respond_to(
        response["Location"], name_id=NEW_EMAIL, attributes=grace_attributes()
    )

    acs = post_to_acs(client, connection, xml)
    assert acs.status_code == 303
    assert acs["Location"] == f"/sso/{connection.name}/finish/"
    assert "sso_finish" in acs.cookies
    done = finish(client, acs)

    assert done.status_code == 302
    assert done["Location"] == "/reports/?page=2"
    user = signed_in_user(client)
    assert user is not None and user.email == NEW_EMAIL
    assert (user.company, user.first_name, user.last_name, user.username) == (
        acme.company,
        "Grace",
        "Hopper",
        "ghopper",
    )
    assert user.role == Role.MANAGER
    assert user.team == acme.teams["Marketing"]
    assert user.source == UserSource.JIT
    # The request is answered once: nothing of it stays pending.
    assert not PendingAuthnRequest.objects.filter(request_id=request.id).exists()


def test_sp_initiated_login_signs_in_an_existing_member_without_creating_anyone(acme, client):
    users_before = User.objects.count()
    response, _ = start_login(client, acme.connection, next_path="/x")
    xml = idp_for(acme).respond_to(
        response["Location"],
        name_id=acme.member.email,
        attributes=okta_attributes(acme.member.email, user_type="admin", division="Marketing"),
    )

    done = sign_in(client, acme.connection, xml)

    assert done["Location"] == "/x"
    assert signed_in_email(client) == acme.member.email
    assert User.objects.count() == users_before
    # JIT never updates: the existing user keeps their role and team.
    acme.member.refresh_from_db()
    assert (acme.member.role, acme.member.team) == (Role.SENDER, acme.teams["Sales"])


def test_sp_initiated_login_without_next_lands_on_home(acme, client):
    response, _ = start_login(client, acme.connection)
    xml = idp_for(acme).respond_to(
        response["Location"],
        name_id=acme.member.email,
        attributes=okta_attributes(acme.member.email),
    )

    done = sign_in(client, acme.connection, xml)

    assert done["Location"] == "/"
    assert signed_in_email(client) == acme.member.email


def test_sp_initiated_login_ignores_relay_state_and_uses_the_stored_next(acme, client):
    response, _ = start_login(client, acme.connection, next_path="/mine")
    xml = idp_for(acme).respond_to(
        response["Location"],
        name_id=acme.member.email,
        attributes=okta_attributes(acme.member.email),
    )

    done = sign_in(client, acme.connection, xml, relay_state="/somewhere-else")

    assert done["Location"] == "/mine"
    assert signed_in_email(client) == acme.member.email


def test_two_logins_started_in_two_tabs_both_complete(acme, client):
    first, first_request = start_login(client, acme.connection, next_path="/one")
    second, second_request = start_login(client, acme.connection, next_path="/two")
    assert first_request.id != second_request.id
    idp = idp_for(acme)
    attributes = okta_attributes(acme.member.email)

    done = sign_in(
        client,
        acme.connection,
        idp.respond_to(first["Location"], name_id=acme.member.email, attributes=attributes),
    )
    assert done["Location"] == "/one"
    done = sign_in(
        client,
        acme.connection,
        idp.respond_to(second["Location"], name_id=acme.member.email, attributes=attributes),
    )
    assert done["Location"] == "/two"
    assert signed_in_email(client) == acme.member.email


# --- IdP-initiated -----------------------------------------------------------------------------


def test_idp_initiated_login_lands_on_the_relay_state_path(acme, client):
    xml = idp_response(acme, NEW_EMAIL, attributes=grace_attributes(division=None))

    done = sign_in(client, acme.connection, xml, relay_state="/dashboard?tab=1")

    assert done.status_code == 302
    assert done["Location"] == "/dashboard?tab=1"
    user = signed_in_user(client)
    assert user.email == NEW_EMAIL
    # No division: JIT puts the user in the connection's default team.
    assert user.team == acme.teams["Sales"]


def test_idp_initiated_login_without_relay_state_lands_on_home(acme, client):
    done = sign_in(client, acme.connection, idp_response(acme, acme.admin.email))

    assert done["Location"] == "/"
    assert signed_in_email(client) == acme.admin.email


def test_idp_initiated_login_with_nameid_only_uses_the_nameid_as_email(acme, client):
    done = sign_in(client, acme.connection, idp_response(acme, acme.member.email, attributes={}))

    assert done.status_code == 302
    assert signed_in_email(client) == acme.member.email


# --- signature placements ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sign_assertion", "sign_response"),
    [(True, False), (True, True), (False, True)],
    ids=["assertion-signed", "response-and-assertion-signed", "only-response-signed"],
)
def test_each_signature_placement_is_accepted(acme, client, sign_assertion, sign_response):
    xml = idp_response(
        acme, acme.member.email, sign_assertion=sign_assertion, sign_response=sign_response
    )

    done = sign_in(client, acme.connection, xml, relay_state="/ok")

    assert done["Location"] == "/ok"
    assert signed_in_email(client) == acme.member.email


def test_sp_initiated_response_with_both_signatures_is_accepted(acme, client):
    response, _ = start_login(client, acme.connection, next_path="/both")
    xml = idp_for(acme).respond_to(
        response["Location"],
        name_id=acme.member.email,
        attributes=okta_attributes(acme.member.email),
        sign_response=True,
    )

    done = sign_in(client, acme.connection, xml)

    assert done["Location"] == "/both"
    assert signed_in_email(client) == acme.member.email


def test_a_certificate_added_for_a_rotation_verifies_beside_the_old_one(acme, client):
    new_key = make_keypair("acme.okta.example", slot="acme-rotated")
    connection_add_certificate(connection=acme.connection, certificate_data=new_key.cert_pem)
    first, second = Client(), Client()

    sign_in(first, acme.connection, idp_response(acme, acme.member.email))
    sign_in(
        second,
        acme.connection,
        idp_for(acme, keypair=new_key).response(
            acs_url=acme.connection.acs_url,
            audience=acme.connection.sp_entity_id,
            name_id=acme.admin.email,
        ),
    )

    assert signed_in_email(first) == acme.member.email
    assert signed_in_email(second) == acme.admin.email


def test_the_email_is_matched_case_insensitively(acme, client):
    users_before = User.objects.count()

    sign_in(client, acme.connection, idp_response(acme, "Member@ACME.com", attributes={}))

    assert signed_in_email(client) == acme.member.email
    assert User.objects.count() == users_before


# --- SP metadata -------------------------------------------------------------------------------


def test_metadata_names_the_sp_entity_id_and_the_acs_url(acme, client):
    connection = acme.connection

    response = client.get(f"/sso/{connection.name}/metadata/")

    assert response.status_code == 200
    assert "xml" in response["Content-Type"]
    root = etree.fromstring(response.content)
    assert root.tag == f"{{{NS_MD}}}EntityDescriptor"
    assert root.get("entityID") == connection.sp_entity_id
    assert connection.sp_entity_id == f"https://sso.test/sso/{connection.name}/metadata/"
    services = root.findall(f".//{{{NS_MD}}}SPSSODescriptor/{{{NS_MD}}}AssertionConsumerService")
    assert [(s.get("Location"), s.get("Binding")) for s in services] == [
        (connection.acs_url, BINDING_POST)
    ]


def test_metadata_of_each_connection_is_its_own(acme, globex, client):
    acme_root = etree.fromstring(client.get("/sso/acme/metadata/").content)
    globex_root = etree.fromstring(client.get("/sso/globex/metadata/").content)

    assert acme_root.get("entityID") == acme.connection.sp_entity_id
    assert globex_root.get("entityID") == globex.connection.sp_entity_id
    assert acme.connection.acs_url.encode() not in etree.tostring(globex_root)


# --- home page and sign-out ---------------------------------------------------------------------


def test_home_page_shows_who_is_signed_in(acme, client):
    sign_in(client, acme.connection, idp_response(acme, NEW_EMAIL, attributes=grace_attributes()))

    page = client.get("/").content.decode()

    assert "Grace Hopper" in page
    assert NEW_EMAIL in page
    assert "Acme Inc" in page
    assert "Manager" in page
    assert "Marketing" in page


def test_home_page_for_an_anonymous_visitor_links_to_sign_in(db, client):
    response = client.get("/")

    assert response.status_code == 200
    assert 'href="/sso/"' in response.content.decode()
    assert "You are signed in" not in response.content.decode()


def test_sign_out_ends_the_session(acme, client):
    sign_in(client, acme.connection, idp_response(acme, acme.member.email))
    assert signed_in_email(client) == acme.member.email

    # The GET only shows the form; signing out takes a POST.
    assert client.get("/sso/logout/").status_code == 200
    assert signed_in_email(client) == acme.member.email
    response = client.post("/sso/logout/")

    assert response.status_code == 302
    assert response["Location"] == "/sso/"
    assert signed_in_email(client) is None
    assert "You are signed in" not in client.get("/").content.decode()


# --- the /sso/ sign-in page ---------------------------------------------------------------------


def test_sign_in_page_shows_the_form(db, client):
    response = client.get("/sso/")

    assert response.status_code == 200
    assert 'name="identifier"' in response.content.decode()


def test_sign_in_page_sends_a_work_email_to_its_company_connection(acme, globex, client):
    response = client.post("/sso/", {"identifier": "Someone@ACME.com"})

    assert response.status_code == 302
    assert response["Location"] == "/sso/acme/login/"


def test_sign_in_page_keeps_a_local_next(acme, client):
    response = client.post("/sso/?next=/reports/", {"identifier": "someone@acme.com"})

    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert location.path == "/sso/acme/login/"
    assert parse_qs(location.query) == {"next": ["/reports/"]}


def test_sign_in_page_carries_a_next_with_a_query_string_intact(acme, client):
    next_path = "/reports/?from=2024&to=2025"
    response = client.post("/sso/?" + urlencode({"next": next_path}), {"identifier": "acme"})
    assert response.status_code == 302
    login = client.get(response["Location"])
    xml = idp_for(acme).respond_to(
        login["Location"], name_id=acme.member.email, attributes=okta_attributes(acme.member.email)
    )

    done = sign_in(client, acme.connection, xml)

    assert done["Location"] == next_path


def test_sign_in_page_drops_a_foreign_next(acme, client):
    response = client.post("/sso/?next=//evil.example/", {"identifier": "someone@acme.com"})

    assert response.status_code == 302
    assert response["Location"] == "/sso/acme/login/"


def test_sign_in_page_sends_a_connection_name_to_that_connection(acme, globex, client):
    response = client.post("/sso/", {"identifier": "globex"})

    assert response.status_code == 302
    assert response["Location"] == "/sso/globex/login/"


def test_sign_in_page_lists_the_choices_of_a_company_with_two_connections(acme, client):
    ConnectionFactory(company=acme.company, name="acme-new")

    response = client.post("/sso/", {"identifier": "someone@acme.com"})

    assert response.status_code == 200
    page = response.content.decode()
    assert 'href="/sso/acme/login/"' in page
    assert 'href="/sso/acme-new/login/"' in page


@pytest.mark.parametrize(
    "identifier", ["someone@unknown.example", "no-such-connection", "stranger"]
)
def test_sign_in_page_explains_an_unknown_email_or_name(acme, stranger, client, identifier):
    response = client.post("/sso/", {"identifier": identifier})

    assert response.status_code == 200
    assert "We found no single sign-on for that email address or connection name" in (
        response.content.decode()
    )


def test_sign_in_page_does_not_offer_a_disabled_connection(acme, client):
    connection_update(connection=acme.connection, status=ConnectionStatus.DISABLED)

    for identifier in ("acme", "someone@acme.com"):
        response = client.post("/sso/", {"identifier": identifier})
        assert response.status_code == 200
        assert "We found no single sign-on" in response.content.decode()


# --- a browser already signed in as someone else ------------------------------------------------


def test_a_browser_signed_in_as_someone_else_is_asked_before_switching(acme, client):
    client.force_login(acme.member)
    acs = post_to_acs(client, acme.connection, idp_response(acme, acme.admin.email), "/next")

    page = finish(client, acs)

    assert page.status_code == 200
    assert "sso/confirm_switch.html" in [t.name for t in page.templates]
    assert acme.member.email in page.content.decode()
    assert acme.admin.email in page.content.decode()
    assert signed_in_email(client) == acme.member.email

    switched = client.post(acs["Location"], {"choice": "switch"})

    assert switched.status_code == 302
    assert switched["Location"] == "/next"
    assert signed_in_email(client) == acme.admin.email


def test_choosing_to_stay_keeps_the_original_session_and_drops_the_sign_in(acme, client):
    client.force_login(acme.member)
    users_before = User.objects.count()
    acs = post_to_acs(client, acme.connection, idp_response(acme, NEW_EMAIL), "/next")
    finish(client, acs)

    stayed = client.post(acs["Location"], {"choice": "stay"})

    assert stayed.status_code == 302
    assert stayed["Location"] == "/"
    assert signed_in_email(client) == acme.member.email
    assert User.objects.count() == users_before
    # The pending sign-in is gone: asking to switch afterwards does nothing.
    again = client.post(acs["Location"], {"choice": "switch"})
    assert again.status_code == 403
    assert '<span class="code">saml_expired</span>' in again.content.decode()
    assert signed_in_email(client) == acme.member.email
    assert not User.objects.filter(email=NEW_EMAIL).exists()


def test_sp_initiated_switch_needs_the_post_too(acme, client):
    client.force_login(acme.member)
    response, _ = start_login(client, acme.connection, next_path="/after")
    xml = idp_for(acme).respond_to(
        response["Location"], name_id=acme.admin.email, attributes=okta_attributes(acme.admin.email)
    )
    acs = post_to_acs(client, acme.connection, xml)

    page = finish(client, acs)
    assert "sso/confirm_switch.html" in [t.name for t in page.templates]
    assert signed_in_email(client) == acme.member.email

    switched = client.post(acs["Location"], {"choice": "switch"})
    assert switched["Location"] == "/after"
    assert signed_in_email(client) == acme.admin.email


def test_the_switch_needs_the_confirm_pages_csrf_token(acme):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(acme.member)
    acs = post_to_acs(browser, acme.connection, idp_response(acme, acme.admin.email), "/next")
    page = finish(browser, acs)
    assert "sso/confirm_switch.html" in [t.name for t in page.templates]

    forged = browser.post(acs["Location"], {"choice": "switch"})

    assert forged.status_code == 403
    assert signed_in_email(browser) == acme.member.email
    token = browser.cookies[settings.CSRF_COOKIE_NAME].value
    switched = browser.post(acs["Location"], {"choice": "switch", "csrfmiddlewaretoken": token})
    assert switched["Location"] == "/next"
    assert signed_in_email(browser) == acme.admin.email


def test_signing_in_again_as_the_same_person_needs_no_confirmation(acme, client):
    client.force_login(acme.member)

    done = sign_in(client, acme.connection, idp_response(acme, acme.member.email), "/same")

    assert done.status_code == 302
    assert done["Location"] == "/same"
    assert signed_in_email(client) == acme.member.email


# --- a draft connection: only the staff test login --------------------------------------------


def test_staff_test_login_on_a_draft_connection_reports_without_signing_in(
    acme, staff_user, client
):
    draft = ConnectionFactory(
        company=acme.company,
        name="acme-draft",
        status=ConnectionStatus.DRAFT,
        default_team=acme.teams["Sales"],
    )
    client.force_login(staff_user)
    users_before = User.objects.count()
    response = client.get("/sso/acme-draft/login/", {"test": "1"})
    assert response.status_code == 302
    idp = TestIdP(entity_id=draft.idp_entity_id, keypair=draft.keypair)
    xml = idp.respond_to(response["Location"], name_id=NEW_EMAIL, attributes=grace_attributes())

    page = sign_in(client, draft, xml)

    assert page.status_code == 200
    assert "sso/test_result.html" in [t.name for t in page.templates]
    assert NEW_EMAIL in page.content.decode()
    assert signed_in_email(client) == staff_user.email
    assert User.objects.count() == users_before


def test_a_normal_login_on_the_same_draft_connection_is_refused(acme, client):
    ConnectionFactory(company=acme.company, name="acme-draft", status=ConnectionStatus.DRAFT)
    users_before = User.objects.count()

    response = client.get("/sso/acme-draft/login/")

    assert_refused(response, "connection_disabled", users_before=users_before)

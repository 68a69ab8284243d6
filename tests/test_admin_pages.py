"""The admin: support staff can reach every page; writes go through the services (audited);
company users cannot get in; the audit trail is read-only."""

from __future__ import annotations

import base64

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from lxml import html

from accounts.models import Company
from audit.models import AuditEvent
from audit.services import audit_record
from connections.models import Connection, ConnectionStatus, SigningCertificate
from tests.certs import make_keypair

CONNECTION_FORM = "connection_form"


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture(scope="module")
def new_idp():
    return make_keypair("new.admin.test", slot="admin")


def _form_values(response, form_id: str) -> dict[str, str]:
    """The values a browser would submit from the rendered form (files aside)."""
    assert response.status_code == 200
    form = html.fromstring(response.content).get_element_by_id(form_id)
    return dict(form.form_values())


def _counts() -> tuple[int, ...]:
    return tuple(m.objects.count() for m in (Connection, SigningCertificate, AuditEvent))


# --- every page loads -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "model", ["accounts_company", "accounts_user", "connections_connection", "audit_auditevent"]
)
def test_staff_can_load_the_changelist(staff_client, acme, globex, model):
    audit_record(action="connection.created", connection=acme.connection, target="acme")

    response = staff_client.get(reverse(f"admin:{model}_changelist"))

    assert response.status_code == 200


def test_staff_can_load_the_company_change_page(staff_client, acme):
    response = staff_client.get(reverse("admin:accounts_company_change", args=[acme.company.pk]))

    assert response.status_code == 200
    assert b"acme.com" in response.content  # the domain inline
    assert b"Marketing" in response.content  # the team inline


def test_staff_can_load_the_user_change_page(staff_client, acme):
    response = staff_client.get(reverse("admin:accounts_user_change", args=[acme.member.pk]))

    assert response.status_code == 200
    assert b"member@acme.com" in response.content


def test_staff_can_load_the_connection_change_page_with_its_sp_values(staff_client, acme):
    response = staff_client.get(
        reverse("admin:connections_connection_change", args=[acme.connection.pk])
    )

    assert response.status_code == 200
    content = response.content.decode()
    assert "https://sso.test/sso/acme/metadata/" in content
    assert "https://sso.test/sso/acme/acs/" in content
    assert acme.connection.keypair.fingerprint in content


def test_staff_can_load_the_audit_event_page(staff_client, acme):
    event = audit_record(action="connection.created", connection=acme.connection, target="acme")

    response = staff_client.get(reverse("admin:audit_auditevent_change", args=[event.pk]))

    assert response.status_code == 200
    assert b"connection.created" in response.content


def test_staff_can_load_the_connection_add_page(staff_client, acme):
    response = staff_client.get(reverse("admin:connections_connection_add"))

    assert response.status_code == 200
    assert b'name="certificate_file"' in response.content


# --- adding and changing a connection goes through the services ----------------------------


def _add_form(staff_client, acme, **overrides) -> dict[str, str]:
    values = _form_values(
        staff_client.get(reverse("admin:connections_connection_add")), CONNECTION_FORM
    )
    values.update(
        company=str(acme.company.pk),
        name="acme-new",
        status=ConnectionStatus.ACTIVE,
        sign_on_url="https://acme.okta.example/app/new/sso/saml",
        idp_entity_id="http://www.okta.com/exknew",
        provisioning="jit",
        default_team=str(acme.teams["Marketing"].pk),
        allow_idp_initiated="on",
    )
    values.update(overrides)
    return values


def test_adding_a_connection_with_an_uploaded_certificate_goes_through_the_service(
    staff_client, staff_user, acme, new_idp
):
    data = _add_form(staff_client, acme)
    data["certificate_file"] = SimpleUploadedFile("okta.cert", new_idp.cert_pem)

    response = staff_client.post(reverse("admin:connections_connection_add"), data)

    assert response.status_code == 302, response.content.decode()[:2000]
    connection = Connection.objects.get(name="acme-new")
    assert connection.company == acme.company
    assert connection.status == ConnectionStatus.ACTIVE
    assert connection.default_team == acme.teams["Marketing"]
    assert connection.certificates.get().fingerprint_sha256 == new_idp.fingerprint
    event = AuditEvent.objects.get(action="connection.created")
    assert event.connection == connection
    assert event.actor == staff_user
    assert event.details["certificate_sha256"] == new_idp.fingerprint


def test_adding_a_connection_with_a_pasted_der_base64_certificate(staff_client, acme, new_idp):
    data = _add_form(
        staff_client, acme, certificate_text=base64.b64encode(new_idp.cert_der).decode()
    )

    response = staff_client.post(reverse("admin:connections_connection_add"), data)

    assert response.status_code == 302
    assert Connection.objects.get(name="acme-new").certificates.count() == 1


def test_uploading_a_private_key_shows_a_form_error_and_creates_nothing(
    staff_client, acme, new_idp
):
    data = _add_form(staff_client, acme)
    data["certificate_file"] = SimpleUploadedFile("okta.key", new_idp.key_pem)
    before = _counts()

    response = staff_client.post(reverse("admin:connections_connection_add"), data)

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["certificate_file"][0].startswith("This is a private key, not a certificate.")
    assert "This is a private key, not a certificate." in response.content.decode()
    assert _counts() == before
    assert not Connection.objects.filter(name="acme-new").exists()


def test_adding_a_connection_without_a_certificate_is_refused(staff_client, acme):
    before = _counts()

    response = staff_client.post(
        reverse("admin:connections_connection_add"), _add_form(staff_client, acme)
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["certificate_file"] == [
        "A signing certificate is required (or the IdP's metadata; a draft may start without "
        "either)."
    ]
    assert _counts() == before


def test_adding_a_connection_with_another_companys_default_team_is_refused(
    staff_client, acme, globex, new_idp
):
    data = _add_form(staff_client, acme, default_team=str(globex.teams["Sales"].pk))
    data["certificate_file"] = SimpleUploadedFile("okta.cert", new_idp.cert_pem)
    before = _counts()

    response = staff_client.post(reverse("admin:connections_connection_add"), data)

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["default_team"] == ["The default team belongs to another company."]
    assert _counts() == before


def test_adding_a_connection_with_a_bad_name_is_refused(staff_client, acme, new_idp):
    data = _add_form(staff_client, acme, name="Acme-New")
    data["certificate_file"] = SimpleUploadedFile("okta.cert", new_idp.cert_pem)
    before = _counts()

    response = staff_client.post(reverse("admin:connections_connection_add"), data)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["name"] == [
        "A connection name is all lowercase; try 'acme-new'."
    ]
    assert _counts() == before


def test_changing_a_connection_in_the_admin_is_audited_with_a_diff(
    staff_client, staff_user, acme, new_idp
):
    url = reverse("admin:connections_connection_change", args=[acme.connection.pk])
    data = _form_values(staff_client.get(url), CONNECTION_FORM)
    data["sign_on_url"] = "https://acme.okta.example/app/moved/sso/saml"
    data["certificate_file"] = SimpleUploadedFile("next.cert", new_idp.cert_pem)

    response = staff_client.post(url, data)

    assert response.status_code == 302, response.content.decode()[:2000]
    acme.connection.refresh_from_db()
    assert acme.connection.sign_on_url == "https://acme.okta.example/app/moved/sso/saml"
    assert acme.connection.certificates.count() == 2  # a rotation: the old one stays
    updated = AuditEvent.objects.get(action="connection.updated")
    assert updated.actor == staff_user
    assert updated.details["changes"] == {
        "sign_on_url": {
            "from": "https://acme.okta.example/app/sso/saml",
            "to": "https://acme.okta.example/app/moved/sso/saml",
        }
    }
    assert AuditEvent.objects.get(action="connection.certificate_added").actor == staff_user


# --- who gets in ----------------------------------------------------------------------------


def test_company_user_cannot_reach_the_admin(client, acme):
    acme.admin.set_password("a-long-company-password")
    acme.admin.save(update_fields=["password"])
    assert client.login(email="admin@acme.com", password="a-long-company-password")

    response = client.get("/admin/")

    assert response.status_code == 302
    assert response["Location"] == "/admin/login/?next=/admin/"


def test_company_user_cannot_sign_in_on_the_admin_login_page(client, acme):
    acme.admin.set_password("a-long-company-password")
    acme.admin.save(update_fields=["password"])

    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": "admin@acme.com", "password": "a-long-company-password"},
    )

    assert response.status_code == 200  # the login form again, with an error
    assert not response.context["form"].is_valid()
    assert "_auth_user_id" not in client.session


def test_company_user_cannot_reach_a_connection_page(client, acme):
    client.force_login(acme.admin)

    response = client.get(reverse("admin:connections_connection_change", args=[acme.connection.pk]))

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_anonymous_visitor_is_sent_to_the_admin_login(client, db):
    response = client.get("/admin/")

    assert response.status_code == 302
    assert response["Location"] == "/admin/login/?next=/admin/"


def test_staff_user_signs_in_on_the_admin_login_page(client, staff_user):
    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": "support@sso.test", "password": "correct-horse-battery"},
    )

    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


# --- the audit trail is read-only -----------------------------------------------------------


def test_audit_event_admin_has_no_add_page(staff_client, db):
    assert staff_client.get(reverse("admin:audit_auditevent_add")).status_code == 403


def test_audit_event_admin_refuses_changes(staff_client, acme):
    event = audit_record(action="connection.created", connection=acme.connection, target="acme")
    url = reverse("admin:audit_auditevent_change", args=[event.pk])

    response = staff_client.post(url, {"action": "tampered", "target": "x"})

    assert response.status_code == 403
    event.refresh_from_db()
    assert event.action == "connection.created"


def test_audit_event_admin_refuses_deletion(staff_client, acme):
    event = audit_record(action="connection.created", connection=acme.connection, target="acme")

    delete_page = staff_client.get(reverse("admin:audit_auditevent_delete", args=[event.pk]))
    bulk = staff_client.post(
        reverse("admin:audit_auditevent_changelist"),
        {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"},
    )

    assert delete_page.status_code == 403
    assert bulk.status_code in (200, 302)
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_audit_event_changelist_offers_no_add_or_delete(staff_client, acme):
    audit_record(action="connection.created", connection=acme.connection, target="acme")

    response = staff_client.get(reverse("admin:audit_auditevent_changelist"))

    content = response.content.decode()
    assert reverse("admin:audit_auditevent_add") not in content
    assert "delete_selected" not in content


def test_company_change_in_the_admin_is_audited(staff_client, staff_user, acme):
    url = reverse("admin:accounts_company_change", args=[acme.company.pk])
    data = _form_values(staff_client.get(url), "company_form")
    data["name"] = "Acme Corporation"

    response = staff_client.post(url, data)

    assert response.status_code == 302, response.content.decode()[:2000]
    assert Company.objects.get(pk=acme.company.pk).name == "Acme Corporation"
    event = AuditEvent.objects.get(action="company.changed")
    assert (event.actor, event.target, event.details) == (staff_user, "acme", {"fields": ["name"]})


def test_uploading_the_current_certificate_again_shows_a_form_error(staff_client, acme):
    url = reverse("admin:connections_connection_change", args=[acme.connection.pk])
    data = _form_values(staff_client.get(url), CONNECTION_FORM)
    data["certificate_file"] = SimpleUploadedFile("same.cert", acme.connection.keypair.cert_pem)
    before = _counts()

    response = staff_client.post(url, data)

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["certificate_file"] == ["This certificate is already on the connection."]
    assert _counts() == before


def test_a_connection_cannot_be_deleted_from_the_admin(client, staff_user, acme):
    """Support disables a connection; deleting it would lose its audit trail."""
    client.force_login(staff_user)
    response = client.post(
        reverse("admin:connections_connection_delete", args=[acme.connection.pk]), {"post": "yes"}
    )
    assert response.status_code == 403
    assert Connection.objects.filter(pk=acme.connection.pk).exists()

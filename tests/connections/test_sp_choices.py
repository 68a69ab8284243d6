"""The per-connection choices of our side: ``manage.py connection set`` and the admin (sign
requests, require encrypted assertions, the IdP's SLO URL), the SP values ``connection show``
gives, and the admin's SP key rotation. Each change is audited; a refused one changes nothing.
"""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from lxml import html

from audit.models import AuditEvent
from connections.models import Connection, SpKey, SpKeyState, SpKeyUse
from tests.commands import refusal_line, refused_command, run_command


def _connection(name: str) -> Connection:
    return Connection.objects.get(name=name)


# --- manage.py connection set ----------------------------------------------------------------


def test_set_turns_each_choice_on_and_says_so(acme):
    out = run_command(
        "connection",
        "set",
        "acme",
        "--sign-requests",
        "on",
        "--require-encryption",
        "on",
        "--slo-url",
        "https://acme.okta.example/app/acme/slo/saml",
    )

    connection = _connection("acme")
    assert (connection.sign_requests, connection.require_encryption) == (True, True)
    assert connection.slo_url == "https://acme.okta.example/app/acme/slo/saml"
    assert "acme: sign requests now on." in out
    assert "acme: require encryption now on." in out
    assert "acme: slo url now https://acme.okta.example/app/acme/slo/saml." in out
    assert "SP signing certificate now in the SP metadata" in out
    # What they need was made in the same step: the signing and the encryption key.
    assert {key.use for key in SpKey.objects.filter(connection=connection)} == {
        SpKeyUse.SIGNING,
        SpKeyUse.ENCRYPTION,
    }
    event = AuditEvent.objects.get(action="connection.updated", connection=connection)
    assert set(event.details["changes"]) == {"sign_requests", "require_encryption", "slo_url"}


def test_set_off_and_clearing_the_slo_url(acme):
    run_command(
        "connection", "set", "acme", "--sign-requests", "on", "--slo-url", "https://x.example/slo"
    )

    out = run_command("connection", "set", "acme", "--sign-requests", "off", "--slo-url", "")

    connection = _connection("acme")
    assert (connection.sign_requests, connection.slo_url) == (False, "")
    assert "acme: sign requests now off." in out
    assert "acme: slo url now none." in out


def test_set_what_is_already_so_changes_nothing(acme):
    out = run_command("connection", "set", "acme", "--require-encryption", "off")

    assert "acme: require encryption already off." in out
    assert not AuditEvent.objects.filter(action="connection.updated").exists()


def test_an_slo_url_without_signed_requests_warns_that_idps_want_them_signed(acme):
    err = StringIO()
    call_command("connection", "set", "acme", "--slo-url", "https://x.example/slo", stderr=err)

    assert "accept only signed LogoutRequests" in err.getvalue()


def test_set_without_a_choice_is_a_usage_error(manage_py):
    result = manage_py("connection", "set", "acme")

    assert result.returncode == 2
    assert "Give --sign-requests, --require-encryption or --slo-url" in result.stderr


def test_set_refuses_a_plain_http_slo_url_outside_debug(acme):
    error = refused_command(
        "connection",
        "set",
        "acme",
        "--slo-url",
        "http://idp.acme.example/slo",
        watched=(AuditEvent,),
    )

    assert "single logout URL must use https" in str(error)
    assert _connection("acme").slo_url == ""


def test_set_refuses_an_unknown_connection_on_the_real_command_line(manage_py):
    line = refusal_line(manage_py("connection", "set", "nope", "--sign-requests", "on"))

    assert line.endswith("No connection is named 'nope'.")


def test_set_touches_that_connection_only(acme, globex):
    run_command(
        "connection", "set", "acme", "--sign-requests", "on", "--slo-url", "https://x.example/slo"
    )

    globex.connection.refresh_from_db()
    assert (globex.connection.sign_requests, globex.connection.slo_url) == (False, "")
    assert not SpKey.objects.filter(connection=globex.connection).exists()


def test_show_gives_the_slo_url_and_the_published_sp_certificates(acme):
    run_command("connection", "set", "acme", "--sign-requests", "on")
    Client().get("/sso/acme/metadata/")  # the encryption key is made with the metadata

    out = run_command("connection", "show", "acme")
    data = json.loads(run_command("connection", "show", "acme", "--json"))

    assert "Single logout URL:" in out and "https://sso.test/sso/acme/slo/" in out
    signing = SpKey.objects.get(connection__name="acme", use=SpKeyUse.SIGNING)
    assert f"SP signing cert (current): {signing.fingerprint_sha256}" in " ".join(out.split())
    assert data["sign_requests"] is True
    assert {(k["use"], k["published"]) for k in data["service_provider"]["keys"]} == {
        ("signing", True),
        ("encryption", True),
    }


# --- the admin ---------------------------------------------------------------------------------


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


def _change(client: Client, connection: Connection, **changes) -> object:
    url = reverse("admin:connections_connection_change", args=[connection.pk])
    page = client.get(url)
    assert page.status_code == 200
    data = dict(html.fromstring(page.content).get_element_by_id("connection_form").form_values())
    for name, value in changes.items():
        if value is False:
            data.pop(name, None)
        else:
            data[name] = "on" if value is True else value
    return client.post(url, data)


def test_the_admin_sets_our_side_of_the_connection(staff_client, acme):
    response = _change(
        staff_client, acme.connection, sign_requests=True, slo_url="https://x.example/slo"
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    connection = _connection("acme")
    assert (connection.sign_requests, connection.slo_url) == (True, "https://x.example/slo")
    page = staff_client.get(reverse("admin:connections_connection_change", args=[connection.pk]))
    text = page.content.decode()
    signing = SpKey.objects.get(connection=connection, use=SpKeyUse.SIGNING)
    assert signing.fingerprint_sha256 in text  # the SP keys on the connection's page
    assert "https://sso.test/sso/acme/slo/" in text  # our SLO URL among the SP values
    event = AuditEvent.objects.get(action="connection.updated")
    assert event.actor_label == "support@sso.test"


def test_the_admin_refuses_signed_requests_without_the_key_encryption_key(
    staff_client, acme, settings
):
    settings.SAML_KEY_ENCRYPTION_KEYS = []

    response = _change(staff_client, acme.connection, sign_requests=True)

    assert response.status_code == 200  # the form again, with the error beside the field
    assert "SAML_KEY_ENCRYPTION_KEY is not set" in response.content.decode()
    assert _connection("acme").sign_requests is False
    assert not SpKey.objects.exists()


def test_the_admin_rotates_the_sp_keys_in_two_steps(staff_client, acme, globex):
    changelist = reverse("admin:connections_connection_changelist")
    Client().get("/sso/globex/metadata/")  # globex has a key, which must not move

    started = staff_client.post(
        changelist,
        {"action": "start_sp_key_rotation", "_selected_action": [acme.connection.pk]},
        follow=True,
    )
    assert "next SP keys published" in started.content.decode()
    assert SpKey.objects.filter(connection=acme.connection, state=SpKeyState.NEXT).count() == 1

    again = staff_client.post(
        changelist,
        {"action": "start_sp_key_rotation", "_selected_action": [acme.connection.pk]},
        follow=True,
    )
    assert "already under way" in again.content.decode()

    staff_client.post(
        changelist, {"action": "finish_sp_key_rotation", "_selected_action": [acme.connection.pk]}
    )
    assert not SpKey.objects.filter(state=SpKeyState.NEXT).exists()
    assert SpKey.objects.filter(connection=globex.connection).count() == 1
    finished = AuditEvent.objects.get(action="connection.sp_key_rotation_finished")
    assert finished.connection_id == acme.connection.pk

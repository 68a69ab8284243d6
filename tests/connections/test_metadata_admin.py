"""The admin's metadata import (file, pasted XML, URL), the refresh action and what the
connection page shows about refreshes."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from lxml import html

from audit.models import AuditEvent
from connections.metadata import connection_apply_metadata, metadata_from_url
from connections.models import Connection, ConnectionStatus, SigningCertificate
from tests import idp_metadata_samples as samples
from tests.certs import make_keypair

ADD = "admin:connections_connection_add"
CHANGELIST = "admin:connections_connection_changelist"


@pytest.fixture(scope="module")
def key_a():
    return make_keypair("idp-a.admin-md.test", slot="admin-md-a")


@pytest.fixture(scope="module")
def key_b():
    return make_keypair("idp-b.admin-md.test", slot="admin-md-b")


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


def _values(response) -> dict[str, str]:
    assert response.status_code == 200
    return dict(
        html.fromstring(response.content).get_element_by_id("connection_form").form_values()
    )


def _add_values(staff_client, acme, **overrides) -> dict[str, str]:
    values = _values(staff_client.get(reverse(ADD)))
    values.update(company=str(acme.company.pk), name="acme-md", status=ConnectionStatus.ACTIVE,
                  provisioning="jit", allow_idp_initiated="on")  # fmt: skip
    values.update(overrides)
    return values


def _counts():
    return tuple(m.objects.count() for m in (Connection, SigningCertificate, AuditEvent))


def _imported_from_url(acme, https_server, key) -> str:
    """acme's connection imported from a URL the test server publishes (Okta metadata)."""
    url = https_server.publish("/md", samples.okta([key]))
    connection_apply_metadata(
        connection=acme.connection,
        metadata=metadata_from_url(url),
        metadata_url=url,
        source="import",
    )
    return url


def _errors(response) -> dict:
    assert response.status_code == 200, response.status_code
    return response.context["adminform"].form.errors


def test_add_from_an_uploaded_metadata_file(staff_client, staff_user, acme, key_a):
    data = _add_values(staff_client, acme)
    data["metadata_file"] = SimpleUploadedFile(
        "metadata.xml", samples.onelogin([key_a], uuid="u-9")
    )

    response = staff_client.post(reverse(ADD), data)

    assert response.status_code == 302, (
        response.context["adminform"].form.errors
        if response.status_code == 200
        else response.status_code
    )
    connection = Connection.objects.get(name="acme-md")
    assert connection.idp_entity_id == "https://app.onelogin.com/saml/metadata/u-9"
    assert connection.sign_on_url == "https://acme.onelogin.com/trust/saml2/http-redirect/sso/u-9"
    assert connection.certificates.get().fingerprint_sha256 == key_a.fingerprint
    assert connection.metadata_url == ""
    assert AuditEvent.objects.get(action="connection.metadata_imported").actor == staff_user


def test_add_from_pasted_metadata_xml(staff_client, acme, key_a, key_b):
    data = _add_values(staff_client, acme, metadata_text=samples.keycloak([key_a, key_b]).decode())

    response = staff_client.post(reverse(ADD), data)

    assert response.status_code == 302
    assert Connection.objects.get(name="acme-md").certificates.count() == 2


def test_add_from_a_metadata_url(staff_client, acme, https_server, allow, key_a):
    url = https_server.publish(
        "/FederationMetadata/2007-06/FederationMetadata.xml", samples.entra([key_a])
    )

    response = staff_client.post(reverse(ADD), _add_values(staff_client, acme, metadata_url=url))

    assert response.status_code == 302, (
        response.context["adminform"].form.errors
        if response.status_code == 200
        else response.status_code
    )
    connection = Connection.objects.get(name="acme-md")
    assert connection.metadata_url == url
    assert connection.idp_entity_id.startswith("https://sts.windows.net/")


def test_an_internal_metadata_url_is_a_form_error(staff_client, acme, dns):
    before = _counts()

    response = staff_client.post(
        reverse(ADD), _add_values(staff_client, acme, metadata_url="https://idp.example.test/md")
    )

    assert "loopback" in _errors(response)["metadata_url"][0]
    assert _counts() == before


def test_bad_metadata_is_a_form_error_beside_its_field(staff_client, acme, key_a):
    before = _counts()

    response = staff_client.post(
        reverse(ADD),
        _add_values(staff_client, acme, metadata_text=samples.sp_metadata(key_a).decode()),
    )

    assert "service provider's metadata" in _errors(response)["metadata_text"][0]
    assert _counts() == before


def test_metadata_and_a_certificate_together_are_refused(staff_client, acme, key_a):
    data = _add_values(staff_client, acme, metadata_text=samples.okta([key_a]).decode())
    data["certificate_file"] = SimpleUploadedFile("okta.cert", key_a.cert_pem)

    response = staff_client.post(reverse(ADD), data)

    assert "not both" in _errors(response)["certificate_file"][0]


def test_add_a_draft_with_its_name_only(staff_client, acme):
    data = _add_values(staff_client, acme, status=ConnectionStatus.DRAFT)

    response = staff_client.post(reverse(ADD), data)

    assert response.status_code == 302, (
        response.context["adminform"].form.errors
        if response.status_code == 200
        else response.status_code
    )
    connection = Connection.objects.get(name="acme-md")
    assert (connection.status, connection.sign_on_url) == (ConnectionStatus.DRAFT, "")


def test_import_metadata_on_the_change_page_replaces_the_idp_side(staff_client, acme, key_a):
    url = reverse("admin:connections_connection_change", args=[acme.connection.pk])
    data = _values(staff_client.get(url))
    data["metadata_file"] = SimpleUploadedFile("google.xml", samples.google([key_a], idpid="C0x"))

    response = staff_client.post(url, data)

    assert response.status_code == 302, (
        response.context["adminform"].form.errors
        if response.status_code == 200
        else response.status_code
    )
    connection = Connection.objects.get(pk=acme.connection.pk)
    assert connection.idp_entity_id == "https://accounts.google.com/o/saml2?idpid=C0x"
    assert set(connection.certificates.values_list("fingerprint_sha256", flat=True)) == {
        key_a.fingerprint
    }
    assert (
        AuditEvent.objects.get(action="connection.certificate_removed").details["source"]
        == "import"
    )


def test_the_refresh_action_applies_a_rotation(
    staff_client, acme, https_server, allow, key_a, key_b
):
    _imported_from_url(acme, https_server, key_a)
    https_server.publish("/md", samples.okta([key_a, key_b]))

    response = staff_client.post(
        reverse(CHANGELIST),
        {"action": "refresh_metadata", "_selected_action": [acme.connection.pk]},
        follow=True,
    )

    assert f"certificate trusted: {key_b.fingerprint}" in response.content.decode()
    assert acme.connection.certificates.count() == 2


def test_a_failing_refresh_shows_on_the_connection_page(
    staff_client, acme, https_server, allow, key_a
):
    _imported_from_url(acme, https_server, key_a)
    https_server.routes["/md"] = (503, {}, b"")
    staff_client.post(reverse(CHANGELIST), {"action": "refresh_metadata",
                                            "_selected_action": [acme.connection.pk]})  # fmt: skip

    page = staff_client.get(
        reverse("admin:connections_connection_change", args=[acme.connection.pk])
    )

    content = page.content.decode()
    assert "The last 1 refresh(es) failed" in content
    assert "HTTP 503" in content


def test_clearing_the_metadata_url_stops_refreshes(staff_client, acme, https_server, allow, key_a):
    url = _imported_from_url(acme, https_server, key_a)
    change = reverse("admin:connections_connection_change", args=[acme.connection.pk])
    data = _values(staff_client.get(change))
    assert data["metadata_url"] == url
    data["metadata_url"] = ""

    assert staff_client.post(change, data).status_code == 302
    assert Connection.objects.get(pk=acme.connection.pk).metadata_url == ""

"""Metadata import and refresh through ``manage.py connection`` (create --metadata, --draft,
import-metadata, refresh-metadata), from files and from a real HTTPS server."""

from __future__ import annotations

from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.models import Company, User
from audit.models import AuditEvent, Severity
from connections.models import Connection, ConnectionStatus, SigningCertificate
from connections.services import connection_set_status
from connections.tasks import metadata_refresh_all
from tests import idp_metadata_samples as samples
from tests.certs import make_keypair
from tests.connections.saml_helpers import assert_refused, post_to_acs, sign_in, signed_in_email
from tests.metadata_server import HOST
from tests.saml_idp import TestIdP, okta_attributes


@pytest.fixture(scope="module")
def key_a():
    return make_keypair("idp-a.import.test", slot="import-a")


@pytest.fixture(scope="module")
def key_b():
    return make_keypair("idp-b.import.test", slot="import-b")


def _run(*args: str) -> str:
    out = StringIO()
    call_command("connection", *args, stdout=out)
    return out.getvalue()


def _counts() -> tuple[int, ...]:
    return tuple(m.objects.count() for m in (Company, Connection, SigningCertificate, AuditEvent))


def _fails(*args: str, status: int = 1) -> str:
    before = _counts()
    with pytest.raises(CommandError) as failed:
        _run(*args)
    assert failed.value.returncode == status
    assert "\n" not in str(failed.value)
    assert _counts() == before, "a refused command wrote something"
    return str(failed.value)


def _fingerprints(connection: Connection) -> set[str]:
    return set(connection.certificates.values_list("fingerprint_sha256", flat=True))


@pytest.fixture
def company(db):
    return Company.objects.create(slug="initech", name="Initech")


# --- create --metadata -------------------------------------------------------------------------


def test_create_from_an_okta_metadata_file(company, tmp_path, key_a):
    path = tmp_path / "okta-metadata.xml"
    path.write_bytes(samples.okta([key_a], app="exk9", org="initech"))

    out = _run("create", "initech", "--company", "initech", "--metadata", str(path))

    connection = Connection.objects.get(name="initech")
    assert connection.status == ConnectionStatus.ACTIVE
    assert connection.idp_entity_id == "http://www.okta.com/exk9"
    assert connection.sign_on_url == "https://initech.okta.com/app/initech_sendoso_1/exk9/sso/saml"
    assert _fingerprints(connection) == {key_a.fingerprint}
    assert connection.metadata_url == ""
    assert "Created connection initech for initech (active)" in out
    assert AuditEvent.objects.filter(
        action="connection.metadata_imported", connection=connection
    ).exists()


def test_create_from_a_metadata_url_keeps_the_url(company, https_server, allow, key_a, key_b):
    url = https_server.publish(
        "/realms/initech/protocol/saml/descriptor", samples.keycloak([key_a, key_b])
    )

    _run("create", "initech", "--company", "initech", "--metadata", url, "--provisioning", "scim")

    connection = Connection.objects.get(name="initech")
    assert connection.metadata_url == url
    assert connection.metadata_refreshed_at is not None
    assert connection.provisioning == "scim"
    assert _fingerprints(connection) == {key_a.fingerprint, key_b.fingerprint}
    assert (
        AuditEvent.objects.filter(
            action="connection.certificate_added", connection=connection
        ).count()
        == 1
    )


def test_create_with_entity_id_picks_an_idp(company, tmp_path, key_a, key_b):
    both = samples.keycloak([key_a], realm="one").replace(
        b"</md:EntitiesDescriptor>", samples.keycloak([key_b], realm="two").split(b">", 1)[1]
    )
    path = tmp_path / "md.xml"
    path.write_bytes(both)

    assert "--entity-id" in _fails(
        "create", "initech", "--company", "initech", "--metadata", str(path)
    )
    _run("create", "initech", "--company", "initech", "--metadata", str(path),
         "--entity-id", "https://kc.acme.example/realms/two")  # fmt: skip

    assert _fingerprints(Connection.objects.get(name="initech")) == {key_b.fingerprint}


def test_create_refuses_bad_metadata_and_writes_nothing(company, tmp_path, key_a):
    path = tmp_path / "sp.xml"
    path.write_bytes(samples.sp_metadata(key_a))

    assert "service provider's metadata" in _fails(
        "create", "initech", "--company", "initech", "--metadata", str(path)
    )


def test_create_refuses_an_internal_metadata_url(company, dns):
    message = _fails("create", "initech", "--company", "initech", "--metadata",
                     f"https://{HOST}/metadata")  # fmt: skip

    assert "loopback" in message


def test_create_refuses_a_missing_metadata_file(company):
    assert "Cannot read the metadata file" in _fails(
        "create", "initech", "--company", "initech", "--metadata", "/nonexistent/md.xml"
    )


@pytest.mark.parametrize(
    "extra",
    [
        ["--metadata", "md.xml", "--cert", "okta.cert"],
        ["--metadata", "md.xml", "--issuer", "x"],
        ["--draft", "--metadata", "md.xml"],
        ["--draft", "--sign-on-url", "https://x.example/sso"],
        ["--entity-id", "x", "--sign-on-url", "https://x.example/sso", "--cert", "c"],
        ["--sign-on-url", "https://x.example/sso"],
        [],
    ],
)
def test_create_option_combinations_that_make_no_sense_are_usage_errors(company, extra):
    _fails("create", "initech", "--company", "initech", *extra, status=2)


# --- create --draft -----------------------------------------------------------------------------


def test_create_a_draft_with_its_name_only(company):
    out = _run("create", "initech", "--company", "initech", "--draft")

    connection = Connection.objects.get(name="initech")
    assert connection.status == ConnectionStatus.DRAFT
    assert connection.sign_on_url == ""
    assert not connection.certificates.exists()
    assert "(draft)" in out and "setup-link initech" in out
    assert "https://sso.test/sso/initech/acs/" in out


def test_a_draft_without_idp_cannot_be_enabled(company):
    _run("create", "initech", "--company", "initech", "--draft")

    assert "cannot be enabled before its IdP is configured" in _fails("enable", "initech")
    assert Connection.objects.get(name="initech").status == ConnectionStatus.DRAFT


# --- import-metadata ------------------------------------------------------------------------------


def test_import_metadata_file_replaces_the_idp_side(acme, tmp_path, key_a):
    path = tmp_path / "entra.xml"
    path.write_bytes(samples.entra([key_a], tenant="t-1"))
    old = acme.connection.keypair.fingerprint

    out = _run("import-metadata", "acme", str(path))

    connection = Connection.objects.get(name="acme")
    assert connection.idp_entity_id == "https://sts.windows.net/t-1/"
    assert connection.sign_on_url == "https://login.microsoftonline.com/t-1/saml2"
    assert _fingerprints(connection) == {key_a.fingerprint}
    assert f"certificate trusted: {key_a.fingerprint}" in out
    assert f"certificate dropped (no longer in the metadata): {old}" in out
    for action in (
        "connection.updated",
        "connection.certificate_added",
        "connection.certificate_removed",
    ):
        event = AuditEvent.objects.get(action=action, connection=connection)
        assert event.details["source"] == "import"
        assert event.actor_label == "command"


def test_create_from_metadata_takes_the_idp_logout_endpoint(company, tmp_path, key_a):
    path = tmp_path / "onelogin.xml"
    path.write_bytes(samples.onelogin([key_a], org="initech"))

    _run("create", "initech", "--company", "initech", "--metadata", str(path))

    connection = Connection.objects.get(name="initech")
    assert (
        connection.slo_url == "https://initech.onelogin.com/trust/saml2/http-redirect/slo/2417713"
    )
    event = AuditEvent.objects.get(action="connection.metadata_imported", connection=connection)
    assert event.details["slo_url"] == connection.slo_url


def test_import_metadata_sets_the_logout_endpoint_and_metadata_without_one_keeps_it(
    acme, tmp_path, key_a
):
    keycloak = tmp_path / "keycloak.xml"
    keycloak.write_bytes(samples.keycloak([key_a], base="https://kc.acme.test"))
    _run("import-metadata", "acme", str(keycloak))

    connection = Connection.objects.get(name="acme")
    assert connection.slo_url == "https://kc.acme.test/realms/acme/protocol/saml"
    changed = AuditEvent.objects.get(action="connection.updated", connection=connection)
    assert changed.details["changes"]["slo_url"]["to"] == connection.slo_url

    okta = tmp_path / "okta.xml"
    okta.write_bytes(samples.okta([key_a]))  # Okta's metadata before SLO is switched on
    _run("import-metadata", "acme", str(okta))

    assert Connection.objects.get(name="acme").slo_url == connection.slo_url


def test_import_metadata_from_a_url_then_from_a_file_stops_refreshes(
    acme, tmp_path, https_server, allow, key_a
):
    url = https_server.publish("/md", samples.okta([key_a]))

    assert "refresh its metadata from" in _run("import-metadata", "acme", url)
    assert Connection.objects.get(name="acme").metadata_url == url

    path = tmp_path / "md.xml"
    path.write_bytes(samples.okta([key_a]))
    _run("import-metadata", "acme", str(path))
    assert Connection.objects.get(name="acme").metadata_url == ""


def test_import_metadata_refused_changes_nothing(acme, tmp_path, key_a):
    expired = make_keypair(
        "old.import.test",
        slot="import-expired",
        not_before=datetime(2020, 1, 1, tzinfo=UTC),
        not_after=datetime(2021, 1, 1, tzinfo=UTC),
    )
    path = tmp_path / "md.xml"
    path.write_bytes(samples.google([expired]))

    assert "expired" in _fails("import-metadata", "acme", str(path))
    assert _fingerprints(Connection.objects.get(name="acme")) == {
        acme.connection.keypair.fingerprint
    }


def test_import_metadata_of_an_unknown_connection(db, tmp_path, key_a):
    path = tmp_path / "md.xml"
    path.write_bytes(samples.okta([key_a]))

    assert "No connection is named 'nope'" in _fails("import-metadata", "nope", str(path))


# --- refresh-metadata ---------------------------------------------------------------------------


@pytest.fixture
def from_url(acme, https_server, allow, key_a):
    """acme imported from a URL that publishes Okta metadata with key A."""
    url = https_server.publish(
        "/app/exk1/sso/saml/metadata", samples.okta([key_a], app="exk1", org="acme")
    )
    _run("import-metadata", "acme", url)
    AuditEvent.objects.all().delete()
    return url


def test_refresh_without_changes_writes_no_event(from_url):
    out = _run("refresh-metadata", "acme")

    assert "nothing changed" in out
    assert not AuditEvent.objects.exists()


def test_refresh_follows_a_rotation_then_drops_the_departed_certificate(
    from_url, https_server, key_a, key_b
):
    https_server.publish(
        "/app/exk1/sso/saml/metadata", samples.okta([key_a, key_b], app="exk1", org="acme")
    )

    _run("refresh-metadata", "acme")

    assert _fingerprints(Connection.objects.get(name="acme")) == {
        key_a.fingerprint,
        key_b.fingerprint,
    }
    added = AuditEvent.objects.get(action="connection.certificate_added")
    assert added.details == {
        "source": "refresh",
        "certificate_sha256": key_b.fingerprint,
        "certificate_expires": added.details["certificate_expires"],
    }

    https_server.publish(
        "/app/exk1/sso/saml/metadata", samples.okta([key_b], app="exk1", org="acme")
    )
    _run("refresh-metadata", "acme")

    assert _fingerprints(Connection.objects.get(name="acme")) == {key_b.fingerprint}
    removed = AuditEvent.objects.get(action="connection.certificate_removed")
    assert removed.details["certificate_sha256"] == key_a.fingerprint


def test_refresh_applies_a_changed_sign_on_url_and_entity_id(from_url, https_server, key_a):
    https_server.publish(
        "/app/exk1/sso/saml/metadata", samples.okta([key_a], app="exk2", org="acme-new")
    )

    out = _run("refresh-metadata", "acme")

    connection = Connection.objects.get(name="acme")
    assert connection.idp_entity_id == "http://www.okta.com/exk2"
    assert "acme-new.okta.com" in connection.sign_on_url
    event = AuditEvent.objects.get(action="connection.updated")
    assert set(event.details["changes"]) == {"idp_entity_id", "sign_on_url"}
    assert event.details["source"] == "refresh"
    assert "idp_entity_id: http://www.okta.com/exk1 -> http://www.okta.com/exk2" in out


def test_a_failed_refresh_changes_nothing_and_is_recorded(from_url, https_server):
    before = Connection.objects.get(name="acme")
    https_server.routes["/app/exk1/sso/saml/metadata"] = (500, {}, b"oops")

    assert "HTTP 500" in _fails_refresh()

    after = Connection.objects.get(name="acme")
    assert (after.sign_on_url, after.idp_entity_id, after.updated_at) == (
        before.sign_on_url, before.idp_entity_id, before.updated_at,
    )  # fmt: skip
    assert _fingerprints(after) == _fingerprints(before)
    assert after.metadata_failures == 1
    assert "HTTP 500" in after.metadata_last_error
    event = AuditEvent.objects.get(action="connection.metadata_refresh_failed")
    assert event.error_code == "metadata_fetch_failed"


def _fails_refresh() -> str:
    with pytest.raises(CommandError) as failed:
        _run("refresh-metadata", "acme")
    assert failed.value.returncode == 1
    return str(failed.value)


def test_three_failures_in_a_row_raise_one_warning_and_a_success_resets(
    from_url, https_server, key_a
):
    https_server.routes["/app/exk1/sso/saml/metadata"] = (
        200,
        {},
        b"<html><body>login</body></html>",
    )
    for _ in range(4):
        assert "web page" in _fails_refresh()

    warnings = AuditEvent.objects.filter(action="connection.metadata_refresh_failing")
    assert warnings.count() == 1
    assert warnings.get().severity == Severity.WARNING
    assert warnings.get().details["failures_in_a_row"] == 3
    assert Connection.objects.get(name="acme").metadata_failures == 4

    https_server.publish(
        "/app/exk1/sso/saml/metadata", samples.okta([key_a], app="exk1", org="acme")
    )
    _run("refresh-metadata", "acme")
    connection = Connection.objects.get(name="acme")
    assert (connection.metadata_failures, connection.metadata_last_error) == (0, "")


def test_refresh_of_a_connection_without_url_is_refused(acme):
    assert "not imported from a metadata URL" in _fails("refresh-metadata", "acme")


def test_refresh_task_covers_connections_with_a_url_except_disabled(
    from_url, globex, https_server, key_b
):
    https_server.publish(
        "/app/exk1/sso/saml/metadata", samples.okta([key_b], app="exk1", org="acme")
    )

    assert metadata_refresh_all() == 1
    assert _fingerprints(Connection.objects.get(name="acme")) == {key_b.fingerprint}

    connection_set_status(connection=Connection.objects.get(name="acme"), status="disabled")
    assert metadata_refresh_all() == 0


# --- the rotation, end to end ----------------------------------------------------------------------


def test_a_rotation_published_at_the_url_is_picked_up_and_signs_in(
    from_url, https_server, client, key_a, key_b
):
    """The IdP starts signing with key B: refused until the refresh, then B signs people in,
    and once A leaves the metadata, A's signatures are refused."""

    connection = Connection.objects.get(name="acme")
    idp_b = TestIdP(entity_id="http://www.okta.com/exk1", keypair=key_b)

    def response(idp, email):
        return idp.response(acs_url=connection.acs_url, audience=connection.sp_entity_id,
                            name_id=email, attributes=okta_attributes(email))  # fmt: skip

    users = User.objects.count()
    refused = post_to_acs(client, connection, response(idp_b, "early@acme.com"))
    assert_refused(refused, "saml_signature_invalid", users_before=users, connection=connection)

    https_server.publish(
        "/app/exk1/sso/saml/metadata", samples.okta([key_a, key_b], app="exk1", org="acme")
    )
    _run("refresh-metadata", "acme")

    sign_in(client, connection, response(idp_b, "rotated@acme.com"))
    assert signed_in_email(client) == "rotated@acme.com"

    https_server.publish(
        "/app/exk1/sso/saml/metadata", samples.okta([key_b], app="exk1", org="acme")
    )
    _run("refresh-metadata", "acme")
    client.logout()
    idp_a = TestIdP(entity_id="http://www.okta.com/exk1", keypair=key_a)
    users = User.objects.count()
    refused = post_to_acs(client, connection, response(idp_a, "old-key@acme.com"))
    assert_refused(refused, "saml_signature_invalid", users_before=users, connection=connection)

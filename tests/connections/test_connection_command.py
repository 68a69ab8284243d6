"""``manage.py connection ...``: each sub-command's success and refusals.

A refusal is a ``CommandError`` with exit status 1, one line, and nothing written.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from functools import partial
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from accounts.models import Company
from audit.models import AuditEvent
from connections.models import Connection, ConnectionStatus, Provisioning, SigningCertificate
from connections.services import connection_add_certificate, connection_create
from tests.certs import make_keypair
from tests.commands import refusal_line, refused_command, run_command
from tests.factories import TeamFactory

SIGN_ON_URL = "https://acme.okta.example/app/acme_sso/exk1/sso/saml"


@pytest.fixture(scope="module")
def idp():
    return make_keypair("idp.command.test", slot="command")


@pytest.fixture
def cert_file(tmp_path, idp) -> Path:
    path = tmp_path / "okta.cert"
    path.write_bytes(idp.cert_pem)
    return path


_connection = partial(run_command, "connection")
_refused = partial(
    refused_command, "connection", watched=(Company, Connection, SigningCertificate, AuditEvent)
)


def _create_args(name: str, cert: Path, *extra: str, company: str = "acme") -> list[str]:
    return ["create", name, "--company", company, "--sign-on-url", SIGN_ON_URL, "--cert", str(cert), *extra]  # fmt: skip


# --- create ---------------------------------------------------------------------------------


def test_create_makes_an_active_connection_and_prints_the_sp_values(acme, cert_file, idp):
    output = _connection(*_create_args("acme-okta", cert_file))

    connection = Connection.objects.get(name="acme-okta")
    assert connection.company == acme.company
    assert connection.status == ConnectionStatus.ACTIVE
    assert connection.sign_on_url == SIGN_ON_URL
    assert connection.provisioning == Provisioning.JIT
    assert connection.allow_idp_initiated is True
    assert connection.default_team is None
    assert connection.certificates.get().fingerprint_sha256 == idp.fingerprint
    assert "Created connection acme-okta for acme (active)." in output
    assert "https://sso.test/sso/acme-okta/metadata/" in output
    assert "https://sso.test/sso/acme-okta/acs/" in output
    lines = {
        line.split(":", 1)[0].strip(): line.split(":", 1)[1].strip()
        for line in output.splitlines()
        if ":" in line
    }
    assert lines["Audience / SP entity ID"] == "https://sso.test/sso/acme-okta/metadata/"
    assert lines["ACS (single sign-on) URL"] == "https://sso.test/sso/acme-okta/acs/"
    event = AuditEvent.objects.get(action="connection.created")
    assert (event.connection, event.actor_label) == (connection, "command")


def test_create_with_every_option(acme, cert_file):
    _connection(
        *_create_args(
            "acme-scim", cert_file,
            "--issuer", "http://www.okta.com/exk1", "--provisioning", "scim",
            "--default-team", "Marketing", "--no-idp-initiated",
        )
    )  # fmt: skip

    connection = Connection.objects.get(name="acme-scim")
    assert connection.idp_entity_id == "http://www.okta.com/exk1"
    assert connection.provisioning == Provisioning.SCIM
    assert connection.default_team == acme.teams["Marketing"]
    assert connection.allow_idp_initiated is False


@pytest.mark.parametrize("encoding", ["der", "base64"])
def test_create_accepts_der_and_base64_files(acme, tmp_path, idp, encoding):
    path = tmp_path / f"okta.{encoding}"
    path.write_bytes(idp.cert_der if encoding == "der" else base64.b64encode(idp.cert_der))

    _connection(*_create_args("acme-okta", path))

    assert Connection.objects.get(name="acme-okta").certificates.get().fingerprint_sha256 == (
        idp.fingerprint
    )


def test_create_refuses_an_unknown_company(acme, cert_file):
    error = _refused(*_create_args("initech", cert_file, company="initech"))

    assert str(error) == "No company has the slug 'initech'."


def test_create_refuses_an_unknown_default_team(acme, cert_file):
    error = _refused(*_create_args("acme-okta", cert_file, "--default-team", "Legal"))

    assert str(error) == "acme has no team named 'Legal'."


def test_create_refuses_a_default_team_of_another_company(acme, globex, cert_file):
    TeamFactory(company=globex.company, name="Research")

    error = _refused(*_create_args("acme-okta", cert_file, "--default-team", "Research"))

    assert str(error) == "acme has no team named 'Research'."


def test_create_refuses_a_missing_certificate_file(acme, tmp_path):
    missing = tmp_path / "nope.pem"

    error = _refused(*_create_args("acme-okta", missing))

    assert str(error) == f"Cannot read the certificate file {missing}: No such file or directory."


def test_create_refuses_a_private_key_as_certificate(acme, tmp_path, idp):
    key_file = tmp_path / "okta.key"
    key_file.write_bytes(idp.key_pem)

    error = _refused(*_create_args("acme-okta", key_file))

    assert str(error).startswith("This is a private key, not a certificate.")


def test_create_refuses_an_expired_certificate(acme, tmp_path):
    now = datetime.now(UTC)
    old = make_keypair("old.command.test", slot="command", not_before=now - timedelta(days=90), not_after=now - timedelta(days=1))  # fmt: skip
    path = tmp_path / "old.pem"
    path.write_bytes(old.cert_pem)

    error = _refused(*_create_args("acme-okta", path))

    assert "expired on" in str(error)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Acme-Okta", "all lowercase"),
        ("admin", "'admin' is reserved"),
        ("acme--okta", "two hyphens in a row"),
        ("2acme", "starts with a letter"),
    ],
)
def test_create_refuses_a_bad_name(acme, cert_file, name, message):
    error = _refused(*_create_args(name, cert_file))

    assert message in str(error)


def test_create_refuses_a_duplicate_name(acme, globex, cert_file):
    error = _refused(*_create_args("globex", cert_file))

    assert str(error) == "A connection named 'globex' already exists."
    assert Connection.objects.get(name="globex").company == globex.company


def test_create_refuses_an_http_sign_on_url(acme, cert_file):
    args = _create_args("acme-okta", cert_file)
    args[args.index(SIGN_ON_URL)] = "http://acme.okta.example/sso/saml"

    error = _refused(*args)

    assert str(error) == "sign_on_url: The sign-on URL must use https."


# --- list and show --------------------------------------------------------------------------


def test_list_shows_every_connection(acme, globex):
    output = _connection("list")

    lines = output.splitlines()
    assert lines[0].split() == ["NAME", "COMPANY", "STATUS", "PROV", "CERT", "EXPIRES"]
    expires = f"{acme.connection.keypair.certificate.not_valid_after_utc:%Y-%m-%d}"
    assert lines[1].split() == ["acme", "acme", "active", "jit", expires]
    assert lines[2].split()[:2] == ["globex", "globex"]
    assert len(lines) == 3


def test_list_with_no_connections(db):
    assert _connection("list") == "No connections.\n"


def test_list_json(acme, globex):
    rows = json.loads(_connection("list", "--json"))

    assert [row["name"] for row in rows] == ["acme", "globex"]
    assert rows[0]["company"] == "acme"
    assert rows[0]["status"] == "active"
    assert rows[0]["service_provider"]["acs_url"] == "https://sso.test/sso/acme/acs/"
    assert rows[1]["certificates"][0]["fingerprint_sha256"] == globex.connection.keypair.fingerprint


def test_show_prints_the_connection_and_the_sp_values(acme):
    output = _connection("show", "acme")

    assert "name:                    acme" in output
    assert "company:                 acme" in output
    assert "default_team:            Sales" in output
    assert "sign_on_url:             https://acme.okta.example/app/sso/saml" in output
    assert f"certificate:             {acme.connection.keypair.fingerprint}" in output
    assert "https://sso.test/sso/acme/metadata/" in output
    assert "https://sso.test/sso/acme/acs/" in output
    assert "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress" in output


def test_show_json_has_service_provider_values_and_certificates(acme):
    second = make_keypair("next.command.test", slot="command-next")
    connection_add_certificate(connection=acme.connection, certificate_data=second.cert_pem)

    data = json.loads(_connection("show", "acme", "--json"))

    assert data["name"] == "acme"
    assert data["company"] == "acme"
    assert data["default_team"] == "Sales"
    assert data["service_provider"] == {
        "entity_id": "https://sso.test/sso/acme/metadata/",
        "acs_url": "https://sso.test/sso/acme/acs/",
        "metadata_url": "https://sso.test/sso/acme/metadata/",
        "login_url": "https://sso.test/sso/acme/login/",
        "name_id_format": "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
    }
    fingerprints = {c["fingerprint_sha256"] for c in data["certificates"]}
    assert fingerprints == {acme.connection.keypair.fingerprint, second.fingerprint}
    first = next(c for c in data["certificates"] if c["fingerprint_sha256"] == second.fingerprint)
    assert first["not_after"] == second.certificate.not_valid_after_utc.isoformat()
    assert first["expired"] is False
    assert 363 <= first["days_left"] <= 365


def test_show_refuses_an_unknown_connection(db):
    error = _refused("show", "nope")

    assert str(error) == "No connection is named 'nope'."


# --- enable / disable -----------------------------------------------------------------------


def test_disable_then_enable(acme):
    assert _connection("disable", "acme") == "acme is now disabled.\n"
    acme.connection.refresh_from_db()
    assert acme.connection.status == ConnectionStatus.DISABLED

    assert _connection("enable", "acme") == "acme is now active.\n"
    acme.connection.refresh_from_db()
    assert acme.connection.status == ConnectionStatus.ACTIVE
    changes = AuditEvent.objects.filter(action="connection.status_changed").order_by("id")
    assert [e.details for e in changes] == [
        {"from": "active", "to": "disabled"},
        {"from": "disabled", "to": "active"},
    ]


def test_disable_twice_says_already_and_writes_no_second_event(acme):
    _connection("disable", "acme")
    events = AuditEvent.objects.count()

    assert _connection("disable", "acme") == "acme is already disabled.\n"
    assert AuditEvent.objects.count() == events


def test_enable_an_active_connection_says_already(acme):
    assert _connection("enable", "acme") == "acme is already active.\n"
    assert not AuditEvent.objects.exists()


def test_enable_refuses_an_unknown_connection(db):
    error = _refused("enable", "nope")

    assert str(error) == "No connection is named 'nope'."


# --- rotate-cert ----------------------------------------------------------------------------


def test_rotate_cert_adds_a_certificate_and_keeps_the_old_one(acme, tmp_path):
    new = make_keypair("next.command.test", slot="command-next")
    path = tmp_path / "next.pem"
    path.write_bytes(new.cert_pem)

    output = _connection("rotate-cert", "acme", "--cert", str(path))

    assert output.startswith(f"acme now also trusts {new.fingerprint}")
    assert output.rstrip().endswith("2 certificates in all.")
    fingerprints = set(acme.connection.certificates.values_list("fingerprint_sha256", flat=True))
    assert fingerprints == {acme.connection.keypair.fingerprint, new.fingerprint}
    assert AuditEvent.objects.filter(action="connection.certificate_added").count() == 1


def test_rotate_cert_refuses_the_current_certificate(acme, tmp_path):
    path = tmp_path / "same.pem"
    path.write_bytes(acme.connection.keypair.cert_pem)

    error = _refused("rotate-cert", "acme", "--cert", str(path))

    assert str(error) == "This certificate is already on the connection."


def test_rotate_cert_refuses_a_private_key(acme, tmp_path):
    path = tmp_path / "key.pem"
    path.write_bytes(acme.connection.keypair.key_pem)

    error = _refused("rotate-cert", "acme", "--cert", str(path))

    assert "private key" in str(error)


def test_rotate_cert_refuses_an_unknown_connection(db, cert_file):
    error = _refused("rotate-cert", "nope", "--cert", str(cert_file))

    assert str(error) == "No connection is named 'nope'."


# --- check-certs ----------------------------------------------------------------------------


def _expiring_in(days: int, slot: str = "command-soon"):
    now = datetime.now(UTC)
    return make_keypair(
        f"{slot}.command.test",
        slot=slot,
        not_before=now - timedelta(days=300),
        not_after=now + timedelta(days=days, hours=1),
    )


@pytest.fixture
def soon(acme):
    """A connection whose only certificate expires in 10 days."""
    return connection_create(
        company=acme.company,
        name="acme-soon",
        sign_on_url=SIGN_ON_URL,
        certificate_data=_expiring_in(10).cert_pem,
    )


def test_check_certs_passes_when_nothing_expires_soon(acme, globex):
    assert _connection("check-certs") == "No certificate expires within 30 days.\n"


def test_check_certs_exits_1_when_a_certificate_expires_within_the_window(soon):
    out = StringIO()
    with pytest.raises(CommandError) as refused:
        call_command("connection", "check-certs", "--within-days", "30", stdout=out)

    assert refused.value.returncode == 1
    assert str(refused.value) == "1 certificate(s) expire within 30 days."
    certificate = soon.certificates.get()
    assert out.getvalue() == (
        f"acme-soon: {certificate.fingerprint_sha256} expires in 10 days "
        f"({certificate.not_after:%Y-%m-%d})\n"
    )


def test_check_certs_default_window_is_30_days(soon):
    with pytest.raises(CommandError):
        _connection("check-certs")


def test_check_certs_ignores_certificates_beyond_the_window(soon):
    assert _connection("check-certs", "--within-days", "5") == (
        "No certificate expires within 5 days.\n"
    )


def test_check_certs_ignores_a_certificate_with_a_later_replacement(soon):
    connection_add_certificate(
        connection=soon, certificate_data=_expiring_in(200, slot="command-later").cert_pem
    )

    assert _connection("check-certs", "--within-days", "30") == (
        "No certificate expires within 30 days.\n"
    )


def test_check_certs_still_reports_when_the_replacement_also_expires_soon(soon):
    connection_add_certificate(
        connection=soon, certificate_data=_expiring_in(20, slot="command-later").cert_pem
    )

    with pytest.raises(CommandError, match="2 certificate"):
        _connection("check-certs", "--within-days", "30")


def test_check_certs_ignores_disabled_connections(soon):
    _connection("disable", "acme-soon")

    assert _connection("check-certs") == "No certificate expires within 30 days.\n"


def test_check_certs_refuses_a_negative_window(db):
    error = _refused("check-certs", "--within-days", "-1")

    assert str(error) == "--within-days must be 0 or more."


# --- the real command line ------------------------------------------------------------------


def test_command_line_refusal_exits_1_with_one_line_and_a_retry_succeeds(
    manage_py, tmp_path, idp, cert_file
):
    """Three real runs: a refusal (a private key sent as the certificate) leaves nothing
    behind, so the corrected command succeeds under the same name."""
    key_file = tmp_path / "okta.key"
    key_file.write_bytes(idp.key_pem)
    company = manage_py("company", "create", "acme", "--name", "Acme Inc", "--team", "Sales")
    assert company.returncode == 0, company.stderr
    create = ["connection", "create", "acme", "--company", "acme", "--sign-on-url", SIGN_ON_URL, "--default-team", "Sales"]  # fmt: skip

    refused = manage_py(*create, "--cert", str(key_file))

    assert "This is a private key, not a certificate." in refusal_line(refused)

    created = manage_py(*create, "--cert", str(cert_file))

    assert created.returncode == 0, created.stderr
    assert created.stderr == ""
    assert "Created connection acme for acme (active)." in created.stdout
    assert "https://sso.test/sso/acme/metadata/" in created.stdout
    assert "https://sso.test/sso/acme/acs/" in created.stdout

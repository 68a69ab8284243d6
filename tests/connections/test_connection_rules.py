"""The connection rules and the services that write connections, each with its audit event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection

from audit.models import AuditEvent
from connections.models import Connection, ConnectionStatus, Provisioning, SigningCertificate
from connections.services import (
    connection_add_certificate,
    connection_create,
    connection_remove_certificate,
    connection_set_status,
    connection_update,
)
from connections.validators import validate_connection_name
from core.exceptions import Conflict, ValidationFailed
from tests.certs import make_keypair

SIGN_ON_URL = "https://acme.okta.example/app/acme/sso/saml"


@pytest.fixture(scope="module")
def cert_pem() -> bytes:
    return make_keypair("idp.rules.test", slot="rules").cert_pem


def _counts() -> tuple[int, int, int]:
    return (
        Connection.objects.count(),
        SigningCertificate.objects.count(),
        AuditEvent.objects.count(),
    )


def _create(company, name="acme-okta", cert=None, **kwargs) -> Connection:
    return connection_create(
        company=company,
        name=name,
        sign_on_url=kwargs.pop("sign_on_url", SIGN_ON_URL),
        certificate_data=cert,
        **kwargs,
    )


# --- the name rules, one message each -------------------------------------------------------

NAME_REFUSALS = [
    ("a", "name_length", "A connection name is 2 to 63 characters long; 'a' has 1."),
    (
        "a" * 64,
        "name_length",
        f"A connection name is 2 to 63 characters long; '{'a' * 64}' has 64.",
    ),
    ("Acme", "name_case", "A connection name is all lowercase; try 'acme'."),
    (
        "acme_okta",
        "name_characters",
        "A connection name may contain only lowercase letters, digits and hyphens.",
    ),
    (
        "acme.okta",
        "name_characters",
        "A connection name may contain only lowercase letters, digits and hyphens.",
    ),
    (
        "acme okta",
        "name_characters",
        "A connection name may contain only lowercase letters, digits and hyphens.",
    ),
    ("1acme", "name_start", "A connection name starts with a letter."),
    ("-acme", "name_start", "A connection name starts with a letter."),
    ("acme-", "name_end", "A connection name cannot end with a hyphen."),
    ("acme--okta", "name_double_hyphen", "A connection name cannot contain two hyphens in a row."),
    ("admin", "name_reserved", "'admin' is reserved; choose another connection name"),
    ("api", "name_reserved", "'api' is reserved; choose another connection name"),
    ("static", "name_reserved", "'static' is reserved; choose another connection name"),
]


@pytest.mark.parametrize(
    ("name", "code", "message"),
    NAME_REFUSALS,
    ids=[
        "too-short",
        "too-long",
        "uppercase",
        "underscore",
        "dot",
        "space",
        "starts-with-digit",
        "starts-with-hyphen",
        "ends-with-hyphen",
        "double-hyphen",
        "reserved-admin",
        "reserved-api",
        "reserved-static",
    ],
)
def test_connection_name_refusal_says_which_rule_failed(name, code, message):
    with pytest.raises(ValidationError) as refused:
        validate_connection_name(name)

    assert refused.value.code == code
    assert refused.value.messages[0].startswith(message)


def test_each_name_rule_has_its_own_message():
    first_example_per_rule = {}
    for name, code, _ in NAME_REFUSALS:
        first_example_per_rule.setdefault(code, name)
    messages = set()
    for name in first_example_per_rule.values():
        with pytest.raises(ValidationError) as refused:
            validate_connection_name(name)
        messages.add(refused.value.messages[0])

    assert len(first_example_per_rule) == 7
    assert len(messages) == 7


@pytest.mark.parametrize("name", ["ab", "acme", "acme-okta", "a1", "acme-okta-2", "a" * 63])
def test_connection_name_accepts_lowercase_letters_digits_and_single_hyphens(name):
    validate_connection_name(name)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Acme", "A connection name is all lowercase; try 'acme'."),
        ("9lives", "A connection name starts with a letter."),
        ("admin", "'admin' is reserved"),
        ("acme--okta", "A connection name cannot contain two hyphens in a row."),
        ("a" * 64, "A connection name is 2 to 63 characters long"),
    ],
)
def test_connection_create_refuses_a_bad_name_and_writes_nothing(acme, cert_pem, name, message):
    before = _counts()

    with pytest.raises(ValidationFailed) as refused:
        _create(acme.company, name=name, cert=cert_pem)

    assert message in refused.value.message
    assert refused.value.message.startswith("name: ")
    assert _counts() == before


def test_connection_name_refuses_uppercase_even_for_an_otherwise_valid_name(acme, cert_pem):
    with pytest.raises(ValidationFailed, match="all lowercase; try 'acme-okta'"):
        _create(acme.company, name="ACME-okta", cert=cert_pem)


def test_second_connection_with_the_same_name_is_a_conflict(acme, globex, cert_pem):
    before = _counts()

    with pytest.raises(Conflict) as refused:
        _create(globex.company, name="acme", cert=cert_pem)

    assert refused.value.message == "A connection named 'acme' already exists."
    assert refused.value.http_status == 409
    assert _counts() == before


# --- sign-on URL ----------------------------------------------------------------------------


def test_sign_on_url_must_use_https_outside_debug(acme, cert_pem, settings):
    settings.DEBUG = False
    before = _counts()

    with pytest.raises(ValidationFailed) as refused:
        _create(acme.company, cert=cert_pem, sign_on_url="http://acme.okta.example/sso/saml")

    assert refused.value.message == "sign_on_url: The sign-on URL must use https."
    assert _counts() == before


def test_sign_on_url_may_use_http_in_debug(acme, cert_pem, settings):
    settings.DEBUG = True

    connection = _create(acme.company, cert=cert_pem, sign_on_url="http://localhost:8080/sso/saml")

    assert connection.sign_on_url == "http://localhost:8080/sso/saml"


@pytest.mark.parametrize("url", ["not a url", "ftp://acme.okta.example/sso", "https://"])
def test_sign_on_url_must_be_an_absolute_https_url(acme, cert_pem, url):
    with pytest.raises(ValidationFailed, match="^sign_on_url: "):
        _create(acme.company, cert=cert_pem, sign_on_url=url)

    assert not Connection.objects.filter(name="acme-okta").exists()


# --- default team, status, provisioning ------------------------------------------------------


def test_default_team_of_the_same_company_is_kept(acme, cert_pem):
    connection = _create(acme.company, cert=cert_pem, default_team=acme.teams["Marketing"])

    assert connection.default_team == acme.teams["Marketing"]


def test_default_team_of_another_company_is_refused(acme, globex, cert_pem):
    before = _counts()

    with pytest.raises(ValidationFailed) as refused:
        _create(acme.company, cert=cert_pem, default_team=globex.teams["Sales"])

    assert refused.value.message == "default_team: The default team belongs to another company."
    assert _counts() == before


def test_update_to_a_default_team_of_another_company_is_refused(acme, globex):
    with pytest.raises(ValidationFailed, match="another company"):
        connection_update(connection=acme.connection, default_team=globex.teams["Marketing"])

    acme.connection.refresh_from_db()
    assert acme.connection.default_team == acme.teams["Sales"]
    assert not AuditEvent.objects.filter(action="connection.updated").exists()


def test_status_choices_are_draft_active_disabled():
    assert ConnectionStatus.values == ["draft", "active", "disabled"]
    assert Connection._meta.get_field("status").default == ConnectionStatus.DRAFT


def test_connection_create_makes_an_active_connection_by_default(acme, cert_pem):
    connection = _create(acme.company, cert=cert_pem)

    assert connection.status == ConnectionStatus.ACTIVE
    assert connection.provisioning == Provisioning.JIT
    assert connection.allow_idp_initiated is True
    assert connection.is_usable


def test_connection_create_can_make_a_draft(acme, cert_pem):
    connection = _create(acme.company, cert=cert_pem, status=ConnectionStatus.DRAFT)

    assert connection.status == "draft"
    assert not connection.is_usable


def test_unknown_status_is_refused(acme, cert_pem):
    before = _counts()

    with pytest.raises(ValidationFailed, match="^status: "):
        _create(acme.company, cert=cert_pem, status="paused")

    assert _counts() == before


def test_unknown_provisioning_is_refused(acme, cert_pem):
    with pytest.raises(ValidationFailed, match="^provisioning: "):
        _create(acme.company, cert=cert_pem, provisioning="ldap")


def test_set_status_refuses_an_unknown_status(acme):
    with pytest.raises(ValidationFailed, match="Unknown status 'paused'"):
        connection_set_status(connection=acme.connection, status="paused")

    acme.connection.refresh_from_db()
    assert acme.connection.status == ConnectionStatus.ACTIVE


# --- create: the audit event, all or nothing --------------------------------------------------


def test_connection_create_writes_connection_certificate_and_audit_event(acme, cert_pem):
    connection = _create(
        acme.company,
        cert=cert_pem,
        idp_entity_id=" http://www.okta.com/exk1 ",
        provisioning=Provisioning.SCIM,
        actor_label="command",
    )

    certificate = connection.certificates.get()
    event = AuditEvent.objects.get(action="connection.created")
    assert event.connection == connection
    assert event.company == acme.company
    assert event.target == "acme-okta"
    assert event.actor is None
    assert event.actor_label == "command"
    assert event.details["certificate_sha256"] == certificate.fingerprint_sha256
    assert event.details["provisioning"] == "scim"
    assert event.details["idp_entity_id"] == "http://www.okta.com/exk1"
    assert event.details["status"] == "active"


def test_connection_create_records_the_acting_user(acme, cert_pem, staff_user):
    connection = _create(acme.company, cert=cert_pem, acting_user=staff_user)

    event = AuditEvent.objects.get(action="connection.created", connection=connection)
    assert event.actor == staff_user
    assert event.actor_label == "support@sso.test"


def test_connection_create_with_a_bad_certificate_writes_nothing(acme):
    key_pem = make_keypair("idp.rules.test", slot="rules").key_pem
    before = _counts()

    with pytest.raises(ValidationFailed, match="private key"):
        _create(acme.company, cert=key_pem)

    assert _counts() == before
    assert not Connection.objects.filter(name="acme-okta").exists()


@pytest.fixture
def audit_table_refuses_inserts(db):
    """A real database fault: a trigger that makes every insert into the audit table fail."""
    table = AuditEvent._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                f"CREATE TRIGGER audit_refuses BEFORE INSERT ON {table} "
                "BEGIN SELECT RAISE(ABORT, 'audit refused'); END"
            )
        else:  # PostgreSQL: the only other engine DATABASE_URL accepts (config/env.py)
            cursor.execute(
                "CREATE FUNCTION audit_refuses() RETURNS trigger AS $$ "
                "BEGIN RAISE EXCEPTION 'audit refused'; END $$ LANGUAGE plpgsql"
            )
            cursor.execute(
                f"CREATE TRIGGER audit_refuses BEFORE INSERT ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION audit_refuses()"
            )
    yield
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("DROP TRIGGER audit_refuses")
        else:
            cursor.execute(f"DROP TRIGGER audit_refuses ON {table}")
            cursor.execute("DROP FUNCTION audit_refuses()")


def test_connection_create_rolls_back_when_the_audit_event_cannot_be_written(
    acme, cert_pem, audit_table_refuses_inserts
):
    """The event is written in the same transaction: when it fails, no connection or
    certificate stays behind."""
    before = _counts()

    with pytest.raises(DatabaseError, match="audit refused"):
        _create(acme.company, cert=cert_pem)

    assert _counts() == before


# --- rotation ---------------------------------------------------------------------------------


def test_rotation_keeps_the_old_certificate_and_adds_the_new_one(acme):
    old = acme.connection.certificates.get()
    new = make_keypair("next.acme.okta.example", slot="rules-next")
    updated_before = acme.connection.updated_at

    added = connection_add_certificate(
        connection=acme.connection, certificate_data=new.cert_der, actor_label="command"
    )

    fingerprints = set(acme.connection.certificates.values_list("fingerprint_sha256", flat=True))
    assert fingerprints == {old.fingerprint_sha256, new.fingerprint}
    assert added.fingerprint_sha256 == new.fingerprint
    event = AuditEvent.objects.get(action="connection.certificate_added")
    assert event.connection == acme.connection
    assert event.details["certificate_sha256"] == new.fingerprint
    acme.connection.refresh_from_db()
    assert acme.connection.updated_at > updated_before


def test_rotation_refuses_a_certificate_already_on_the_connection(acme):
    before = _counts()

    with pytest.raises(Conflict, match="already on the connection"):
        connection_add_certificate(
            connection=acme.connection, certificate_data=acme.connection.keypair.cert_pem
        )

    assert _counts() == before


def test_the_same_certificate_may_serve_two_connections(acme, globex):
    # Two Okta apps of one org can share a signing certificate; uniqueness is per connection.
    connection_add_certificate(
        connection=globex.connection, certificate_data=acme.connection.keypair.cert_pem
    )

    assert globex.connection.certificates.count() == 2


def test_rotation_refuses_an_expired_certificate(acme):
    now = datetime.now(UTC)
    expired = make_keypair(
        "old.acme.okta.example",
        slot="rules-next",
        not_before=now - timedelta(days=30),
        not_after=now - timedelta(days=1),
    )
    before = _counts()

    with pytest.raises(ValidationFailed, match="expired"):
        connection_add_certificate(connection=acme.connection, certificate_data=expired.cert_pem)

    assert _counts() == before


def test_removing_the_last_certificate_is_refused(acme):
    with pytest.raises(ValidationFailed, match="at least one signing certificate"):
        connection_remove_certificate(certificate=acme.connection.certificates.get())

    assert acme.connection.certificates.count() == 1


def test_removing_a_rotated_out_certificate_is_audited(acme):
    old = acme.connection.certificates.get()
    connection_add_certificate(
        connection=acme.connection,
        certificate_data=make_keypair("next.acme.okta.example", slot="rules-next").cert_pem,
    )

    connection_remove_certificate(certificate=old)

    assert not acme.connection.certificates.filter(pk=old.pk).exists()
    event = AuditEvent.objects.get(action="connection.certificate_removed")
    assert event.details == {"certificate_sha256": old.fingerprint_sha256}


# --- status and updates -----------------------------------------------------------------------


def test_set_status_writes_one_event_and_is_idempotent(acme):
    connection_set_status(connection=acme.connection, status=ConnectionStatus.DISABLED)
    connection_set_status(connection=acme.connection, status=ConnectionStatus.DISABLED)

    acme.connection.refresh_from_db()
    assert acme.connection.status == ConnectionStatus.DISABLED
    events = AuditEvent.objects.filter(action="connection.status_changed")
    assert events.count() == 1
    assert events.get().details == {"from": "active", "to": "disabled"}


def test_set_status_to_the_current_status_writes_nothing(acme):
    before = _counts()

    returned = connection_set_status(connection=acme.connection, status=ConnectionStatus.ACTIVE)

    assert returned.status == ConnectionStatus.ACTIVE
    assert _counts() == before


def test_connection_update_records_each_changed_field_old_and_new(acme):
    connection_update(
        connection=acme.connection,
        sign_on_url="https://acme.okta.example/app/new/sso/saml",
        default_team=acme.teams["Marketing"],
        allow_idp_initiated=False,
        provisioning=Provisioning.JIT,  # unchanged: not in the diff
        actor_label="command",
    )

    acme.connection.refresh_from_db()
    assert acme.connection.sign_on_url == "https://acme.okta.example/app/new/sso/saml"
    assert acme.connection.allow_idp_initiated is False
    event = AuditEvent.objects.get(action="connection.updated")
    assert event.details == {
        "changes": {
            "sign_on_url": {
                "from": "https://acme.okta.example/app/sso/saml",
                "to": "https://acme.okta.example/app/new/sso/saml",
            },
            "default_team": {"from": "Sales", "to": "Marketing"},
            "allow_idp_initiated": {"from": True, "to": False},
        }
    }


def test_connection_update_without_changes_writes_nothing(acme):
    before = _counts()

    connection_update(connection=acme.connection, provisioning=Provisioning.JIT)

    assert _counts() == before


def test_connection_update_refuses_fields_that_are_not_editable(acme):
    with pytest.raises(ValidationFailed, match="cannot be changed: company, name"):
        connection_update(connection=acme.connection, name="acme2", company=None)

    acme.connection.refresh_from_db()
    assert acme.connection.name == "acme"


def test_connection_update_refuses_http_sign_on_url_and_keeps_the_old_one(acme):
    with pytest.raises(ValidationFailed, match="must use https"):
        connection_update(connection=acme.connection, sign_on_url="http://acme.okta.example/x")

    acme.connection.refresh_from_db()
    assert acme.connection.sign_on_url == "https://acme.okta.example/app/sso/saml"
    assert not AuditEvent.objects.filter(action="connection.updated").exists()


# --- derived SP values ------------------------------------------------------------------------


def test_sp_values_are_derived_from_base_url_and_the_name(acme):
    assert acme.connection.sp_entity_id == "https://sso.test/sso/acme/metadata/"
    assert acme.connection.acs_url == "https://sso.test/sso/acme/acs/"
    assert acme.connection.login_url == "https://sso.test/sso/acme/login/"

"""Our SP keys: made by the product on first need, private keys encrypted at rest with
SAML_KEY_ENCRYPTION_KEY (which itself rotates), rotated in two steps with both published, and a
clear failure (never a half-made key) where a key is needed and cannot be made.
"""

from __future__ import annotations

import base64
import os
import stat

import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import load_pem_x509_certificate
from django.test import Client

from audit.models import AuditEvent
from connections.key_encryption import SpKeysUnavailable, decrypt_private_key
from connections.models import SpKey, SpKeyState, SpKeyUse
from connections.services import connection_update
from connections.sp_keys import (
    sp_key_ensure,
    sp_key_rotation_cancel,
    sp_key_rotation_finish,
    sp_key_rotation_start,
    sp_keys_reencrypt,
    sp_private_key_pem,
)
from core.exceptions import Conflict, ValidationFailed
from tests.commands import refused_command, run_command
from tests.connections.saml_helpers import idp_response, sign_in, signed_in_email
from tests.saml_logout import sp_certificates


def _fernet_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def _metadata(connection) -> bytes:
    response = Client().get(f"/sso/{connection.name}/metadata/")
    assert response.status_code == 200, response.content[:500]
    return response.content


def _public_numbers(pem: bytes):
    return load_pem_x509_certificate(pem).public_key().public_numbers()


# --- made on first need, once ----------------------------------------------------------------


def test_the_first_metadata_request_makes_the_encryption_key_once(acme):
    assert not SpKey.objects.exists()  # nothing is made at creation or at start

    first = sp_certificates(_metadata(acme.connection), "encryption")
    second = sp_certificates(_metadata(acme.connection), "encryption")

    assert first == second and len(first) == 1
    key = SpKey.objects.get()
    assert (key.connection, key.use, key.state) == (
        acme.connection,
        SpKeyUse.ENCRYPTION,
        SpKeyState.CURRENT,
    )
    events = AuditEvent.objects.filter(action="connection.sp_key_created")
    assert [(e.connection_id, e.details["fingerprint_sha256"]) for e in events] == [
        (acme.connection.pk, key.fingerprint_sha256)
    ]


def test_each_connection_has_keys_of_its_own(acme, globex):
    acme_certificate = sp_certificates(_metadata(acme.connection), "encryption")
    globex_certificate = sp_certificates(_metadata(globex.connection), "encryption")

    assert acme_certificate != globex_certificate
    assert SpKey.objects.filter(connection=acme.connection).count() == 1
    assert SpKey.objects.filter(connection=globex.connection).count() == 1


def test_the_signing_key_is_made_when_requests_are_signed(acme):
    _metadata(acme.connection)
    assert not SpKey.objects.filter(use=SpKeyUse.SIGNING).exists()

    connection_update(connection=acme.connection, sign_requests=True, actor_label="test")

    assert SpKey.objects.filter(connection=acme.connection, use=SpKeyUse.SIGNING).count() == 1


# --- encrypted at rest ---------------------------------------------------------------------


def test_private_keys_are_stored_encrypted_with_the_environment_key(acme, settings):
    key = sp_key_ensure(connection=acme.connection, use=SpKeyUse.ENCRYPTION)
    stored = SpKey.objects.get(pk=key.pk).private_key_encrypted

    assert "PRIVATE KEY" not in stored
    pem = Fernet(settings.SAML_KEY_ENCRYPTION_KEYS[0].encode()).decrypt(stored.encode())
    private = serialization.load_pem_private_key(pem, password=None)
    assert private.public_key().public_numbers() == _public_numbers(key.certificate_pem.encode())
    assert private.key_size == settings.SAML_SP_KEY_BITS


def test_a_key_encrypted_with_a_key_no_longer_configured_is_refused_naming_the_variable(
    acme, settings
):
    key = sp_key_ensure(connection=acme.connection, use=SpKeyUse.ENCRYPTION)
    settings.SAML_KEY_ENCRYPTION_KEYS = [_fernet_key()]

    with pytest.raises(SpKeysUnavailable, match="SAML_KEY_ENCRYPTION_KEY") as refused:
        sp_private_key_pem(key)

    assert "reencrypt-sp-keys" in refused.value.message


def test_the_environment_key_rotates_new_first_then_reencrypt(acme, globex, settings):
    keys = [
        sp_key_ensure(connection=tenant.connection, use=SpKeyUse.ENCRYPTION)
        for tenant in (acme, globex)
    ]
    old = settings.SAML_KEY_ENCRYPTION_KEYS[0]
    new = _fernet_key()
    settings.SAML_KEY_ENCRYPTION_KEYS = [new, old]  # the new one first: it encrypts

    out = run_command("connection", "reencrypt-sp-keys")

    assert "Re-encrypted 2 SP private key(s)" in out
    settings.SAML_KEY_ENCRYPTION_KEYS = [new]  # the old one can go now
    for key in keys:
        pem = sp_private_key_pem(SpKey.objects.get(pk=key.pk))
        assert b"PRIVATE KEY" in pem
    events = AuditEvent.objects.filter(action="connection.sp_keys_reencrypted")
    assert {event.connection_id for event in events} == {acme.connection.pk, globex.connection.pk}


def test_reencrypting_with_a_key_list_that_cannot_read_a_key_changes_nothing(acme, settings):
    key = sp_key_ensure(connection=acme.connection, use=SpKeyUse.ENCRYPTION)
    before = SpKey.objects.get(pk=key.pk).private_key_encrypted
    settings.SAML_KEY_ENCRYPTION_KEYS = [_fernet_key()]

    with pytest.raises(SpKeysUnavailable):
        sp_keys_reencrypt()

    assert SpKey.objects.get(pk=key.pk).private_key_encrypted == before


# --- no key encryption key (settings changed at run time; production refuses to start) -------


@pytest.fixture
def no_key_encryption_key(settings):
    settings.DEBUG = False
    settings.SAML_KEY_ENCRYPTION_KEYS = []
    return settings


def test_without_the_variable_the_metadata_is_a_clear_503_and_no_key_is_half_made(
    acme, client, no_key_encryption_key
):
    response = client.get(f"/sso/{acme.connection.name}/metadata/")

    assert response.status_code == 503
    assert '<span class="code">sp_keys_unavailable</span>' in response.content.decode()
    assert not SpKey.objects.exists()
    assert not AuditEvent.objects.filter(action="connection.sp_key_created").exists()


def test_without_the_variable_plain_sign_ins_still_work(acme, client, no_key_encryption_key):
    done = sign_in(client, acme.connection, idp_response(acme, acme.member.email))

    assert done.status_code == 302
    assert signed_in_email(client) == acme.member.email


def test_without_the_variable_turning_on_signed_requests_is_refused_and_changes_nothing(
    acme, no_key_encryption_key
):
    error = refused_command(
        "connection", "set", "acme", "--sign-requests", "on", watched=(SpKey, AuditEvent)
    )

    assert "SAML_KEY_ENCRYPTION_KEY is not set" in str(error)
    acme.connection.refresh_from_db()
    assert acme.connection.sign_requests is False


def test_in_debug_without_the_variable_a_key_file_is_made_once_under_var(acme, settings, tmp_path):
    settings.DEBUG = True
    settings.SAML_KEY_ENCRYPTION_KEYS = []
    settings.BASE_DIR = tmp_path

    key = sp_key_ensure(connection=acme.connection, use=SpKeyUse.ENCRYPTION)

    key_file = tmp_path / "var" / "saml-key-encryption-key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    made = key_file.read_text()
    assert b"PRIVATE KEY" in sp_private_key_pem(key)
    assert key_file.read_text() == made  # read again, not made again
    assert decrypt_private_key(key.private_key_encrypted, what="the test key")


# --- rotation: next keys published beside the current ones, then they take over --------------


def test_a_rotation_publishes_both_then_only_the_new_keys(acme):
    connection_update(connection=acme.connection, sign_requests=True, actor_label="test")
    current = {use: sp_certificates(_metadata(acme.connection), use) for use in ("signing", "encryption")}  # fmt: skip

    sp_key_rotation_start(connection=acme.connection, actor_label="test")

    during = {use: sp_certificates(_metadata(acme.connection), use) for use in current}
    for use in current:
        assert len(during[use]) == 2
        assert during[use][0] == current[use][0]  # the current one first: it still signs
    next_keys = {use: during[use][1] for use in current}

    sp_key_rotation_finish(connection=acme.connection, actor_label="test")

    after = {use: sp_certificates(_metadata(acme.connection), use) for use in current}
    assert after == {use: [next_keys[use]] for use in current}
    assert SpKey.objects.filter(connection=acme.connection).count() == 2  # the old ones destroyed
    actions = list(
        AuditEvent.objects.filter(action__startswith="connection.sp_key_rotation")
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == [
        "connection.sp_key_rotation_started",
        "connection.sp_key_rotation_finished",
    ]


def test_a_connection_that_does_not_sign_rotates_its_encryption_key_only(acme):
    keys = sp_key_rotation_start(connection=acme.connection, actor_label="test")

    assert [key.use for key in keys] == [SpKeyUse.ENCRYPTION]


def test_one_rotation_at_a_time_and_nothing_to_finish_or_cancel_without_one(acme):
    with pytest.raises(ValidationFailed, match="No rotation"):
        sp_key_rotation_finish(connection=acme.connection)
    with pytest.raises(ValidationFailed, match="No rotation"):
        sp_key_rotation_cancel(connection=acme.connection)
    sp_key_rotation_start(connection=acme.connection)

    with pytest.raises(Conflict, match="already under way"):
        sp_key_rotation_start(connection=acme.connection)

    assert SpKey.objects.filter(state=SpKeyState.NEXT).count() == 1


def test_a_cancelled_rotation_drops_the_next_keys(acme):
    current = sp_certificates(_metadata(acme.connection), "encryption")
    sp_key_rotation_start(connection=acme.connection)

    assert sp_key_rotation_cancel(connection=acme.connection) == 1

    assert sp_certificates(_metadata(acme.connection), "encryption") == current
    assert not SpKey.objects.filter(state=SpKeyState.NEXT).exists()


def test_rotate_sp_key_command_walks_the_two_steps(acme):
    started = run_command("connection", "rotate-sp-key", "acme")
    assert "next encryption key" in started and "--finish" in started

    refused = refused_command("connection", "rotate-sp-key", "acme", watched=(SpKey,))
    assert "already under way" in str(refused)

    finished = run_command("connection", "rotate-sp-key", "acme", "--finish")
    assert "is now current" in finished
    assert not SpKey.objects.filter(state=SpKeyState.NEXT).exists()

    refused = refused_command("connection", "rotate-sp-key", "acme", "--cancel", watched=(SpKey,))
    assert "No rotation" in str(refused)


def test_rotate_sp_key_of_an_unknown_connection_is_refused(db):
    error = refused_command("connection", "rotate-sp-key", "nope", watched=(SpKey,))

    assert "No connection is named 'nope'" in str(error)

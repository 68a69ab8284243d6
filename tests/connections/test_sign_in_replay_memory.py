"""Where an assertion ID is remembered: the verified sign-in the ACS writes carries it (unique
per connection, kept until the assertion expires, so the ACS refuses a second use), and the
finish step records it durably (``SeenAssertion``) in the transaction that signs the person in,
so an assertion signs someone in at most once even where the ACS's memory is lost (PostgreSQL
keeps verified sign-ins in an unlogged table, which a server crash empties)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection as database
from django.test import Client
from django.utils import timezone

from accounts.models import User
from connections.models import PendingAuthnRequest, SeenAssertion, VerifiedSignIn
from connections.services import saml_state_purge
from tests.connections.saml_helpers import (
    assert_refused,
    finish,
    idp_response,
    post_to_acs,
    sign_in,
    signed_in_email,
)

pytestmark = pytest.mark.usefixtures("signature_backend")


def test_a_finished_sign_in_is_remembered_in_both_places(acme):
    xml = idp_response(acme, acme.member.email)
    browser = Client()

    sign_in(browser, acme.connection, xml)

    assert signed_in_email(browser) == acme.member.email
    handed_off = VerifiedSignIn.objects.get(connection=acme.connection)
    used = SeenAssertion.objects.get(connection=acme.connection)
    assert handed_off.assertion_id == used.assertion_id
    assert handed_off.token_hash is None  # used up: no browser can finish it again
    assert used.expires_at == handed_off.remember_until > timezone.now()


def test_the_acs_alone_records_no_use(acme):
    post_to_acs(Client(), acme.connection, idp_response(acme, acme.member.email))

    assert VerifiedSignIn.objects.filter(token_hash__isnull=False).count() == 1
    assert not SeenAssertion.objects.exists()


def test_with_the_acs_memory_lost_a_used_assertion_is_refused_at_its_finish(acme):
    """As after a PostgreSQL crash (the unlogged table emptied): the ACS takes the response
    again, and the finish step refuses it with the same code, signing nobody in."""
    xml = idp_response(acme, acme.member.email)
    sign_in(Client(), acme.connection, xml)
    VerifiedSignIn.objects.all().delete()
    users = User.objects.count()

    attacker = Client()
    accepted_again = post_to_acs(attacker, acme.connection, xml)
    assert accepted_again.status_code == 303
    refused = finish(attacker, accepted_again)

    assert_refused(
        refused, "saml_replayed", users_before=users, connection=acme.connection, client=attacker
    )
    assert SeenAssertion.objects.count() == 1
    # Used up by the refusal: that browser cannot try it again either.
    assert not VerifiedSignIn.objects.filter(token_hash__isnull=False).exists()


def test_a_refused_finish_keeps_the_assertion_refused_at_the_acs(acme):
    acme.member.is_active = False
    acme.member.save(update_fields=["is_active"])
    xml = idp_response(acme, acme.member.email)
    browser = Client()
    users = User.objects.count()
    refused = sign_in(browser, acme.connection, xml)
    assert_refused(refused, "user_deactivated", users_before=users, client=browser)

    again = post_to_acs(Client(), acme.connection, xml)

    assert_refused(again, "saml_replayed", users_before=users, connection=acme.connection)


def test_deleting_a_connection_deletes_its_verified_sign_ins(acme, globex):
    post_to_acs(Client(), acme.connection, idp_response(acme, acme.member.email))
    post_to_acs(Client(), globex.connection, idp_response(globex, globex.member.email))

    acme.connection.delete()

    assert list(VerifiedSignIn.objects.values_list("connection_id", flat=True)) == [
        globex.connection.pk
    ]


def test_the_purge_forgets_what_the_idp_said_once_it_cannot_be_finished(acme):
    now = timezone.now()
    post_to_acs(Client(), acme.connection, idp_response(acme, acme.member.email))
    VerifiedSignIn.objects.update(expires_at=now - timedelta(seconds=1))

    saml_state_purge()

    kept = VerifiedSignIn.objects.get()
    assert (kept.identity, kept.token_hash) == ({}, None)
    assert kept.remember_until > now  # its assertion ID still refuses a replay
    VerifiedSignIn.objects.update(remember_until=now - timedelta(seconds=1))
    assert saml_state_purge() == 1
    assert not VerifiedSignIn.objects.exists()


@pytest.mark.postgres("unlogged tables are PostgreSQL's")
def test_on_postgresql_verified_sign_ins_skip_the_wal(db):
    with database.cursor() as cursor:
        cursor.execute(
            "SELECT relpersistence FROM pg_class WHERE relname = 'connections_verifiedsignin'"
        )
        assert cursor.fetchone() == ("u",)
        cursor.execute("SELECT relpersistence FROM pg_class WHERE relname = %s", [
            SeenAssertion._meta.db_table
        ])  # fmt: skip
        assert cursor.fetchone() == ("p",)  # the durable record of used assertions
        # No foreign key to check on insert: the check would lock the connection's row, a WAL
        # record the ACS's commit would wait to flush.
        cursor.execute(
            "SELECT count(*) FROM pg_constraint WHERE contype = 'f' "
            "AND conrelid = 'connections_verifiedsignin'::regclass"
        )
        assert cursor.fetchone() == (0,)


@pytest.mark.postgres("unlogged tables are PostgreSQL's")
def test_on_postgresql_pending_sp_initiated_requests_skip_the_wal(db):
    """``/login/``'s insert and the ACS's consumption wait for no disk flush; a crash loses
    only requests in flight (refused: tests.connections.refusals.protocol)."""
    with database.cursor() as cursor:
        cursor.execute("SELECT relpersistence FROM pg_class WHERE relname = %s", [
            PendingAuthnRequest._meta.db_table
        ])  # fmt: skip
        assert cursor.fetchone() == ("u",)
        cursor.execute(
            "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conrelid = %s::regclass",
            [PendingAuthnRequest._meta.db_table],
        )
        assert cursor.fetchone() == (0,)

"""``pending_take``: the finish step's first read and writes (the connection, the pending sign-in
taken, its assertion recorded as used), one statement on PostgreSQL and three elsewhere, with
the same outcome for every case on both (CI's second pass runs this file on PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from accounts.normalize import email_key
from accounts.selectors import sign_in_lookup
from connections.models import Connection, SeenAssertion, VerifiedSignIn
from connections.services import connection_update
from connections.sign_in import pending_take, secret_hash
from tests.connections.saml_helpers import finish, idp_response, post_to_acs, signed_in_email
from tests.factories import DomainFactory, UserFactory, verified_sign_in
from tests.saml_idp import okta_attributes
from tests.sql_statements import statements

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

TOKEN = "browser-finish-token"


def _pending(connection: Connection, token: str = TOKEN, **fields) -> VerifiedSignIn:
    return verified_sign_in(connection, secret_hash(token), **fields)


def test_it_takes_the_pending_sign_in_and_records_its_assertion_as_used(acme):
    pending = _pending(acme.connection, identity={"name_id": "ada@acme.com", "attributes": {}})

    with transaction.atomic():
        taken = pending_take(name=acme.connection.name, finish_token=TOKEN)

    assert taken.connection.pk == acme.connection.pk
    assert taken.connection.sign_on_url == acme.connection.sign_on_url
    assert taken.record.pk == pending.pk and taken.newly_used is True
    # Read as the ORM reads it: the JSON decoded, the datetimes aware.
    assert taken.record.identity == {"name_id": "ada@acme.com", "attributes": {}}
    assert taken.record.expires_at == pending.expires_at
    assert taken.record.token_hash is None  # the row as the take left it
    stored = VerifiedSignIn.objects.get(pk=pending.pk)
    assert stored.token_hash is None and stored.assertion_id == pending.assertion_id
    seen = SeenAssertion.objects.get(connection=acme.connection)
    assert (seen.assertion_id, seen.expires_at) == (pending.assertion_id, pending.remember_until)


def test_a_second_take_finds_nothing(acme):
    _pending(acme.connection)
    with transaction.atomic():
        assert pending_take(name=acme.connection.name, finish_token=TOKEN).record is not None

    again = pending_take(name=acme.connection.name, finish_token=TOKEN)

    assert again.connection.pk == acme.connection.pk
    assert (again.record, again.newly_used) == (None, False)
    assert SeenAssertion.objects.count() == 1


def test_an_assertion_recorded_already_is_taken_but_not_newly_used(acme):
    """The replay the ACS's memory missed (lost with the unlogged table): the caller refuses it,
    and the refusal's rollback puts the pending sign-in back."""
    pending = _pending(acme.connection)
    SeenAssertion.objects.create(
        connection=acme.connection,
        assertion_id=pending.assertion_id,
        expires_at=pending.remember_until,
    )

    with transaction.atomic():
        taken = pending_take(name=acme.connection.name, finish_token=TOKEN)
        assert taken.record.pk == pending.pk and taken.newly_used is False
        transaction.set_rollback(True)

    assert VerifiedSignIn.objects.get(pk=pending.pk).token_hash == secret_hash(TOKEN)
    assert SeenAssertion.objects.count() == 1


def test_another_companys_pending_sign_in_is_out_of_reach(acme, globex):
    """A finish token presented at another connection's finish URL takes nothing, records
    nothing, and leaves that sign-in pending for its own connection."""
    theirs = _pending(globex.connection)

    with transaction.atomic():
        taken = pending_take(name=acme.connection.name, finish_token=TOKEN)

    assert taken.connection.pk == acme.connection.pk
    assert (taken.record, taken.newly_used) == (None, False)
    assert VerifiedSignIn.objects.get(pk=theirs.pk).token_hash == secret_hash(TOKEN)
    assert not SeenAssertion.objects.exists()


def test_an_expired_sign_in_is_not_taken(acme):
    expired = _pending(acme.connection, expires_at=timezone.now() - timedelta(seconds=1))

    taken = pending_take(name=acme.connection.name, finish_token=TOKEN)

    assert (taken.record, taken.newly_used) == (None, False)
    assert VerifiedSignIn.objects.get(pk=expired.pk).token_hash == secret_hash(TOKEN)
    assert not SeenAssertion.objects.exists()


@pytest.mark.parametrize("name", ["no-such-connection", "x" * 64])
def test_an_unknown_connection_finds_nothing_and_takes_nothing(acme, name):
    _pending(acme.connection)

    taken = pending_take(name=name, finish_token=TOKEN)

    assert (taken.connection, taken.record, taken.newly_used) == (None, None, False)
    assert VerifiedSignIn.objects.get().token_hash == secret_hash(TOKEN)


@pytest.mark.parametrize("token", [None, ""])
def test_without_a_finish_token_only_the_connection_is_read(acme, token):
    _pending(acme.connection)

    with statements() as ran:
        taken = pending_take(name=acme.connection.name, finish_token=token)

    assert taken.connection.pk == acme.connection.pk and taken.record is None
    assert ran.kinds() == ["SELECT connections_connection"]


def test_on_postgresql_the_take_reads_the_user_and_held_domains_by_the_keys_kept(acme, globex):
    """The keys the ACS kept name the user and the email's domain with its parents; every held
    one comes back (the caller picks the most specific), another company's user and domains
    included: the finish step's rules decide, not this read."""
    DomainFactory(company=acme.company, domain="eu.acme.com")
    lookup = sign_in_lookup("Member@EU.acme.com")
    assert lookup == {
        "email_key": email_key("member@eu.acme.com"),
        "domains": ["eu.acme.com", "acme.com", "com"],
    }
    user = UserFactory(company=globex.company, email="member@eu.acme.com")
    _pending(acme.connection, user_lookup=lookup)

    with transaction.atomic():
        taken = pending_take(name=acme.connection.name, finish_token=TOKEN)

    if connection.vendor != "postgresql":
        assert taken.read is None  # read after the take, by the email mapped then
        return
    assert taken.read.email_key == lookup["email_key"]
    assert [found.pk for found in taken.read.users] == [user.pk]
    assert taken.read.users[0].company_id == globex.company.pk
    assert sorted(domain.domain for domain in taken.read.domains) == ["acme.com", "eu.acme.com"]
    assert {domain.company_id for domain in taken.read.domains} == {acme.company.pk}


def test_keys_of_nobody_read_no_user_and_no_domain(acme):
    _pending(acme.connection, user_lookup=sign_in_lookup("nobody@nowhere.example"))

    with transaction.atomic():
        taken = pending_take(name=acme.connection.name, finish_token=TOKEN)

    assert taken.record is not None
    if connection.vendor == "postgresql":
        assert (taken.read.users, taken.read.domains) == ([], [])


def test_a_sign_in_without_keys_reads_nothing_ahead(acme):
    """Kept before the keys were (migration 0007), or no email mapped at the ACS."""
    _pending(acme.connection)

    with transaction.atomic():
        taken = pending_take(name=acme.connection.name, finish_token=TOKEN)

    assert taken.record is not None and taken.read is None


def test_a_mapping_changed_between_the_acs_and_the_finish_step_signs_in_whom_it_reads_now(acme):
    """The keys kept at the ACS came from the mapping then; the finish step maps again with the
    connection as it is now, and reads the user by that email when it differs (on PostgreSQL the
    user read with the take is the wrong one then, and must not be used)."""
    attributes = {**okta_attributes(acme.member.email), "corpMail": acme.admin.email}
    browser = Client()
    response = post_to_acs(
        browser, acme.connection, idp_response(acme, acme.member.email, attributes=attributes)
    )
    kept = VerifiedSignIn.objects.get(connection=acme.connection, token_hash__isnull=False)
    if connection.vendor == "postgresql":  # where the take reads the user by them
        assert kept.user_lookup["email_key"] == email_key(acme.member.email)
    else:
        assert kept.user_lookup == {}  # nothing reads them: the ACS does not map for them

    connection_update(
        connection=acme.connection, attribute_mapping={"email": "corpMail"}, actor_label="test"
    )
    finish(browser, response)

    assert signed_in_email(browser) == acme.admin.email

"""``writes_batched``: on PostgreSQL the unread writes of a block reach the server as one
statement, with the same rows and the same errors as one by one; anything else in the block runs
as usual, after what was held."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models.constants import OnConflict

from accounts.models import User, UserSession
from audit.models import AuditEvent
from audit.services import audit_record
from core.batched_writes import held_now, writes_batched
from core.compiled import insert_row
from tests.sql_statements import statements

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def _sent_to_the_server() -> list[str]:
    """The statements psycopg was given (below Django's execute wrappers), in order."""
    sent: list[str] = []
    raw = connection.connection
    original = raw.cursor

    def cursor(*args, **kwargs):
        made = original(*args, **kwargs)
        execute = made.execute

        def recorded(query, *rest, **options):
            sent.append(str(query))
            return execute(query, *rest, **options)

        made.execute = recorded
        return made

    raw.cursor = cursor
    return sent


def _event(action: str) -> AuditEvent:
    return audit_record(action=action, actor_label="test", read_key=False)


@pytest.mark.postgres("the batch is one PostgreSQL statement")
def test_unread_writes_are_one_statement(acme):
    connection.ensure_connection()
    sent = _sent_to_the_server()
    with transaction.atomic(), statements() as ran, writes_batched():
        _event("first")
        insert_row(
            UserSession(session_key="k" * 32, user=acme.member), on_conflict=OnConflict.IGNORE
        )
        _event("second")
        assert held_now() is False  # only statements marked unread are held

    assert ran.batched() == [
        "INSERT audit_auditevent",
        "INSERT accounts_usersession",
        "INSERT audit_auditevent",
    ]
    batches = [sql for sql in sent if sql.startswith("WITH")]
    assert len(batches) == 1 and batches[0].count("INSERT INTO") == 3
    # One statement: its parts run in no defined order (so no two of them may touch one row).
    assert sorted(AuditEvent.objects.values_list("action", flat=True)) == ["first", "second"]
    assert UserSession.objects.filter(user=acme.member).count() == 1


@pytest.mark.postgres("the batch is one PostgreSQL statement")
def test_a_read_sends_what_is_held_first_and_sees_it(acme):
    with transaction.atomic(), writes_batched():
        _event("held")
        assert AuditEvent.objects.filter(action="held").count() == 1  # sent before the read
        acme.member.first_name = "Saved"
        acme.member.save(update_fields=["first_name"])  # reads its UPDATE's row count: not held
        _event("after")

    acme.member.refresh_from_db()
    assert acme.member.first_name == "Saved"
    assert User.objects.filter(first_name="Saved").count() == 1
    assert AuditEvent.objects.filter(action__in=["held", "after"]).count() == 2


@pytest.mark.postgres("the batch is one PostgreSQL statement")
def test_a_held_writes_error_comes_out_of_the_block_and_nothing_is_kept(acme):
    insert_row(UserSession(session_key="s" * 32, user=acme.member))

    with pytest.raises(IntegrityError), transaction.atomic(), writes_batched():
        _event("rolled back")
        insert_row(UserSession(session_key="s" * 32, user=acme.admin))  # the key is taken

    assert not AuditEvent.objects.filter(action="rolled back").exists()
    assert UserSession.objects.get(session_key="s" * 32).user == acme.member


def test_outside_postgresql_or_a_transaction_each_write_runs_as_it_comes(acme):
    with writes_batched():
        _event("at once")
        assert AuditEvent.objects.filter(action="at once").exists()
        assert held_now() is False

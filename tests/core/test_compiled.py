"""``CompiledQuery``: the ORM's own query, built once, then run with each call's values; the
same rows as the queryset it stands for, on SQLite and on PostgreSQL alike."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Domain, User
from connections.models import Connection, VerifiedSignIn
from core.compiled import CompiledQuery, fetch_together
from tests.factories import verified_sign_in
from tests.sql_statements import statements

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_each_call_gets_the_rows_of_its_own_values(acme, globex):
    by_name = CompiledQuery(lambda name: Connection.objects.filter(name=name))

    assert [c.pk for c in by_name.fetch(name=acme.connection.name)] == [acme.connection.pk]
    assert [c.pk for c in by_name.fetch(name=globex.connection.name)] == [globex.connection.pk]
    assert by_name.first(name="nobody") is None


def test_the_instances_are_what_the_orm_reads(acme):
    by_key = CompiledQuery(lambda key: User.objects.filter(email_key=key))

    compiled = by_key.first(key=acme.member.email_key)
    orm = User.objects.get(pk=acme.member.pk)

    assert type(compiled) is User
    assert {f.attname: getattr(compiled, f.attname) for f in User._meta.concrete_fields} == {
        f.attname: getattr(orm, f.attname) for f in User._meta.concrete_fields
    }
    assert compiled._state.adding is False and compiled._state.db == "default"
    assert compiled.date_joined.tzinfo is not None  # converted as a SELECT converts it


def test_one_statement_per_call_and_the_sql_is_built_once(acme):
    by_name = CompiledQuery(lambda name: Connection.objects.filter(name=name))
    by_name.fetch(name="warm-up")

    with statements() as ran:
        by_name.fetch(name=acme.connection.name)
        by_name.fetch(name="other")

    assert ran.kinds() == ["SELECT connections_connection"] * 2
    assert ran.sql[0] == ran.sql[1]


def test_a_list_value_compiles_one_statement_per_length(acme, globex):
    named = CompiledQuery(lambda names: Domain.objects.filter(domain__in=names))
    acme_domain = acme.company.domains.get().domain
    globex_domain = globex.company.domains.get().domain

    assert [d.domain for d in named.fetch(names=[acme_domain])] == [acme_domain]
    assert sorted(d.domain for d in named.fetch(names=[acme_domain, globex_domain])) == sorted(
        [acme_domain, globex_domain]
    )
    assert named.fetch(names=["x.example", "y.example", "z.example"]) == []


def test_datetimes_are_adapted_as_the_orm_adapts_them(acme):
    live = verified_sign_in(acme.connection, "a" * 64)
    verified_sign_in(acme.connection, "b" * 64, expires_at=timezone.now() - timedelta(seconds=1))
    live_after = CompiledQuery(lambda now: VerifiedSignIn.objects.filter(expires_at__gt=now))

    assert [row.pk for row in live_after.fetch(now=timezone.now())] == [live.pk]
    assert live_after.fetch(now=timezone.now() + timedelta(minutes=5)) == []


def test_delete_hands_each_row_to_one_call(acme, globex):
    verified_sign_in(acme.connection, "a" * 64, next_path="/x")
    other = verified_sign_in(globex.connection, "a" * 63 + "b")
    consume = CompiledQuery(
        lambda token_hash, connection_id: VerifiedSignIn.objects.filter(
            token_hash=token_hash, connection_id=connection_id
        ),
        delete=True,
    )

    with statements() as ran:
        rows = consume.fetch(token_hash="a" * 64, connection_id=acme.connection.pk)
    assert ran.kinds() == ["DELETE connections_verifiedsignin"]
    assert [(row.next_path, row.identity["name_id"]) for row in rows] == [("/x", "ada@acme.com")]
    assert consume.fetch(token_hash="a" * 64, connection_id=acme.connection.pk) == []
    # Another company's row is out of reach of a call naming this connection.
    assert consume.fetch(token_hash=other.token_hash, connection_id=acme.connection.pk) == []
    assert VerifiedSignIn.objects.filter(pk=other.pk).exists()


def test_what_it_cannot_run_as_given_is_refused_at_the_first_call(acme):
    joined = CompiledQuery(
        lambda name: Connection.objects.select_related("company").filter(name=name)
    )
    with pytest.raises(ValueError, match="no joins"):
        joined.fetch(name=acme.connection.name)

    # A lookup that rewrites the value (here into a LIKE pattern) would not match it as given.
    rewritten = CompiledQuery(lambda name: Connection.objects.filter(name__startswith=name))
    with pytest.raises(ValueError, match="does not reach the SQL"):
        rewritten.fetch(name="acme")

    counted = CompiledQuery(lambda name: Connection.objects.filter(name=name).values("pk"))
    with pytest.raises(ValueError, match="model instances only"):
        counted.fetch(name="acme")

    with pytest.raises(TypeError):
        CompiledQuery(lambda flag: Connection.objects.filter(allow_idp_initiated=flag)).fetch(
            flag=True
        )


# --- fetch_together ------------------------------------------------------------------------------


def _field_values(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


def test_reads_fetched_together_get_what_each_gets_alone_in_one_statement(acme, globex):
    by_key = CompiledQuery(lambda key: User.objects.filter(email_key=key))
    named = CompiledQuery(lambda names: Domain.objects.filter(domain__in=names))
    names = [acme.company.domains.get().domain, globex.company.domains.get().domain, "x.example"]

    with statements() as ran:
        users, domains = fetch_together(
            (by_key, {"key": acme.member.email_key}), (named, {"names": names})
        )

    assert len(ran) == 1 and ran.kinds()[0].startswith("SELECT")
    assert [_field_values(user) for user in users] == [
        _field_values(User.objects.get(pk=acme.member.pk))
    ]
    assert type(users[0]) is User and users[0].date_joined.tzinfo is not None
    assert sorted((d.domain, d.company_id) for d in domains) == sorted(
        Domain.objects.filter(domain__in=names).values_list("domain", "company_id")
    )
    assert all(type(domain) is Domain for domain in domains)


def test_a_read_that_finds_nothing_gets_nothing_and_the_others_still_their_rows(acme):
    by_key = CompiledQuery(lambda key: User.objects.filter(email_key=key))
    named = CompiledQuery(lambda names: Domain.objects.filter(domain__in=names))
    acme_domain = acme.company.domains.get().domain

    assert (
        fetch_together(
            (by_key, {"key": "nobody@nowhere.example"}), (named, {"names": [acme_domain]})
        )[0]
        == []
    )
    users, domains = fetch_together(
        (by_key, {"key": acme.admin.email_key}), (named, {"names": ["x.example", "y.example"]})
    )
    assert [user.pk for user in users] == [acme.admin.pk] and domains == []
    # The same read twice, each with its own values: rows are told apart by read, not model.
    first, second = fetch_together(
        (by_key, {"key": acme.admin.email_key}), (by_key, {"key": acme.member.email_key})
    )
    assert ([u.pk for u in first], [u.pk for u in second]) == ([acme.admin.pk], [acme.member.pk])


def test_only_reads_are_fetched_together(acme):
    by_key = CompiledQuery(lambda key: User.objects.filter(email_key=key))
    taken = CompiledQuery(
        lambda token_hash: VerifiedSignIn.objects.filter(token_hash=token_hash), delete=True
    )
    with pytest.raises(ValueError, match="reads only"):
        fetch_together((by_key, {"key": acme.admin.email_key}), (taken, {"token_hash": "a"}))


def test_model_rows_reads_a_row_selected_by_hand_as_the_orm_reads_it(acme):
    from django.db import connection

    from core.compiled import model_rows

    pending = verified_sign_in(acme.connection, "a" * 64, next_path="/x")
    meta = VerifiedSignIn._meta
    columns = ", ".join(connection.ops.quote_name(f.column) for f in meta.concrete_fields)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {columns} FROM {connection.ops.quote_name(meta.db_table)}"  # noqa: S608
        )
        (row,) = cursor.fetchall()

    read = model_rows(VerifiedSignIn).instance(row)

    assert type(read) is VerifiedSignIn and read._state.adding is False
    assert _field_values(read) == _field_values(VerifiedSignIn.objects.get(pk=pending.pk))
    assert read.identity["name_id"] == "ada@acme.com"  # JSON decoded
    assert read.expires_at.tzinfo is not None  # converted as a SELECT converts it


# --- insert_row ----------------------------------------------------------------------------------


def test_insert_row_writes_what_save_writes_and_reads_the_key_back(acme):
    from audit.models import AuditEvent
    from core.compiled import insert_row

    event = AuditEvent(
        action="sso.login",
        company=acme.company,
        connection=acme.connection,
        actor_label="x",
        details={"flow": "idp-initiated", "n": 1},
    )
    with statements() as ran:
        returned = insert_row(event)

    assert returned is event and ran.kinds() == ["INSERT audit_auditevent"]
    assert event.pk is not None and not event._state.adding and event._state.db == "default"
    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.details, stored.connection_id, stored.created_at) == (
        {"flow": "idp-initiated", "n": 1},
        acme.connection.pk,
        event.created_at,
    )
    assert insert_row(AuditEvent(action="other", actor_label="y")).pk == event.pk + 1


def test_insert_row_raises_on_a_clash_and_leaves_the_caller_transaction_usable(acme):
    from django.db import IntegrityError, transaction

    from connections.models import SeenAssertion
    from core.compiled import insert_row

    expires = timezone.now() + timedelta(minutes=5)
    insert_row(SeenAssertion(connection=acme.connection, assertion_id="a-1", expires_at=expires))

    with pytest.raises(IntegrityError), transaction.atomic():
        insert_row(
            SeenAssertion(connection=acme.connection, assertion_id="a-1", expires_at=expires)
        )

    assert SeenAssertion.objects.filter(assertion_id="a-1").count() == 1


def test_insert_row_on_conflict_ignores_or_updates(acme):
    from django.db.models.constants import OnConflict

    from accounts.models import UserSession
    from connections.models import SamlSession
    from core.compiled import insert_row

    insert_row(UserSession(session_key="k" * 32, user=acme.member), on_conflict=OnConflict.IGNORE)
    insert_row(UserSession(session_key="k" * 32, user=acme.admin), on_conflict=OnConflict.IGNORE)
    assert list(UserSession.objects.values_list("user_id", flat=True)) == [acme.member.pk]

    fields = ("name_id", "session_index")
    for name_id, index in (("first@acme.com", "s1"), ("second@acme.com", "s2")):
        insert_row(
            SamlSession(
                user_session_id="k" * 32,
                connection=acme.connection,
                name_id=name_id,
                session_index=index,
            ),
            on_conflict=OnConflict.UPDATE,
            unique_fields=("user_session",),
            update_fields=fields,
        )
    assert list(SamlSession.objects.values_list(*fields)) == [("second@acme.com", "s2")]


def test_insert_row_if_writes_the_row_only_while_its_condition_holds(acme, globex):
    """One INSERT ... SELECT ... WHERE: the row's values prepared as insert_row prepares them
    (a JSON value, an aware datetime), written only if the condition holds when it runs."""
    from core.compiled import insert_row_if

    def pending(connection, assertion_id):
        return VerifiedSignIn(
            connection=connection,
            token_hash=f"token-{assertion_id}",
            assertion_id=assertion_id,
            identity={"name_id": "ada@acme.com", "attributes": {"email": ["ada@acme.com"]}},
            expires_at=timezone.now() + timedelta(minutes=2),
            remember_until=timezone.now() + timedelta(minutes=5),
        )

    active = "EXISTS (SELECT 1 FROM connections_connection WHERE id = %s AND status = %s)"
    with statements() as ran:
        written = insert_row_if(
            pending(acme.connection, "a-1"), active, [acme.connection.pk, "active"]
        )
    refused = insert_row_if(
        pending(globex.connection, "g-1"), active, [globex.connection.pk, "gone"]
    )

    assert (written, refused) == (True, False)
    assert ran.kinds() == ["INSERT connections_verifiedsignin"]
    row = VerifiedSignIn.objects.get()
    assert (row.connection_id, row.assertion_id) == (acme.connection.pk, "a-1")
    assert row.identity["attributes"] == {"email": ["ada@acme.com"]}
    assert abs(row.expires_at - timezone.now()) < timedelta(minutes=3)

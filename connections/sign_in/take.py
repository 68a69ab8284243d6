"""The finish step's first read and writes: the connection its URL names, the browser's pending
sign-in taken, and that sign-in's assertion recorded as used.

On PostgreSQL this is one statement (``WITH`` the connection row, the ``UPDATE ... RETURNING``
that takes the pending sign-in of that connection, the ``INSERT ... SELECT`` into
``SeenAssertion`` from the row it took, ``ON CONFLICT DO NOTHING RETURNING``, and the user and
held domains by the keys the taken row kept: ``VerifiedSignIn.user_lookup``): a short request
pays PostgreSQL per statement, and these always run together. Elsewhere (SQLite, in process)
they are the three statements they would be anyway: the connection read, the used assertion,
the take; the user is read afterwards.

Either way the caller gets the same ``Taken`` and makes every decision from it
(``connections.sign_in.finish.verified_sign_in_consume``): an unknown connection, nothing
pending, an assertion recorded already (a replay). Run it in the finish step's transaction:
a refusal rolls the take and the use back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection as database
from django.db import transaction
from django.db.models.expressions import RawSQL
from django.utils import timezone

from accounts.models import Domain, User
from accounts.selectors import SignInRead, domains_named, users_by_email_key
from connections.models import Connection, SeenAssertion, VerifiedSignIn
from connections.selectors import connection_for_sign_in, connection_name_possible
from connections.sign_in.common import secret_hash
from core.compiled import CompiledQuery, model_rows


@dataclass(frozen=True)
class Taken:
    """What the finish step's first statement found: the connection (None: no such name), the
    pending sign-in it took for this browser (None: nothing pending, or expired), whether that
    sign-in's assertion was newly recorded as used (False with a record: used already), and on
    PostgreSQL the user and held domains read with it (``SignInRead``, by the keys the ACS kept:
    ``VerifiedSignIn.user_lookup``; None elsewhere or without keys)."""

    connection: Connection | None
    record: VerifiedSignIn | None
    newly_used: bool
    read: SignInRead | None = None


def takes_in_one_statement() -> bool:
    """Is the take one statement here, reading the user and held domains with it by the keys the
    ACS kept (``VerifiedSignIn.user_lookup``)? On PostgreSQL; elsewhere nothing reads them."""
    return database.vendor == "postgresql"


def pending_take(*, name: str, finish_token: str | None) -> Taken:
    """The connection ``name`` names and, if a finish token came with the request, the pending
    sign-in it is for, taken (token emptied: only one request can finish it, and the row stays
    as the ACS's replay memory until the assertion expires) with its assertion recorded as used
    (``SeenAssertion``, durable)."""
    if not finish_token or not connection_name_possible(name):
        return Taken(connection_for_sign_in(name=name), None, False)
    token_hash, now = secret_hash(finish_token), timezone.now()
    if takes_in_one_statement():
        return _take_in_one_statement(name, token_hash, now)
    connection = connection_for_sign_in(name=name)
    if connection is None:
        return Taken(None, None, False)
    newly_used = bool(_assertion_use_record(token_hash, connection.pk, now))
    taken = _PENDING_TAKE.first(token_hash=token_hash, connection_id=connection.pk, now=now)
    return Taken(connection, taken, newly_used)


def pending_sign_ins(token_hash: str, connection_id: int, now):
    """The pending sign-ins a finish token's hash names at a connection (at most one)."""
    return VerifiedSignIn.objects.filter(
        token_hash=token_hash, connection_id=connection_id, expires_at__gt=now
    )


# Compiled once per process (core.compiled). Taken, not deleted: see pending_take.
_PENDING_TAKE = CompiledQuery(pending_sign_ins, update={"token_hash": None})


# --- elsewhere: the used assertion, one statement of its own ----------------------------------


def _assertion_use_record(token_hash: str, connection_id: int, now) -> list[tuple]:
    """``SeenAssertion`` for the assertion of the pending sign-in ``token_hash`` names (none if
    none is pending), unless that assertion is recorded already: no row back means a replay (or
    nothing pending). Run before the take, whose WHERE it shares."""
    sql = _sql("use", _assertion_use_sql)
    now = database.ops.adapt_datetimefield_value(now)
    with database.cursor() as cursor:
        cursor.execute(sql, [now, token_hash, connection_id, now])
        return cursor.fetchall()


def _assertion_use_sql(quote: Callable[[str], str]) -> str:
    pending = VerifiedSignIn._meta
    where = _pending_where(quote, f"{_column(quote, pending, 'connection')} = %s")
    return _use_sql(quote, f"{quote(pending.db_table)} WHERE {where}")


# --- PostgreSQL: the three in one statement -----------------------------------------------------


def _take_in_one_statement(name: str, token_hash: str, now) -> Taken:
    """The connection row, the take and the use: data-modifying statements in ``WITH`` run
    exactly once, in one snapshot; the use reads the row the take returned (its RETURNING), so
    it records exactly the assertion taken. One row back unless the connection is unknown."""
    sql = _sql("take", _take_sql)
    now = database.ops.adapt_datetimefield_value(now)
    with transaction.mark_for_rollback_on_error(), database.cursor() as cursor:
        cursor.execute(sql, [name, token_hash, now, now])
        rows = cursor.fetchall()
    return _taken_from(rows) if rows else Taken(None, None, False)


def _taken_from(rows: list[tuple]) -> Taken:
    """The take's rows: each is the connection, the sign-in taken, whether its assertion was
    newly used, the user and one held domain (a row per held domain, at least one row; an
    empty LEFT JOIN side is all NULL, and a row's id is never NULL otherwise)."""
    alias = database.alias
    taken_at = len(Connection._meta.concrete_fields)
    used_at = taken_at + len(VerifiedSignIn._meta.concrete_fields)
    domain_at = used_at + 1 + len(User._meta.concrete_fields)
    first = rows[0]
    connection = model_rows(Connection, alias).instance(first[:taken_at])
    if first[taken_at] is None:
        return Taken(connection, None, False)
    record = model_rows(VerifiedSignIn, alias).instance(first[taken_at:used_at])
    key = record.user_lookup.get("email_key")
    read = None
    if key:
        user = first[used_at + 1 : domain_at]
        read = SignInRead(
            email_key=key,
            users=[model_rows(User, alias).instance(user)] if user[0] is not None else [],
            domains=[
                model_rows(Domain, alias).instance(row[domain_at:])
                for row in rows
                if row[domain_at] is not None
            ],
        )
    return Taken(connection, record, bool(first[used_at]), read)


def _take_sql(quote: Callable[[str], str]) -> str:
    """Every name from the models' options, quoted by the backend; every value a parameter.
    The user and the held domains are read by ``accounts.selectors``' own queries, given the
    keys the taken row kept (``user_lookup``) in place of values."""
    conn, pending = Connection._meta, VerifiedSignIn._meta
    # The connection the name named (none: no row is pending for it).
    named_id = f"(SELECT {_column(quote, conn, 'id')} FROM c)"  # noqa: S608 - a name, quoted
    of_named = f"{_column(quote, pending, 'connection')} = {named_id}"
    # The keys the taken row kept, in place of the reads' values: names only, no value.
    lookup = f"taken.{_column(quote, pending, 'user_lookup')}"
    email_key = RawSQL(f"(SELECT {lookup} ->> 'email_key' FROM taken)", ())  # noqa: S608, S611
    listed = f"SELECT jsonb_array_elements_text({lookup} -> 'domains') FROM taken"  # noqa: S608
    domain_names = RawSQL(listed, ())  # noqa: S611
    user = _sql_of(users_by_email_key(email_key))
    domains = _sql_of(domains_named(domain_names))
    return (
        f"WITH c AS (SELECT {_columns(quote, conn)} FROM {quote(conn.db_table)} "  # noqa: S608
        f"WHERE {_column(quote, conn, 'name')} = %s), "
        f"taken AS (UPDATE {quote(pending.db_table)} "
        f"SET {_column(quote, pending, 'token_hash')} = NULL "
        f"WHERE {_pending_where(quote, of_named)} RETURNING {_columns(quote, pending)}), "
        f"used AS ({_use_sql(quote, 'taken')}), u AS ({user}), d AS ({domains}) "
        f"SELECT c.*, taken.*, EXISTS (SELECT 1 FROM used), u.*, d.* "
        f"FROM c LEFT JOIN taken ON TRUE LEFT JOIN u ON TRUE LEFT JOIN d ON TRUE"
    )


def _sql_of(queryset) -> str:
    """The SQL of a read that takes no parameters (its values are subqueries)."""
    sql, params = queryset.query.get_compiler(connection=database).as_sql()
    if params:
        raise ValueError("a read of the take takes its values from the taken row only")
    return sql


# --- shared ------------------------------------------------------------------------------------

_SQL: dict[tuple[str, str], str] = {}  # per statement and database vendor


def _sql(which: str, build: Callable[[Callable[[str], str]], str]) -> str:
    key = (which, database.vendor)
    sql = _SQL.get(key)
    if sql is None:
        sql = _SQL[key] = build(database.ops.quote_name)
    return sql


def _column(quote: Callable[[str], str], meta, name: str) -> str:
    return quote(meta.get_field(name).column)


def _columns(quote: Callable[[str], str], meta) -> str:
    return ", ".join(quote(field.column) for field in meta.concrete_fields)


def _pending_where(quote: Callable[[str], str], of_connection: str) -> str:
    """Pending for this browser (``pending_sign_ins``' rule, written out): its token, not yet
    taken, of the connection ``of_connection`` names, not expired. Parameters: the token's
    hash, then the connection's (if ``of_connection`` takes one), then now."""
    pending = VerifiedSignIn._meta
    return (
        f"{_column(quote, pending, 'token_hash')} = %s AND {of_connection} "
        f"AND {_column(quote, pending, 'expires_at')} > %s"
    )


def _use_sql(quote: Callable[[str], str], source: str) -> str:
    """The assertion of each pending sign-in ``source`` yields (a table and its WHERE, or the
    take's rows) recorded in ``SeenAssertion`` unless it is there already, kept until the
    assertion expires; a row back for each one recorded. Written out: the ORM has no INSERT ...
    SELECT. Parameter: now."""
    seen, pending = SeenAssertion._meta, VerifiedSignIn._meta
    return (
        f"INSERT INTO {quote(seen.db_table)} ({_column(quote, seen, 'connection')}, "  # noqa: S608
        f"{_column(quote, seen, 'assertion_id')}, {_column(quote, seen, 'created_at')}, "
        f"{_column(quote, seen, 'expires_at')}) "
        f"SELECT {_column(quote, pending, 'connection')}, "
        f"{_column(quote, pending, 'assertion_id')}, %s, "
        f"{_column(quote, pending, 'remember_until')} FROM {source} "
        f"ON CONFLICT ({_column(quote, seen, 'connection')}, "
        f"{_column(quote, seen, 'assertion_id')}) DO NOTHING RETURNING 1"
    )

"""The connection a sign-in step names (the ACS POST, the SP-initiated start), remembered per
process on PostgreSQL and checked where it counts.

Each of those steps needs its connection's row before it can check anything, and the row
seldom changes. On PostgreSQL the row is kept here with its version: its ``xmin`` and ``ctid``
(the transaction that wrote this version of the row, and where it lies), which every UPDATE of
the row changes (an admin's edit, a status change, a certificate added or removed, which bumps
``updated_at``, a metadata refresh, the first issuer recorded; two updates in one transaction
share an ``xmin`` but not a ``ctid``). A remembered row is never trusted on its own:

- the one write that accepts a response, the verified sign-in's insert (at the start: the
  pending request's), happens only if the row is still that version (``insert_while_current``:
  ``INSERT ... SELECT ... WHERE``, one statement; for an SP-initiated response, the request
  it answers is deleted by that statement too);
- a refusal made with a remembered row counts only if the row is still that version
  (``still_current``);

otherwise the whole step is done again from a fresh read (``OnCurrentRow``), so no response
is accepted or refused, and no browser sent to an IdP, on a row that is not current. A fresh
row carries no version and needs neither check. A row is remembered for at most
``REMEMBERED_SECONDS``.

Elsewhere (SQLite, in process) the row is read on every request: a read costs little there, and
SQLite keeps no row version to check against.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TypeVar

from django.db import connection as database
from django.db import models

from connections.exceptions import ConnectionUnknown, SignInRefused
from connections.key_encryption import SpKeysUnavailable
from connections.models import Connection
from connections.selectors import connection_for_sign_in, connection_name_possible
from core.compiled import insert_row, insert_row_if, model_rows

# Rows kept per process (least recently used first out, about 1 KB each), and for how long.
REMEMBERED_CONNECTIONS = 4096
REMEMBERED_SECONDS = 300

_VERSION = "row_version"  # the attribute a remembered connection's version is kept in
T = TypeVar("T")


class ConnectionChanged(Exception):
    """The remembered row of the connection changed before the step's write: do it again."""


def remembered_connection(name: str) -> Connection | None:
    """The connection ``name`` names (None: none), remembered on PostgreSQL (see the module):
    then a new instance each call, with its row's version (``row_version``)."""
    if database.vendor != "postgresql":
        return connection_for_sign_in(name=name)
    if not connection_name_possible(name):
        return None
    now = time.monotonic()
    with _lock:
        remembered = _rows.get(name)
        if remembered is not None and remembered[2] > now:
            _rows.move_to_end(name)
        else:
            remembered = None
    if remembered is None:
        row = _read(name)
        if row is None:
            forget(name)
            return None
        remembered = (*row, now + REMEMBERED_SECONDS)
        with _lock:
            _rows[name] = remembered
            _rows.move_to_end(name)
            while len(_rows) > REMEMBERED_CONNECTIONS:
                _rows.popitem(last=False)
    values, version, _ = remembered
    connection = model_rows(Connection, database.alias).instance(values)
    setattr(connection, _VERSION, version)
    return connection


class OnCurrentRow:
    """A step of a sign-in on the connection ``name`` names, decided on a current row: run it
    on the remembered row (``remembered_connection``); if the row had changed
    (``ConnectionChanged``), or the step refused on a row no longer current, run it again on
    the row read now. ``connection``: the row the outcome was decided on (for the refusal's
    page and record)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.connection = self._known(remembered_connection(name))

    def run(self, step: Callable[[Connection], T]) -> T:
        try:
            return step(self.connection)
        except (ConnectionChanged, SignInRefused, SpKeysUnavailable) as error:
            if not isinstance(error, ConnectionChanged) and still_current(self.connection):
                raise
        forget(self.name)
        self.connection = self._known(connection_for_sign_in(name=self.name))
        return step(self.connection)

    def _known(self, connection: Connection | None) -> Connection:
        if connection is None:
            raise ConnectionUnknown(extra={"name": self.name})  # clipped where it is recorded
        return connection


def forget(name: str) -> None:
    with _lock:
        _rows.pop(name, None)


def forget_all() -> None:
    with _lock:
        _rows.clear()


def remembered(connection: Connection) -> bool:
    """Does ``connection`` come from a remembered row (so the checks below apply)?"""
    return getattr(connection, _VERSION, None) is not None


def insert_while_current(
    connection: Connection, instance, *, consuming: models.Model | None = None
) -> bool:
    """``insert_row(instance, read_key=False)``; for a remembered ``connection``, in the same
    statement only while its row is current (``ConnectionChanged`` if it is not: nothing
    written). ``consuming`` (PostgreSQL): a row the same statement deletes, both or neither;
    False when that row is gone, taken by another request (nothing written). A clash raises
    ``IntegrityError``, nothing written."""
    current = _current_condition(connection)
    if consuming is None and current is None:
        insert_row(instance, read_key=False)
        return True
    if consuming is None:
        condition, params, with_query = *current, None
    else:  # the delete carries the version: the insert depends on the delete
        condition, params = "EXISTS (SELECT 1 FROM consumed)", []
        with_query = _deleting(consuming, current)
    if insert_row_if(instance, condition, params, with_query=with_query):
        return True
    if consuming is None or not still_current(connection):
        raise ConnectionChanged()
    return False


def _deleting(row: models.Model, current: tuple[str, list] | None) -> tuple[str, list]:
    """``consumed AS (DELETE`` of ``row``, only while ``current`` holds ``)``, for a WITH."""
    meta = type(row)._meta
    quote = database.ops.quote_name
    where, params = f"{quote(meta.pk.column)} = %s", [row.pk]
    if current is not None:
        where, params = f"{where} AND {current[0]}", [*params, *current[1]]
    return f"consumed AS (DELETE FROM {quote(meta.db_table)} WHERE {where} RETURNING 1)", params  # noqa: S608 - names


def _current_condition(connection: Connection) -> tuple[str, list] | None:
    """The SQL condition (and its parameters) that holds while the row ``connection`` came
    from is current; None for a connection read now."""
    version = getattr(connection, _VERSION, None)
    if version is None:
        return None
    return _CURRENT, [connection.pk, *version]


def still_current(connection: Connection) -> bool:
    """Is the row ``connection`` came from still current (always, for one read now)?"""
    condition = _current_condition(connection)
    if condition is None:
        return True
    sql, params = condition
    with database.cursor() as cursor:
        cursor.execute(f"SELECT {sql}", params)
        current = bool(cursor.fetchone()[0])
    if not current:
        forget(connection.name)
    return current


def _read(name: str) -> tuple[tuple, tuple[str, str]] | None:
    """The row's values and its version."""
    with database.cursor() as cursor:
        cursor.execute(_READ, [name])
        row = cursor.fetchone()
    return None if row is None else (tuple(row[:-2]), (row[-2], row[-1]))


_lock = threading.Lock()
# name -> (the row's values, its version, until when it may be used)
_rows: OrderedDict[str, tuple[tuple, tuple[str, str], float]] = OrderedDict()


def _sql() -> tuple[str, str]:
    meta = Connection._meta
    table = f'"{meta.db_table}"'
    columns = ", ".join(f'{table}."{field.column}"' for field in meta.concrete_fields)
    name, key = meta.get_field("name").column, meta.pk.column
    read = (
        f"SELECT {columns}, {table}.xmin::text, {table}.ctid::text "  # noqa: S608 - names
        f'FROM {table} WHERE {table}."{name}" = %s'
    )
    current = (
        f'EXISTS (SELECT 1 FROM {table} WHERE {table}."{key}" = %s '  # noqa: S608 - names
        f"AND {table}.xmin = %s::xid AND {table}.ctid = %s::tid)"
    )
    return read, current


_READ, _CURRENT = _sql()

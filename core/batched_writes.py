"""Writes whose results nobody reads, sent to PostgreSQL as one statement.

A short request pays PostgreSQL per statement more than per row: each is a round trip and a
wake-up of the server process. The last writes of a sign-in (the audit event, last_login, the
session rows) read nothing back, so inside ``writes_batched()`` they are held and sent together
as one statement, ``WITH w0 AS (<first>), w1 AS (<second>) ... <last>``: data-modifying
statements in WITH, each run exactly once. They run in one snapshot and in no defined order, so
they must not need to see each other's rows nor touch the same row; foreign keys are no obstacle
(Django makes them deferred: checked at COMMIT).

Only statements marked ``result_unread()`` are held: ``core.compiled.insert_row`` without a key
read back and ``CompiledQuery.apply``. Any other statement (a read, Django's ``save()``, which
reads an UPDATE's row count) first sends what is held, then runs as usual: it sees every write
before it. A held write's error comes out where the batch is sent (the
next other statement, or the block's end), for the caller's ``transaction.atomic()`` to roll
back. Each statement passes Django's execute wrappers as it is written; the batch goes to the
driver as it is. SQLite runs everything as it comes (in process: nothing to save).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.db import connection, transaction

_batch: ContextVar[list[tuple[str, list]] | None] = ContextVar("writes_batch", default=None)
_unread: ContextVar[bool] = ContextVar("result_unread", default=False)


@contextmanager
def result_unread() -> Iterator[None]:
    """The statements run in this block are writes whose results (rows, row count) nobody reads:
    ``writes_batched()`` may hold them."""
    token = _unread.set(True)
    try:
        yield
    finally:
        _unread.reset(token)


def held_now() -> bool:
    """Would a statement run here be held for the batch (for tests that count statements)?"""
    return _batch.get() is not None and _unread.get()


@contextmanager
def writes_batched() -> Iterator[None]:
    """Inside a transaction on PostgreSQL, hold the block's unread writes and send them as one
    statement (see the module); anywhere else, nothing changes."""
    if connection.vendor != "postgresql" or not connection.in_atomic_block:
        yield
        return
    batch: list[tuple[str, list]] = []
    token = _batch.set(batch)

    def hold_or_send(execute, sql, params, many, context):
        if not many and _unread.get():
            batch.append((sql, list(params or ())))
            return None
        _send(batch)
        return execute(sql, params, many, context)

    try:
        with connection.execute_wrapper(hold_or_send):
            yield
    finally:
        _batch.reset(token)
    _send(batch)


def _send(batch: list[tuple[str, list]]) -> None:
    if not batch:
        return
    *held, (sql, params) = batch
    if held:
        ctes = ", ".join(
            f"w{number} AS ({statement})" for number, (statement, _) in enumerate(held)
        )
        sql = f"WITH {ctes} {sql}"
        params = [value for _, values in held for value in values] + params
    batch.clear()
    with (
        transaction.mark_for_rollback_on_error(),
        connection.wrap_database_errors,
        connection.connection.cursor() as cursor,
    ):
        cursor.execute(sql, params)

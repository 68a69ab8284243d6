"""Count the SQL statements and the transactions a piece of code runs, for the tests that pin
how lean a request is. Counts, never time.

Run it in a ``transactional_db`` test: inside pytest-django's per-test transaction every
statement would sit in one outer block, and the transactions of the code under test could not
be told apart.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.db import connection

from core.batched_writes import held_now

_CONTROL = ("BEGIN", "SAVEPOINT", "RELEASE", "ROLLBACK", "COMMIT")
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


@dataclass
class Statements:
    """What ran: ``sql`` (every statement but transaction control), ``transactions`` (how many
    commits with writes in them: an outermost atomic block that wrote, or a write run in
    autocommit) and ``savepoints``."""

    sql: list[str] = field(default_factory=list)
    #: Per statement: held for the one statement ``core.batched_writes.writes_batched`` sends.
    in_batch: list[bool] = field(default_factory=list)
    transactions: int = 0
    savepoints: int = 0
    _blocks: list[object] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.sql)

    def kinds(self) -> list[str]:
        """The first word and table of each statement, to read a failure at a glance."""
        return [_kind(sql) for sql in self.sql]

    def batched(self) -> list[str]:
        """The kinds of the statements that reached PostgreSQL as one, in order."""
        return [_kind(sql) for sql, held in zip(self.sql, self.in_batch, strict=True) if held]


def _kind(sql: str) -> str:
    """The verb and the table it acts on (an ``INSERT ... SELECT ... FROM`` names its INTO); a
    ``WITH`` statement lists what each of its parts does to which table, in order, and reads
    fetched together (``UNION ALL``) the tables they read."""
    words = sql.replace('"', "").split()
    verb = words[0].upper()
    if verb == "WITH":
        return "WITH " + ", ".join(_parts(sql.replace('"', "")))
    if verb == "SELECT" and " UNION ALL " in sql:  # reads fetched together (core.compiled)
        return "SELECT " + ", ".join(part.split()[1] for part in _parts(sql.replace('"', "")))
    upper = [word.upper() for word in words]
    keyword = {"INSERT": "INTO", "REPLACE": "INTO", "UPDATE": "UPDATE"}.get(verb, "FROM")
    table = words[upper.index(keyword) + 1] if keyword in upper[:-1] else ""
    return f"{verb} {table}".strip()


def _parts(sql: str) -> list[str]:
    """What a WITH or UNION ALL statement does to which table, in order."""
    named = set(re.findall(r"(\w+) AS \(", sql))  # the WITH's own names, not tables
    parts: list[str] = []
    for action, table in re.findall(r"\b(INSERT INTO|UPDATE|DELETE FROM|FROM)\s+(\w+)", sql):
        part = f"{_ACTION[action]} {table}"
        if table not in named and part not in parts:
            parts.append(part)
    return parts


_ACTION = {"INSERT INTO": "INSERT", "UPDATE": "UPDATE", "DELETE FROM": "DELETE", "FROM": "SELECT"}


def _writes(sql: str, verb: str) -> bool:
    if verb == "WITH":
        return any(not part.startswith("SELECT") for part in _parts(sql.replace('"', "")))
    return verb in _WRITES


@contextmanager
def statements() -> Iterator[Statements]:
    seen = Statements()

    def record(execute, sql, params, many, context):
        verb = sql.lstrip().split(None, 1)[0].upper()
        if verb in _CONTROL:
            seen.savepoints += verb == "SAVEPOINT"
            return execute(sql, params, many, context)
        seen.sql.append(sql)
        seen.in_batch.append(held_now())
        writes = _writes(sql, verb)
        if connection.in_atomic_block:
            outermost = connection.atomic_blocks[0]
            if writes and not any(block is outermost for block in seen._blocks):
                seen._blocks.append(outermost)
                seen.transactions += 1
        elif writes:
            seen.transactions += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        yield seen

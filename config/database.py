"""``DATABASES["default"]``, from ``DATABASE_URL`` and the environment: the lean database path of
issue 13 (persistent connections with health checks; SQLite in WAL; prepared statements on
PostgreSQL)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from config.env import read_bool, read_database, read_int


def default_database(*, debug: bool, base_dir: Path) -> dict:
    database = read_database("DATABASE_URL", default=f"sqlite:///{base_dir / 'db.sqlite3'}")
    database["ATOMIC_REQUESTS"] = False
    # Persistent connections: a new connection costs ~10 ms on PostgreSQL, more than a whole
    # sign-in. Each process keeps its connection DATABASE_CONN_MAX_AGE seconds (0: one per
    # request, the default in debug, where runserver's thread per request would only pile them
    # up), checked before reuse.
    database["CONN_MAX_AGE"] = read_int(
        "DATABASE_CONN_MAX_AGE", default=0 if debug else 60, minimum=0, maximum=3600
    )
    database["CONN_HEALTH_CHECKS"] = True
    if database["ENGINE"] == "django.db.backends.sqlite3":
        if sqlite3.sqlite_version_info < (3, 35):
            raise ImproperlyConfigured(
                "SQLite 3.35 or later is required (DELETE ... RETURNING); "
                f"{sqlite3.sqlite_version} is"
            )
        # WAL: readers never wait for the writer, and a commit appends to the log instead of
        # rewriting pages; synchronous=NORMAL is safe with WAL (a power cut may lose the last
        # commits, never corrupts) and spares an fsync per commit. Both on every new connection.
        # IMMEDIATE: a transaction takes the write lock when it begins, so two processes writing
        # at once wait for each other (busy timeout) instead of failing with "database is locked".
        database.setdefault("OPTIONS", {}).update(
            {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
                "transaction_mode": "IMMEDIATE",
            }
        )
    if database["ENGINE"] == "django.db.backends.postgresql":
        # An unreachable server fails the request (and /readyz) in seconds, not minutes.
        database.setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
        # Django's backend, with a health check that makes no round trip unless the server has
        # spoken since the last query (core/postgresql/base.py says why that is enough).
        database["ENGINE"] = "core.postgresql"
        # Parameters sent apart from the SQL (server-side binding), and a statement run five times
        # on a connection prepared there (psycopg's prepare_threshold): the server parses and plans
        # the sign-in's few statements once per connection, and psycopg no longer writes every
        # value into the SQL text. Off (DATABASE_PREPARED_STATEMENTS=0) behind a pooler that cannot
        # carry prepared statements (PgBouncer before 1.21 in transaction mode).
        if read_bool("DATABASE_PREPARED_STATEMENTS", default=True):
            database["OPTIONS"].update(server_side_binding=True, prepare_threshold=5)
    return database

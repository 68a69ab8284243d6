"""Django's PostgreSQL backend, with a health check that asks the server only when it has
spoken (``DATABASES["default"]["ENGINE"] = "core.postgresql"``, set by ``config.settings``).

With persistent connections, Django checks each one before its first use in a request
(``CONN_HEALTH_CHECKS``) with a ``SELECT 1``: a round trip to the server on every request, as
much as a sign-in step's whole query. An idle connection receives nothing unless the server is
ending it (a restart, ``pg_terminate_backend``, an idle timeout: PostgreSQL sends a FATAL error
and closes the socket), so this check first looks, without waiting, whether the socket has
anything to read: nothing means the server has not ended it, and no round trip is made;
anything at all (or a connection psycopg already knows is closed or broken) gets Django's
``SELECT 1``, and a connection that fails it is closed and replaced before the request uses it.
A server that vanished without closing the socket goes unnoticed by either check until a query
times out, as before.
"""

from __future__ import annotations

import select

from django.db.backends.postgresql.base import DatabaseWrapper as PostgreSQLDatabaseWrapper


class DatabaseWrapper(PostgreSQLDatabaseWrapper):
    def is_usable(self) -> bool:
        connection = self.connection
        if connection is None or connection.closed or connection.broken:
            return False
        try:
            readable, _, _ = select.select([connection.fileno()], [], [], 0)
        except (OSError, ValueError):
            return False
        if not readable:
            return True  # the server has said nothing since the last query: not ended
        return super().is_usable()

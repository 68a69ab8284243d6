"""The persistent connection's health check on PostgreSQL (``core.postgresql``): no round trip
while the server has said nothing, and a connection the server ended is replaced before the
request uses it, as Django's ``SELECT 1`` check would."""

from __future__ import annotations

import time

import psycopg
import pytest
from django.db import connection

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.postgres("the health check of our PostgreSQL backend"),
]


def _request_starts() -> None:
    """What Django does when a request starts (``close_old_connections``) and then uses it."""
    connection.close_if_unusable_or_obsolete()
    connection.ensure_connection()
    connection.close_if_health_check_failed()


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def test_a_connection_the_server_ended_is_replaced_before_use():
    assert connection.settings_dict["CONN_HEALTH_CHECKS"]
    ended = _backend_pid()
    with psycopg.connect(
        **connection.get_connection_params() | {"cursor_factory": psycopg.Cursor},
        autocommit=True,
    ) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [ended])
    time.sleep(0.2)  # the FATAL message and the close reach our socket

    _request_starts()

    assert _backend_pid() != ended


def test_a_healthy_idle_connection_is_checked_without_a_query(monkeypatch):
    before = _backend_pid()
    asked = []
    raw = connection.connection
    monkeypatch.setattr(raw, "cursor", lambda *a, **k: asked.append(1) or type(raw).cursor(raw))

    _request_starts()

    assert asked == []  # no SELECT 1
    assert connection.connection is raw
    monkeypatch.undo()
    assert _backend_pid() == before

"""/healthz and /readyz (issue 12): no session, no https redirect, no Host check; /readyz checks
the database and Redis and names what is down. Redis stopping and coming back, with the
Procfile's web line, is tests/production/test_procfile_web.py."""

from __future__ import annotations

import socket

import pytest

pytestmark = pytest.mark.django_db


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_healthz_answers_without_the_database_or_a_session(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "Set-Cookie" not in response
    assert response["Cache-Control"] == "no-store"


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_over_plain_http_by_address_are_answered(client, settings, path):
    """A load balancer probes each process by its address over http: neither the https
    redirect nor the Host check gets in the way (and no other page escapes them)."""
    settings.SECURE_SSL_REDIRECT = True

    response = client.get(path, HTTP_HOST="10.1.2.3:8000")
    other = client.get("/sso/", HTTP_HOST="sso.test")

    assert response.status_code == 200
    assert other.status_code == 301
    assert other["Location"] == "https://sso.test/sso/"


def test_readyz_checks_the_database(client, settings):
    settings.REDIS_URL = None

    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok"}}


def test_readyz_is_503_naming_redis_when_redis_does_not_answer(client, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{_closed_port()}/0"

    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["down"] == ["redis"]
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("down: ")

"""Sending SCIM requests the way an attacker does: raw bytes, any Content-Type, lying or absent
Content-Length, and a body that counts how much of it the server read.

``send`` never raises: a server error comes back as a 500 response (as a client would see it),
so a test asserts on what the client gets.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.test import Client

from accounts.models import Team, User
from audit.models import AuditEvent
from tests.provisioning.scim_helpers import BASE, ERROR_SCHEMA, MEDIA_TYPE, ScimClient


class CountingBody:
    """A request body of ``size`` bytes made on demand (``head``, then ``fill``, then
    ``tail``), counting what the server read of it: large bodies cost the test nothing."""

    def __init__(self, head: bytes, size: int, *, tail: bytes = b"", fill: bytes = b" ") -> None:
        assert len(head) + len(tail) <= size and len(fill) == 1
        self.head, self.tail, self.fill, self.size = head, tail, fill, size
        self.read_bytes = 0

    def read(self, size: int | None = -1) -> bytes:
        remaining = self.size - self.read_bytes
        count = remaining if size is None or size < 0 else min(size, remaining)
        start, end = self.read_bytes, self.read_bytes + count
        self.read_bytes = end
        return self._span(start, end)

    def _span(self, start: int, end: int) -> bytes:
        tail_start = self.size - len(self.tail)
        head = self.head[start:end]
        middle = self.fill * max(0, min(end, tail_start) - max(start, len(self.head)))
        tail = self.tail[max(0, start - tail_start) : max(0, end - tail_start)]
        return head + middle + tail

    def readline(self, size: int | None = -1) -> bytes:  # WSGI asks for it; JSON never does
        return self.read(size)


def send(
    scim: ScimClient,
    method: str,
    path: str,
    body: bytes = b"",
    *,
    content_type: str = MEDIA_TYPE,
    token: str | None = None,
    **environ: Any,
) -> HttpResponse:
    """One request through the real URL conf, middleware and views. ``environ`` overrides the
    WSGI environment (``CONTENT_LENGTH``, ``wsgi.input``, ``HTTP_TRANSFER_ENCODING``...)."""
    client = Client(raise_request_exception=False)
    url = path if path.startswith("/") else BASE + path
    raw_token = scim.raw_token if token is None else token
    # The test client drops the Content-Type of a request without a body; a client need not.
    environ.setdefault("CONTENT_TYPE", content_type)
    return client.generic(
        method.upper(),
        url,
        body,
        content_type=content_type,
        headers={"Authorization": f"Bearer {raw_token}"},
        **environ,
    )


def assert_scim_refusal(
    response: HttpResponse, *, status: int | None = None, scim_type: str | None = None
) -> dict:
    """A 4xx in the SCIM error schema (RFC 7644 3.12), served as application/scim+json."""
    body = response.content.decode("utf-8", "replace")
    assert 400 <= response.status_code < 500, (response.status_code, body[:500])
    if status is not None:
        assert response.status_code == status, body[:500]
    assert response["Content-Type"] == MEDIA_TYPE, (response["Content-Type"], body[:200])
    error = response.json()
    assert error["schemas"] == [ERROR_SCHEMA], error
    assert error["status"] == str(response.status_code), error
    assert isinstance(error.get("detail"), str) and error["detail"], error
    if scim_type is not None:
        assert error.get("scimType") == scim_type, error
    return error


def stored_state() -> tuple:
    """Every user and team as stored, and how many audit events: equal before and after a
    refused request when it wrote nothing."""
    users = list(
        User.objects.order_by("pk").values_list(
            "pk", "email", "username", "first_name", "last_name", "external_id", "division",
            "role", "team_id", "is_active", "updated_at",
        )
    )  # fmt: skip
    teams = list(Team.objects.order_by("pk").values_list("pk", "name", "external_id", "updated_at"))
    return users, teams, AuditEvent.objects.count()

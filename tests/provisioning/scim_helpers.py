"""A SCIM client for tests: real HTTP requests through Django's test client to the real views,
with the bearer header and ``application/scim+json`` bodies an identity provider sends.

Every verb returns ``(status, body)``: the parsed JSON, or None when there is no body (204). The
whole response (headers included) is kept on ``client.last``.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlencode

from django.http import HttpResponse
from django.test import Client

from connections.models import Connection
from provisioning.tokens import scim_token_issue

BASE = "/scim/v2/"
MEDIA_TYPE = "application/scim+json"

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"


class ScimClient:
    def __init__(self, raw_token: str | None, client: Client | None = None) -> None:
        self.raw_token = raw_token
        self.client = client or Client()
        self.last: HttpResponse | None = None

    @classmethod
    def for_connection(cls, connection: Connection) -> ScimClient:
        _token, raw = scim_token_issue(connection=connection, label="tests")
        return cls(raw)

    def url(self, path: str, query: dict[str, Any] | None = None) -> str:
        url = path if path.startswith("/") else BASE + path
        if query:
            # Okta and Entra encode spaces as %20, not "+".
            url += "?" + urlencode(query, quote_via=quote)
        return url

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.raw_token}"} if self.raw_token else {}

    def _send(self, method: str, path: str, body: Any = None, query=None) -> tuple[int, Any]:
        call = getattr(self.client, method)
        kwargs: dict[str, Any] = {"headers": self._headers()}
        if body is not None:
            kwargs["data"] = json.dumps(body)
            kwargs["content_type"] = MEDIA_TYPE
        response = call(self.url(path, query), **kwargs)
        self.last = response
        content = response.content
        return response.status_code, json.loads(content) if content else None

    def get(self, path: str, query: dict[str, Any] | None = None) -> tuple[int, Any]:
        return self._send("get", path, query=query)

    def post(self, path: str, body: Any) -> tuple[int, Any]:
        return self._send("post", path, body)

    def put(self, path: str, body: Any) -> tuple[int, Any]:
        return self._send("put", path, body)

    def patch(self, path: str, body: Any) -> tuple[int, Any]:
        return self._send("patch", path, body)

    def delete(self, path: str) -> tuple[int, Any]:
        return self._send("delete", path)


def patch_op(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def assert_scim_error(status: int, body: Any, *, http_status: int, scim_type: str | None) -> None:
    """The RFC 7644 3.12 error body: the error schema, the status as a string, a detail, and the
    scimType (or none, for errors that have no scimType such as 404)."""
    assert status == http_status, body
    assert body["schemas"] == [ERROR_SCHEMA], body
    assert body["status"] == str(http_status), body
    assert isinstance(body.get("detail"), str) and body["detail"], body
    assert body.get("scimType") == scim_type, body

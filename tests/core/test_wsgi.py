"""The WSGI entry point (config/wsgi.py): a request whose charset is a Python codec but no text
encoding (``zlib``, ``rot13``...) used to break Django while the request was being built,
before any middleware: gunicorn answered a bare 500. Driven through the WSGI application
itself, as gunicorn drives it (Django's test client builds its requests another way)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from contextlib import contextmanager

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from core.wsgi import Handler, is_usable_charset
from provisioning.tokens import scim_token_issue

pytestmark = pytest.mark.django_db

NOT_TEXT = ["zlib", "bz2", "rot13", "base64", "hex", "uu", "quopri"]
PYTHON_ONLY = ["idna", "punycode", "undefined", "unicode_escape", "raw_unicode_escape"]


@contextmanager
def _in_test_transaction():
    # As Django's test client does: a request must not close the test's database connection.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def wsgi_get(path: str, query: str, content_type: str, token: str = "") -> tuple[int, dict, bytes]:
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "CONTENT_TYPE": content_type,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_AUTHORIZATION": f"Bearer {token}",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.url_scheme": "http",
        "wsgi.errors": io.StringIO(),
    }
    started = {}

    def start_response(status, headers, exc_info=None):
        started["status"], started["headers"] = status, dict(headers)

    with _in_test_transaction():
        chunks = Handler()(environ, start_response)
        body = b"".join(chunks)
        getattr(chunks, "close", lambda: None)()
    return int(started["status"].split()[0]), started["headers"], body


@pytest.mark.parametrize("charset", NOT_TEXT + PYTHON_ONLY)
def test_scim_answers_a_codec_charset_with_its_415(acme, charset):
    _token, raw = scim_token_issue(connection=acme.connection, label="tests")

    status, headers, body = wsgi_get(
        "/scim/v2/Users",
        "filter=userName%20eq%20%22member%40acme.com%22",
        f"application/scim+json; charset={charset}",
        raw,
    )

    assert status == 415, body
    assert headers["Content-Type"] == "application/scim+json"
    assert json.loads(body)["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]


@pytest.mark.parametrize("charset", NOT_TEXT + PYTHON_ONLY)
def test_any_page_survives_a_codec_charset(charset):
    status, _headers, _body = wsgi_get("/sso/", "next=%2Fx&q=%FF", f"text/plain; charset={charset}")

    assert status < 500


def test_a_charset_with_too_many_parameters_is_a_scim_400_not_a_crash(acme):
    # Django's encoding setter parsed the query string while building the request, outside its
    # error handling: more than DATA_UPLOAD_MAX_NUMBER_FIELDS parameters was a bare 500.
    _token, raw = scim_token_issue(connection=acme.connection, label="tests")
    query = "&".join(["a=1"] * 1001)

    status, headers, body = wsgi_get(
        "/scim/v2/Users", query, "application/scim+json; charset=utf-8", raw
    )
    page_status, _headers, _body = wsgi_get("/sso/", query, "text/plain; charset=utf-8")

    assert status == 400, body
    assert headers["Content-Type"] == "application/scim+json"
    assert "1000" in json.loads(body)["detail"]
    assert page_status < 500


@pytest.mark.parametrize("charset", ["utf-8", "UTF-8", "latin-1", "cp1252", "utf-16", "ascii"])
def test_text_encodings_stay_usable(charset):
    assert is_usable_charset(charset)


@pytest.mark.parametrize("charset", [*NOT_TEXT, *PYTHON_ONLY, "no-such-charset", ""])
def test_codecs_that_are_no_charset_are_not_usable(charset):
    assert not is_usable_charset(charset)


def test_the_wsgi_application_is_this_handler():
    # In a process of its own: importing config.wsgi sets Django up again.
    check = (
        "import config.wsgi, core.wsgi; "
        "assert type(config.wsgi.application) is core.wsgi.Handler, config.wsgi.application"
    )
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)

    assert result.returncode == 0, result.stderr[-2000:]

"""How a SCIM request body is read (provisioning.scim.body), attack by attack: a charset that is
a decompressor, bodies larger than the cap (honest, lying or chunked), bytes that are not UTF-8,
JSON nested 100,000 deep, and bodies read before the caller is authenticated."""

from __future__ import annotations

import json
import zlib

import pytest

from accounts.models import User
from provisioning.scim.body import MAX_JSON_DEPTH, PayloadTooLarge, read_capped
from tests.provisioning.hostile_helpers import (
    CountingBody,
    assert_scim_refusal,
    send,
    stored_state,
)
from tests.provisioning.scim_helpers import PATCH_OP, USER_SCHEMA

pytestmark = pytest.mark.django_db

CAP = 64 * 1024


@pytest.fixture
def small_cap(settings) -> int:
    """A 64 KiB cap instead of the default 1 MiB: the same code, cheaper bodies."""
    settings.SCIM_MAX_BODY_BYTES = CAP
    return CAP


def user_json(email: str = "new@acme.com", **extra) -> bytes:
    return json.dumps({"schemas": [USER_SCHEMA], "userName": email, **extra}).encode()


# --- charset -------------------------------------------------------------------------------------

REFUSED_CHARSETS = [
    "zlib", "bz2", "rot13", "rot_13", "base64", "hex", "uu", "quopri",
    "latin-1", "iso-8859-1", "windows-1252", "us-ascii", "utf-16", "utf-16le", "utf-32",
    "utf-7", "utf-8-sig", "idna", "punycode", "unicode_escape", "undefined", "no-such-charset", "",
]  # fmt: skip


@pytest.mark.parametrize("charset", REFUSED_CHARSETS)
def test_a_charset_other_than_utf8_is_a_415_before_a_byte_is_read(scim, charset):
    # The review's attack: 298 KiB of zlib that DRF's JSONParser inflated to 1 GiB, because it
    # decodes with whatever codec the client names. Here 40 KiB that would inflate to 40 MiB.
    bomb = zlib.compress(user_json(**{"nickName": "a" * 40_000_000}), 9)
    body = CountingBody(bomb, len(bomb))
    before = stored_state()

    response = send(
        scim,
        "POST",
        "Users",
        bomb,
        content_type=f"application/scim+json; charset={charset}",
        **{"wsgi.input": body},
    )

    error = assert_scim_refusal(response, status=415)
    assert "UTF-8" in error["detail"]
    assert body.read_bytes == 0
    assert stored_state() == before


@pytest.mark.parametrize("charset", ["utf-16", "latin-1", "no-such-charset"])
def test_a_charset_other_than_utf8_is_refused_on_a_get_too(scim, acme, charset):
    # Django decodes the query string with the request's charset: with utf-16 the filter below
    # turned into garbage and the list came back unfiltered, every user of the company in it.
    # (A charset that is no text encoding, zlib, broke Django itself: tests/core/test_wsgi.py.)
    response = send(
        scim,
        "GET",
        "Users?filter=userName%20eq%20%22member%40acme.com%22",
        content_type=f"application/scim+json; charset={charset}",
    )

    assert_scim_refusal(response, status=415)


@pytest.mark.parametrize(
    "content_type",
    [
        "application/scim+json",
        "application/scim+json; charset=utf-8",
        "application/scim+json; charset=UTF-8",
        'application/scim+json; charset="utf-8"',
        "application/scim+json;charset=utf8",
        "application/json; charset=utf-8",
        "application/json",
    ],
)
def test_utf8_named_or_implied_is_accepted(scim, content_type):
    response = send(scim, "POST", "Users", user_json(), content_type=content_type)

    assert response.status_code == 201, response.content
    assert User.objects.filter(email="new@acme.com").exists()


def test_a_utf8_byte_order_mark_is_allowed(scim):
    # RFC 8259 8.1: a parser MAY ignore a BOM rather than treating it as an error.
    response = send(scim, "POST", "Users", b"\xef\xbb\xbf" + user_json("bom@acme.com"))

    assert response.status_code == 201, response.content
    assert User.objects.filter(email="bom@acme.com").exists()


@pytest.mark.parametrize(
    "raw",
    [
        b'{"userName": "\xff@acme.com"}',  # never valid in UTF-8
        b'{"userName": "\xc0\xaf@acme.com"}',  # an overlong "/"
        b'{"userName": "\xed\xa0\x80@acme.com"}',  # a surrogate, encoded
        b'{"userName": "\xe2\x82@acme.com"}',  # a truncated sequence
        '{"userName": "\u00e9@acme.com"}'.encode("latin-1"),  # latin-1 sent as UTF-8
        '{"userName": "x@acme.com"}'.encode("utf-16"),
    ],
)
def test_bytes_that_are_not_utf8_are_a_400_invalid_syntax(scim, raw):
    before = stored_state()

    response = send(scim, "POST", "Users", raw)

    assert_scim_refusal(response, status=400, scim_type="invalidSyntax")
    assert stored_state() == before


# --- size ----------------------------------------------------------------------------------------


def test_the_default_cap_is_one_mebibyte(settings):
    assert settings.SCIM_MAX_BODY_BYTES == 1024 * 1024


def test_a_body_over_the_default_cap_is_a_413_and_is_not_read(scim):
    # The review sent 50 MiB and it was accepted; 8 MiB of valid JSON is enough to show it.
    size = 8 * 1024 * 1024
    body = CountingBody(b'{"userName": "big@acme.com"', size, tail=b"}")

    response = send(scim, "POST", "Users", b"", **{"wsgi.input": body, "CONTENT_LENGTH": str(size)})

    error = assert_scim_refusal(response, status=413)
    assert str(1024 * 1024) in error["detail"]
    assert body.read_bytes == 0
    assert not User.objects.filter(email="big@acme.com").exists()


def test_a_body_of_exactly_the_cap_is_accepted_and_one_byte_more_is_not(scim, small_cap):
    head = user_json("edge@acme.com")[:-1]
    exactly = head + b" " * (small_cap - len(head) - 1) + b"}"
    assert len(exactly) == small_cap

    over = send(scim, "POST", "Users", exactly[:-1] + b" }")
    assert_scim_refusal(over, status=413)
    assert not User.objects.filter(email="edge@acme.com").exists()

    response = send(scim, "POST", "Users", exactly)
    assert response.status_code == 201, response.content


def test_a_body_longer_than_its_content_length_is_read_no_further(scim, small_cap):
    # Content-Length says the cap; 8 MiB follow. What is read stops at the declared length (so
    # the JSON is cut short: 400), never past the cap.
    body = CountingBody(b'{"userName": "liar@acme.com"', 8 * 1024 * 1024, tail=b"}")

    response = send(
        scim, "POST", "Users", b"", **{"wsgi.input": body, "CONTENT_LENGTH": str(small_cap)}
    )

    assert_scim_refusal(response, status=400, scim_type="invalidSyntax")
    assert body.read_bytes <= small_cap + 1
    assert not User.objects.filter(email="liar@acme.com").exists()


def test_read_capped_reads_one_byte_past_the_cap_when_no_length_is_declared(small_cap):
    # The last line of defence, whatever the stream (Django limits its own to Content-Length).
    body = CountingBody(b"{", 8 * 1024 * 1024, tail=b"}")

    with pytest.raises(PayloadTooLarge):
        read_capped(body, None)

    assert body.read_bytes == small_cap + 1


def test_a_chunked_body_is_a_411_and_is_not_read(scim):
    # Without a Content-Length Django reads a body as empty: the POST below would be answered
    # "userName is required", as if nothing had been sent.
    body = CountingBody(user_json("chunked@acme.com"), 8 * 1024 * 1024)

    response = send(
        scim,
        "POST",
        "Users",
        b"",
        **{"wsgi.input": body, "CONTENT_LENGTH": None, "HTTP_TRANSFER_ENCODING": "chunked"},
    )

    assert_scim_refusal(response, status=411)
    assert body.read_bytes == 0


@pytest.mark.parametrize("token", ["scim_not-a-token", "not-an-oauth-token"])
@pytest.mark.parametrize(
    "content_type",
    [
        "application/scim+json",
        "application/scim+json; charset=zlib",
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=zlib",
        "multipart/form-data; boundary=x",
    ],
)
def test_an_unauthenticated_body_is_never_read(scim, token, content_type):
    # django-oauth-toolkit looks for a token in the form body: through DRF's request that
    # parsed the JSON body of an anonymous caller, and a form past 512 KiB was an HTML 400.
    size = 8 * 1024 * 1024
    body = CountingBody(b"a=", size)

    response = send(
        scim,
        "POST",
        "Users",
        b"",
        content_type=content_type,
        token=token,
        **{"wsgi.input": body, "CONTENT_LENGTH": str(size)},
    )

    assert_scim_refusal(response, status=401)
    assert body.read_bytes == 0


# --- nesting -------------------------------------------------------------------------------------

DEEP = 100_000


@pytest.mark.parametrize(
    "deep",
    [
        b"[" * DEEP + b"]" * DEEP,
        b'{"a":' * DEEP + b"1" + b"}" * DEEP,
        b'{"userName": "deep@acme.com", "addresses": ' + b"[" * DEEP + b"]" * DEEP + b"}",
    ],
    ids=["arrays", "objects", "inside-a-user"],
)
@pytest.mark.parametrize(
    ("method", "where"),
    [
        ("POST", "Users"),
        ("PUT", "Users/{user}"),
        ("PATCH", "Users/{user}"),
        ("POST", "Groups"),
        ("PUT", "Groups/{group}"),
        ("PATCH", "Groups/{group}"),
    ],
)
def test_json_nested_100000_deep_is_a_400_invalid_syntax(scim, acme, deep, method, where):
    path = where.format(user=acme.member.scim_id, group=acme.teams["Sales"].scim_id)
    before = stored_state()

    response = send(scim, method, path, deep)

    error = assert_scim_refusal(response, status=400, scim_type="invalidSyntax")
    assert f"nested more than {MAX_JSON_DEPTH} levels" in error["detail"]
    assert stored_state() == before


@pytest.mark.parametrize(
    "broken",
    [
        b"[" * DEEP,
        b"]" * DEEP + b"[" * DEEP,
        b'{"a": "' + b"[" * DEEP,
        b"[{]}" * 1000,
        # Each quote here once restarted the string scan to the end of the body: quadratic,
        # hours at this size (bench/scim_body.py prints the time it takes now).
        b'["' + b'\\"' * 500_000,
        b'\\"' * 500_000,
    ],
    ids=["unclosed", "reversed", "unterminated-string", "crossed", "escaped-quotes", "bare"],
)
def test_deep_brackets_that_are_not_json_are_a_400_invalid_syntax(scim, broken):
    response = send(scim, "POST", "Users", broken)

    assert_scim_refusal(response, status=400, scim_type="invalidSyntax")


def _nested_user(depth: int) -> bytes:
    """A user whose ignored ``addresses`` holds lists nested so the document is ``depth``
    deep (the user object itself is the first level)."""
    inner = depth - 1
    return b'{"userName": "nest@acme.com", "addresses": ' + b"[" * inner + b"]" * inner + b"}"


def test_nesting_up_to_the_limit_is_accepted_and_one_more_is_not(scim):
    refused = send(scim, "POST", "Users", _nested_user(MAX_JSON_DEPTH + 1))
    assert_scim_refusal(refused, status=400, scim_type="invalidSyntax")

    accepted = send(scim, "POST", "Users", _nested_user(MAX_JSON_DEPTH))
    assert accepted.status_code == 201, accepted.content


def test_brackets_inside_strings_do_not_count_as_nesting(scim, acme):
    escaped = '\\"[' * 2000  # quotes escaped inside the string, brackets everywhere
    body = json.dumps(
        {"userName": "strings@acme.com", "nickName": "[{" * 20_000 + escaped, "title": "]}"}
    ).encode()

    response = send(scim, "POST", "Users", body)

    assert response.status_code == 201, response.content


def test_a_deep_patch_value_is_refused_like_any_other(scim, acme):
    value = "[" * 50 + "1" + "]" * 50
    operation = f'{{"op": "add", "path": "title", "value": {value}}}'
    body = f'{{"schemas": ["{PATCH_OP}"], "Operations": [{operation}]}}'

    response = send(scim, "PATCH", f"Users/{acme.member.scim_id}", body.encode())

    assert_scim_refusal(response, status=400, scim_type="invalidSyntax")

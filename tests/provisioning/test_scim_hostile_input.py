"""Malformed SCIM input, the review's cases and our own: every one is a 4xx in the SCIM error
schema, served as application/scim+json (never a 500, never HTML), and writes nothing. The
suite runs on SQLite and, in pass 2, on PostgreSQL: each case runs on both, and the answer is
the same on both (PostgreSQL cannot store a NUL nor compare with one; SQLite can).

Choices where RFC 7644 leaves room:
- ``id eq 1``: an id is a string (RFC 7643 3.1), so comparing it with a number is "the specified
  attribute and filter comparison combination is not supported" (RFC 7644 3.12): 400
  invalidFilter, as ``userName eq 1`` already was. A string that is not one of our ids
  (``id eq "abc"``) is an invalidFilter too: ids are ours, so a client holding one that we
  could never have issued has a bug worth telling it about.
- A NUL (or a lone surrogate) is no character of any SCIM attribute: in a body it is a 400
  invalidValue wherever it is, in a filter value a 400 invalidFilter.
- ``startIndex`` beyond the results is an empty page (RFC 7644 3.4.2.4 bounds it only below);
  ``count`` is capped at the page size and a negative one is 0.
"""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from provisioning.scim.filters import MAX_FILTER_DEPTH, MAX_FILTER_LENGTH
from tests.provisioning.hostile_helpers import assert_scim_refusal, send, stored_state
from tests.provisioning.scim_helpers import (
    ENTERPRISE,
    GROUP_SCHEMA,
    LIST_RESPONSE,
    PATCH_OP,
    USER_SCHEMA,
)

pytestmark = pytest.mark.django_db

NUL = "\u0000"
SURROGATE = "\ud800"


def _query(filter_text: str, **params: str) -> str:
    parts = [f"filter={quote(filter_text, safe='')}"] if filter_text else []
    parts += [f"{key}={quote(value, safe='')}" for key, value in params.items()]
    return "?" + "&".join(parts)


def _body(value) -> bytes:
    # json.dumps writes "\u0000" and "\ud800" as escapes, as a client's JSON library does.
    return json.dumps(value).encode()


def _user(**extra) -> dict:
    return {"schemas": [USER_SCHEMA], "userName": "hostile@acme.com", **extra}


def _patch(*operations: dict) -> dict:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


# --- filters -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "filter_text"),
    [
        ("Users", "id eq 1"),
        ("Users", "id eq 1.5"),
        ("Users", "id ne -1"),
        ("Users", 'id eq "abc"'),
        ("Groups", "id eq 1"),
        ("Groups", "members.value eq 1"),
        ("Groups", "members[value eq 1]"),
        ("Groups", 'members.value eq "1"'),
        ("Users", 'meta.created gt "9999-12-31T23:59:59-23:59"'),
        ("Users", 'meta.lastModified lt "0001-01-01T00:00:00+23:59"'),
        ("Groups", 'meta.created gt "9999-12-31T23:59:59-23:59"'),
        ("Users", 'meta.created gt "+10000-01-01T00:00:00Z"'),
        ("Users", "(" * 10_000 + "userName pr" + ")" * 10_000),
        ("Users", "(" * (MAX_FILTER_DEPTH + 1) + "userName pr" + ")" * (MAX_FILTER_DEPTH + 1)),
        ("Users", 'userName eq "' + "a" * MAX_FILTER_LENGTH + '"'),
        ("Users", 'userName eq "' + "a" * 100_000 + '"'),
        ("Users", 'userName eq "x"' + ' or userName eq "x"' * 5_000),
    ],
)
def test_a_filter_that_cannot_be_evaluated_is_a_400_invalid_filter(
    scim, acme, endpoint, filter_text
):
    response = send(scim, "GET", endpoint + _query(filter_text))

    assert_scim_refusal(response, status=400, scim_type="invalidFilter")


@pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["nul", "surrogate"])
@pytest.mark.parametrize(
    ("endpoint", "attribute", "op"),
    [
        ("Users", "userName", "eq"),
        ("Users", "userName", "gt"),
        ("Users", "externalId", "eq"),
        ("Users", "name.givenName", "co"),
        ("Users", "emails.value", "sw"),
        ("Users", f"{ENTERPRISE}:division", "eq"),
        ("Users", "id", "eq"),
        ("Groups", "displayName", "eq"),
        ("Groups", "externalId", "eq"),
        ("Groups", "members.value", "eq"),
    ],
)
def test_a_nul_in_a_filter_value_is_a_400_invalid_filter(scim, acme, bad, endpoint, attribute, op):
    # Written as the JSON escape (\u0000) a filter's string allows; a raw NUL is refused as a
    # control character by the same string rule.
    escaped = json.dumps(f"a{bad}b")

    response = send(scim, "GET", endpoint + _query(f"{attribute} {op} {escaped}"))

    error = assert_scim_refusal(response, status=400, scim_type="invalidFilter")
    assert ("NUL" if bad == NUL else "surrogate") in error["detail"]


def test_a_date_at_the_edge_of_the_range_is_still_a_date(scim, acme):
    status_codes = {
        send(scim, "GET", "Users" + _query(f'meta.created {op} "{value}"')).status_code
        for op, value in [("gt", "9999-12-31T23:59:59Z"), ("lt", "0001-01-01T00:00:00Z")]
    }

    assert status_codes == {200}


# --- paging --------------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ["Users", "Groups"])
@pytest.mark.parametrize("start", [2**63 - 1, 2**63, 2**64, 10**30])
def test_a_start_index_past_the_results_is_an_empty_page(scim, acme, endpoint, start):
    response = send(scim, "GET", endpoint + _query("", startIndex=str(start)))

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["schemas"] == [LIST_RESPONSE]
    assert body["Resources"] == [] and body["itemsPerPage"] == 0
    assert body["totalResults"] == 2  # acme's two users; acme's two teams
    assert body["startIndex"] == start


@pytest.mark.parametrize("endpoint", ["Users", "Groups"])
def test_paging_values_out_of_range_are_read_as_rfc_7644_says(scim, acme, endpoint):
    huge = send(scim, "GET", endpoint + _query("", count=str(10**30)))  # read as MAX_PAGE_SIZE
    negative = send(scim, "GET", endpoint + _query("", startIndex="-5", count="-3"))

    assert huge.status_code == 200 and huge.json()["itemsPerPage"] == 2
    assert negative.status_code == 200, negative.content
    assert negative.json()["startIndex"] == 1  # less than 1 is read as 1
    assert negative.json()["Resources"] == []  # a negative count is read as 0


@pytest.mark.parametrize(
    "params",
    [{"count": "abc"}, {"startIndex": "1e3"}, {"startIndex": "9" * 5000}, {"count": "1.5"}],
)
def test_paging_values_that_are_not_integers_are_a_400(scim, acme, params):
    response = send(scim, "GET", "Users" + _query("", **params))

    assert_scim_refusal(response, status=400, scim_type="invalidValue")


# --- NUL and other unstorable characters in bodies -----------------------------------------------

NUL_IN_USER = [
    ("userName", lambda bad: _user(userName=f"x{bad}@acme.com")),
    ("name.givenName", lambda bad: _user(name={"givenName": f"A{bad}da"})),
    ("name.familyName", lambda bad: _user(name={"familyName": f"{bad}"})),
    ("externalId", lambda bad: _user(externalId=f"00u{bad}1")),
    (f"{ENTERPRISE}.division", lambda bad: _user(**{ENTERPRISE: {"division": f"Sa{bad}les"}})),
    ("emails.value", lambda bad: _user(emails=[{"value": f"x{bad}@acme.com", "primary": True}])),
    ("title", lambda bad: _user(title=f"{bad}")),  # an attribute we ignore: refused all the same
    ("a key", lambda bad: _user(**{f"nick{bad}Name": "x"})),
]


@pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["nul", "surrogate"])
@pytest.mark.parametrize(("where", "make"), NUL_IN_USER, ids=[w for w, _ in NUL_IN_USER])
@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_a_nul_in_a_user_is_a_400_invalid_value(scim, acme, bad, where, make, method):
    path = "Users" if method == "POST" else f"Users/{acme.member.scim_id}"
    before = stored_state()

    response = send(scim, method, path, _body(make(bad)))

    error = assert_scim_refusal(response, status=400, scim_type="invalidValue")
    assert ("NUL" if bad == NUL else "surrogate") in error["detail"]
    assert stored_state() == before


@pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["nul", "surrogate"])
@pytest.mark.parametrize(
    "operation",
    [
        {"op": "replace", "path": "name.givenName", "value": "A{bad}"},
        {"op": "replace", "path": "externalId", "value": "{bad}"},
        {"op": "replace", "path": f"{ENTERPRISE}:division", "value": "S{bad}"},
        {"op": "replace", "value": {"userName": "y{bad}@acme.com"}},
        {"op": "replace", "path": "userName{bad}", "value": "y@acme.com"},
        {"op": "replace", "path": 'emails[value eq "{bad}"].value', "value": "y@acme.com"},
    ],
)
def test_a_nul_in_a_user_patch_is_a_400_invalid_value(scim, acme, bad, operation):
    text = json.dumps(_patch(operation)).replace("{bad}", json.dumps(bad)[1:-1])
    before = stored_state()

    response = send(scim, "PATCH", f"Users/{acme.member.scim_id}", text.encode())

    assert_scim_refusal(response, status=400, scim_type="invalidValue")
    assert stored_state() == before


def _group(**attributes) -> dict:
    return {"schemas": [GROUP_SCHEMA], **attributes}


NUL_IN_GROUP = [
    ("POST", "Groups", lambda bad, member: _group(displayName=f"Ops{bad}")),
    ("PUT", "Groups/{group}", lambda bad, member: _group(displayName=f"Ops{bad}")),
    ("POST", "Groups", lambda bad, member: _group(displayName="Ops", externalId=bad)),
    ("POST", "Groups", lambda bad, member: _group(displayName="Ops", members=[{"value": bad}])),
    (
        "PATCH",
        "Groups/{group}",
        lambda bad, member: _patch({"op": "replace", "path": "displayName", "value": bad}),
    ),
    (
        "PATCH",
        "Groups/{group}",
        lambda bad, member: _patch(
            {"op": "add", "path": "members", "value": [{"value": member, "display": bad}]}
        ),
    ),
]


@pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["nul", "surrogate"])
@pytest.mark.parametrize(("method", "where", "make"), NUL_IN_GROUP)
def test_a_nul_in_a_group_is_a_400_invalid_value(scim, acme, bad, method, where, make):
    path = where.format(group=acme.teams["Marketing"].scim_id)
    before = stored_state()

    response = send(scim, method, path, _body(make(bad, str(acme.admin.scim_id))))

    assert_scim_refusal(response, status=400, scim_type="invalidValue")
    assert stored_state() == before


def test_the_same_values_without_the_nul_are_accepted(scim, acme):
    # The control of the tests above: the bodies are refused for the NUL, nothing else.
    created = send(
        scim,
        "POST",
        "Users",
        _body(
            _user(
                name={"givenName": "Ada"},
                externalId="00u1",
                emails=[{"value": "hostile@acme.com", "primary": True}],
                **{ENTERPRISE: {"division": "Sales"}},
            )
        ),
    )
    group = send(scim, "POST", "Groups", _body({"schemas": [GROUP_SCHEMA], "displayName": "Ops"}))

    assert created.status_code == 201, created.content
    assert group.status_code == 201, group.content


# --- the corpus ----------------------------------------------------------------------------------
# Each entry: (method, path, body). Paths may name {user} and {group} (acme's); a body is bytes
# as sent, or a JSON value. Every one is a 4xx in the SCIM error schema and writes nothing.

USER = "Users/{user}"
GROUP = "Groups/{group}"
HOSTILE = [
    # wrong JSON types
    ("POST", "Users", _user(active="yes")),
    ("POST", "Users", _user(active=[True])),
    ("POST", "Users", _user(emails="x")),
    ("POST", "Users", _user(emails=[{"value": 5, "primary": True}])),
    ("POST", "Users", _user(name="Ada")),
    ("POST", "Users", _user(userType=["admin"])),
    ("POST", "Users", {"schemas": [USER_SCHEMA], "userName": 5}),
    ("POST", "Users", {"schemas": None, "userName": None}),
    ("POST", "Users", _user(**{ENTERPRISE: "Sales"})),
    ("POST", "Users", _user(**{ENTERPRISE: {"division": 5}})),
    # the right shape's empty look-alike: a list where an object goes, and the reverse
    ("POST", "Users", _user(name=[])),
    ("POST", "Users", _user(emails={})),
    ("POST", "Users", _user(**{ENTERPRISE: []})),
    ("PUT", USER, _user(name=[])),
    ("POST", "Users", {"schemas": None, "userName": "nobody@acme.com"}),
    ("POST", "Users", {"schemas": "x", "userName": "nobody@acme.com"}),
    ("POST", "Users", {"schemas": [GROUP_SCHEMA], "userName": "nobody@acme.com"}),
    ("POST", "Groups", {"schemas": [USER_SCHEMA], "displayName": "Ops"}),
    ("POST", "Groups", {"schemas": None, "displayName": "Ops"}),
    ("POST", "Groups", {"displayName": "Ops", "members": {}}),
    ("POST", "Groups", {"displayName": "Ops", "members": "x"}),
    ("POST", "Groups", {"displayName": "Ops", "members": [{"value": 1}]}),
    ("POST", "Groups", {"displayName": 5}),
    ("PUT", GROUP, {"displayName": None}),
    # not an object, or nothing at all
    ("POST", "Users", b"[]"),
    ("POST", "Users", b"null"),
    ("POST", "Users", b'"x"'),
    ("POST", "Users", b"5"),
    ("POST", "Users", b""),
    ("PUT", USER, b""),
    ("PUT", USER, b"[]"),
    ("PATCH", USER, b""),
    ("PATCH", USER, b"[]"),
    ("POST", "Groups", b""),
    ("PATCH", GROUP, b""),
    # not JSON
    ("POST", "Users", b'{"userName": '),
    ("POST", "Users", b'{"userName": NaN}'),
    ("POST", "Users", b'{"userName": Infinity}'),
    ("POST", "Users", b'{"userName": 1' + b"0" * 5000 + b"}"),
    ("POST", "Users", b"\x00"),
    # very long values: the model's field lengths
    ("POST", "Users", _user(userName="a" * 100_000 + "@acme.com")),
    ("POST", "Users", _user(name={"givenName": "a" * 151})),
    ("POST", "Users", _user(externalId="a" * 256)),
    ("POST", "Users", _user(**{ENTERPRISE: {"division": "a" * 151}})),
    ("POST", "Groups", {"displayName": "a" * 151}),
    # PATCH operations that are not operations
    ("PATCH", USER, {"schemas": [PATCH_OP], "Operations": {}}),
    ("PATCH", USER, {"schemas": [PATCH_OP], "Operations": "replace"}),
    ("PATCH", USER, {"schemas": [PATCH_OP], "Operations": None}),
    ("PATCH", USER, {"schemas": [PATCH_OP], "Operations": [None]}),
    ("PATCH", USER, {"schemas": [PATCH_OP], "Operations": [[]]}),
    ("PATCH", USER, _patch({"op": "frobnicate", "path": "userName", "value": "x"})),
    ("PATCH", USER, _patch({"op": 5, "path": "userName", "value": "x"})),
    ("PATCH", USER, _patch({"op": "replace", "path": 5, "value": "x"})),
    ("PATCH", USER, _patch({"op": "replace", "path": "a" * 10_000, "value": "x"})),
    ("PATCH", USER, _patch({"op": "replace", "path": "emails[" + "(" * 5000 + "]", "value": "x"})),
    ("PATCH", USER, _patch({"op": "replace", "path": "active", "value": "yes"})),
    ("PATCH", USER, _patch({"op": "replace", "path": "name.givenName", "value": {"a": 1}})),
    ("PATCH", USER, _patch({"op": "replace", "path": "userName", "value": "a" * 100_000})),
    ("PATCH", USER, _patch({"op": "remove", "path": "userName"})),
    ("PATCH", USER, _patch({"op": "replace", "value": "x"})),
    ("PATCH", GROUP, {"schemas": [PATCH_OP], "Operations": {}}),
    ("PATCH", GROUP, _patch({"op": "add", "path": "members", "value": "x"})),
    ("PATCH", GROUP, _patch({"op": "add", "path": "members", "value": [{"value": 5}]})),
    ("PATCH", GROUP, _patch({"op": "replace", "path": "displayName", "value": 5})),
    ("PATCH", GROUP, _patch({"op": "replace", "path": "a" * 10_000, "value": "x"})),
    # query strings
    ("GET", "Users?count=abc", None),
    ("GET", "Users?startIndex=" + "9" * 5000, None),
    ("GET", "Users" + _query("id eq 1"), None),
    ("GET", "Groups" + _query("members.value eq 1"), None),
    ("GET", "Users" + _query('meta.created gt "9999-12-31T23:59:59-23:59"'), None),
    ("GET", "Users" + _query('userName eq "a\\u0000"'), None),
    ("GET", "Users" + _query("(" * 10_000 + "userName pr" + ")" * 10_000), None),
    ("GET", "Users" + _query("x" * 100_000), None),
    ("GET", "Users?" + "&".join(["a=1"] * 1001), None),  # DATA_UPLOAD_MAX_NUMBER_FIELDS
    ("GET", "Users/%00", None),
    ("GET", "Users/" + "a" * 10_000, None),
]


def _corpus_id(case) -> str:
    method, path, body = case
    shown = body if isinstance(body, bytes) else json.dumps(body)
    return f"{method} {path[:40]} {str(shown)[:60]}"


@pytest.mark.parametrize(("method", "path", "body"), HOSTILE, ids=map(_corpus_id, HOSTILE))
def test_hostile_input_is_a_scim_4xx_and_writes_nothing(scim, acme, method, path, body):
    path = path.format(user=acme.member.scim_id, group=acme.teams["Sales"].scim_id)
    raw = body if isinstance(body, bytes) or body is None else _body(body)
    before = stored_state()

    response = send(scim, method, path, raw or b"")

    assert_scim_refusal(response)
    assert stored_state() == before

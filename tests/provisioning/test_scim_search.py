"""``POST /Users/.search``, ``POST /Groups/.search`` and ``POST /.search`` (RFC 7644 3.4.3): a
SearchRequest in the body answers what the same parameters answer on a GET, and the root search
covers the Users and Groups of the token's company, never another's."""

from __future__ import annotations

import pytest

from tests.provisioning.scim_helpers import (
    ENTERPRISE,
    GROUP_SCHEMA,
    LIST_RESPONSE,
    USER_SCHEMA,
    assert_scim_error,
)

pytestmark = pytest.mark.django_db

SEARCH_REQUEST = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"


def search(**parameters) -> dict:
    return {"schemas": [SEARCH_REQUEST], **parameters}


def create_user(scim, email: str, given: str = "", family: str = "", **extra) -> dict:
    status, body = scim.post(
        "Users",
        {
            "schemas": [USER_SCHEMA],
            "userName": email,
            "name": {"givenName": given, "familyName": family},
            "emails": [{"primary": True, "value": email, "type": "work"}],
            **extra,
        },
    )
    assert status == 201, body
    return body


def test_users_search_answers_what_the_same_get_answers(scim, acme):
    create_user(scim, "grace@acme.com", "Grace", "Hopper", externalId="x-grace")
    create_user(scim, "gordon@acme.com", "Gordon", "Moore")
    status, body = scim.post(
        "Users/.search",
        search(
            filter='name.givenName sw "G"',
            attributes=["userName", "name.familyName"],
            sortBy="name.familyName",
            sortOrder="descending",
            startIndex=1,
            count=10,
        ),
    )

    assert status == 200, body
    assert scim.last["Content-Type"] == "application/scim+json"
    assert body["schemas"] == [LIST_RESPONSE]
    assert body["totalResults"] == 2
    assert body["startIndex"] == 1
    assert body["itemsPerPage"] == 2
    assert [(r["userName"], r["name"]) for r in body["Resources"]] == [
        ("gordon@acme.com", {"familyName": "Moore"}),
        ("grace@acme.com", {"familyName": "Hopper"}),
    ]
    assert set(body["Resources"][0]) == {"schemas", "id", "userName", "name"}
    _, same = scim.get(
        "Users",
        {
            "filter": 'name.givenName sw "G"',
            "attributes": "userName,name.familyName",
            "sortBy": "name.familyName",
            "sortOrder": "descending",
            "count": 10,
        },
    )
    assert same == body


def test_users_search_pages_with_start_index_and_count(scim, acme):
    for n in range(5):
        create_user(scim, f"p{n}@acme.com", f"P{n}")
    pages = []
    for start in (1, 3, 5, 7):
        status, body = scim.post(
            "Users/.search",
            search(filter='userName sw "p"', sortBy="userName", startIndex=start, count=2),
        )
        assert status == 200, body
        assert body["totalResults"] == 5
        assert body["startIndex"] == start
        pages.append([r["userName"] for r in body["Resources"]])
    assert pages == [
        ["p0@acme.com", "p1@acme.com"],
        ["p2@acme.com", "p3@acme.com"],
        ["p4@acme.com"],
        [],
    ]


def test_groups_search_with_excluded_members(scim, acme):
    status, body = scim.post(
        "Groups/.search",
        search(filter='displayName eq "sales"', excludedAttributes=["members"]),
    )

    assert status == 200, body
    assert body["totalResults"] == 1
    [group] = body["Resources"]
    assert group["displayName"] == "Sales"
    assert group["schemas"] == [GROUP_SCHEMA]
    assert "members" not in group


def test_search_of_an_empty_body_lists_everything(scim, acme):
    status, body = scim.post("Groups/.search", search())
    assert status == 200, body
    assert sorted(g["displayName"] for g in body["Resources"]) == ["Marketing", "Sales"]
    assert body["totalResults"] == 2


def test_root_search_covers_users_and_groups_of_the_company(scim, acme):
    status, body = scim.post(".search", search())

    assert status == 200, body
    resources = body["Resources"]
    kinds = [r["meta"]["resourceType"] for r in resources]
    # Users first, then groups (the order without sortBy).
    assert kinds == ["User", "User", "Group", "Group"]
    assert {r.get("userName") for r in resources if r["schemas"][0] == USER_SCHEMA} == {
        "admin@acme.com",
        "member@acme.com",
    }
    assert body["totalResults"] == 4


def test_root_search_never_reaches_another_company(scim, acme, globex, globex_scim):
    create_user(globex_scim, "grace@globex.com", "Grace", "Hopper")
    for request in (
        search(),
        search(filter='userName sw "admin"'),
        search(filter='name.givenName eq "Grace"'),
        search(filter='displayName eq "Sales"'),
        search(sortBy="displayName", count=200),
    ):
        status, body = scim.post(".search", request)
        assert status == 200, (request, body)
        names = {r.get("userName") or r.get("displayName") for r in body["Resources"]}
        assert not {n for n in names if n and "globex" in n}, (request, body)
        ids = {r["id"] for r in body["Resources"]}
        assert str(globex.teams["Sales"].scim_id) not in ids, request
        assert str(globex.member.scim_id) not in ids, request
    # The other company's token sees its own, not acme's.
    status, body = globex_scim.post(".search", search(filter='name.givenName eq "Grace"'))
    assert [r["userName"] for r in body["Resources"]] == ["grace@globex.com"]
    status, body = scim.post(".search", search(filter='name.givenName eq "Grace"'))
    assert body["totalResults"] == 0
    assert body["Resources"] == []


def test_root_search_filter_applies_to_both_types(scim, acme):
    """An attribute a resource type lacks has no value there (RFC 7644 3.4.2): userName
    matches no group, displayName matches groups and users (their full name or email)."""
    create_user(scim, "grace@acme.com", "Grace", "Hopper")
    create_user(scim, "nameless@acme.com")
    status, group = scim.post("Groups", {"schemas": [GROUP_SCHEMA], "displayName": "Grace Hopper"})
    assert status == 201, group

    _, body = scim.post(".search", search(filter='userName eq "grace@acme.com"'))
    assert [r["meta"]["resourceType"] for r in body["Resources"]] == ["User"]

    _, body = scim.post(".search", search(filter='displayName eq "grace hopper"'))
    assert sorted(r["meta"]["resourceType"] for r in body["Resources"]) == ["Group", "User"]
    assert body["totalResults"] == 2
    # A user without a name shows (and is found by) their email as displayName.
    _, body = scim.post(".search", search(filter='displayName eq "NAMELESS@acme.com"'))
    assert [r["userName"] for r in body["Resources"]] == ["nameless@acme.com"]

    # members: only groups have it (Sales has acme's member); userName: only users.
    _, body = scim.post(".search", search(filter='members pr or userName sw "grace"'))
    found = [
        (r["meta"]["resourceType"], r.get("userName") or r["displayName"])
        for r in body["Resources"]
    ]
    assert found == [("User", "grace@acme.com"), ("Group", "Sales")]
    _, body = scim.post(".search", search(filter="not (members pr) and not (userName pr)"))
    assert [r["displayName"] for r in body["Resources"]] == ["Marketing", "Grace Hopper"]

    # Absent from users, absent from groups: a filter on a name neither has is refused.
    status, body = scim.post(".search", search(filter='shoeSize eq "9"'))
    assert_scim_error(status, body, http_status=400, scim_type="invalidFilter")


def test_root_search_pages_across_the_two_types(scim, acme):
    # 2 users then 2 groups; a page straddling the boundary has one of each.
    status, body = scim.post(".search", search(startIndex=2, count=2))
    assert status == 200, body
    assert [r["meta"]["resourceType"] for r in body["Resources"]] == ["User", "Group"]
    assert body["totalResults"] == 4
    _, rest = scim.post(".search", search(startIndex=4, count=10))
    assert [r["meta"]["resourceType"] for r in rest["Resources"]] == ["Group"]
    _, first = scim.post(".search", search(startIndex=1, count=2))
    seen = [r["id"] for r in first["Resources"]] + [
        r["id"] for r in (body["Resources"][1:] + rest["Resources"])
    ]
    assert len(set(seen)) == 4


def test_root_search_sorts_across_both_types(scim, acme):
    zed = create_user(scim, "zed@acme.com")  # no name: displayName is the email
    status, body = scim.post(".search", search(sortBy="displayName", attributes=["displayName"]))
    assert status == 200, body
    names = [r["displayName"] for r in body["Resources"]]
    # admin and member are both "Ada Lovelace": the tie is broken by kind, then creation.
    assert names == ["Ada Lovelace", "Ada Lovelace", "Marketing", "Sales", "zed@acme.com"]
    assert [r["id"] for r in body["Resources"][:2]] == [
        str(acme.admin.scim_id),
        str(acme.member.scim_id),
    ]

    _, body = scim.post(
        ".search", search(sortBy="displayName", sortOrder="descending", startIndex=2, count=3)
    )
    assert [r["id"] for r in body["Resources"]] == [
        str(acme.teams["Sales"].scim_id),
        str(acme.teams["Marketing"].scim_id),
        str(acme.member.scim_id),
    ]
    assert body["totalResults"] == 5
    assert zed["id"] not in [r["id"] for r in body["Resources"]]

    # userName only users have: groups have no value, so they come last ascending.
    _, body = scim.post(".search", search(sortBy="userName"))
    assert [r["meta"]["resourceType"] for r in body["Resources"]] == [
        "User",
        "User",
        "User",
        "Group",
        "Group",
    ]
    status, body = scim.post(".search", search(sortBy="shoeSize"))
    assert_scim_error(status, body, http_status=400, scim_type="invalidValue")


def test_root_search_can_select_the_extension(scim, acme):
    create_user(scim, "grace@acme.com", "Grace", "Hopper", **{ENTERPRISE: {"division": "Sales"}})
    status, body = scim.post(
        ".search",
        search(filter='userName eq "grace@acme.com"', attributes=[f"{ENTERPRISE}:division"]),
    )
    assert status == 200, body
    [user] = body["Resources"]
    assert user == {
        "schemas": [USER_SCHEMA, ENTERPRISE],
        "id": user["id"],
        ENTERPRISE: {"division": "Sales"},
    }


@pytest.mark.parametrize("path", ["Users/.search", "Groups/.search", ".search"])
def test_search_requires_the_search_request_schema(scim, acme, path):
    status, body = scim.post(path, {"filter": 'userName eq "x"'})
    assert_scim_error(status, body, http_status=400, scim_type="invalidSyntax")
    status, body = scim.post(path, {"schemas": [USER_SCHEMA]})
    assert_scim_error(status, body, http_status=400, scim_type="invalidSyntax")
    status, body = scim.post(path, ["not", "an", "object"])
    assert_scim_error(status, body, http_status=400, scim_type="invalidSyntax")


@pytest.mark.parametrize(
    ("request_body", "scim_type"),
    [
        (search(filter='userName eq "unterminated'), "invalidFilter"),
        (search(filter=42), "invalidValue"),
        (search(attributes="userName", excludedAttributes="emails"), "invalidSyntax"),
        (search(attributes=[1, 2]), "invalidValue"),
        (search(sortOrder="sideways", sortBy="userName"), "invalidValue"),
        (search(sortBy="members"), "invalidValue"),
        (search(startIndex="first"), "invalidValue"),
        (search(count=True), "invalidValue"),
    ],
)
def test_search_refuses_bad_parameters(scim, acme, request_body, scim_type):
    status, body = scim.post("Users/.search", request_body)
    assert_scim_error(status, body, http_status=400, scim_type=scim_type)


def test_search_is_post_only_and_needs_a_token(scim, acme):
    status, body = scim.get("Users/.search")
    assert status == 405, body
    anonymous = type(scim)(None)
    status, body = anonymous.post("Users/.search", search())
    assert status == 401, body
    status, body = anonymous.post(".search", search())
    assert status == 401, body

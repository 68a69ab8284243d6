"""``sortBy``/``sortOrder`` (RFC 7644 3.4.2.3): case-insensitive strings sort case-insensitively
in code point order, caseExact ones exactly; a resource without a value comes last ascending and
first descending; ties are broken the same way every time, so pages never overlap or skip."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from accounts.models import Team, User
from tests.provisioning.scim_helpers import ENTERPRISE, USER_SCHEMA, assert_scim_error

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(scim, acme) -> dict[str, str]:
    """Five users of acme (besides its admin and member, both "Ada Lovelace"), by userName."""
    rows = [
        ("carol@acme.com", "carol", "Zimmer", "b-2"),
        ("Bob@acme.com", "Bob", "", "B-1"),
        ("alice@acme.com", "Alice", "young", ""),
        ("dave@acme.com", "dave", "Élan", "a-3"),
        ("erin@acme.com", "Erin", "zimmer", "c"),
    ]
    ids = {}
    for user_name, given, family, external_id in rows:
        body = {
            "schemas": [USER_SCHEMA],
            "userName": user_name,
            "name": {"givenName": given, "familyName": family},
            "emails": [{"primary": True, "value": user_name.lower()}],
        }
        if external_id:
            body["externalId"] = external_id
        status, created = scim.post("Users", body)
        assert status == 201, created
        ids[user_name] = created["id"]
    return ids


def sorted_names(scim, sort_by: str, order: str | None = None, attribute="userName", **extra):
    # Not acme's admin and member (both Ada Lovelace).
    query = {"sortBy": sort_by, "filter": 'name.familyName ne "Lovelace"'}
    query.update(extra)
    if order:
        query["sortOrder"] = order
    status, body = scim.get("Users", query)
    assert status == 200, body
    return [_pick(r, attribute) for r in body["Resources"]]


def _pick(resource: dict, path: str):
    for part in path.split("."):
        resource = resource.get(part) if isinstance(resource, dict) else None
    return resource


def test_user_name_sorts_case_insensitively(scim, people):
    names = sorted_names(scim, "userName")
    assert names == [
        "alice@acme.com",
        "Bob@acme.com",
        "carol@acme.com",
        "dave@acme.com",
        "erin@acme.com",
    ]
    assert sorted_names(scim, "userName", "descending") == names[::-1]
    # sortOrder is case-insensitive; sortBy names too (RFC 7643 2.1).
    assert sorted_names(scim, "USERNAME", "Descending") == names[::-1]


def test_given_name_case_insensitive_and_emails_by_primary_value(scim, people):
    assert sorted_names(scim, "name.givenName", attribute="name.givenName") == [
        "Alice",
        "Bob",
        "carol",
        "dave",
        "Erin",
    ]
    assert sorted_names(scim, "emails", attribute="userName") == sorted_names(scim, "userName")
    assert sorted_names(scim, "emails.value") == sorted_names(scim, "userName")


def test_missing_values_last_ascending_first_descending_and_ties_by_creation(scim, people):
    ascending = sorted_names(scim, "name.familyName")
    # "" is no value; Zimmer and zimmer tie case-insensitively and keep their creation order;
    # É (U+00C9) sorts after every ASCII letter in code point order.
    assert ascending == [
        "alice@acme.com",  # young
        "carol@acme.com",  # Zimmer
        "erin@acme.com",  # zimmer
        "dave@acme.com",  # Élan
        "Bob@acme.com",  # no family name
    ]
    assert sorted_names(scim, "name.familyName", "descending") == ascending[::-1]


def test_external_id_is_case_exact(scim, people):
    # caseExact: code point order, "B" (U+0042) before "a" (U+0061); alice has none.
    assert sorted_names(scim, "externalId", attribute="externalId") == [
        "B-1",
        "a-3",
        "b-2",
        "c",
        None,
    ]


def test_meta_dates_and_id(scim, acme, people):
    base = datetime(2025, 1, 1, tzinfo=UTC)
    for offset, name in enumerate(["erin@acme.com", "alice@acme.com", "dave@acme.com"]):
        User.objects.filter(username=name).update(
            date_joined=base + timedelta(days=offset), updated_at=base - timedelta(days=offset)
        )
    created = sorted_names(scim, "meta.created")
    assert created[:3] == ["erin@acme.com", "alice@acme.com", "dave@acme.com"]
    modified = sorted_names(scim, "meta.lastModified")
    assert modified[:3] == ["dave@acme.com", "alice@acme.com", "erin@acme.com"]
    ids = sorted_names(scim, "id", attribute="id")
    assert ids == sorted(ids)


def test_division_and_user_type(scim, acme, people):
    status, _ = scim.patch(
        f"Users/{people['dave@acme.com']}",
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [
                {"op": "replace", "path": f"{ENTERPRISE}:division", "value": "marketing"},
                {"op": "replace", "path": "userType", "value": "admin"},
            ],
        },
    )
    assert status == 200
    assert sorted_names(scim, f"{ENTERPRISE}:division")[0] == "dave@acme.com"
    assert sorted_names(scim, "userType")[0] == "dave@acme.com"


def test_pages_of_a_sorted_list_neither_overlap_nor_skip(scim, acme, people):
    everyone = []
    for start in range(1, 9, 2):
        status, body = scim.get(
            "Users", {"sortBy": "name.familyName", "startIndex": start, "count": 2}
        )
        assert status == 200, body
        assert body["totalResults"] == 7
        everyone += [r["id"] for r in body["Resources"]]
    assert len(everyone) == 7 == len(set(everyone))
    # admin and member (both "Lovelace") tie: the one created first comes first.
    assert everyone[:2] == [str(acme.admin.scim_id), str(acme.member.scim_id)]


def test_groups_sort_by_display_name(scim, acme):
    Team.objects.create(company=acme.company, name="apollo")
    status, body = scim.get("Groups", {"sortBy": "displayName", "excludedAttributes": "members"})
    assert [g["displayName"] for g in body["Resources"]] == ["apollo", "Marketing", "Sales"]
    status, body = scim.get("Groups", {"sortBy": "displayName", "sortOrder": "descending"})
    assert [g["displayName"] for g in body["Resources"]] == ["Sales", "Marketing", "apollo"]


def test_sort_order_alone_changes_nothing(scim, acme, people):
    _, plain = scim.get("Users")
    _, with_order = scim.get("Users", {"sortOrder": "descending"})
    assert [r["id"] for r in with_order["Resources"]] == [r["id"] for r in plain["Resources"]]


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("Users", {"sortBy": "shoeSize"}),
        ("Users", {"sortBy": 'emails[type eq "work"]'}),
        ("Users", {"sortBy": "userName", "sortOrder": "up"}),
        ("Groups", {"sortBy": "members"}),
        ("Groups", {"sortBy": "members.value"}),
        ("Groups", {"sortBy": "userName"}),
    ],
)
def test_what_cannot_be_sorted_is_refused(scim, acme, path, query):
    status, body = scim.get(path, query)
    assert_scim_error(status, body, http_status=400, scim_type="invalidValue")

"""``attributes`` and ``excludedAttributes`` (RFC 7644 3.4.2.5) on every response that carries a
resource: reads, lists, and what POST, PUT and PATCH return (RFC 7644 3.9)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.provisioning.scim_helpers import (
    ENTERPRISE,
    GROUP_SCHEMA,
    USER_SCHEMA,
    assert_scim_error,
    patch_op,
)

pytestmark = pytest.mark.django_db

CORE_USER = USER_SCHEMA


@pytest.fixture
def grace(scim, acme) -> dict:
    status, body = scim.post(
        "Users",
        {
            "schemas": [USER_SCHEMA, ENTERPRISE],
            "userName": "grace@acme.com",
            "name": {"givenName": "Grace", "familyName": "Hopper"},
            "emails": [{"primary": True, "value": "grace@acme.com", "type": "work"}],
            "externalId": "ext-grace",
            ENTERPRISE: {"division": "Sales"},
        },
    )
    assert status == 201, body
    return body


def test_sub_attributes_and_multi_valued_sub_attributes(scim, grace):
    status, body = scim.get(
        f"Users/{grace['id']}", {"attributes": "name.givenName,emails.value,externalId"}
    )
    assert status == 200, body
    assert body == {
        "schemas": [USER_SCHEMA],  # the extension is not in this representation
        "id": grace["id"],
        "externalId": "ext-grace",
        "name": {"givenName": "Grace"},
        "emails": [{"value": "grace@acme.com"}],
    }


def test_names_are_case_insensitive_and_may_carry_the_core_urn(scim, grace):
    status, body = scim.get(
        f"Users/{grace['id']}", {"attributes": f"USERNAME,{CORE_USER}:name.FamilyName"}
    )
    assert status == 200, body
    assert body == {
        "schemas": [USER_SCHEMA],
        "id": grace["id"],
        "userName": "grace@acme.com",
        "name": {"familyName": "Hopper"},
    }


def test_extension_by_urn_alone_or_with_its_attribute(scim, grace):
    for names in (ENTERPRISE, f"{ENTERPRISE}:division", f"{ENTERPRISE.upper()}:DIVISION"):
        status, body = scim.get(f"Users/{grace['id']}", {"attributes": names})
        assert status == 200, body
        assert body == {
            "schemas": [USER_SCHEMA, ENTERPRISE],
            "id": grace["id"],
            ENTERPRISE: {"division": "Sales"},
        }, names

    status, body = scim.get(f"Users/{grace['id']}", {"excludedAttributes": ENTERPRISE})
    assert ENTERPRISE not in body
    assert body["schemas"] == [USER_SCHEMA]
    assert body["userName"] == "grace@acme.com"
    status, body = scim.get(
        f"Users/{grace['id']}", {"excludedAttributes": f"{ENTERPRISE}:division"}
    )
    assert body[ENTERPRISE] == {}


def test_excluding_sub_attributes_meta_and_the_always_returned(scim, grace):
    status, body = scim.get(
        f"Users/{grace['id']}",
        {"excludedAttributes": "name.givenName,emails.type,meta,id,schemas"},
    )
    assert status == 200, body
    # id and schemas are returned whatever excludedAttributes says (RFC 7643 7: "always").
    assert body["id"] == grace["id"]
    assert body["schemas"] == [USER_SCHEMA, ENTERPRISE]
    assert "meta" not in body
    assert body["name"] == {"familyName": "Hopper"}
    assert body["emails"] == [{"value": "grace@acme.com", "primary": True}]
    assert body["userName"] == "grace@acme.com"


def test_meta_is_returned_when_asked_for(scim, grace):
    status, body = scim.get(f"Users/{grace['id']}", {"attributes": "meta.lastModified"})
    assert body == {
        "schemas": [USER_SCHEMA],
        "id": grace["id"],
        "meta": {"lastModified": grace["meta"]["lastModified"]},
    }


def test_unknown_names_select_nothing(scim, grace):
    status, body = scim.get(f"Users/{grace['id']}", {"attributes": "shoeSize,name.nickname"})
    assert status == 200, body
    assert body == {"schemas": [USER_SCHEMA], "id": grace["id"]}
    status, body = scim.get(f"Users/{grace['id']}", {"excludedAttributes": "shoeSize"})
    assert body == scim.get(f"Users/{grace['id']}")[1]


@pytest.mark.parametrize("path", ["Users", "Groups", "Users/{id}"])
def test_both_parameters_at_once_are_refused(scim, grace, path):
    status, body = scim.get(
        path.format(id=grace["id"]), {"attributes": "userName", "excludedAttributes": "emails"}
    )
    assert_scim_error(status, body, http_status=400, scim_type="invalidSyntax")


def test_writes_return_the_selected_attributes(scim, acme, grace):
    """RFC 7644 3.9: POST, PUT and PATCH honour the parameters on the resource they return."""
    base = {
        "schemas": [USER_SCHEMA],
        "userName": "linus@acme.com",
        "emails": [{"primary": True, "value": "linus@acme.com"}],
    }
    status, body = scim.post("Users?attributes=userName", base)
    assert status == 201, body
    assert body == {"schemas": [USER_SCHEMA], "id": body["id"], "userName": "linus@acme.com"}
    assert scim.last["Location"].endswith(f"/scim/v2/Users/{body['id']}")

    status, body = scim.put(
        f"Users/{grace['id']}?excludedAttributes=emails,groups,meta",
        {**base, "userName": "grace@acme.com", "emails": [{"value": "grace@acme.com"}]},
    )
    assert status == 200, body
    assert not {"emails", "groups", "meta"} & set(body)
    assert body["userName"] == "grace@acme.com"

    status, body = scim.patch(
        f"Users/{grace['id']}?attributes=active",
        patch_op({"op": "replace", "path": "active", "value": False}),
    )
    assert status == 200, body
    assert body == {"schemas": [USER_SCHEMA], "id": grace["id"], "active": False}

    status, body = scim.post(
        "Groups?attributes=displayName", {"schemas": [GROUP_SCHEMA], "displayName": "Ops"}
    )
    assert status == 201, body
    assert body == {"schemas": [GROUP_SCHEMA], "id": body["id"], "displayName": "Ops"}

    status, body = scim.put(
        f"Groups/{body['id']}?excludedAttributes=members",
        {"schemas": [GROUP_SCHEMA], "displayName": "Ops", "members": [{"value": grace["id"]}]},
    )
    assert status == 200, body
    assert "members" not in body


def test_a_bad_selection_on_a_write_is_refused_before_anything_is_written(scim, acme):
    status, body = scim.post(
        "Users?attributes=userName&excludedAttributes=emails",
        {"schemas": [USER_SCHEMA], "userName": "nobody@acme.com"},
    )
    assert_scim_error(status, body, http_status=400, scim_type="invalidSyntax")
    _, found = scim.get("Users", {"filter": 'userName eq "nobody@acme.com"'})
    assert found["totalResults"] == 0


def _user_queries(captured) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if 'FROM "accounts_user"' in q["sql"]]


def test_excluding_members_skips_the_members_query(scim, acme):
    """Okta and Entra read groups with excludedAttributes=members to keep them cheap."""
    sales = acme.teams["Sales"]
    for path, query in (
        (f"Groups/{sales.scim_id}", {"excludedAttributes": "members"}),
        ("Groups", {"excludedAttributes": "members"}),
        ("Groups", {"attributes": "displayName"}),
        (f"Groups/{sales.scim_id}", {"attributes": "displayName,externalId"}),
    ):
        with CaptureQueriesContext(connection) as captured:
            status, body = scim.get(path, query)
        assert status == 200, body
        resources = body.get("Resources", [body])
        assert resources and all("members" not in r for r in resources)
        # The token's own lookup joins no user table; the only user query would be members'.
        assert not _user_queries(captured), (path, query, _user_queries(captured))

    with CaptureQueriesContext(connection) as captured:
        status, body = scim.post(
            "Groups/.search",
            {
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                "excludedAttributes": ["members"],
            },
        )
    assert status == 200, body
    assert not _user_queries(captured)

    # Asked for, members are there (and fetched).
    status, body = scim.get(f"Groups/{sales.scim_id}", {"attributes": "members.value"})
    assert body["members"] == [{"value": str(acme.member.scim_id)}]


def test_a_list_applies_the_selection_to_every_resource(scim, acme, grace):
    status, body = scim.get("Users", {"attributes": "userName", "sortBy": "userName"})
    assert status == 200, body
    assert [set(r) for r in body["Resources"]] == [{"schemas", "id", "userName"}] * 3
    assert [r["userName"] for r in body["Resources"]] == [
        "admin@acme.com",
        "grace@acme.com",
        "member@acme.com",
    ]

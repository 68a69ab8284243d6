"""The SCIM protocol itself (RFC 7644): media types, the error schema and its scimTypes, URLs,
paging limits, attribute selection, discovery, and who may call at all."""

from __future__ import annotations

import io
import json
import re

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import Role, User
from provisioning.models import ScimToken
from provisioning.scim.request_limits import MAX_MEMBERS_PER_REQUEST, MAX_OPERATIONS
from provisioning.tokens import scim_token_issue, scim_token_revoke
from tests.factories import bulk_create_users
from tests.provisioning.scim_helpers import (
    ENTERPRISE,
    ERROR_SCHEMA,
    GROUP_SCHEMA,
    LIST_RESPONSE,
    USER_SCHEMA,
    ScimClient,
    assert_scim_error,
    patch_op,
)

pytestmark = pytest.mark.django_db

SERVICE_PROVIDER_CONFIG = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"


@pytest.fixture
def jane(scim) -> dict:
    status, body = scim.post(
        "Users",
        {
            "schemas": [USER_SCHEMA],
            "userName": "jane.doe@acme.com",
            "name": {"givenName": "Jane", "familyName": "Doe"},
            "emails": [{"primary": True, "value": "jane.doe@acme.com", "type": "work"}],
            "userType": "manager",
        },
    )
    assert status == 201, body
    return body


def _many_users(company, n: int) -> None:
    bulk_create_users(
        User(
            email=f"u{i:03d}@acme.com", username=f"u{i:03d}@acme.com", company=company, password="!"
        )
        for i in range(n)
    )


# --- media types -------------------------------------------------------------------------------


def test_scim_json_in_and_out(scim, jane):
    assert scim.last["Content-Type"] == "application/scim+json"
    for path in ("Users", f"Users/{jane['id']}", "Groups", "ServiceProviderConfig", "Schemas"):
        status, _ = scim.get(path)
        assert status == 200
        assert scim.last["Content-Type"] == "application/scim+json", path


def test_plain_application_json_is_accepted_too(scim):
    # Okta sends application/json.
    response = scim.client.post(
        "/scim/v2/Users",
        data=json.dumps({"schemas": [USER_SCHEMA], "userName": "okta@acme.com"}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {scim.raw_token}"},
    )

    assert response.status_code == 201
    assert response["Content-Type"] == "application/scim+json"


def test_another_media_type_is_refused_in_the_error_schema(scim):
    response = scim.client.post(
        "/scim/v2/Users",
        data="userName=x@acme.com",
        content_type="application/x-www-form-urlencoded",
        headers={"Authorization": f"Bearer {scim.raw_token}"},
    )

    assert response.status_code == 415
    assert response["Content-Type"] == "application/scim+json"
    assert response.json()["schemas"] == [ERROR_SCHEMA]
    assert not User.objects.filter(email="x@acme.com").exists()


def test_a_body_that_is_not_json_is_a_400_invalid_syntax(scim):
    response = scim.client.post(
        "/scim/v2/Users",
        data='{"userName": ',
        content_type="application/scim+json",
        headers={"Authorization": f"Bearer {scim.raw_token}"},
    )

    assert_scim_error(
        response.status_code, response.json(), http_status=400, scim_type="invalidSyntax"
    )


# --- errors and their scimType -----------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        'userName eq "unterminated',
        "userName eq",
        'userName equals "x"',
        'userName eq "a" and',
        '(userName eq "a"',
        'emails[type eq "work"',
    ],
)
def test_a_filter_with_bad_syntax_is_a_400_invalid_filter(scim, text):
    status, body = scim.get("Users", {"filter": text})

    assert_scim_error(status, body, http_status=400, scim_type="invalidFilter")


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("Users", 'favouriteColour eq "blue"'),
        ("Users", 'name.nickName eq "Babs"'),
        ("Users", 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter eq "1"'),
        ("Groups", 'owner eq "x"'),
    ],
)
def test_a_filter_on_an_unknown_attribute_is_a_400_invalid_filter_never_ignored(scim, path, text):
    status, body = scim.get(path, {"filter": text})

    assert_scim_error(status, body, http_status=400, scim_type="invalidFilter")


def test_a_taken_user_name_is_a_409_uniqueness(scim, jane):
    status, body = scim.post("Users", {"schemas": [USER_SCHEMA], "userName": "JANE.doe@acme.com"})

    assert_scim_error(status, body, http_status=409, scim_type="uniqueness")
    # The service's Conflict, worded in SCIM's terms by the one mapping of the exception handler.
    assert body["detail"] == "A user with this userName or email already exists."


def test_changing_to_a_taken_user_name_is_a_409_uniqueness(scim, jane, acme):
    other = str(acme.member.scim_id)
    scim.patch(
        f"Users/{other}", patch_op({"op": "replace", "path": "userName", "value": "m@acme.com"})
    )
    assert User.objects.get(scim_id=other).username == "m@acme.com"

    status, body = scim.patch(
        f"Users/{other}",
        patch_op({"op": "replace", "path": "userName", "value": "Jane.Doe@acme.com"}),
    )
    assert_scim_error(status, body, http_status=409, scim_type="uniqueness")

    status, body = scim.put(
        f"Users/{other}",
        {
            "schemas": [USER_SCHEMA],
            "userName": "JANE.DOE@ACME.COM",
            "emails": [{"primary": True, "value": "member@acme.com", "type": "work"}],
        },
    )
    assert_scim_error(status, body, http_status=409, scim_type="uniqueness")
    assert User.objects.get(scim_id=other).username == "m@acme.com"


def test_changing_to_a_taken_email_is_a_409_uniqueness(scim, jane, acme):
    status, body = scim.patch(
        f"Users/{acme.member.scim_id}",
        patch_op(
            {"op": "replace", "path": 'emails[type eq "work"].value', "value": "jane.doe@acme.com"}
        ),
    )

    assert_scim_error(status, body, http_status=409, scim_type="uniqueness")
    assert User.objects.get(pk=acme.member.pk).email == "member@acme.com"


def test_renaming_a_group_to_a_taken_name_is_a_409_uniqueness(scim, acme):
    marketing = acme.teams["Marketing"]

    for verb, body in [
        ("patch", patch_op({"op": "replace", "path": "displayName", "value": "SALES"})),
        ("patch", patch_op({"op": "replace", "value": {"displayName": "Sales"}})),
        ("put", {"schemas": [GROUP_SCHEMA], "displayName": "sales"}),
    ]:
        status, answer = getattr(scim, verb)(f"Groups/{marketing.scim_id}", body)
        assert_scim_error(status, answer, http_status=409, scim_type="uniqueness")

    marketing.refresh_from_db()
    assert marketing.name == "Marketing"
    # A change of case of its own name is not a conflict.
    status, _ = scim.patch(
        f"Groups/{marketing.scim_id}",
        patch_op({"op": "replace", "path": "displayName", "value": "MARKETING"}),
    )
    assert status in (200, 204)
    marketing.refresh_from_db()
    assert marketing.name == "MARKETING"


def test_a_taken_group_name_is_a_409_uniqueness(scim):
    status, body = scim.post("Groups", {"schemas": [GROUP_SCHEMA], "displayName": "sales"})

    assert_scim_error(status, body, http_status=409, scim_type="uniqueness")
    assert body["detail"] == "A group with this displayName already exists."


@pytest.mark.parametrize(
    "body",
    [
        {"schemas": [USER_SCHEMA], "userName": "x@acme.com", "userType": "root"},
        {"schemas": [USER_SCHEMA], "userName": "x@acme.com", "active": "maybe"},
        {"schemas": [USER_SCHEMA], "userName": "not-an-email"},
        {"schemas": [USER_SCHEMA]},
        {"schemas": [USER_SCHEMA], "userName": "x@acme.com", "name": "Jane Doe"},
    ],
)
def test_an_invalid_value_is_a_400_invalid_value(scim, body):
    status, answer = scim.post("Users", body)

    assert_scim_error(status, answer, http_status=400, scim_type="invalidValue")
    assert not User.objects.filter(email="x@acme.com").exists()


def test_remove_through_a_filter_that_matches_nothing_is_a_400_no_target(scim, jane):
    status, body = scim.patch(
        f"Users/{jane['id']}", patch_op({"op": "remove", "path": 'emails[type eq "home"]'})
    )

    assert_scim_error(status, body, http_status=400, scim_type="noTarget")
    assert User.objects.get(scim_id=jane["id"]).email == "jane.doe@acme.com"


@pytest.mark.parametrize(
    "path", ["favouriteColour", "name.nickName", "emails[type eq", "urn:x:y:z"]
)
def test_a_patch_of_an_unknown_attribute_path_is_a_400_invalid_path(scim, jane, path):
    status, body = scim.patch(
        f"Users/{jane['id']}", patch_op({"op": "replace", "path": path, "value": "x"})
    )

    assert_scim_error(status, body, http_status=400, scim_type="invalidPath")


@pytest.mark.parametrize("path", ["id", "meta", "groups"])
def test_a_patch_of_a_read_only_attribute_is_a_400_mutability(scim, jane, path):
    status, body = scim.patch(
        f"Users/{jane['id']}", patch_op({"op": "replace", "path": path, "value": "x"})
    )

    assert_scim_error(status, body, http_status=400, scim_type="mutability")
    assert str(User.objects.get(email="jane.doe@acme.com").scim_id) == jane["id"]


def test_a_patch_of_a_group_id_is_a_400_mutability(scim, acme):
    status, body = scim.patch(
        f"Groups/{acme.teams['Sales'].scim_id}",
        patch_op({"op": "replace", "path": "id", "value": "x"}),
    )

    assert_scim_error(status, body, http_status=400, scim_type="mutability")


def test_a_failed_patch_changes_nothing(scim, jane):
    status, _ = scim.patch(
        f"Users/{jane['id']}",
        patch_op(
            {"op": "replace", "path": "name.familyName", "value": "Changed"},
            {"op": "replace", "path": "favouriteColour", "value": "blue"},
        ),
    )

    assert status == 400
    assert User.objects.get(scim_id=jane["id"]).last_name == "Doe"


def test_a_patch_with_more_operations_than_the_limit_is_too_many(scim, acme):
    operation = {"op": "replace", "path": "name.familyName", "value": "Changed"}
    status, body = scim.patch(
        f"Users/{acme.member.scim_id}", patch_op(*[operation] * (MAX_OPERATIONS + 1))
    )

    assert_scim_error(status, body, http_status=400, scim_type="tooMany")
    assert User.objects.get(pk=acme.member.pk).last_name == acme.member.last_name


def test_a_patch_at_the_operation_limit_is_applied(scim, acme):
    operation = {"op": "replace", "path": "name.familyName", "value": "Changed"}
    status, body = scim.patch(
        f"Users/{acme.member.scim_id}", patch_op(*[operation] * MAX_OPERATIONS)
    )

    assert status == 200, body
    assert User.objects.get(pk=acme.member.pk).last_name == "Changed"


def test_a_group_patch_with_more_members_than_the_limit_is_too_many(scim, acme):
    team = acme.teams["Marketing"]
    members = [{"value": str(acme.member.scim_id)}] * (MAX_MEMBERS_PER_REQUEST + 1)
    status, body = scim.patch(
        f"Groups/{team.scim_id}", patch_op({"op": "add", "path": "members", "value": members})
    )

    assert_scim_error(status, body, http_status=400, scim_type="tooMany")
    assert User.objects.get(pk=acme.member.pk).team == acme.teams["Sales"]


# --- URLs --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/scim/v2/Foo", "/scim/v2/Users/abc/def", "/scim/v2/Bulk", "/scim/v2/", "/scim/v2/Me"]
)
def test_an_unknown_url_under_scim_v2_is_a_scim_404(scim, path):
    status, body = scim.get(path)

    assert_scim_error(status, body, http_status=404, scim_type=None)
    assert scim.last["Content-Type"] == "application/scim+json"


def test_an_unknown_user_or_group_id_is_a_scim_404(scim):
    for path in ("Users/6e4d35c6-7bb0-4a1c-9d13-2cbd00d3f7a1", "Users/42", "Groups/nope"):
        status, body = scim.get(path)
        assert_scim_error(status, body, http_status=404, scim_type=None)


@pytest.mark.parametrize(
    "path",
    [
        "Users",
        "Groups",
        "ServiceProviderConfig",
        "ResourceTypes",
        "ResourceTypes/User",
        "Schemas",
        f"Schemas/{USER_SCHEMA}",
    ],
)
def test_with_and_without_a_trailing_slash(scim, path):
    without = scim.get(path)
    with_slash = scim.get(path + "/")

    assert without[0] == with_slash[0] == 200
    assert without[1] == with_slash[1]


def test_a_user_by_id_with_and_without_a_trailing_slash(scim, jane):
    assert scim.get(f"Users/{jane['id']}")[0] == 200
    assert scim.get(f"Users/{jane['id']}/")[0] == 200
    status, _ = scim.patch(
        f"Users/{jane['id']}/", patch_op({"op": "replace", "path": "name.givenName", "value": "J"})
    )
    assert status == 200
    assert scim.delete(f"Users/{jane['id']}/")[0] == 204


# --- paging and attribute selection ------------------------------------------------------------


def test_count_is_capped_at_200(scim, acme):
    _many_users(acme.company, 250)

    status, body = scim.get("Users", {"count": 1000})

    assert status == 200
    assert body["totalResults"] == 252
    assert body["itemsPerPage"] == 200
    assert len(body["Resources"]) == 200


def test_count_zero_returns_only_the_total(scim, acme):
    status, body = scim.get("Users", {"count": 0})

    assert status == 200
    assert body["totalResults"] == 2
    assert body["Resources"] == []


def test_a_start_index_past_the_end_is_an_empty_page(scim):
    status, body = scim.get("Users", {"startIndex": 50, "count": 10})

    assert status == 200
    assert body == {
        "schemas": [LIST_RESPONSE],
        "totalResults": 2,
        "startIndex": 50,
        "itemsPerPage": 0,
        "Resources": [],
    }


def test_attributes_returns_only_those_and_the_always_returned(scim, jane):
    status, body = scim.get(f"Users/{jane['id']}", {"attributes": "userName"})
    assert status == 200
    assert set(body) == {"schemas", "id", "meta", "userName"}
    assert body["userName"] == "jane.doe@acme.com"

    status, body = scim.get(
        "Users",
        {"filter": 'userName eq "jane.doe@acme.com"', "attributes": "userName,name.givenName"},
    )
    [resource] = body["Resources"]
    assert set(resource) == {"schemas", "id", "meta", "userName", "name"}
    assert resource["name"] == {"givenName": "Jane"}


def test_excluded_attributes_drops_those(scim, jane):
    status, body = scim.get(f"Users/{jane['id']}", {"excludedAttributes": "emails"})
    assert status == 200
    assert "emails" not in body
    assert body["userName"] == "jane.doe@acme.com"
    assert body["name"]["givenName"] == "Jane"

    status, body = scim.get("Users", {"excludedAttributes": "emails,name"})
    for resource in body["Resources"]:
        assert "emails" not in resource
        assert "name" not in resource
        assert "userName" in resource


def test_filter_grammar_over_http(scim, jane, acme):
    def ids(text: str) -> set[str]:
        status, body = scim.get("Users", {"filter": text})
        assert status == 200, body
        return {r["id"] for r in body["Resources"]}

    admin, member = str(acme.admin.scim_id), str(acme.member.scim_id)
    assert ids('userType eq "manager"') == {jane["id"]}
    assert ids('emails.value sw "JANE"') == {jane["id"]}
    assert ids('emails.value ew "@acme.com" and not (userType eq "admin")') == {jane["id"], member}
    assert ids('(userType eq "admin" or userType eq "manager") and active eq true') == {
        admin,
        jane["id"],
    }
    assert ids('name.familyName pr and name.familyName ne "Doe"') == {admin, member}
    assert ids('meta.lastModified gt "2000-01-01T00:00:00Z"') == {admin, member, jane["id"]}
    assert ids('meta.lastModified lt "2000-01-01T00:00:00Z"') == set()


def test_a_user_is_found_by_the_user_name_it_is_shown_with(scim, acme):
    status, shown = scim.get(f"Users/{acme.member.scim_id}")
    assert status == 200

    status, body = scim.get("Users", {"filter": f'userName eq "{shown["userName"]}"'})

    assert [r["id"] for r in body["Resources"]] == [shown["id"]]


# --- lookups stay index lookups (the figures are in bench/scim.py) ------------------------------

USER_NAME_INDEX = "user_username_key_unique_in_company"


def _plan(sql: str) -> str:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Tables this small are cheaper to scan; ask which index the planner *can* use.
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute(f"EXPLAIN {sql}")
        else:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
        return "\n".join(str(row[-1]) for row in cursor.fetchall())


def _user_name_queries(request) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        request()
    queries = [
        q["sql"]
        for q in captured.captured_queries
        if '"accounts_user"."username_key" =' in q["sql"]
    ]
    assert queries
    return queries


def test_the_user_name_lookup_uses_the_user_name_index(scim, acme):
    _many_users(acme.company, 50)

    queries = _user_name_queries(
        lambda: scim.get("Users", {"filter": 'userName eq "U042@ACME.COM"'})
    )

    for sql in queries:
        assert USER_NAME_INDEX in _plan(sql), sql


def test_a_taken_user_name_is_refused_by_the_unique_index_not_by_a_lookup(scim, acme):
    """The create does not search for the userName first: the (company, username_key) unique
    index refuses the INSERT, which also settles two creates racing."""
    _many_users(acme.company, 50)
    before = User.objects.count()

    with CaptureQueriesContext(connection) as captured:
        status, body = scim.post(
            "Users",
            {
                "schemas": [USER_SCHEMA],
                "userName": "U042@ACME.COM",
                "emails": [{"value": "someone.else@acme.com", "primary": True}],
            },
        )

    assert_scim_error(status, body, http_status=409, scim_type="uniqueness")
    assert User.objects.count() == before
    lookups = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("SELECT")]
    assert not [sql for sql in lookups if '"accounts_user"."username_key" =' in sql]


# --- discovery ---------------------------------------------------------------------------------


def test_service_provider_config_tells_the_truth(scim, acme):
    status, body = scim.get("ServiceProviderConfig")

    assert status == 200
    assert body["schemas"] == [SERVICE_PROVIDER_CONFIG]
    assert body["patch"]["supported"] is True
    assert body["filter"]["supported"] is True
    assert body["bulk"]["supported"] is False
    assert body["changePassword"]["supported"] is False  # password is ignored
    assert body["sort"]["supported"] is False
    assert body["etag"]["supported"] is False
    assert [s["type"] for s in body["authenticationSchemes"]] == ["oauthbearertoken"]
    # maxResults is the real cap.
    _many_users(acme.company, body["filter"]["maxResults"] + 10)
    status, page = scim.get("Users", {"count": body["filter"]["maxResults"] + 10})
    assert page["itemsPerPage"] == body["filter"]["maxResults"]
    # Bulk is not supported, and there is no endpoint for it.
    assert scim.post("Bulk", {"schemas": [], "Operations": []})[0] == 404


def test_resource_types(scim):
    status, body = scim.get("ResourceTypes")

    assert status == 200
    by_id = {r["id"]: r for r in body["Resources"]}
    assert set(by_id) == {"User", "Group"}
    assert by_id["User"]["endpoint"] == "/Users"
    assert by_id["User"]["schema"] == USER_SCHEMA
    assert by_id["User"]["schemaExtensions"] == [{"schema": ENTERPRISE, "required": False}]
    assert by_id["Group"]["endpoint"] == "/Groups"
    assert scim.get("ResourceTypes/Group")[1] == by_id["Group"]
    status, body = scim.get("ResourceTypes/Device")
    assert_scim_error(status, body, http_status=404, scim_type=None)


def _attribute(schema: dict, name: str) -> dict:
    return next(a for a in schema["attributes"] if a["name"] == name)


def test_schemas_describe_user_type_as_the_four_roles_and_the_enterprise_division(scim):
    status, body = scim.get("Schemas")

    assert status == 200
    by_id = {s["id"]: s for s in body["Resources"]}
    assert set(by_id) == {USER_SCHEMA, ENTERPRISE, GROUP_SCHEMA}
    user_type = _attribute(by_id[USER_SCHEMA], "userType")
    assert user_type["canonicalValues"] == ["sender", "manager", "department_admin", "admin"]
    assert user_type["canonicalValues"] == [role.value for role in Role]
    assert _attribute(by_id[USER_SCHEMA], "userName")["required"] is True
    assert _attribute(by_id[USER_SCHEMA], "userName")["uniqueness"] == "server"
    division = _attribute(by_id[ENTERPRISE], "division")
    assert division["type"] == "string"
    assert division["mutability"] == "readWrite"
    assert _attribute(by_id[GROUP_SCHEMA], "members")["multiValued"] is True
    # What is described is what is kept: no password attribute to send.
    assert "password" not in [a["name"] for a in by_id[USER_SCHEMA]["attributes"]]

    for schema_id, schema in by_id.items():
        status, one = scim.get(f"Schemas/{schema_id}")
        assert status == 200
        assert one == schema
    status, body = scim.get("Schemas/urn:ietf:params:scim:schemas:core:2.0:Device")
    assert_scim_error(status, body, http_status=404, scim_type=None)


def test_every_canonical_user_type_is_accepted(scim):
    _, schemas = scim.get(f"Schemas/{USER_SCHEMA}")
    for n, value in enumerate(_attribute(schemas, "userType")["canonicalValues"]):
        status, body = scim.post(
            "Users", {"schemas": [USER_SCHEMA], "userName": f"c{n}@acme.com", "userType": value}
        )
        assert status == 201, body
        assert body["userType"] == value


# --- who may call ------------------------------------------------------------------------------


def _assert_401(status: int, body, response) -> None:
    assert_scim_error(status, body, http_status=401, scim_type=None)
    assert response["WWW-Authenticate"].lower().startswith("bearer")
    assert response["Content-Type"] == "application/scim+json"


@pytest.mark.parametrize(
    "path", ["Users", "Groups", "ServiceProviderConfig", "Schemas", "ResourceTypes", "Nope"]
)
def test_no_token_is_a_401_with_www_authenticate(acme, path):
    anonymous = ScimClient(None)

    status, body = anonymous.get(path)

    _assert_401(status, body, anonymous.last)


def test_no_token_writes_nothing(acme):
    anonymous = ScimClient(None)

    status, body = anonymous.post("Users", {"schemas": [USER_SCHEMA], "userName": "x@acme.com"})

    _assert_401(status, body, anonymous.last)
    assert not User.objects.filter(email="x@acme.com").exists()


@pytest.mark.parametrize(
    "header",
    [
        "Bearer scim_thisisnotatokenthatwaseverissuedbyanyoneatall000",
        "Bearer not-even-our-prefix",
        "Bearer ",
        "Basic YWRtaW46YWRtaW4=",
        "Token scim_abc",
    ],
)
def test_a_wrong_token_is_a_401(scim, header):
    response = Client().get("/scim/v2/Users", headers={"Authorization": header})

    _assert_401(response.status_code, response.json(), response)


def test_the_right_token_in_another_scheme_is_a_401(scim):
    response = Client().get("/scim/v2/Users", headers={"Authorization": f"Token {scim.raw_token}"})

    _assert_401(response.status_code, response.json(), response)


def test_a_revoked_token_is_a_401(acme):
    token, raw = scim_token_issue(connection=acme.connection)
    client = ScimClient(raw)
    assert client.get("Users")[0] == 200

    scim_token_revoke(token_id=token.pk)

    status, body = client.get("Users")
    _assert_401(status, body, client.last)


@pytest.mark.parametrize("who", ["staff_user", "company_admin"])
def test_a_session_login_never_authorizes_scim(acme, staff_user, who):
    browser = Client()
    browser.force_login(staff_user if who == "staff_user" else acme.admin)
    assert browser.get("/").wsgi_request.user.is_authenticated

    response = browser.get("/scim/v2/Users")
    _assert_401(response.status_code, response.json(), response)
    response = browser.post(
        "/scim/v2/Users",
        data=json.dumps({"schemas": [USER_SCHEMA], "userName": "x@acme.com"}),
        content_type="application/scim+json",
    )
    assert response.status_code == 401
    assert not User.objects.filter(email="x@acme.com").exists()


def test_scim_token_command_prints_the_token_alone_and_revoke_ends_it(acme):
    stdout, stderr = io.StringIO(), io.StringIO()

    call_command("scim_token", "issue", "acme", "--label", "okta", stdout=stdout, stderr=stderr)

    raw = stdout.getvalue()
    assert raw.endswith("\n")
    raw = raw[:-1]
    assert "\n" not in raw and " " not in raw
    assert raw.startswith("scim_")
    assert raw not in stderr.getvalue()  # shown once, on stdout only
    token = ScimToken.objects.get(prefix=raw[:12])
    assert token.connection == acme.connection
    assert token.label == "okta"
    assert token.token_hash != raw and raw not in token.token_hash
    assert re.search(rf"\b{token.pk}\b", stderr.getvalue())
    client = ScimClient(raw)
    assert client.get("Users")[0] == 200

    call_command("scim_token", "revoke", str(token.pk), stdout=io.StringIO())

    status, body = client.get("Users")
    _assert_401(status, body, client.last)

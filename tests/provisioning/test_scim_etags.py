"""ETags (RFC 7644 3.14): meta.version is a weak entity tag that changes exactly when what the
resource shows changes; the ETag header carries it on every single-resource response;
If-None-Match on a GET answers 304; If-Match on PUT, PATCH and DELETE answers 412 when the
resource changed since, and writes nothing."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Team, User
from tests.factories import UserFactory
from tests.provisioning.scim_helpers import (
    ENTERPRISE,
    GROUP_SCHEMA,
    USER_SCHEMA,
    assert_scim_error,
    patch_op,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def grace(scim, acme) -> dict:
    status, body = scim.post(
        "Users",
        {
            "schemas": [USER_SCHEMA],
            "userName": "grace@acme.com",
            "name": {"givenName": "Grace", "familyName": "Hopper"},
            "emails": [{"primary": True, "value": "grace@acme.com"}],
        },
    )
    assert status == 201, body
    return body


def get_with(scim, path: str, **headers):
    response = scim.client.get(
        scim.url(path), headers={"Authorization": f"Bearer {scim.raw_token}", **headers}
    )
    return response


def send_with(scim, method: str, path: str, body=None, **headers):
    import json

    kwargs = {"headers": {"Authorization": f"Bearer {scim.raw_token}", **headers}}
    if body is not None:
        kwargs.update(data=json.dumps(body), content_type="application/scim+json")
    response = getattr(scim.client, method)(scim.url(path), **kwargs)
    return response.status_code, (response.json() if response.content else None), response


def test_versions_are_weak_tags_in_meta_and_the_etag_header(scim, grace):
    version = grace["meta"]["version"]
    assert version.startswith('W/"') and version.endswith('"')
    assert scim.last["ETag"] == version  # the POST's response
    status, body = scim.get(f"Users/{grace['id']}")
    assert body["meta"]["version"] == version
    assert scim.last["ETag"] == version
    # The header is there whatever the selection keeps of meta.
    scim.get(f"Users/{grace['id']}", {"attributes": "userName"})
    assert scim.last["ETag"] == version
    # Lists carry each resource's version.
    _, listed = scim.get("Users", {"filter": 'userName eq "grace@acme.com"'})
    assert listed["Resources"][0]["meta"]["version"] == version


def test_the_version_changes_exactly_when_the_resource_does(scim, acme, grace):
    path = f"Users/{grace['id']}"
    version = grace["meta"]["version"]
    user = User.objects.get(scim_id=grace["id"])
    User.objects.filter(pk=user.pk).update(last_login=user.date_joined)  # not shown by SCIM
    assert scim.get(path)[1]["meta"]["version"] == version

    for op in (
        {"op": "replace", "path": "name.givenName", "value": "G."},
        {"op": "replace", "path": "userType", "value": "manager"},
        {"op": "replace", "path": f"{ENTERPRISE}:division", "value": "Sales"},
        {"op": "replace", "path": "active", "value": False},
    ):
        status, body = scim.patch(path, patch_op(op))
        assert status == 200, body
        assert body["meta"]["version"] != version, op
        assert scim.last["ETag"] == body["meta"]["version"]
        version = body["meta"]["version"]
    # The team's name is part of the user's representation (groups[].display).
    Team.objects.filter(pk=acme.teams["Sales"].pk).update(name="Sales EMEA")
    assert scim.get(path)[1]["meta"]["version"] != version


def test_if_none_match_answers_304_without_a_body(scim, grace):
    path = f"Users/{grace['id']}"
    version = grace["meta"]["version"]
    for header in (version, version.removeprefix("W/"), f'W/"other", {version}', "*"):
        response = get_with(scim, path, **{"If-None-Match": header})
        assert response.status_code == 304, header
        assert response.content == b""
        assert response["ETag"] == version
    response = get_with(scim, path, **{"If-None-Match": 'W/"stale"'})
    assert response.status_code == 200
    assert response.json()["id"] == grace["id"]


def test_if_match_refuses_a_stale_write_and_writes_nothing(scim, grace):
    path = f"Users/{grace['id']}"
    stale = grace["meta"]["version"]
    status, body = scim.patch(
        path, patch_op({"op": "replace", "path": "userType", "value": "admin"})
    )
    assert status == 200
    current = body["meta"]["version"]

    replace = {**grace, "name": {"givenName": "Stale", "familyName": "Write"}}
    for method, body in (
        ("patch", patch_op({"op": "replace", "path": "name.givenName", "value": "Stale"})),
        ("put", replace),
        ("delete", None),
    ):
        status, answer, _ = send_with(scim, method, path, body, **{"If-Match": stale})
        assert_scim_error(status, answer, http_status=412, scim_type=None)
    user = User.objects.get(scim_id=grace["id"])
    assert (user.first_name, user.role, user.scim_deleted_at) == ("Grace", "admin", None)

    status, answer, response = send_with(
        scim,
        "patch",
        path,
        patch_op({"op": "replace", "path": "name.givenName", "value": "Fresh"}),
        **{"If-Match": current},
    )
    assert status == 200, answer
    assert answer["name"]["givenName"] == "Fresh"
    assert response["ETag"] == answer["meta"]["version"] != current
    status, _, _ = send_with(scim, "delete", path, **{"If-Match": "*"})
    assert status == 204


def test_group_versions_cover_members_without_reading_them(scim, acme, grace):
    sales = acme.teams["Sales"]
    path = f"Groups/{sales.scim_id}"
    _, group = scim.get(path)
    version = group["meta"]["version"]
    _, lean = scim.get(path, {"excludedAttributes": "members"})
    assert lean["meta"]["version"] == version == scim.last["ETag"]

    # A member joins: the group changed (version and lastModified), though its row did not.
    status, _ = scim.patch(
        f"Groups/{sales.scim_id}",
        patch_op({"op": "add", "path": "members", "value": [{"value": grace["id"]}]}),
    )
    assert status == 204
    assert scim.last["ETag"] != version
    _, after = scim.get(path, {"excludedAttributes": "members"})
    assert after["meta"]["version"] == scim.last["ETag"] != version
    assert after["meta"]["lastModified"] > group["meta"]["lastModified"]
    version = after["meta"]["version"]
    # A member's own attributes are not in the group (members are value, $ref and type).
    User.objects.filter(pk=acme.member.pk).update(email="renamed@acme.com")
    assert scim.get(path)[1]["meta"]["version"] == version
    # A member leaving (hidden by a SCIM delete) is.
    assert scim.delete(f"Users/{grace['id']}")[0] == 204
    assert scim.get(path)[1]["meta"]["version"] != version
    version = scim.get(path)[1]["meta"]["version"]
    # Someone joining another team changes nothing here.
    UserFactory(company=acme.company, email="other@acme.com", team=acme.teams["Marketing"])
    assert scim.get(path)[1]["meta"]["version"] == version

    # A 304 reads no member.
    with CaptureQueriesContext(connection) as captured:
        response = get_with(scim, path, **{"If-None-Match": version})
    assert response.status_code == 304
    assert not [q for q in captured.captured_queries if 'FROM "accounts_user"' in q["sql"]]


def test_group_if_match(scim, acme, grace):
    sales = acme.teams["Sales"]
    path = f"Groups/{sales.scim_id}"
    _, group = scim.get(path)
    stale = group["meta"]["version"]
    UserFactory(company=acme.company, email="joiner@acme.com", team=sales)  # members change

    add_grace = patch_op({"op": "add", "path": "members", "value": [{"value": grace["id"]}]})
    status, answer, _ = send_with(scim, "patch", path, add_grace, **{"If-Match": stale})
    assert_scim_error(status, answer, http_status=412, scim_type=None)
    status, answer, _ = send_with(
        scim,
        "put",
        path,
        {"schemas": [GROUP_SCHEMA], "displayName": "Renamed"},
        **{"If-Match": stale},
    )
    assert_scim_error(status, answer, http_status=412, scim_type=None)
    status, answer, _ = send_with(scim, "delete", path, **{"If-Match": stale})
    assert_scim_error(status, answer, http_status=412, scim_type=None)
    sales.refresh_from_db()
    assert sales.name == "Sales"
    assert not User.objects.filter(scim_id=grace["id"], team=sales).exists()

    current = scim.get(path)[1]["meta"]["version"]
    status, answer, response = send_with(scim, "patch", path, add_grace, **{"If-Match": current})
    assert status == 204, answer
    assert User.objects.filter(scim_id=grace["id"], team=sales).exists()
    assert response["ETag"] != current


def test_another_companys_resource_is_not_found_whatever_the_headers(scim, globex):
    for path in (f"Users/{globex.member.scim_id}", f"Groups/{globex.teams['Sales'].scim_id}"):
        response = get_with(scim, path, **{"If-None-Match": "*"})
        assert response.status_code == 404
        status, answer, _ = send_with(scim, "delete", path, **{"If-Match": "*"})
        assert status == 404, answer
    assert User.objects.filter(pk=globex.member.pk, scim_deleted_at__isnull=True).exists()


def test_service_provider_config_says_etags_are_supported(scim):
    _, body = scim.get("ServiceProviderConfig")
    assert body["etag"] == {"supported": True}

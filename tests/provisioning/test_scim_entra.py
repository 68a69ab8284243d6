"""What Microsoft Entra ID sends, replayed against the real views.

The bodies copy the shape of the requests in Microsoft's "Tutorial: Develop and plan provisioning
for a SCIM endpoint" and its known-issues notes on PATCH: capitalised ``op`` names ("Replace",
"Add", "Remove"), booleans sent as the strings "True"/"False", a PATCH without ``path`` whose
value object has dotted (``name.givenName``) and URN-prefixed
(``urn:...:enterprise:2.0:User:division``) keys, ``emails[type eq "work"].value`` paths, users
matched by ``userName eq`` / ``externalId eq``, and groups read with ``excludedAttributes=members``.
Only the values are ours.
"""

from __future__ import annotations

import pytest

from accounts.models import Role, Team, User
from audit.models import AuditEvent
from tests.provisioning.scim_helpers import (
    ENTERPRISE,
    GROUP_SCHEMA,
    USER_SCHEMA,
    ScimClient,
    assert_scim_error,
    patch_op,
)

pytestmark = pytest.mark.django_db

ENTRA_OBJECT_ID = "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"
ENTRA_GROUP_SCHEMA = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"


def entra_user(email: str = "babs.jensen@acme.com", *, external_id: str = ENTRA_OBJECT_ID) -> dict:
    return {
        "schemas": [USER_SCHEMA, ENTERPRISE],
        "externalId": external_id,
        "userName": email,
        "active": True,
        "emails": [{"primary": True, "type": "work", "value": email}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "Babs Jensen", "familyName": "Jensen", "givenName": "Babs"},
        "roles": [],
        "userType": "Sender",
        ENTERPRISE: {"division": "Sales"},
    }


@pytest.fixture
def babs(scim) -> dict:
    status, body = scim.post("Users", entra_user())
    assert status == 201, body
    return body


def _user(resource: dict) -> User:
    return User.objects.select_related("team").get(scim_id=resource["id"])


# --- Users -------------------------------------------------------------------------------------


def test_create_with_entras_body(babs, acme):
    user = _user(babs)
    assert user.email == "babs.jensen@acme.com"
    assert user.external_id == ENTRA_OBJECT_ID
    assert (user.first_name, user.last_name) == ("Babs", "Jensen")
    assert user.role == Role.SENDER
    assert user.team == acme.teams["Sales"]
    assert babs["externalId"] == ENTRA_OBJECT_ID


def test_match_by_user_name(scim, babs):
    status, body = scim.get("Users", {"filter": 'userName eq "babs.jensen@acme.com"'})

    assert status == 200
    assert [r["id"] for r in body["Resources"]] == [babs["id"]]


def test_match_by_external_id(scim, babs, acme):
    status, body = scim.get("Users", {"filter": f'externalId eq "{ENTRA_OBJECT_ID}"'})

    assert status == 200
    assert body["totalResults"] == 1
    assert [r["id"] for r in body["Resources"]] == [babs["id"]]
    status, body = scim.get("Users", {"filter": 'externalId eq "someone-else"'})
    assert (status, body["totalResults"]) == (200, 0)


def test_match_by_work_email_value_filter(scim, babs):
    status, body = scim.get(
        "Users", {"filter": 'emails[type eq "work"].value eq "babs.jensen@acme.com"'}
    )

    assert status == 200
    assert [r["id"] for r in body["Resources"]] == [babs["id"]]


def test_capitalised_replace_of_the_work_email_and_family_name(scim, babs):
    status, body = scim.patch(
        f"Users/{babs['id']}",
        patch_op(
            {
                "op": "Replace",
                "path": 'emails[type eq "work"].value',
                "value": "barbara.jensen@acme.com",
            },
            {"op": "Replace", "path": "name.familyName", "value": "Jensen-Smith"},
        ),
    )

    assert status == 200, body
    user = _user(babs)
    assert user.email == "barbara.jensen@acme.com"
    assert user.last_name == "Jensen-Smith"
    assert body["emails"] == [{"value": "barbara.jensen@acme.com", "type": "work", "primary": True}]
    assert AuditEvent.objects.filter(
        action="user.identity_changed", target="barbara.jensen@acme.com"
    ).exists()


def test_capitalised_replace_of_user_name(scim, babs):
    status, body = scim.patch(
        f"Users/{babs['id']}",
        patch_op({"op": "Replace", "path": "userName", "value": "BJensen@acme.com"}),
    )

    assert status == 200, body
    assert body["userName"] == "BJensen@acme.com"
    assert _user(babs).username == "BJensen@acme.com"


def test_capitalised_add_of_a_single_attribute(scim, babs):
    status, body = scim.patch(
        f"Users/{babs['id']}",
        patch_op({"op": "Add", "path": "name.givenName", "value": "Barbara"}),
    )

    assert status == 200, body
    assert _user(babs).first_name == "Barbara"


def test_a_patch_from_entras_default_attribute_mappings(scim, babs):
    """Entra's default mappings for a SCIM app send attributes we do not keep (title, phone
    numbers, addresses, the manager...), through value-filter paths too. They are ignored; the
    attributes we keep in the same PATCH are applied."""
    status, body = scim.patch(
        f"Users/{babs['id']}",
        patch_op(
            {"op": "Add", "path": "title", "value": "Account Executive"},
            {"op": "Add", "path": 'phoneNumbers[type eq "work"].value', "value": "+1 555 0100"},
            {"op": "Add", "path": 'phoneNumbers[type eq "mobile"].value', "value": "+1 555 0101"},
            {"op": "Add", "path": 'addresses[type eq "work"].formatted', "value": "Building 7"},
            {"op": "Add", "path": 'addresses[type eq "work"].locality', "value": "Redmond"},
            {"op": "Add", "path": 'addresses[type eq "work"].postalCode', "value": "98052"},
            {"op": "Add", "path": "preferredLanguage", "value": "en-US"},
            {"op": "Add", "path": "name.formatted", "value": "Barbara Jensen"},
            {"op": "Add", "path": f"{ENTERPRISE}:employeeNumber", "value": "100009"},
            {"op": "Add", "path": f"{ENTERPRISE}:department", "value": "Human Resources US"},
            {"op": "Add", "path": f"{ENTERPRISE}:manager", "value": "f1c2d3e4"},
            {"op": "Replace", "path": "name.givenName", "value": "Barbara"},
        ),
    )

    assert status == 200, body
    assert _user(babs).first_name == "Barbara"

    status, body = scim.patch(
        f"Users/{babs['id']}",
        patch_op(
            {
                "op": "Replace",
                "value": {
                    'phoneNumbers[type eq "fax"].value': "+1 555 0102",
                    'addresses[type eq "work"].country': "US",
                    "name.familyName": "Jensen-Smith",
                },
            },
            {"op": "Remove", "path": 'phoneNumbers[type eq "fax"].value'},
            {"op": "Remove", "path": f"{ENTERPRISE}:manager"},
        ),
    )

    assert status == 200, body
    assert _user(babs).last_name == "Jensen-Smith"


def test_active_as_the_strings_false_and_true(scim, babs):
    status, body = scim.patch(
        f"Users/{babs['id']}", patch_op({"op": "Replace", "path": "active", "value": "False"})
    )
    assert status == 200, body
    assert body["active"] is False
    assert _user(babs).is_active is False

    status, body = scim.patch(
        f"Users/{babs['id']}", patch_op({"op": "Replace", "path": "active", "value": "True"})
    )
    assert status == 200, body
    assert body["active"] is True
    assert _user(babs).is_active is True


def test_active_false_string_in_a_patch_without_path(scim, babs):
    status, body = scim.patch(
        f"Users/{babs['id']}", patch_op({"op": "Replace", "value": {"active": "False"}})
    )

    assert status == 200, body
    assert _user(babs).is_active is False


def test_a_non_boolean_active_is_a_400_invalid_value(scim, babs):
    status, body = scim.patch(
        f"Users/{babs['id']}", patch_op({"op": "Replace", "path": "active", "value": "Nope"})
    )

    assert_scim_error(status, body, http_status=400, scim_type="invalidValue")
    assert _user(babs).is_active is True


def test_patch_without_path_with_dotted_and_urn_prefixed_keys(scim, babs, acme):
    status, body = scim.patch(
        f"Users/{babs['id']}",
        patch_op(
            {
                "op": "Add",
                "value": {
                    "name.givenName": "Barbara",
                    "name.familyName": "Jensen-Smith",
                    f"{ENTERPRISE}:division": "Marketing",
                    "userType": "Department_Admin",
                    "displayName": "Barbara Jensen-Smith",
                },
            }
        ),
    )

    assert status == 200, body
    user = _user(babs)
    assert (user.first_name, user.last_name) == ("Barbara", "Jensen-Smith")
    assert user.team == acme.teams["Marketing"]
    assert user.division == "Marketing"
    assert user.role == Role.DEPARTMENT_ADMIN
    assert body[ENTERPRISE]["division"] == "Marketing"


def test_replace_without_path_with_the_enterprise_extension_as_an_object(scim, babs, acme):
    status, body = scim.patch(
        f"Users/{babs['id']}",
        patch_op({"op": "Replace", "value": {ENTERPRISE: {"division": "Marketing"}}}),
    )

    assert status == 200, body
    assert _user(babs).team == acme.teams["Marketing"]


def test_replace_of_the_division_by_urn_path(scim, babs, acme):
    status, body = scim.patch(
        f"Users/{babs['id']}",
        patch_op({"op": "Replace", "path": f"{ENTERPRISE}:division", "value": "Marketing"}),
    )

    assert status == 200, body
    assert _user(babs).team == acme.teams["Marketing"]


def test_remove_of_the_division_leaves_the_user_without_a_team(scim, babs):
    status, body = scim.patch(
        f"Users/{babs['id']}", patch_op({"op": "Remove", "path": f"{ENTERPRISE}:division"})
    )

    assert status == 200, body
    user = _user(babs)
    assert user.team is None
    assert user.division == ""


def test_deactivated_users_stay_visible_in_get_and_filters(scim, babs):
    scim.patch(f"Users/{babs['id']}", patch_op({"op": "Replace", "path": "active", "value": False}))

    status, body = scim.get(f"Users/{babs['id']}")
    assert status == 200
    assert body["active"] is False

    status, body = scim.get("Users", {"filter": 'userName eq "babs.jensen@acme.com"'})
    assert [(r["id"], r["active"]) for r in body["Resources"]] == [(babs["id"], False)]

    status, body = scim.get("Users", {"filter": f'externalId eq "{ENTRA_OBJECT_ID}"'})
    assert [r["id"] for r in body["Resources"]] == [babs["id"]]

    status, body = scim.get("Users", {"filter": "active eq false"})
    assert [r["id"] for r in body["Resources"]] == [babs["id"]]

    status, body = scim.get("Users", {"count": 200})
    assert babs["id"] in [r["id"] for r in body["Resources"]]


def test_delete_then_get_is_a_404(scim, babs):
    status, body = scim.delete(f"Users/{babs['id']}")
    assert (status, body) == (204, None)

    status, body = scim.get(f"Users/{babs['id']}")
    assert_scim_error(status, body, http_status=404, scim_type=None)
    status, body = scim.patch(
        f"Users/{babs['id']}", patch_op({"op": "Replace", "path": "active", "value": "True"})
    )
    assert_scim_error(status, body, http_status=404, scim_type=None)
    status, body = scim.delete(f"Users/{babs['id']}")
    assert_scim_error(status, body, http_status=404, scim_type=None)
    status, body = scim.get("Users", {"filter": 'userName eq "babs.jensen@acme.com"'})
    assert body["totalResults"] == 0

    user = _user(babs)  # the row stays, for the audit trail, and cannot sign in
    assert user.is_active is False
    assert user.scim_deleted_at is not None
    assert AuditEvent.objects.filter(action="user.scim_deleted", target=user.email).exists()


def test_delete_then_create_the_same_user_again(scim, babs):
    scim.delete(f"Users/{babs['id']}")

    status, body = scim.post("Users", entra_user())

    assert status in (200, 201), body
    assert body["active"] is True
    assert body["userName"] == "babs.jensen@acme.com"
    status, again = scim.get(f"Users/{body['id']}")
    assert status == 200
    assert again["active"] is True
    user = User.objects.get(email="babs.jensen@acme.com")
    assert user.is_active is True
    assert user.scim_deleted_at is None
    assert User.objects.filter(email="babs.jensen@acme.com").count() == 1


# --- Groups ------------------------------------------------------------------------------------


def _entra_group(scim: ScimClient, name: str = "Engineering") -> dict:
    status, body = scim.post(
        "Groups",
        {
            "schemas": [GROUP_SCHEMA, ENTRA_GROUP_SCHEMA],
            "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
            "displayName": name,
            "meta": {"resourceType": "Group"},
        },
    )
    assert status == 201, body
    return body


def test_group_create_with_entras_body(scim, acme):
    body = _entra_group(scim)

    team = Team.objects.get(scim_id=body["id"])
    assert (team.company, team.name) == (acme.company, "Engineering")
    assert body["members"] == []


def test_group_get_with_excluded_members(scim, acme):
    sales = acme.teams["Sales"]

    status, body = scim.get(f"Groups/{sales.scim_id}", {"excludedAttributes": "members"})
    assert status == 200
    assert body["displayName"] == "Sales"
    assert "members" not in body

    status, body = scim.get(f"Groups/{sales.scim_id}")
    assert [m["value"] for m in body["members"]] == [str(acme.member.scim_id)]


def test_group_filter_by_display_name_with_excluded_members(scim, acme):
    status, body = scim.get(
        "Groups", {"excludedAttributes": "members", "filter": 'displayName eq "Sales"'}
    )

    assert status == 200
    assert body["totalResults"] == 1
    [group] = body["Resources"]
    assert group["id"] == str(acme.teams["Sales"].scim_id)
    assert "members" not in group


def test_group_capitalised_add_and_remove_of_members(scim, babs, acme):
    group = _entra_group(scim)
    member = str(acme.member.scim_id)

    status, body = scim.patch(
        f"Groups/{group['id']}",
        patch_op(
            {
                "op": "Add",
                "path": "members",
                "value": [{"$ref": None, "value": babs["id"]}, {"$ref": None, "value": member}],
            }
        ),
    )
    assert status in (200, 204), body
    team = Team.objects.get(scim_id=group["id"])
    assert _user(babs).team == team
    assert User.objects.get(pk=acme.member.pk).team == team

    status, body = scim.patch(
        f"Groups/{group['id']}",
        patch_op({"op": "Remove", "path": "members", "value": [{"$ref": None, "value": member}]}),
    )
    assert status in (200, 204), body
    assert _user(babs).team == team
    assert User.objects.get(pk=acme.member.pk).team is None


def test_group_capitalised_replace_of_display_name(scim):
    group = _entra_group(scim)

    status, body = scim.patch(
        f"Groups/{group['id']}",
        patch_op({"op": "Replace", "path": "displayName", "value": "Engineering EMEA"}),
    )

    assert status in (200, 204), body
    assert Team.objects.get(scim_id=group["id"]).name == "Engineering EMEA"


def test_group_delete(scim):
    group = _entra_group(scim)

    status, _ = scim.delete(f"Groups/{group['id']}")

    assert status == 204
    assert not Team.objects.filter(scim_id=group["id"]).exists()
    status, body = scim.get(f"Groups/{group['id']}", {"excludedAttributes": "members"})
    assert_scim_error(status, body, http_status=404, scim_type=None)

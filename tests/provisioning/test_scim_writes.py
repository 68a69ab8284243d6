"""SCIM writes to the letter of RFC 7644 3.3-3.5, in the shapes scim2-tester, OneLogin, JumpCloud
and customers' scripts send besides Okta's and Entra's: complex attributes and the enterprise
extension as PATCH paths, removals (and what each one means here), emails that read back as set,
groups' externalId and members, and one write per create."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Role, Team, User
from audit.models import AuditEvent
from provisioning.models import Deprovisioning
from tests.provisioning.scim_helpers import (
    ENTERPRISE,
    GROUP_SCHEMA,
    USER_SCHEMA,
    assert_scim_error,
    patch_op,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def kim(scim) -> dict:
    """A user created the way scim2-tester fills one: every writable attribute."""
    status, body = scim.post(
        "Users",
        {
            "schemas": [USER_SCHEMA, ENTERPRISE],
            "userName": "kim@acme.com",
            "name": {"givenName": "Kim", "familyName": "Lee"},
            "emails": [{"value": "kim@acme.com", "type": "work", "primary": True}],
            "active": True,
            "userType": "manager",
            "externalId": "ext-kim",
            ENTERPRISE: {"division": "Sales"},
        },
    )
    assert status == 201, body
    return body


def _patch(scim, user: dict, *operations: dict) -> tuple[int, dict]:
    return scim.patch(f"Users/{user['id']}", patch_op(*operations))


def _db(user: dict) -> User:
    return User.objects.get(scim_id=user["id"])


# --- complex attributes and the extension as paths ---------------------------------------------


@pytest.mark.parametrize("op", ["add", "replace"])
def test_a_complex_attribute_as_path_with_an_object_value_sets_its_sub_attributes(scim, kim, op):
    status, body = _patch(
        scim, kim, {"op": op, "path": "name", "value": {"givenName": "Ann", "familyName": "Ray"}}
    )

    assert status == 200, body
    assert body["name"] == {"givenName": "Ann", "familyName": "Ray"}  # exactly what was set
    assert (_db(kim).first_name, _db(kim).last_name) == ("Ann", "Ray")
    assert scim.get(f"Users/{kim['id']}")[1]["name"] == body["name"]


def test_a_complex_attribute_in_a_value_object_without_path(scim, kim):
    status, body = _patch(
        scim, kim, {"op": "add", "value": {"name": {"givenName": "Ann", "familyName": "Ray"}}}
    )

    assert status == 200, body
    assert (_db(kim).first_name, _db(kim).last_name) == ("Ann", "Ray")


def test_replacing_a_complex_attribute_leaves_the_sub_attributes_not_sent(scim, kim):
    # RFC 7644 3.5.2.3: sub-attributes not in the value are left unchanged.
    status, body = _patch(scim, kim, {"op": "replace", "path": "name", "value": {"givenName": "A"}})

    assert status == 200, body
    assert body["name"] == {"givenName": "A", "familyName": "Lee"}


@pytest.mark.parametrize("op", ["add", "replace"])
@pytest.mark.parametrize("urn", [ENTERPRISE, ENTERPRISE.lower()])
def test_the_extension_urn_alone_as_path_with_an_object_value(scim, kim, acme, op, urn):
    status, body = _patch(scim, kim, {"op": op, "path": urn, "value": {"division": "Marketing"}})

    assert status == 200, body
    assert body[ENTERPRISE] == {"division": "Marketing"}
    assert _db(kim).team == acme.teams["Marketing"]


def test_the_extension_object_may_repeat_its_schemas(scim, kim, acme):
    # scim2-models serializes an extension object with its own "schemas".
    value = {"schemas": [ENTERPRISE], "division": "Marketing"}
    status, body = _patch(scim, kim, {"op": "replace", "path": ENTERPRISE, "value": value})

    assert status == 200, body
    assert _db(kim).team == acme.teams["Marketing"]


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "replace", "path": f"{ENTERPRISE}:division", "value": "Marketing"},
        {"op": "Add", "path": f"{ENTERPRISE}:division", "value": "Marketing"},
        {"op": "replace", "value": {f"{ENTERPRISE}:division": "Marketing"}},
        {"op": "replace", "value": {ENTERPRISE: {"division": "Marketing"}}},
    ],
)
def test_the_division_sub_path_forms_keep_working(scim, kim, acme, operation):
    status, body = _patch(scim, kim, operation)

    assert status == 200, body
    assert _db(kim).team == acme.teams["Marketing"]


def test_an_unknown_attribute_of_the_extension_object_is_an_invalid_path(scim, kim):
    status, body = _patch(
        scim, kim, {"op": "replace", "path": ENTERPRISE, "value": {"favouriteColour": "blue"}}
    )

    assert_scim_error(status, body, http_status=400, scim_type="invalidPath")


# --- remove: what it means for each attribute --------------------------------------------------


def test_removing_name_empties_both_names_and_name_reads_back_unassigned(scim, kim):
    status, body = _patch(scim, kim, {"op": "remove", "path": "name"})

    assert status == 200, body
    assert "name" not in body
    assert (_db(kim).first_name, _db(kim).last_name) == ("", "")
    assert "name" not in scim.get(f"Users/{kim['id']}")[1]


def test_removing_a_name_part_empties_that_part_only(scim, kim):
    status, body = _patch(scim, kim, {"op": "remove", "path": "name.givenName"})

    assert status == 200, body
    assert body["name"] == {"familyName": "Lee"}
    assert (_db(kim).first_name, _db(kim).last_name) == ("", "Lee")


def test_removing_user_type_makes_a_sender_and_user_type_reads_back_unassigned(scim, kim):
    status, body = _patch(scim, kim, {"op": "remove", "path": "userType"})

    assert status == 200, body
    assert "userType" not in body
    assert _db(kim).role == Role.SENDER

    # An unrelated PATCH leaves it unassigned; assigning a role shows it again.
    status, body = _patch(scim, kim, {"op": "replace", "path": "name.givenName", "value": "K"})
    assert (status, "userType" in body, _db(kim).role) == (200, False, Role.SENDER)
    status, body = _patch(scim, kim, {"op": "replace", "path": "userType", "value": "sender"})
    assert (status, body.get("userType")) == (200, "sender")


def test_user_type_null_in_a_put_is_unassigned_and_absent_is_the_default(scim, kim):
    put = {k: v for k, v in kim.items() if k not in ("meta", "groups")}
    status, body = scim.put(f"Users/{kim['id']}", {**put, "userType": None})
    assert (status, "userType" in body, _db(kim).role) == (200, False, Role.SENDER)

    del put["userType"]
    status, body = scim.put(f"Users/{kim['id']}", put)
    assert (status, body["userType"], _db(kim).role) == (200, "sender", Role.SENDER)


@pytest.mark.parametrize("path", [f"{ENTERPRISE}:division", ENTERPRISE])
def test_removing_the_division_leaves_no_team(scim, kim, path):
    status, body = _patch(scim, kim, {"op": "remove", "path": path})

    assert status == 200, body
    assert ENTERPRISE not in body
    assert (_db(kim).division, _db(kim).team) == ("", None)
    assert ENTERPRISE not in scim.get(f"Users/{kim['id']}")[1]


def test_removing_the_division_also_ends_a_team_set_through_groups(scim, acme):
    # Entra sets teams through Groups: the division shown is the team's name; removing it is
    # removing the team.
    member = acme.member
    status, body = scim.get(f"Users/{member.scim_id}")
    assert body[ENTERPRISE]["division"] == member.team.name

    status, body = scim.patch(
        f"Users/{member.scim_id}", patch_op({"op": "remove", "path": f"{ENTERPRISE}:division"})
    )

    assert status == 200, body
    assert User.objects.get(pk=member.pk).team is None


def test_removing_external_id(scim, kim):
    status, body = _patch(scim, kim, {"op": "remove", "path": "externalId"})

    assert status == 200, body
    assert "externalId" not in body
    assert _db(kim).external_id == ""


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "remove", "path": "active"},
        {"op": "replace", "path": "active", "value": None},
        {"op": "remove", "path": "userName"},
        {"op": "remove", "path": "emails"},
    ],
)
def test_removing_a_required_attribute_is_a_400_mutability_and_changes_nothing(
    scim, kim, operation
):
    status, body = _patch(
        scim, kim, {"op": "replace", "path": "userType", "value": "admin"}, operation
    )

    assert_scim_error(status, body, http_status=400, scim_type="mutability")
    assert "required" in body["detail"]
    user = _db(kim)
    assert (user.is_active, user.username, user.email, user.role) == (
        True,
        "kim@acme.com",
        "kim@acme.com",
        Role.MANAGER,
    )


def test_the_schema_says_which_attributes_are_required(scim):
    status, body = scim.get(f"Schemas/{USER_SCHEMA}")

    assert status == 200
    required = {a["name"] for a in body["attributes"] if a["required"]}
    assert required == {"userName", "emails", "active"}


# --- emails ------------------------------------------------------------------------------------


@pytest.mark.parametrize("primary", [True, False])
def test_replacing_emails_reads_back_exactly_what_was_set(scim, kim, primary):
    emails = [{"value": "kim.lee@acme.com", "type": "work", "primary": primary}]
    status, body = _patch(scim, kim, {"op": "replace", "path": "emails", "value": emails})

    assert status == 200, body
    assert body["emails"] == emails
    assert scim.get(f"Users/{kim['id']}")[1]["emails"] == emails
    assert _db(kim).email == "kim.lee@acme.com"  # the login identity follows


def test_of_several_emails_the_primary_one_is_kept(scim, kim):
    emails = [
        {"value": "home@example.org", "type": "home"},
        {"value": "kim.lee@acme.com", "type": "work", "primary": True},
    ]
    status, body = _patch(scim, kim, {"op": "replace", "path": "emails", "value": emails})

    assert status == 200, body
    assert body["emails"] == [emails[1]]
    assert _db(kim).email == "kim.lee@acme.com"


def test_an_email_sent_without_type_or_primary_reads_back_without_them(scim, kim):
    emails = [{"value": "kim.lee@acme.com"}]
    status, body = _patch(scim, kim, {"op": "replace", "path": "emails", "value": emails})

    assert status == 200, body
    assert body["emails"] == emails


def test_entras_work_email_path_keeps_type_and_primary(scim, kim):
    status, body = _patch(
        scim,
        kim,
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "kim.lee@acme.com"},
    )

    assert status == 200, body
    assert body["emails"] == [{"value": "kim.lee@acme.com", "type": "work", "primary": True}]


# --- one write per create ----------------------------------------------------------------------


def _user_events() -> list[str]:
    return list(
        AuditEvent.objects.filter(action__startswith="user.").values_list("action", flat=True)
    )


def test_a_create_is_one_insert_and_one_audit_event_with_every_field(scim, acme):
    with CaptureQueriesContext(connection) as queries:
        status, body = scim.post(
            "Users",
            {
                "schemas": [USER_SCHEMA, ENTERPRISE],
                "userName": "ann@acme.com",
                "name": {"givenName": "Ann", "familyName": "Ray"},
                "emails": [{"value": "ann@acme.com", "type": "work", "primary": True}],
                "userType": "admin",
                "externalId": "okta-ann",
                "active": True,
                ENTERPRISE: {"division": "Marketing"},
            },
        )

    assert status == 201, body
    writes = [q["sql"] for q in queries.captured_queries if '"accounts_user"' in q["sql"]]
    assert [sql.split()[0] for sql in writes if sql.split()[0] in ("INSERT", "UPDATE")] == [
        "INSERT"
    ]
    assert _user_events() == ["user.created"]
    user = User.objects.get(email="ann@acme.com")
    assert (user.first_name, user.last_name, user.role, user.team, user.external_id) == (
        "Ann",
        "Ray",
        Role.ADMIN,
        acme.teams["Marketing"],
        "okta-ann",
    )
    event = AuditEvent.objects.get(action="user.created")
    assert event.details["role"] == "admin" and event.details["team"] == "Marketing"


def test_a_create_with_active_false_makes_an_inactive_user_in_one_write(scim):
    status, body = scim.post(
        "Users", {"schemas": [USER_SCHEMA], "userName": "off@acme.com", "active": False}
    )

    assert (status, body["active"]) == (201, False)
    user = User.objects.get(email="off@acme.com")
    assert (user.is_active, user.deactivated_at is not None) == (False, True)
    assert _user_events() == ["user.created"]
    assert not Deprovisioning.objects.filter(user=user).exists()  # nothing to end


# --- groups: externalId and members ------------------------------------------------------------


def test_a_group_keeps_its_external_id_through_create_put_and_patch(scim):
    status, body = scim.post(
        "Groups", {"schemas": [GROUP_SCHEMA], "displayName": "Ops", "externalId": "entra-1"}
    )
    assert (status, body["externalId"]) == (201, "entra-1")
    group = f"Groups/{body['id']}"
    assert scim.get(group)[1]["externalId"] == "entra-1"

    status, body = scim.put(
        group, {"schemas": [GROUP_SCHEMA], "displayName": "Ops", "externalId": "entra-2"}
    )
    assert (status, body["externalId"]) == (200, "entra-2")

    status, _ = scim.patch(group, patch_op({"op": "replace", "path": "externalId", "value": "e3"}))
    assert (status, scim.get(group)[1]["externalId"]) == (204, "e3")
    status, _ = scim.patch(group, patch_op({"op": "Replace", "value": {"externalId": "e4"}}))
    assert (status, scim.get(group)[1]["externalId"]) == (204, "e4")

    status, _ = scim.patch(group, patch_op({"op": "remove", "path": "externalId"}))
    assert status == 204
    assert "externalId" not in scim.get(group)[1]
    assert Team.objects.get(name="Ops").external_id == ""


def test_members_with_ref_and_type_read_back_as_set(scim, acme):
    member = acme.member
    ref = f"https://sso.test/scim/v2/Users/{member.scim_id}"
    members = [{"value": str(member.scim_id), "$ref": ref, "type": "User"}]
    status, body = scim.post(
        "Groups", {"schemas": [GROUP_SCHEMA], "displayName": "Ops", "members": members}
    )

    assert status == 201, body
    assert body["members"] == members
    assert User.objects.get(pk=member.pk).team.name == "Ops"


def test_a_group_as_member_is_a_400_invalid_value(scim, acme):
    other = acme.teams["Sales"]
    status, body = scim.post(
        "Groups",
        {
            "schemas": [GROUP_SCHEMA],
            "displayName": "Ops",
            "members": [{"value": str(other.scim_id), "type": "Group"}],
        },
    )

    assert_scim_error(status, body, http_status=400, scim_type="invalidValue")
    assert not Team.objects.filter(name="Ops").exists()


def _unknown_member_answers(scim, acme, value: str) -> list[tuple[int, dict]]:
    team = acme.teams["Marketing"]
    members = [{"value": value}]
    return [
        scim.post("Groups", {"schemas": [GROUP_SCHEMA], "displayName": "Ops", "members": members}),
        scim.put(
            f"Groups/{team.scim_id}",
            {"schemas": [GROUP_SCHEMA], "displayName": "Marketing", "members": members},
        ),
        scim.patch(
            f"Groups/{team.scim_id}", patch_op({"op": "add", "path": "members", "value": members})
        ),
        scim.patch(
            f"Groups/{team.scim_id}",
            patch_op({"op": "replace", "path": "members", "value": members}),
        ),
    ]


def test_another_companys_user_as_member_is_refused_like_a_nonexistent_one(scim, acme, globex):
    import uuid

    foreign = _unknown_member_answers(scim, acme, str(globex.member.scim_id))
    nobody = _unknown_member_answers(scim, acme, str(uuid.uuid4()))

    for (status, body), (status_nobody, body_nobody) in zip(foreign, nobody, strict=True):
        assert_scim_error(status, body, http_status=400, scim_type="invalidValue")
        assert (status, body) == (status_nobody, body_nobody)
    assert User.objects.get(pk=globex.member.pk).team == globex.teams["Sales"]
    assert not Team.objects.filter(company=acme.company, name="Ops").exists()
    assert not acme.teams["Marketing"].members.exists()


def test_another_companys_token_cannot_set_or_see_a_groups_external_id(scim, globex_scim, acme):
    team = acme.teams["Sales"]
    scim.patch(
        f"Groups/{team.scim_id}", patch_op({"op": "add", "path": "externalId", "value": "mine"})
    )

    status, body = globex_scim.patch(
        f"Groups/{team.scim_id}",
        patch_op({"op": "replace", "path": "externalId", "value": "theirs"}),
    )

    assert_scim_error(status, body, http_status=404, scim_type=None)
    assert Team.objects.get(pk=team.pk).external_id == "mine"
    status, body = globex_scim.get("Groups", {"filter": 'externalId eq "mine"'})
    assert (status, body["totalResults"]) == (200, 0)

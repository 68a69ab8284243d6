"""What Okta sends, in the order its SCIM 2.0 integration sends it, replayed against the real views.

The request bodies copy the shape of the examples in Okta's "SCIM 2.0 reference" and its
provisioning test suite (Runscope "Okta SCIM 2.0 CRUD test"): the user create with ``password``,
``locale``, ``displayName``, ``groups: []`` and an Okta user id as ``externalId``; the PUT that
repeats ``id`` and ``meta``; ``{"op": "replace", "value": {"active": false}}`` without a path; and
Group Push (a create with members, a rename by PATCH without path that repeats the group id,
``add`` to ``members``, ``remove`` through ``members[value eq "..."]``). Only the values are ours.
"""

from __future__ import annotations

import uuid
from importlib import import_module

import pytest
from django.conf import settings
from django.test import Client

from accounts.models import Role, Team, User, UserSession, UserSource
from accounts.services import user_create
from audit.models import AuditEvent, Severity
from provisioning.models import Deprovisioning
from tests.factories import bulk_create_users
from tests.provisioning.scim_helpers import (
    ENTERPRISE,
    GROUP_SCHEMA,
    LIST_RESPONSE,
    USER_SCHEMA,
    ScimClient,
    assert_scim_error,
    patch_op,
)

pytestmark = pytest.mark.django_db

OKTA_USER_ID = "00ujl29u0le5T6Aj10h7"


def okta_user(
    email: str = "jane.doe@acme.com",
    *,
    given: str = "Jane",
    family: str = "Doe",
    external_id: str = OKTA_USER_ID,
    user_type: str | None = "sender",
    division: str | None = "Sales",
    active: bool = True,
) -> dict:
    """Okta's create-user body, with the two custom mappings of the customer setup guide
    (userType, and the enterprise extension's division)."""
    body = {
        "schemas": [USER_SCHEMA, ENTERPRISE],
        "userName": email,
        "name": {"givenName": given, "familyName": family},
        "emails": [{"primary": True, "value": email, "type": "work"}],
        "displayName": f"{given} {family}",
        "locale": "en-US",
        "externalId": external_id,
        "groups": [],
        "password": "1mz050nq",
        "active": active,
    }
    if user_type is not None:
        body["userType"] = user_type
    if division is not None:
        body[ENTERPRISE] = {"division": division}
    return body


def create(scim: ScimClient, **kwargs) -> dict:
    status, body = scim.post("Users", okta_user(**kwargs))
    assert status == 201, body
    return body


def okta_lookup(scim: ScimClient, user_name: str) -> tuple[int, dict]:
    return scim.get(
        "Users", {"filter": f'userName eq "{user_name}"', "startIndex": 1, "count": 100}
    )


# --- Users: the create flow --------------------------------------------------------------------


def test_lookup_of_an_unknown_user_is_an_empty_list_response(scim):
    status, body = okta_lookup(scim, "jane.doe@acme.com")

    assert status == 200
    assert body == {
        "schemas": [LIST_RESPONSE],
        "totalResults": 0,
        "startIndex": 1,
        "itemsPerPage": 0,
        "Resources": [],
    }


def test_lookup_compares_user_name_case_insensitively(scim):
    created = create(scim, email="Jane.Doe@acme.com")

    status, body = okta_lookup(scim, "jane.doe@ACME.COM")

    assert status == 200
    assert body["totalResults"] == 1
    assert [r["id"] for r in body["Resources"]] == [created["id"]]


def test_create_answers_201_with_the_full_resource_a_server_id_and_its_location(scim, acme):
    status, body = scim.post("Users", okta_user())

    assert status == 201, body
    user = User.objects.get(email="jane.doe@acme.com")
    assert body["id"] == str(user.scim_id)
    assert uuid.UUID(body["id"])  # made by the server, not Okta's id
    assert body["id"] != OKTA_USER_ID
    assert body["externalId"] == OKTA_USER_ID
    assert USER_SCHEMA in body["schemas"]
    assert body["userName"] == "jane.doe@acme.com"
    assert body["name"]["givenName"] == "Jane"
    assert body["name"]["familyName"] == "Doe"
    assert body["emails"] == [{"value": "jane.doe@acme.com", "type": "work", "primary": True}]
    assert body["active"] is True
    assert body["userType"] == "sender"
    assert body[ENTERPRISE]["division"] == "Sales"
    assert body["groups"][0]["value"] == str(acme.teams["Sales"].scim_id)
    assert body["meta"]["resourceType"] == "User"
    assert body["meta"]["location"] == f"https://sso.test/scim/v2/Users/{body['id']}"
    assert scim.last["Location"] == body["meta"]["location"]
    assert user.company == acme.company
    assert user.source == UserSource.SCIM
    assert user.team == acme.teams["Sales"]


def test_duplicate_create_is_a_409_uniqueness(scim):
    create(scim)

    status, body = scim.post("Users", okta_user())

    assert_scim_error(status, body, http_status=409, scim_type="uniqueness")
    assert User.objects.filter(email="jane.doe@acme.com").count() == 1


def test_a_user_name_taken_in_another_case_is_a_409_uniqueness(scim):
    create(scim, email="jane.doe@acme.com")
    other = okta_user("jane.doe2@acme.com")
    other["userName"] = "JANE.DOE@acme.com"

    status, body = scim.post("Users", other)

    assert_scim_error(status, body, http_status=409, scim_type="uniqueness")
    assert not User.objects.filter(email="jane.doe2@acme.com").exists()


def test_get_by_id_returns_the_created_user(scim):
    created = create(scim)

    status, body = scim.get(f"Users/{created['id']}")

    assert status == 200
    assert body["id"] == created["id"]
    assert body["userName"] == "jane.doe@acme.com"
    assert body["externalId"] == OKTA_USER_ID
    assert body[ENTERPRISE] == {"division": "Sales"}


def test_put_replaces_the_whole_user_and_maps_division_to_the_team(scim, acme):
    created = create(scim)
    replacement = {
        "schemas": [USER_SCHEMA, ENTERPRISE],
        "id": created["id"],
        "userName": "jane.doe@acme.com",
        "name": {"givenName": "Janet", "familyName": "Dough"},
        "emails": [{"primary": True, "value": "jane.doe@acme.com", "type": "work"}],
        "displayName": "Janet Dough",
        "locale": "en-US",
        "externalId": OKTA_USER_ID,
        "groups": [],
        "password": "t1meMa$heen",
        "active": True,
        "userType": "Manager",
        ENTERPRISE: {"division": "Marketing"},
        "meta": created["meta"],
    }

    status, body = scim.put(f"Users/{created['id']}", replacement)

    assert status == 200, body
    user = User.objects.get(scim_id=created["id"])
    assert (user.first_name, user.last_name) == ("Janet", "Dough")
    assert user.role == Role.MANAGER
    assert user.team == acme.teams["Marketing"]
    assert user.division == "Marketing"
    assert body["name"]["givenName"] == "Janet"
    assert body["userType"] == "manager"
    assert body[ENTERPRISE]["division"] == "Marketing"
    assert [g["value"] for g in body["groups"]] == [str(acme.teams["Marketing"].scim_id)]
    assert not user.has_usable_password()


def _session_is_live(browser: Client) -> bool:
    return browser.get("/").wsgi_request.user.is_authenticated


def test_patch_active_false_deactivates_the_user_and_ends_their_sessions(
    scim, django_capture_on_commit_callbacks
):
    created = create(scim)
    user = User.objects.get(scim_id=created["id"])
    browser = Client()
    browser.force_login(user)
    session_key = browser.session.session_key
    assert UserSession.objects.filter(user=user, session_key=session_key).exists()
    assert _session_is_live(browser)

    with django_capture_on_commit_callbacks(execute=True):
        status, body = scim.patch(
            f"Users/{created['id']}", patch_op({"op": "replace", "value": {"active": False}})
        )

    assert status == 200, body
    assert body["active"] is False
    user.refresh_from_db()
    assert user.is_active is False
    store = import_module(settings.SESSION_ENGINE).SessionStore
    assert not store().exists(session_key)
    assert not UserSession.objects.filter(user=user).exists()
    assert not _session_is_live(browser)
    assert AuditEvent.objects.filter(action="user.deprovisioned", target=user.email).exists()
    job = Deprovisioning.objects.get(user=user)
    assert job.completed_at is not None
    assert job.sessions_ended == 1


def test_patch_active_true_reactivates_the_user(scim):
    created = create(scim)
    scim.patch(f"Users/{created['id']}", patch_op({"op": "replace", "value": {"active": False}}))

    status, body = scim.patch(
        f"Users/{created['id']}", patch_op({"op": "replace", "value": {"active": True}})
    )

    assert status == 200, body
    assert body["active"] is True
    user = User.objects.get(scim_id=created["id"])
    assert user.is_active is True
    assert AuditEvent.objects.filter(action="user.reactivated", target=user.email).exists()


def test_paging_through_every_user_is_stable_without_duplicates_or_gaps(scim, acme):
    bulk_create_users(
        User(
            email=f"user{n:03d}@acme.com",
            username=f"user{n:03d}@acme.com",
            company=acme.company,
            source=UserSource.SCIM,
            password="!",
        )
        for n in range(250)
    )
    expected = set(User.objects.filter(company=acme.company).values_list("scim_id", flat=True))
    assert len(expected) == 252  # with the fixture's admin and member

    def every_page() -> list[str]:
        seen: list[str] = []
        start = 1
        while True:
            status, body = scim.get("Users", {"startIndex": start, "count": 100})
            assert status == 200
            assert body["totalResults"] == 252
            assert body["startIndex"] == start
            assert body["itemsPerPage"] == len(body["Resources"])
            if not body["Resources"]:
                break
            seen += [r["id"] for r in body["Resources"]]
            start += body["itemsPerPage"]
        return seen

    first = every_page()
    # A change between two passes (lastModified moves) must not reorder the list.
    middle = User.objects.get(scim_id=first[150])
    scim.patch(
        f"Users/{middle.scim_id}",
        patch_op({"op": "replace", "path": "name.givenName", "value": "Moved"}),
    )
    second = every_page()

    assert len(first) == 252
    assert len(set(first)) == 252
    assert {uuid.UUID(i) for i in first} == expected
    assert second == first


def test_a_page_is_exactly_count_long_and_the_last_one_is_short(scim, acme):
    bulk_create_users(
        User(email=f"p{n}@acme.com", username=f"p{n}@acme.com", company=acme.company, password="!")
        for n in range(8)
    )  # 10 users with the fixture's two

    sizes = [scim.get("Users", {"startIndex": s, "count": 4})[1]["itemsPerPage"] for s in (1, 5, 9)]

    assert sizes == [4, 4, 2]


# --- Users: the lifecycle rules ----------------------------------------------------------------


def test_re_post_of_a_deactivated_user_reactivates_it_instead_of_409(scim):
    created = create(scim)
    scim.patch(f"Users/{created['id']}", patch_op({"op": "replace", "value": {"active": False}}))
    assert User.objects.get(scim_id=created["id"]).is_active is False

    status, body = scim.post("Users", okta_user(given="Jane", family="Doe-Again"))

    assert status in (200, 201), body
    assert body["id"] == created["id"]
    assert body["active"] is True
    assert body["name"]["familyName"] == "Doe-Again"
    assert User.objects.filter(email="jane.doe@acme.com").count() == 1
    assert User.objects.get(scim_id=created["id"]).is_active is True


def test_a_jit_user_is_adopted_by_a_create_with_the_same_email(scim, acme):
    jit_user = user_create(
        email="jane.doe@acme.com",
        company=acme.company,
        username="jane.doe@acme.com",
        source=UserSource.JIT,
        team=acme.teams["Sales"],
    )

    status, body = scim.post("Users", okta_user(division="Marketing"))

    assert status in (200, 201), body
    assert body["id"] == str(jit_user.scim_id)
    jit_user.refresh_from_db()
    assert jit_user.source == UserSource.SCIM
    assert jit_user.team == acme.teams["Marketing"]
    assert jit_user.external_id == OKTA_USER_ID
    assert User.objects.filter(email="jane.doe@acme.com").count() == 1
    assert AuditEvent.objects.filter(action="user.adopted", target="jane.doe@acme.com").exists()


def test_password_is_ignored(scim):
    created = create(scim)
    scim.patch(
        f"Users/{created['id']}",
        patch_op({"op": "replace", "path": "password", "value": "n3wPassw0rd!"}),
    )

    user = User.objects.get(scim_id=created["id"])
    assert not user.has_usable_password()
    assert not user.check_password("1mz050nq")
    assert not user.check_password("n3wPassw0rd!")
    assert "password" not in created


@pytest.mark.parametrize("value", ["superuser", "staff", "owner", "Admins", 3])
def test_an_unknown_user_type_is_a_400_invalid_value_and_creates_nobody(scim, value):
    status, body = scim.post("Users", okta_user(user_type=value))

    assert_scim_error(status, body, http_status=400, scim_type="invalidValue")
    assert not User.objects.filter(email="jane.doe@acme.com").exists()


@pytest.mark.parametrize(
    ("value", "role"),
    [
        ("sender", Role.SENDER),
        ("MANAGER", Role.MANAGER),
        ("Department_Admin", Role.DEPARTMENT_ADMIN),
        ("admin", Role.ADMIN),
    ],
)
def test_user_type_is_one_of_the_four_roles_in_any_case(scim, value, role):
    body = create(scim, user_type=value)

    assert body["userType"] == role.value
    assert User.objects.get(scim_id=body["id"]).role == role


def test_a_missing_user_type_makes_a_sender(scim):
    body = create(scim, user_type=None)

    assert body["userType"] == "sender"
    assert User.objects.get(scim_id=body["id"]).role == Role.SENDER


def test_an_unmatched_division_is_kept_with_no_team_and_a_warning(scim, acme):
    body = create(scim, division="Engineering")

    user = User.objects.get(scim_id=body["id"])
    assert user.team is None
    assert user.division == "Engineering"
    assert body[ENTERPRISE]["division"] == "Engineering"
    assert body["groups"] == []
    event = AuditEvent.objects.get(action="provisioning.team_unmatched")
    assert event.severity == Severity.WARNING
    assert event.target == "jane.doe@acme.com"
    assert event.connection == acme.connection
    assert event.details["asked_for"] == "Engineering"


def test_a_missing_division_means_no_team(scim):
    body = create(scim, division=None)

    assert User.objects.get(scim_id=body["id"]).team is None
    assert not AuditEvent.objects.filter(action="provisioning.team_unmatched").exists()


def test_no_attribute_makes_anyone_staff_or_superuser(scim):
    hostile = okta_user(user_type="admin")
    hostile |= {
        "is_staff": True,
        "is_superuser": True,
        "isStaff": True,
        "staff": True,
        "superuser": True,
        "roles": [{"value": "admin", "primary": True}, {"value": "superuser"}],
        "entitlements": [{"value": "is_staff"}],
        "groups": [{"value": "admin", "display": "Administrators"}],
    }

    status, body = scim.post("Users", hostile)
    assert status == 201, body
    user_id = body["id"]
    scim.put(f"Users/{user_id}", hostile)
    scim.patch(
        f"Users/{user_id}",
        patch_op(
            {"op": "replace", "value": {"is_staff": True, "is_superuser": True}},
            {"op": "add", "path": "roles", "value": [{"value": "superuser"}]},
        ),
    )
    scim.patch(f"Users/{user_id}", patch_op({"op": "replace", "path": "is_staff", "value": True}))

    user = User.objects.get(scim_id=user_id)
    assert user.role == Role.ADMIN  # the company role it asked for, and nothing more
    assert user.is_staff is False
    assert user.is_superuser is False
    assert not user.user_permissions.exists()
    assert not user.groups.exists()


def test_a_path_naming_a_staff_flag_is_refused(scim):
    created = create(scim)

    status, body = scim.patch(
        f"Users/{created['id']}", patch_op({"op": "replace", "path": "is_staff", "value": True})
    )

    assert_scim_error(status, body, http_status=400, scim_type="invalidPath")
    assert User.objects.get(scim_id=created["id"]).is_staff is False


def test_a_change_of_user_name_and_email_is_audited_as_an_identity_change(scim):
    created = create(scim)
    renamed = okta_user("jane.smith@acme.com", family="Smith")

    status, body = scim.put(f"Users/{created['id']}", renamed)

    assert status == 200, body
    user = User.objects.get(scim_id=created["id"])
    assert (user.email, user.username) == ("jane.smith@acme.com", "jane.smith@acme.com")
    event = AuditEvent.objects.get(action="user.identity_changed")
    assert event.target == "jane.smith@acme.com"
    assert event.details["changes"]["email"] == {
        "from": "jane.doe@acme.com",
        "to": "jane.smith@acme.com",
    }
    assert event.details["changes"]["username"]["to"] == "jane.smith@acme.com"


def test_a_change_of_name_only_is_not_an_identity_change(scim):
    created = create(scim)

    scim.patch(
        f"Users/{created['id']}",
        patch_op({"op": "replace", "path": "name.familyName", "value": "Smith"}),
    )

    assert User.objects.get(scim_id=created["id"]).last_name == "Smith"
    assert not AuditEvent.objects.filter(action="user.identity_changed").exists()
    assert AuditEvent.objects.filter(action="user.updated", target="jane.doe@acme.com").exists()


# --- Group Push --------------------------------------------------------------------------------


@pytest.fixture
def people(scim) -> list[dict]:
    return [
        create(scim, email=f"{name}@acme.com", external_id=f"00u{name}", division=None)
        for name in ("ann", "bob", "cy")
    ]


def _team_of(resource: dict) -> Team | None:
    return User.objects.select_related("team").get(scim_id=resource["id"]).team


def _push_group(scim: ScimClient, name: str, members: list[dict]) -> dict:
    status, body = scim.post(
        "Groups",
        {
            "schemas": [GROUP_SCHEMA],
            "displayName": name,
            "members": [{"value": m["id"], "display": m["userName"]} for m in members],
        },
    )
    assert status == 201, body
    return body


def test_group_push_creates_a_team_with_its_members(scim, acme, people):
    ann, bob, _cy = people

    body = _push_group(scim, "Engineering", [ann, bob])

    team = Team.objects.get(scim_id=body["id"])
    assert team.company == acme.company
    assert team.name == "Engineering"
    assert body["displayName"] == "Engineering"
    assert body["schemas"] == [GROUP_SCHEMA]
    assert sorted(m["value"] for m in body["members"]) == sorted([ann["id"], bob["id"]])
    assert scim.last["Location"] == f"https://sso.test/scim/v2/Groups/{body['id']}"
    assert _team_of(ann) == team
    assert _team_of(bob) == team


def test_group_lookup_by_display_name(scim, acme):
    status, body = scim.get(
        "Groups", {"filter": 'displayName eq "Sales"', "startIndex": 1, "count": 100}
    )

    assert status == 200
    assert body["totalResults"] == 1
    assert body["Resources"][0]["id"] == str(acme.teams["Sales"].scim_id)
    assert body["Resources"][0]["displayName"] == "Sales"


def test_group_rename_by_patch_without_path(scim, people):
    group = _push_group(scim, "Engineering", people[:1])

    status, body = scim.patch(
        f"Groups/{group['id']}",
        patch_op({"op": "replace", "value": {"id": group["id"], "displayName": "Platform"}}),
    )

    assert status in (200, 204), body
    team = Team.objects.get(scim_id=group["id"])
    assert team.name == "Platform"
    assert _team_of(people[0]) == team  # membership untouched
    assert AuditEvent.objects.filter(action="team.renamed", target="Platform").exists()


def test_group_add_members(scim, people):
    ann, bob, cy = people
    group = _push_group(scim, "Engineering", [ann])

    status, body = scim.patch(
        f"Groups/{group['id']}",
        patch_op(
            {
                "op": "add",
                "path": "members",
                "value": [
                    {"value": bob["id"], "display": bob["userName"]},
                    {"value": cy["id"], "display": cy["userName"]},
                ],
            }
        ),
    )

    assert status in (200, 204), body
    team = Team.objects.get(scim_id=group["id"])
    assert [_team_of(p) for p in people] == [team, team, team]


def test_group_remove_a_member_by_value_filter(scim, people):
    ann, bob, _cy = people
    group = _push_group(scim, "Engineering", [ann, bob])

    status, body = scim.patch(
        f"Groups/{group['id']}",
        patch_op({"op": "remove", "path": f'members[value eq "{ann["id"]}"]'}),
    )

    assert status in (200, 204), body
    assert _team_of(ann) is None
    assert _team_of(bob) == Team.objects.get(scim_id=group["id"])
    assert User.objects.get(scim_id=ann["id"]).is_active  # leaving a group is not leaving


def test_group_replace_all_members_by_patch(scim, people):
    ann, bob, cy = people
    group = _push_group(scim, "Engineering", [ann, bob])

    status, body = scim.patch(
        f"Groups/{group['id']}",
        patch_op({"op": "replace", "path": "members", "value": [{"value": cy["id"]}]}),
    )

    assert status in (200, 204), body
    team = Team.objects.get(scim_id=group["id"])
    assert [_team_of(p) for p in people] == [None, None, team]


def test_group_replace_all_members_by_put(scim, people):
    ann, bob, cy = people
    group = _push_group(scim, "Engineering", [ann, bob])

    status, body = scim.put(
        f"Groups/{group['id']}",
        {
            "schemas": [GROUP_SCHEMA],
            "id": group["id"],
            "displayName": "Engineering",
            "members": [{"value": bob["id"]}, {"value": cy["id"]}],
        },
    )

    assert status == 200, body
    assert sorted(m["value"] for m in body["members"]) == sorted([bob["id"], cy["id"]])
    team = Team.objects.get(scim_id=group["id"])
    assert [_team_of(p) for p in people] == [None, team, team]


def test_group_delete_removes_the_team_and_keeps_its_members(scim, people):
    group = _push_group(scim, "Engineering", people)

    status, body = scim.delete(f"Groups/{group['id']}")

    assert (status, body) == (204, None)
    assert not Team.objects.filter(scim_id=group["id"]).exists()
    for person in people:
        user = User.objects.get(scim_id=person["id"])
        assert user.team is None
        assert user.is_active
    status, body = scim.get(f"Groups/{group['id']}")
    assert_scim_error(status, body, http_status=404, scim_type=None)

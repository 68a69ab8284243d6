"""Another company's users and teams do not exist for a token, in every verb and every filter.

Each refusal has a control: the same request with globex's own token succeeds, so a 404 here
means "not yours", not "malformed".
"""

from __future__ import annotations

import pytest
from django.forms.models import model_to_dict

from accounts.models import Team, User
from audit.models import AuditEvent
from tests.provisioning.scim_helpers import (
    ENTERPRISE,
    GROUP_SCHEMA,
    USER_SCHEMA,
    assert_scim_error,
    patch_op,
)

pytestmark = pytest.mark.django_db

GLOBEX_EXTERNAL_ID = "00uGLOBEXokta0001"


@pytest.fixture
def globex_user(globex, globex_scim) -> User:
    """The fixture's globex member, taken over by globex's own SCIM (so it has a userName and
    an externalId to filter on)."""
    status, body = globex_scim.post(
        "Users",
        {
            "schemas": [USER_SCHEMA, ENTERPRISE],
            "userName": "member@globex.com",
            "externalId": GLOBEX_EXTERNAL_ID,
            "name": {"givenName": "Gloria", "familyName": "Bex"},
            "emails": [{"primary": True, "value": "member@globex.com", "type": "work"}],
            ENTERPRISE: {"division": "Sales"},
        },
    )
    assert status in (200, 201), body
    user = User.objects.get(email="member@globex.com")
    assert user.team == globex.teams["Sales"]
    return user


def _snapshot(user: User) -> dict:
    user = User.objects.get(pk=user.pk)
    return model_to_dict(user) | {"updated_at": user.updated_at}


def _team_snapshot(team: Team) -> tuple:
    team = Team.objects.get(pk=team.pk)
    return team.name, team.updated_at, sorted(team.members.values_list("pk", flat=True))


def _user_writes() -> list[tuple[str, dict | None]]:
    body = {
        "schemas": [USER_SCHEMA],
        "userName": "stolen@acme.com",
        "emails": [{"primary": True, "value": "stolen@acme.com", "type": "work"}],
        "active": False,
    }
    return [
        ("get", None),
        ("put", body),
        ("patch", patch_op({"op": "replace", "value": {"active": False}})),
        ("patch", patch_op({"op": "replace", "path": "userName", "value": "stolen@acme.com"})),
        ("delete", None),
    ]


def test_every_verb_on_another_companys_user_is_a_404_and_changes_nothing(
    acme_scim, globex_scim, globex_user
):
    path = f"Users/{globex_user.scim_id}"
    before = _snapshot(globex_user)
    events = AuditEvent.objects.count()

    for verb, body in _user_writes():
        call = getattr(acme_scim, verb)
        status, answer = call(path, body) if body is not None else call(path)
        assert_scim_error(status, answer, http_status=404, scim_type=None)
        assert "globex" not in acme_scim.last.content.decode().lower()

    assert _snapshot(globex_user) == before
    assert AuditEvent.objects.count() == events
    # Control: the id is real, for its own company.
    status, body = globex_scim.get(path)
    assert (status, body["active"]) == (200, True)


def test_every_verb_on_another_companys_group_is_a_404_and_changes_nothing(
    acme, globex, acme_scim, globex_scim, globex_user
):
    sales = globex.teams["Sales"]
    path = f"Groups/{sales.scim_id}"
    before = _team_snapshot(sales)
    events = AuditEvent.objects.count()
    acme_member = str(acme.member.scim_id)
    requests = [
        ("get", None),
        ("put", {"schemas": [GROUP_SCHEMA], "displayName": "Pwned", "members": []}),
        ("patch", patch_op({"op": "replace", "value": {"displayName": "Pwned"}})),
        ("patch", patch_op({"op": "remove", "path": "members"})),
        ("patch", patch_op({"op": "add", "path": "members", "value": [{"value": acme_member}]})),
        ("patch", patch_op({"op": "remove", "path": f'members[value eq "{globex_user.scim_id}"]'})),
        ("delete", None),
    ]

    for verb, body in requests:
        call = getattr(acme_scim, verb)
        status, answer = call(path, body) if body is not None else call(path)
        assert_scim_error(status, answer, http_status=404, scim_type=None)

    assert _team_snapshot(sales) == before
    assert User.objects.get(pk=acme.member.pk).team == acme.teams["Sales"]
    assert AuditEvent.objects.count() == events
    status, body = globex_scim.get(path)
    assert status == 200
    assert [m["value"] for m in body["members"]] == [str(globex_user.scim_id)]


@pytest.mark.parametrize(
    "text",
    [
        'userName eq "member@globex.com"',
        'userName eq "MEMBER@GLOBEX.COM"',
        'emails.value co "globex"',
        'emails co "globex"',
        'emails[type eq "work"].value eq "member@globex.com"',
        f'externalId eq "{GLOBEX_EXTERNAL_ID}"',
        'name.givenName eq "Gloria"',
        'id eq "{id}"',
        'id eq "{id}" or userName eq "member@globex.com"',
        'not (userName eq "nobody")',
        "userName pr",
    ],
)
def test_user_filters_never_return_another_companys_users(
    acme, acme_scim, globex_scim, globex_user, text
):
    text = text.replace("{id}", str(globex_user.scim_id))

    status, body = acme_scim.get("Users", {"filter": text})

    assert status == 200, body
    returned = {r["id"] for r in body["Resources"]}
    assert str(globex_user.scim_id) not in returned
    assert "globex" not in acme_scim.last.content.decode().lower()
    acme_ids = {
        str(i) for i in User.objects.filter(company=acme.company).values_list("scim_id", flat=True)
    }
    assert returned <= acme_ids
    assert body["totalResults"] == len(returned)
    # Control: globex's own token finds its user with the same filter.
    status, body = globex_scim.get("Users", {"filter": text})
    assert str(globex_user.scim_id) in {r["id"] for r in body["Resources"]}


@pytest.mark.parametrize(
    "text",
    [
        'id eq "{team}"',
        'displayName eq "Sales"',
        'members.value eq "{member}"',
        'members[value eq "{member}"]',
        "displayName pr",
    ],
)
def test_group_filters_never_return_another_companys_teams(
    acme, globex, acme_scim, globex_scim, globex_user, text
):
    text = text.replace("{team}", str(globex.teams["Sales"].scim_id)).replace(
        "{member}", str(globex_user.scim_id)
    )

    status, body = acme_scim.get("Groups", {"filter": text})

    assert status == 200, body
    returned = {r["id"] for r in body["Resources"]}
    assert not returned & {str(t.scim_id) for t in globex.teams.values()}
    assert returned <= {str(t.scim_id) for t in acme.teams.values()}
    for group in body["Resources"]:
        assert str(globex_user.scim_id) not in {m["value"] for m in group.get("members", [])}
    status, body = globex_scim.get("Groups", {"filter": text})
    assert str(globex.teams["Sales"].scim_id) in {r["id"] for r in body["Resources"]}


def test_listing_returns_only_the_companys_users_and_teams(acme, globex, acme_scim, globex_user):
    status, body = acme_scim.get("Users", {"count": 200})

    assert status == 200
    expected = {str(u.scim_id) for u in User.objects.filter(company=acme.company)}
    assert {r["id"] for r in body["Resources"]} == expected
    assert body["totalResults"] == len(expected) == 2
    assert "globex" not in acme_scim.last.content.decode().lower()

    status, body = acme_scim.get("Groups")
    assert {r["id"] for r in body["Resources"]} == {str(t.scim_id) for t in acme.teams.values()}
    assert body["totalResults"] == 2
    members = {m["value"] for r in body["Resources"] for m in r["members"]}
    assert members == {str(acme.member.scim_id)}


def test_another_companys_user_cannot_be_made_a_member_of_a_group(acme, acme_scim, globex_user):
    marketing = acme.teams["Marketing"]
    globex_id = str(globex_user.scim_id)
    acme_member = str(acme.member.scim_id)
    before_user = _snapshot(globex_user)
    before_team = _team_snapshot(marketing)
    attempts = [
        ("patch", patch_op({"op": "add", "path": "members", "value": [{"value": globex_id}]})),
        (
            "patch",
            patch_op(
                {
                    "op": "add",
                    "path": "members",
                    "value": [{"value": acme_member}, {"value": globex_id}],
                }
            ),
        ),
        ("patch", patch_op({"op": "replace", "path": "members", "value": [{"value": globex_id}]})),
        ("patch", patch_op({"op": "Add", "value": {"members": [{"value": globex_id}]}})),
        (
            "put",
            {
                "schemas": [GROUP_SCHEMA],
                "displayName": "Marketing",
                "members": [{"value": globex_id}],
            },
        ),
    ]

    for verb, body in attempts:
        status, answer = getattr(acme_scim, verb)(f"Groups/{marketing.scim_id}", body)
        assert_scim_error(status, answer, http_status=400, scim_type="invalidValue")
        assert "globex" not in acme_scim.last.content.decode().lower()

    status, answer = acme_scim.post(
        "Groups",
        {"schemas": [GROUP_SCHEMA], "displayName": "Poach", "members": [{"value": globex_id}]},
    )
    assert_scim_error(status, answer, http_status=400, scim_type="invalidValue")
    assert not Team.objects.filter(name="Poach").exists()

    assert _snapshot(globex_user) == before_user
    assert _team_snapshot(marketing) == before_team
    assert User.objects.get(pk=acme.member.pk).team == acme.teams["Sales"]  # all-or-nothing


def test_creating_a_user_with_another_companys_email_is_a_409_that_names_nobody(
    acme, acme_scim, globex_user
):
    before = _snapshot(globex_user)

    status, body = acme_scim.post(
        "Users",
        {
            "schemas": [USER_SCHEMA],
            "userName": "member@globex.com",
            "emails": [{"primary": True, "value": "member@globex.com", "type": "work"}],
        },
    )

    assert_scim_error(status, body, http_status=409, scim_type="uniqueness")
    assert "globex" not in acme_scim.last.content.decode().lower()
    assert _snapshot(globex_user) == before
    assert User.objects.filter(email="member@globex.com").count() == 1


def test_a_deactivated_user_of_another_company_is_not_taken_over_by_a_create(
    acme_scim, globex_scim, globex_user
):
    # Okta's "re-POST reactivates" must not work across companies.
    globex_scim.patch(
        f"Users/{globex_user.scim_id}", patch_op({"op": "replace", "value": {"active": False}})
    )
    before = _snapshot(globex_user)

    status, body = acme_scim.post(
        "Users", {"schemas": [USER_SCHEMA], "userName": "member@globex.com"}
    )

    assert_scim_error(status, body, http_status=409, scim_type="uniqueness")
    assert "globex" not in acme_scim.last.content.decode().lower()
    assert _snapshot(globex_user) == before


def test_changing_a_users_email_to_another_companys_is_a_409_that_names_nobody(
    acme, acme_scim, globex_user
):
    path = f"Users/{acme.member.scim_id}"
    before = _snapshot(acme.member)

    for verb, body in [
        (
            "patch",
            patch_op(
                {
                    "op": "replace",
                    "path": 'emails[type eq "work"].value',
                    "value": "member@globex.com",
                }
            ),
        ),
        (
            "put",
            {
                "schemas": [USER_SCHEMA],
                "userName": "member@acme.com",
                "emails": [{"primary": True, "value": "member@globex.com", "type": "work"}],
            },
        ),
    ]:
        status, answer = getattr(acme_scim, verb)(path, body)
        assert_scim_error(status, answer, http_status=409, scim_type="uniqueness")
        assert "globex" not in acme_scim.last.content.decode().lower()

    assert _snapshot(acme.member) == before


def test_a_user_name_used_in_another_company_is_free_in_this_one(acme_scim, globex_user):
    """userName is unique within a company (the email stays globally unique)."""
    status, body = acme_scim.post(
        "Users",
        {
            "schemas": [USER_SCHEMA],
            "userName": "member@globex.com",
            "emails": [{"primary": True, "value": "gloria@acme.com", "type": "work"}],
        },
    )

    assert status == 201, body
    user = User.objects.get(scim_id=body["id"])
    assert user.email == "gloria@acme.com"
    assert user.company.slug == "acme"
    assert User.objects.get(pk=globex_user.pk).company.slug == "globex"

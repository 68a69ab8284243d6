"""Index paging of the unfiltered user list (RFC 7644 3.4.2.4) without COUNT or OFFSET: the
count behind totalResults kept by database triggers (ScimUserTally), pages served by seeking
past a remembered key. Whatever writes the users, the count equals a COUNT of the rows, and a
page equals the slice of the list at that moment."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Company, User
from provisioning.models import ScimGroupMembers, ScimUserTally
from tests.factories import UserFactory, bulk_create_users
from tests.provisioning.scim_helpers import USER_SCHEMA, patch_op

pytestmark = pytest.mark.django_db


def shown(company: Company) -> int:
    return User.objects.filter(company=company, scim_deleted_at__isnull=True).count()


def tally(company: Company) -> tuple[int, int]:
    row = ScimUserTally.objects.filter(company_id=company.pk).first()
    return (row.users, row.generation) if row else (0, 0)


def assert_tallies_exact(*companies: Company) -> None:
    for company in companies:
        assert tally(company)[0] == shown(company), company


def test_every_writer_keeps_the_tally_exact(scim, acme, globex, stranger):
    assert_tallies_exact(acme.company, globex.company, stranger)
    users_before, generation = tally(acme.company)

    status, created = scim.post(
        "Users", {"schemas": [USER_SCHEMA], "userName": "new@acme.com"}
    )  # a service
    assert status == 201
    bulk_create_users(
        User(email=f"b{i}@acme.com", username=f"b{i}@acme.com", company=acme.company, password="!")
        for i in range(5)
    )  # bulk_create
    UserFactory(company=None, email="staff@example.com", is_staff=True)  # no company: not shown
    assert tally(acme.company)[0] == users_before + 6
    assert tally(acme.company)[1] > generation
    assert_tallies_exact(acme.company, globex.company, stranger)

    assert scim.delete(f"Users/{created['id']}")[0] == 204  # SCIM delete: hidden
    User.objects.filter(email="b0@acme.com").update(scim_deleted_at=timezone.now())  # raw
    User.objects.filter(email="b1@acme.com").delete()  # a hard delete
    User.objects.filter(email="b2@acme.com").update(company=globex.company)  # moved
    User.objects.filter(email="b0@acme.com").update(scim_deleted_at=None)  # shown again
    assert_tallies_exact(acme.company, globex.company, stranger)

    # Deactivating is not hiding: an inactive user is still listed (active=false).
    status, _ = scim.patch(
        f"Users/{acme.member.scim_id}",
        patch_op({"op": "replace", "path": "active", "value": False}),
    )
    assert status == 200
    assert_tallies_exact(acme.company, globex.company, stranger)
    # A change that adds or removes nobody leaves the generation alone.
    _, generation = tally(acme.company)
    User.objects.filter(email="b3@acme.com").update(first_name="Renamed")
    assert tally(acme.company)[1] == generation


def test_total_results_is_the_tally_without_counting(scim, acme):
    with CaptureQueriesContext(connection) as captured:
        status, body = scim.get("Users", {"count": 1})
    assert status == 200
    assert body["totalResults"] == shown(acme.company) == 2
    assert not [q for q in captured.captured_queries if "COUNT(" in q["sql"].upper()]


@pytest.fixture
def thirty(acme) -> list[str]:
    """acme's users, 30 in all (its admin and member first), as scim_ids in list order; all but
    the admin in a team."""
    bulk_create_users(
        User(
            email=f"p{i:02d}@acme.com",
            username=f"p{i:02d}@acme.com",
            company=acme.company,
            team=acme.teams["Sales" if i % 2 else "Marketing"],
        )
        for i in range(28)
    )
    cache.clear()
    return [
        str(k)
        for k in User.objects.filter(company=acme.company)
        .order_by("pk")
        .values_list("scim_id", flat=True)
    ]


def page(scim, start: int, count: int) -> tuple[int, list[str]]:
    status, body = scim.get("Users", {"startIndex": start, "count": count})
    assert status == 200, body
    assert body["startIndex"] == start
    assert body["itemsPerPage"] == len(body["Resources"])
    return body["totalResults"], [r["id"] for r in body["Resources"]]


def test_a_walk_pages_through_everyone_once(scim, acme, thirty):
    seen = []
    for start in range(1, 31, 7):
        total, ids = page(scim, start, 7)
        assert total == 30
        seen += ids
    assert seen == thirty
    # The same pages again (now seeks): the same answers.
    assert [page(scim, s, 7)[1] for s in range(1, 31, 7)] == [
        thirty[s - 1 : s + 6] for s in range(1, 31, 7)
    ]


def test_any_page_at_any_depth_is_the_slice_of_the_list(scim, acme, thirty):
    for start, count in [(17, 5), (29, 10), (30, 1), (2, 3), (17, 5), (31, 5), (1, 0)]:
        total, ids = page(scim, start, count)
        assert total == 30
        assert ids == thirty[start - 1 : start - 1 + count], (start, count)


def test_a_remembered_position_is_not_reused_once_users_come_or_go(scim, acme, thirty):
    assert page(scim, 11, 10)[1] == thirty[10:20]  # remembers where 21 starts
    assert page(scim, 21, 10)[1] == thirty[20:30]
    # Someone before position 21 goes; someone is added at the end.
    User.objects.filter(scim_id=thirty[3]).update(scim_deleted_at=timezone.now())
    UserFactory(company=acme.company, email="late@acme.com")
    now = [i for i in thirty if i != thirty[3]] + [
        str(User.objects.get(email="late@acme.com").scim_id)
    ]
    total, ids = page(scim, 21, 10)
    assert total == 30
    assert ids == now[20:30]  # exactly the slice now, not the seek from before
    assert page(scim, 11, 10)[1] == now[10:20]


def test_pages_never_show_another_company(scim, acme, globex, thirty):
    bulk_create_users(
        User(email=f"g{i:02d}@globex.com", username=f"g{i:02d}@globex.com", company=globex.company)
        for i in range(20)
    )
    seen = []
    for start in range(1, 40, 9):
        total, ids = page(scim, start, 9)
        assert total == 30
        seen += ids
    assert seen == thirty


def test_group_member_lists_have_a_version_that_moves_with_them(acme):
    sales = acme.teams["Sales"]
    versions = []

    def moved() -> bool:
        row = ScimGroupMembers.objects.filter(team_id=sales.pk).first()
        versions.append(row.version if row else 0)
        return len(versions) < 2 or versions[-1] > versions[-2]

    assert moved()
    joiner = UserFactory(company=acme.company, email="joiner@acme.com", team=sales)
    assert moved()
    # A member's own attributes are not the group's (members are value, $ref and type).
    User.objects.filter(pk=joiner.pk).update(email="joiner2@acme.com", first_name="Renamed")
    assert not moved()
    User.objects.filter(pk=joiner.pk).update(scim_deleted_at=timezone.now())  # hidden
    assert moved()
    User.objects.filter(pk=acme.member.pk).update(team=acme.teams["Marketing"])  # leaves
    assert moved()
    joiner.delete()
    assert moved()


def test_a_page_costs_the_same_queries_however_many_users_it_holds(scim, acme, thirty):
    def queries(start: int, count: int) -> int:
        with CaptureQueriesContext(connection) as captured:
            status, body = scim.get("Users", {"startIndex": start, "count": count})
        assert status == 200 and body["itemsPerPage"] == count
        return len(captured.captured_queries)

    scim.get("ServiceProviderConfig")  # the token's last use, written once a minute
    # Positions known: the start, and where the page before ended.
    assert queries(1, 2) == queries(1, 25) == queries(26, 2)
    assert queries(3, 25) == queries(28, 2)
    # Positions unknown.
    cache.clear()
    cold = queries(4, 2)
    cache.clear()
    assert queries(5, 25) == cold

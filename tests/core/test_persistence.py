"""``delete_returning``: the rows of a queryset, deleted and handed back in one statement, on
SQLite and on PostgreSQL alike."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from connections.models import VerifiedSignIn
from core.persistence import delete_returning
from tests.factories import verified_sign_in
from tests.sql_statements import statements

# Transactional (tests/sql_statements.py says why); serialized_rollback puts back what the migrations
# made, as the end-to-end tests after these expect (tests/e2e/steps.py).
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_the_rows_come_back_as_model_instances_and_are_gone(acme):
    kept = verified_sign_in(acme.connection, "b" * 64)
    taken = verified_sign_in(acme.connection, "a" * 64, next_path="/x")

    with statements() as ran:
        rows = delete_returning(
            VerifiedSignIn.objects.filter(
                token_hash="a" * 64, connection=acme.connection, expires_at__gt=timezone.now()
            )
        )

    assert ran.kinds() == ["DELETE connections_verifiedsignin"]
    assert [row.pk for row in rows] == [taken.pk]
    row = rows[0]
    # Every field converted back as a SELECT would: JSON, datetimes (aware), foreign keys.
    assert row.identity == taken.identity
    assert row.expires_at == taken.expires_at and row.expires_at.tzinfo is not None
    assert (row.connection_id, row.next_path, row.test_login) == (acme.connection.pk, "/x", False)
    assert list(VerifiedSignIn.objects.values_list("pk", flat=True)) == [kept.pk]


def test_a_row_is_handed_out_once(acme):
    verified_sign_in(acme.connection, "a" * 64)
    query = VerifiedSignIn.objects.filter(token_hash="a" * 64)

    assert len(delete_returning(query)) == 1
    assert delete_returning(query) == []


def test_expired_rows_do_not_match(acme):
    verified_sign_in(acme.connection, "a" * 64, expires_at=timezone.now() - timedelta(seconds=1))

    assert delete_returning(VerifiedSignIn.objects.filter(expires_at__gt=timezone.now())) == []
    assert VerifiedSignIn.objects.count() == 1


def test_a_filter_nothing_can_match_runs_no_statement(acme):
    verified_sign_in(acme.connection, "a" * 64)

    with statements() as ran:
        assert delete_returning(VerifiedSignIn.objects.filter(pk__in=[])) == []
    assert len(ran) == 0


def test_filters_across_a_join_and_no_filter_at_all_are_refused(acme):
    verified_sign_in(acme.connection, "a" * 64)

    with pytest.raises(ValueError, match="own table"):
        delete_returning(VerifiedSignIn.objects.filter(connection__name="acme"))
    with pytest.raises(ValueError, match="every row"):
        delete_returning(VerifiedSignIn.objects.all())
    assert VerifiedSignIn.objects.count() == 1

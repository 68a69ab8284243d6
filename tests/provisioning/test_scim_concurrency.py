"""Two creates of the same userName at once end in one user and one 409 ``uniqueness``.

Only PostgreSQL can show this: SQLite serialises writers for the whole database, so there is no
race to lose. The CI runs the suite a second time with DATABASE_URL pointing at PostgreSQL.

Each request runs in its own thread, so on its own database connection and transaction. A barrier
lets both threads start together, and a second barrier, reached from a database execute wrapper
right before each thread's ``INSERT INTO accounts_user``, holds the first insert until the other
request has done all its "does this user exist?" reads too. Both requests therefore pass every
check in Python, and only the database's unique constraint can settle the race.
"""

from __future__ import annotations

import contextlib
import json
import threading

import pytest
from django.db import connection
from django.test import Client

from accounts.models import User
from provisioning.tokens import scim_token_issue
from tests.provisioning.scim_helpers import ERROR_SCHEMA, MEDIA_TYPE, USER_SCHEMA

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.postgres("SQLite serialises writers: two creates can never race on it"),
]


def _body(user_name: str, email: str) -> str:
    return json.dumps(
        {
            "schemas": [USER_SCHEMA],
            "userName": user_name,
            "name": {"givenName": "Jane", "familyName": "Doe"},
            "emails": [{"primary": True, "value": email, "type": "work"}],
            "active": True,
        }
    )


def _race(raw_token: str, bodies: list[str]) -> tuple[list, list[bool]]:
    start = threading.Barrier(len(bodies), timeout=10)
    before_insert = threading.Barrier(len(bodies), timeout=10)
    results: list = [None] * len(bodies)
    reached_insert = [False] * len(bodies)

    def run(index: int, body: str) -> None:
        def hold_the_insert(execute, sql, params, many, context):
            if sql.lstrip().upper().startswith('INSERT INTO "ACCOUNTS_USER"'):
                reached_insert[index] = True
                # If the other request never gets this far, the assertion on reached_insert
                # says so.
                with contextlib.suppress(threading.BrokenBarrierError):
                    before_insert.wait()
            return execute(sql, params, many, context)

        try:
            client = Client()
            start.wait()
            with connection.execute_wrapper(hold_the_insert):
                response = client.post(
                    "/scim/v2/Users",
                    data=body,
                    content_type=MEDIA_TYPE,
                    headers={"Authorization": f"Bearer {raw_token}"},
                )
            results[index] = (response.status_code, json.loads(response.content or b"null"))
        except BaseException as error:  # surfaced in the main thread
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, body)) for i, body in enumerate(bodies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a request hung"
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results, reached_insert


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("jane.doe@acme.com", "jane.doe@acme.com"), ("jane.doe@acme.com", "jane.doe@acme.com")),
        # Different emails: only the (company, LOWER(userName)) constraint can refuse the second.
        (("jane.doe@acme.com", "jane.doe@acme.com"), ("JANE.DOE@acme.com", "jdoe@acme.com")),
    ],
    ids=["same-user", "same-username-other-case-other-email"],
)
def test_two_simultaneous_creates_make_one_user_and_one_409(acme, first, second):
    _token, raw = scim_token_issue(connection=acme.connection)

    results, reached_insert = _race(raw, [_body(*first), _body(*second)])

    statuses = sorted(status for status, _ in results)
    assert statuses == [201, 409], results
    [(_, conflict)] = [r for r in results if r[0] == 409]
    assert conflict["schemas"] == [ERROR_SCHEMA]
    assert conflict["scimType"] == "uniqueness"
    assert reached_insert == [True, True], "the two requests did not race at the INSERT"
    users = User.objects.filter(company=acme.company, username__iexact="jane.doe@acme.com")
    assert users.count() == 1
    [(_, created)] = [r for r in results if r[0] == 201]
    assert str(users.get().scim_id) == created["id"]
    assert User.objects.filter(email__in=["jane.doe@acme.com", "jdoe@acme.com"]).count() == 1

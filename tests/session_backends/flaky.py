"""A database session store whose ``delete`` fails while armed: an outage of the session store
as the deprovisioning task meets it. Armed and disarmed by the tests that use it, in-process."""

from __future__ import annotations

from django.db import OperationalError

from accounts.sessions import SessionStore as DatabaseSessionStore

#: How many of the next deletes fail. Reset by the test fixture that arms it.
failures_left = 0
#: How many deletes failed since the last reset.
failures = 0


def arm(times: int) -> None:
    global failures_left, failures
    failures_left = times
    failures = 0


class SessionStore(DatabaseSessionStore):
    def delete(self, session_key: str | None = None) -> None:
        global failures_left, failures
        if failures_left > 0:
            failures_left -= 1
            failures += 1
            raise OperationalError(
                "the session store is unavailable (tests.session_backends.flaky)"
            )
        super().delete(session_key)

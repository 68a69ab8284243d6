"""A database session store whose first ``delete`` (across processes) blocks the process that
makes it, after announcing it: the file ``held`` in ``$DEPROVISIONING_TEST_HOLD_DIR`` appears,
holding that process's pid. Every later ``delete`` (the file exists) goes through at once.

The worker test waits for the file, kills the process it names (a Celery pool process, or the
whole worker) while the task is in the middle of ending sessions, and shows the task is not lost.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from accounts.sessions import SessionStore as DatabaseSessionStore

HOLD_DIR_VARIABLE = "DEPROVISIONING_TEST_HOLD_DIR"
# Long enough for any test to kill us; bounded so that a broken test cannot wedge a worker.
HOLD_SECONDS = 90


def _announce_first(directory: Path) -> bool:
    """Atomically claim the hold: True for the first process only, which then names itself."""
    scratch = directory / f"claim-{os.getpid()}-{time.monotonic_ns()}"
    scratch.write_text(str(os.getpid()))
    try:
        os.link(scratch, directory / "held")  # fails if it exists: exactly one process wins
    except FileExistsError:
        return False
    finally:
        scratch.unlink()
    return True


class SessionStore(DatabaseSessionStore):
    def delete(self, session_key: str | None = None) -> None:
        directory = os.environ.get(HOLD_DIR_VARIABLE)
        if directory and _announce_first(Path(directory)):
            deadline = time.monotonic() + HOLD_SECONDS
            while time.monotonic() < deadline:
                time.sleep(0.05)
            raise RuntimeError("held session delete: the test never killed this process")
        super().delete(session_key)

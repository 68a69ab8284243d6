"""Settings of the Celery worker that the worker tests start as a subprocess
(``tests/provisioning/test_deprovisioning_worker.py``); the test run itself never uses them.

The test settings plus what a real worker needs, and two hooks the tests drive through the
worker's environment (a settings module is the only way to set ``SESSION_ENGINE``):

- ``DEPROVISIONING_TEST_HOLD_DIR``: sessions go through ``tests.session_backends.held``, whose
  first delete blocks, so a test can kill the worker in the middle of the task;
- ``DEPROVISIONING_TEST_VISIBILITY_TIMEOUT`` (seconds): how long the Redis transport waits before
  it gives an unacknowledged message to another worker.
"""

from __future__ import annotations

import os

from config.test_settings import *  # noqa: F403

# config.test_settings runs tasks in-process for the test run; a worker queues its retries on
# the broker like production does.
CELERY_TASK_ALWAYS_EAGER = False

if os.environ.get("DEPROVISIONING_TEST_HOLD_DIR"):
    SESSION_ENGINE = "tests.session_backends.held"

_visibility_timeout = os.environ.get("DEPROVISIONING_TEST_VISIBILITY_TIMEOUT")
if _visibility_timeout:
    # With Redis, a message a worker took but never acknowledged (acks_late: the worker died
    # mid-task) goes back to the queue only after the transport's visibility_timeout, one hour
    # by default; in production the deprovisioning sweep re-queues the job after five minutes
    # anyway. The test that kills a whole worker shortens the wait so that the next worker
    # restores the message within seconds, and scans for such messages every second.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": int(_visibility_timeout),
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
    }

"""Session engines for tests only (``SESSION_ENGINE`` names a module, so each is a module).

Both store sessions exactly like ``accounts.sessions`` (the engine we ship) and differ only in
``delete``, the one call deprovisioning makes on a session store:

- ``flaky``: fails with ``OperationalError`` while armed, in the test process (eager tasks);
- ``held``: blocks the first worker process that reaches it, so a test can kill that worker in
  the middle of the task (``tests/provisioning/test_deprovisioning_worker.py``).
"""

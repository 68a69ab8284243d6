"""Where the processes of one host keep their Prometheus samples (prometheus-client's
multiprocess mode), so that ``/metrics`` counts what every web and worker process did.

``PROMETHEUS_MULTIPROC_DIR`` names a directory the web and worker processes of a host share.
Each process group (a gunicorn master with its workers, a Celery worker with its pool) writes
in a subdirectory of its own, wiped when the group starts: a restarted group starts its counters
from zero, as any restarted exporter does, without pulling files from under the live processes
of another group (which wiping the shared directory would). A worker that dies leaves its
counters in place (they stay part of the totals); ``process_dead`` drops what only a live
process may report. ``/metrics`` merges the files of every group (``sample_files``).

This module must not import prometheus_client: importing it fixes, once per process, whether
samples go to files, and ``process_group_start`` has to set the directory first.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# The shared directory itself, once PROMETHEUS_MULTIPROC_DIR names the group's subdirectory.
ROOT_VARIABLE = "SSO_METRICS_ROOT"
DEFAULT_ROOT = Path(tempfile.gettempdir()) / "sso-metrics"


def process_group_start(group: str) -> Path:
    """Give this process (and the processes it forks) a fresh subdirectory named ``group``."""
    root = Path(os.environ.get(ROOT_VARIABLE) or os.environ.get(MULTIPROC_VARIABLE) or DEFAULT_ROOT)
    directory = root / re.sub(r"[^A-Za-z0-9_.@-]", "_", group)
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    os.environ[ROOT_VARIABLE] = str(root)
    os.environ[MULTIPROC_VARIABLE] = str(directory)
    # Imported now that the directory is set, and not first in ``process_dead``: a gunicorn
    # master calls that from its SIGCHLD handler, and a second worker exiting during the first
    # import would run it again inside that import ("partially initialized module").
    from prometheus_client import multiprocess  # noqa: F401

    return directory


def process_dead(pid: int) -> None:
    directory = os.environ.get(MULTIPROC_VARIABLE)
    if directory:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, directory)


def sample_files() -> list[str] | None:
    """Every sample file of this host's groups; None when samples are kept in the process."""
    root = os.environ.get(ROOT_VARIABLE)
    if root:
        return sorted(str(path) for path in Path(root).glob("*/*.db"))
    directory = os.environ.get(MULTIPROC_VARIABLE)
    if directory:
        return sorted(str(path) for path in Path(directory).glob("*.db"))
    return None

"""Processes a test starts the way an operator would: the Procfile's lines, a Celery worker, a
private Redis; each in its own process group (to stop or kill it whole), its output in a file,
and stopped at the end of the test.

A subprocess cannot see an in-memory SQLite database: the tests that start the service against
pytest-django's test database need a database server (``database_url``: PostgreSQL in the CI's
second pass).
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from cryptography.fernet import Fernet
from django.conf import settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Bounds for waiting on another process; generous, since they only matter when something is wrong.
STARTUP_SECONDS = 60


def wait_for(condition: Callable[[], object], seconds: float, message: Callable[[], str]):
    """Poll ``condition`` until it is truthy (returned) or ``seconds`` pass (the test fails)."""
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(message())
        time.sleep(0.05)


def database_url() -> str:
    """pytest-django's test database (its NAME is the test database's by now), as a URL."""
    db = settings.DATABASES["default"]
    credentials = quote(db.get("USER") or "", safe="")
    if db.get("PASSWORD"):
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = db.get("HOST") or "127.0.0.1"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    at = f"{credentials}@" if credentials else ""
    return f"postgres://{at}{host}{port}/{quote(db['NAME'], safe='')}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def service_env(*, secret_key: str, base_url: str, **overrides: str) -> dict[str, str]:
    """The environment of a process started from the Procfile: the production settings
    (``config.settings``: pytest's settings module is not passed on), nothing inherited that
    belongs to another process group or names another database, and this interpreter's
    ``python``, ``gunicorn`` and ``celery`` first on the PATH, as in an activated virtualenv."""
    inherited = {
        "DJANGO_SETTINGS_MODULE",
        "PROMETHEUS_MULTIPROC_DIR",
        "SSO_METRICS_ROOT",
        "REDIS_URL",
        "DATABASE_URL",
    }
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in inherited and not key.startswith("RATE_LIMIT_")
    }
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY=secret_key,
        BASE_URL=base_url,
        DJANGO_ALLOWED_HOSTS=urlsplit(base_url).hostname,
        LOG_LEVEL="INFO",
    )
    # Inherited from the test run when set there (the same SP keys readable on both sides).
    env.setdefault("SAML_KEY_ENCRYPTION_KEY", Fernet.generate_key().decode())
    env.update(overrides)
    return env


def procfile_command(process_type: str) -> str:
    """The command of one line of the Procfile (``web: gunicorn ...``), as operators run it."""
    for line in (PROJECT_ROOT / "Procfile").read_text().splitlines():
        name, separator, command = line.partition(":")
        if separator and name.strip() == process_type:
            return command.strip()
    raise AssertionError(f"the Procfile has no {process_type!r} line")


class Process:
    """A command in its own process group, its output (stdout and stderr) in ``log``. A string
    command runs through ``sh -c``, as Procfile runners (honcho, foreman) run each line."""

    def __init__(self, command: str | list[str], *, log: Path, env: dict[str, str]) -> None:
        self.argv = ["sh", "-c", command] if isinstance(command, str) else command
        self.log, self.env = log, env
        self.process: subprocess.Popen | None = None

    def start(self, ready: Callable[[Process], object], seconds: float = STARTUP_SECONDS):
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own commands
                self.argv,
                cwd=PROJECT_ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, to signal it whole
            )
        wait_for(
            lambda: self.process.poll() is not None or ready(self),
            seconds,
            lambda: f"{shlex.join(self.argv)} did not start:\n{self.text()}",
        )
        assert self.process.poll() is None, f"{shlex.join(self.argv)} exited:\n{self.text()}"
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def signal(self, signum: int) -> None:
        os.killpg(self.pid, signum)

    def kill(self) -> None:
        """SIGKILL to the whole process group, like a crash."""
        self.signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self, seconds: float = 30) -> None:
        if not self.running:
            return
        self.signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            self.kill()

    def group_pids(self) -> list[int]:
        """Every live process of the group (a gunicorn master and its workers, say)."""
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            # After "(comm)": state, ppid, pgrp, ...
            if int(fields[2]) == self.pid and fields[0] != "Z":
                pids.append(int(stat.parent.name))
        return sorted(pids)


def socket_owner(process: Process, *, local_port: int, remote_port: int) -> int | None:
    """Which process of the group holds the TCP connection ``local_port`` <-> ``remote_port``
    (read from /proc: the socket's inode, then whose file descriptors point at it)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            local, remote, inode = fields[1], fields[2], fields[9]
            if (
                int(local.rsplit(":", 1)[1], 16) == local_port
                and int(remote.rsplit(":", 1)[1], 16) == remote_port
            ):
                inodes.add(f"socket:[{inode}]")
    for pid in process.group_pids():
        try:
            descriptors = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for descriptor in descriptors:
            try:
                if os.readlink(descriptor) in inodes:
                    return pid
            except OSError:
                continue
    return None


def redis_server_command(port: int, directory: Path) -> list[str]:
    return [
        "redis-server",
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--save", "",
        "--appendonly", "no",
        "--dir", str(directory),
    ]  # fmt: skip


def log_entries(text: str, *, strict: bool = True) -> list[dict]:
    """The JSON objects of a process's log, one a line; with ``strict`` any other line fails the
    test (a Celery worker also prints its own notices, such as the warm-shutdown line, outside
    logging: ``strict=False`` reads only its JSON lines)."""
    entries = []
    for line in text.splitlines():
        if not line.strip() or (not strict and not line.startswith("{")):
            continue
        try:
            entries.append(json.loads(line))
        except ValueError:
            pytest.fail(f"a log line that is not JSON: {line[:300]!r}")
    return entries

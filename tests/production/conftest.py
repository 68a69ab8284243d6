"""The service run as production runs it: the Procfile's lines started as an operator starts
them, on the production settings (``config.settings``, no DJANGO_DEBUG), behind a stand-in for
the TLS proxy (requests carry ``X-Forwarded-Proto: https`` and ``X-Forwarded-For``), driven over
HTTP from outside.

- ``released``: the ``release`` line, run once: a fresh SQLite database migrated, the static
  files collected; what the web line serves.
- ``start_web``: the ``web`` line (gunicorn, ``WEB_CONCURRENCY=2``) on a free port, stopped at
  the end of the test; ``Web`` is how a test talks to it and reads its JSON log.
- ``start_redis``: a private ``redis-server`` on a free port, for tests that stop Redis.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import requests
from django.conf import settings

from tests.http_browser import HOST, REQUEST_SECONDS, send
from tests.processes import (
    PROJECT_ROOT,
    Process,
    free_port,
    log_entries,
    procfile_command,
    redis_server_command,
    service_env,
    socket_owner,
    wait_for,
)

METRICS_TOKEN = secrets.token_urlsafe(24)


def production_env(**overrides: str) -> dict[str, str]:
    """A production process's environment with the test run's key and origin (sessions and
    signed responses made by the tests are valid for it)."""
    return service_env(secret_key=settings.SECRET_KEY, base_url=settings.BASE_URL, **overrides)


@dataclass(frozen=True)
class Release:
    database_url: str
    static_root: Path
    output: str


@pytest.fixture(scope="session")
def released(tmp_path_factory) -> Release:
    root = tmp_path_factory.mktemp("release")
    database = f"sqlite:///{root / 'db.sqlite3'}"
    static_root = root / "static"
    result = subprocess.run(  # noqa: S603 - the Procfile's own line
        ["sh", "-c", procfile_command("release")],
        cwd=PROJECT_ROOT,
        env=production_env(DATABASE_URL=database, DJANGO_STATIC_ROOT=str(static_root)),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    return Release(database_url=database, static_root=static_root, output=output)


@dataclass
class Web:
    process: Process
    port: int

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        return send(self.port, method, path, **kwargs)

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def metrics(self) -> str:
        response = self.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert response.status_code == 200, response.text[:300]
        return response.text

    def log(self) -> list[dict]:
        return log_entries(self.process.text())

    def served_by(self, request_id: str) -> int:
        """The pid of the worker that answered the request with this X-Request-ID."""
        lines = [
            entry
            for entry in self.log()
            if entry.get("logger") == "sso.request" and entry.get("request_id") == request_id
        ]
        assert len(lines) == 1, (request_id, lines)
        return lines[0]["pid"]

    def workers(self) -> list[int]:
        return [pid for pid in self.process.group_pids() if pid != self.process.pid]

    @contextlib.contextmanager
    def holding_a_worker(self) -> Iterator[int]:
        """Occupy one worker until the block ends; yields its pid. With two sync workers,
        whatever is sent meanwhile is answered by the other one."""
        hold = Hold(self)
        try:
            yield hold.pid
        finally:
            hold.release()

    def on_another_worker_than(self, busy: int, send: Callable[[], requests.Response]):
        """``send()`` while worker ``busy`` is occupied, so that the other worker answers."""
        first = Hold(self)
        try:
            if first.pid == busy:
                return send()
            second = Hold(self)  # ``busy`` is the only idle worker now
            try:
                assert second.pid == busy, (second.pid, busy, self.workers())
                first.release()
                return send()
            finally:
                second.release()
        finally:
            first.release()


class Hold:
    """A request whose headers never end: the sync worker that accepted it is busy reading
    them until ``release`` sends the rest (and reads the answer)."""

    def __init__(self, web: Web) -> None:
        self.connection = socket.create_connection(("127.0.0.1", web.port), timeout=REQUEST_SECONDS)
        self.connection.sendall(f"GET /healthz HTTP/1.1\r\nHost: {HOST}\r\n".encode())
        remote_port = self.connection.getsockname()[1]
        self.pid = wait_for(
            lambda: socket_owner(web.process, local_port=web.port, remote_port=remote_port),
            REQUEST_SECONDS,
            lambda: "no worker took the held connection",
        )
        self.released = False

    def release(self) -> None:
        if self.released:
            return
        self.released = True
        try:
            self.connection.sendall(b"Connection: close\r\n\r\n")
            status_line = self.connection.recv(4096).split(b"\r\n", 1)[0]
            assert b" 200 " in status_line, status_line
        finally:
            self.connection.close()


def _booted(port: int, workers: int) -> Callable[[Process], bool]:
    def ready(process: Process) -> bool:
        if process.text().count("Booting worker with pid") < workers:
            return False
        try:
            return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    return ready


@pytest.fixture
def start_web(tmp_path, released) -> Iterator[Callable[..., Web]]:
    started: list[Process] = []

    def start(**env: str) -> Web:
        port = free_port()
        env = production_env(
            **{
                "PORT": str(port),
                "WEB_CONCURRENCY": "2",
                "DATABASE_URL": released.database_url,
                "DJANGO_STATIC_ROOT": str(released.static_root),
                "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
                "METRICS_TOKEN": METRICS_TOKEN,
                **env,
            }
        )
        process = Process(
            procfile_command("web"), log=tmp_path / f"web-{len(started) + 1}.log", env=env
        )
        started.append(process)
        return Web(process.start(_booted(port, int(env["WEB_CONCURRENCY"]))), port)

    yield start
    for process in started:
        process.stop()


@dataclass
class RedisServer:
    process: Process
    port: int
    directory: Path

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def answers(self) -> bool:
        client = redis.Redis(port=self.port, socket_timeout=1, socket_connect_timeout=1)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def stop(self) -> None:
        self.process.stop()

    def start(self) -> RedisServer:
        self.process = Process(
            redis_server_command(self.port, self.directory),
            log=self.process.log,
            env=dict(os.environ),
        ).start(lambda _process: self.answers())
        return self


@pytest.fixture
def start_redis(tmp_path) -> Iterator[Callable[[], RedisServer]]:
    servers: list[RedisServer] = []

    def start() -> RedisServer:
        port = free_port()
        directory = tmp_path / f"redis-{port}"
        directory.mkdir()
        command = redis_server_command(port, directory)
        process = Process(command, log=directory / "redis.log", env=dict(os.environ))
        server = RedisServer(process, port, directory)
        servers.append(server)
        server.process.start(lambda _process: server.answers())
        return server

    yield start
    for server in servers:
        server.stop()

"""The Procfile's lines as operators run them (issue 12), against a SQLite database the release
line made: release, the web line's https redirect, headers, static files, health checks and
graceful stop, ``check --deploy``. Runs in both CI passes; what needs PostgreSQL and Redis
shared by several processes is test_multiprocess_promises.py."""

from __future__ import annotations

import gc
import os
import signal
import socket
import subprocess
from pathlib import Path

import pytest
from lxml import html

from tests.http_browser import HOST
from tests.processes import (
    PROJECT_ROOT,
    Process,
    free_port,
    log_entries,
    procfile_command,
    wait_for,
)
from tests.production.conftest import METRICS_TOKEN, Hold, production_env

PROCESS_TYPES = ["release", "web", "worker", "beat"]


def test_the_procfile_has_the_four_process_types():
    lines = [line for line in (PROJECT_ROOT / "Procfile").read_text().splitlines() if line]

    assert [line.split(":", 1)[0] for line in lines] == PROCESS_TYPES
    assert procfile_command("web") == "gunicorn --config config/gunicorn.py config.wsgi"
    assert "celery --app config --quiet worker" in procfile_command("worker")
    assert "celery --app config --quiet beat" in procfile_command("beat")


def test_the_release_line_migrates_and_collects_hashed_compressed_static_files(released):
    manifest = released.static_root / "staticfiles.json"
    assert manifest.exists()
    hashed = [p for p in (released.static_root / "sso").iterdir() if p.name.startswith("base.")]
    names = sorted(p.name for p in hashed)
    assert any(name.endswith(".css") and name.count(".") == 2 for name in names), names
    assert any(name.endswith(".css.gz") for name in names), names
    assert "Applying provisioning.0005_authorization_code_use... OK" in released.output


def test_manage_py_check_deploy_is_clean_with_nothing_silenced(released):
    result = subprocess.run(  # noqa: S603
        ["python", "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=PROJECT_ROOT,
        env=production_env(DATABASE_URL=released.database_url),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "System check identified no issues (0 silenced)."


def test_the_web_line_refuses_to_start_without_collected_static_files(tmp_path, released):
    port = free_port()
    env = production_env(
        PORT=str(port),
        DATABASE_URL=released.database_url,
        DJANGO_STATIC_ROOT=str(tmp_path / "never-collected"),
    )

    result = subprocess.run(  # noqa: S603
        ["sh", "-c", procfile_command("web")],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode != 0
    assert "run `python manage.py collectstatic --noinput`" in result.stdout + result.stderr


# --- the web line, behind the proxy ---------------------------------------------------------


@pytest.fixture
def web(start_web):
    return start_web()


def test_plain_http_is_redirected_to_https_except_the_health_checks(web):
    plain = web.get("/sso/?next=/x", proxied=False)
    proxied = web.get("/sso/")

    assert plain.status_code == 301
    assert plain.headers["Location"] == f"https://{HOST}/sso/?next=/x"
    assert proxied.status_code == 200
    for path in ("/healthz", "/readyz"):
        # By address, over plain http, as a load balancer probes a process.
        probe = web.get(path, proxied=False, headers={"Host": "10.0.0.7:8000"})
        assert probe.status_code == 200, (path, probe.text)


def test_pages_carry_the_security_headers_and_a_request_id(web):
    response = web.get("/sso/", headers={"X-Request-ID": "probe-1"})

    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in response.headers["Content-Security-Policy"]
    assert response.headers["X-Request-ID"] == "probe-1"
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_the_admin_and_our_pages_load_their_hashed_static_files_from_the_web_process(web):
    for path in ("/admin/login/", "/sso/"):
        page = web.get(path)
        assert page.status_code == 200, path
        tree = html.fromstring(page.content)
        urls = [s.get("src") for s in tree.iter("script") if s.get("src")]
        urls += [link.get("href") for link in tree.iter("link") if link.get("rel") == "stylesheet"]
        static = [url for url in urls if url.startswith("/static/")]
        assert static, path
        for url in static:
            # Content-hashed names, cached for good, compressed when the browser accepts it.
            assert len(Path(url).suffixes) >= 2, url
            asset = web.get(url, headers={"Accept-Encoding": "gzip"})
            assert asset.status_code == 200, url
            assert "immutable" in asset.headers["Cache-Control"], url
            assert asset.headers.get("Content-Encoding") == "gzip", url
            kind = "text/css" if url.endswith(".css") else "text/javascript"
            assert asset.headers["Content-Type"].startswith(kind), url


def test_every_line_the_web_process_writes_is_a_json_object(web):
    web.get("/sso/")
    web.get("/no-such-page/")

    entries = log_entries(web.process.text())

    loggers = {entry["logger"] for entry in entries}
    assert {"gunicorn.error", "sso.request"} <= loggers
    requests = [entry for entry in entries if entry["logger"] == "sso.request"]
    assert [(r["path"], r["status"]) for r in requests][-2:] == [
        ("/sso/", 200),
        ("/no-such-page/", 404),
    ]


class _Untouchable:
    """A logger that fails on any use: what ``access()`` would do with itself shows."""

    def __getattr__(self, name: str):
        raise AssertionError(f"access() used self.{name}")


def test_gunicorn_builds_no_access_line_of_its_own():
    """The request lines come from Django (the test above). Stock gunicorn, seeing a logging
    config, builds a line for every request (then dropped by the level); ours does no work."""
    from gunicorn.glogging import Logger

    import config.gunicorn as gunicorn_settings

    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/sso/"}
    with pytest.raises(AssertionError, match="used self"):
        Logger.access(_Untouchable(), None, None, environ, None)  # the stand-in catches work

    assert gunicorn_settings.logger_class.access(_Untouchable(), None, None, environ, None) is None


def test_a_worker_freezes_what_it_loaded_before_its_first_request():
    """gunicorn's worker, once warmed up, moves what it loaded out of the garbage collector's
    reach (gc.freeze): a full collection then walks only what requests made since."""
    import config.gunicorn as gunicorn_settings

    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    try:
        gunicorn_settings.post_worker_init(worker=None)
        frozen = gc.get_freeze_count()
    finally:
        gc.unfreeze()  # this test process is not a worker

    assert frozen > 10_000  # Django, pysaml2, lxml's schema objects: the process's whole heap


def test_metrics_is_a_404_without_the_token_variable(start_web):
    web = start_web(METRICS_TOKEN="")

    response = web.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})

    assert response.status_code == 404


def test_readyz_is_503_naming_the_database_when_it_does_not_answer(start_web):
    web = start_web(DATABASE_URL=f"postgres://postgres@127.0.0.1:{free_port()}/nothing")

    ready = web.get("/readyz", proxied=False)
    alive = web.get("/healthz", proxied=False)

    assert ready.status_code == 503
    assert ready.json()["down"] == ["database"]
    assert ready.json()["checks"]["database"].startswith("down: ")
    assert alive.status_code == 200


def test_sigterm_lets_requests_in_flight_finish_then_stops_within_30_seconds(web):
    hold = Hold(web)  # a request the worker has started reading

    web.process.signal(signal.SIGTERM)  # what a platform (or honcho) sends to the process group
    wait_for(
        lambda: "Handling signal: term" in web.process.text(),
        10,
        lambda: web.process.text()[-2000:],
    )
    hold.release()  # answered 200 (asserted by release) although the stop has begun

    wait_for(lambda: not web.process.group_pids(), 30, lambda: web.process.text()[-2000:])
    log = web.process.text()
    assert "Shutting down: Master" in log
    assert "Worker exiting" in log
    assert "Booting worker" in log and "Worker timeout" not in log and "SIGKILL" not in log


def test_a_gunicorn_master_started_again_starts_its_metrics_afresh(tmp_path, released):
    """The metrics directory of a web process group is wiped when the group starts, and only
    that group's (another group on the host keeps its files)."""
    base = tmp_path / "metrics"
    other_group = base / "worker-celery@elsewhere"
    other_group.mkdir(parents=True)
    (other_group / "counter_1.db").write_bytes(b"")
    port = free_port()
    env = production_env(
        PORT=str(port),
        WEB_CONCURRENCY="1",
        DATABASE_URL=released.database_url,
        DJANGO_STATIC_ROOT=str(released.static_root),
        PROMETHEUS_MULTIPROC_DIR=str(base),
    )
    stale = base / f"web-{socket.gethostname()}-{port}"
    stale.mkdir()
    (stale / "counter_99999.db").write_bytes(b"stale")

    process = Process(procfile_command("web"), log=tmp_path / "web.log", env=env)
    process.start(lambda p: "Booting worker with pid" in p.text())
    try:
        assert not (stale / "counter_99999.db").exists()
        assert (other_group / "counter_1.db").exists()
    finally:
        process.stop()


@pytest.mark.parametrize("process_type", ["worker", "beat"])
def test_the_worker_and_beat_lines_write_json_lines(process_type, tmp_path, released, start_redis):
    """No start-up banner: a log collector reading stdout gets one JSON object a line (the
    worker's warm-shutdown notice on SIGTERM is Celery's own, the one plain line)."""
    redis_server = start_redis()
    ready = {"worker": " ready.", "beat": "beat: Starting..."}[process_type]
    process = Process(
        procfile_command(process_type),
        log=tmp_path / f"{process_type}.log",
        env=production_env(
            DATABASE_URL=released.database_url,
            REDIS_URL=redis_server.url,
            PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
            BEAT_SCHEDULE_FILE=str(tmp_path / "beat-schedule"),
            WORKER_CONCURRENCY="1",
        ),
    ).start(lambda p: ready in p.text())
    process.stop()

    lines = _without_the_root_warning(
        [line for line in process.text().splitlines() if line.strip()]
    )
    plain = [line for line in lines if not line.startswith("{")]
    assert plain in ([], ["worker: Warm shutdown (MainProcess)"]), plain
    entries = log_entries("\n".join(line for line in lines if line not in plain))
    assert any(ready.strip() in entry["message"] for entry in entries)


def _without_the_root_warning(lines: list[str]) -> list[str]:
    """Celery warns on stderr, before logging is set up, when the worker runs as root, as this
    test may (the Dockerfile's user ``sso`` never does): those lines are not the service's."""
    if os.geteuid() != 0:
        return lines
    kept, inside = [], False
    for line in lines:
        if "SecurityWarning: You're running the worker with superuser privileges" in line:
            inside = True
        if not inside:
            kept.append(line)
        if inside and "warnings.warn(SecurityWarning(ROOT_DISCOURAGED" in line:
            inside = False
    return kept

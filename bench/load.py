"""Load benchmark: SAML sign-ins and SCIM requests from several client processes against the
Procfile's web line (gunicorn, two workers), on PostgreSQL and Redis, with a Celery worker.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/load.py [--clients 4] [--seconds 20] [--web-concurrency 2]

It never touches a database it did not create: it creates ``bench_load_<pid>`` on the
PostgreSQL server of DATABASE_URL and drops it at the end, and starts a private redis-server on
a free port (or uses ``--redis-url``). It runs the Procfile's release line (migrations, static
files into a temporary directory), seeds one company signing in through a test IdP (JIT) and one
company per SCIM client with a SCIM token of its own, then starts the web and worker lines and
runs ``--clients`` processes for ``--seconds``, half signing people in and half provisioning:

- a sign-in, as a browser behind the TLS proxy sends it (each from its own address):
  ``GET /sso/<name>/login/``, the IdP's signed answer posted to the ACS, ``GET .../finish/``;
  the IdP's signing is not timed, the three requests are;
- SCIM, as Okta sends it: create a user (POST), look it up (``filter=userName eq``), deactivate
  it (PATCH ``active=false``, which queues the deprovisioning task the worker runs).

Printed: requests, throughput, p50 and p95 of each kind of request and of a whole sign-in, and
the error count (anything but the expected status; it must be 0, else the exit status is 1).
Rate limits are the defaults except RATE_LIMIT_SCIM (raised: each SCIM client sends far more
than one Okta org does). Client and server share the machine's cores. Not a test: it asserts
nothing about time.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.certs import make_keypair  # noqa: E402 - the project root is put on the path first
from tests.http_browser import Browser, send  # noqa: E402
from tests.processes import (  # noqa: E402
    Process,
    free_port,
    procfile_command,
    redis_server_command,
    service_env,
)
from tests.saml_idp import TestIdP, okta_attributes, post_data  # noqa: E402

BASE_URL = "https://sso.test"
SCIM_JSON = "application/scim+json"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SIGN_IN_STEPS = ("GET /sso/<name>/login/", "POST /sso/<name>/acs/", "GET /sso/<name>/finish/")
SCIM_STEPS = ("POST /scim/v2/Users", "GET /scim/v2/Users?filter", "PATCH /scim/v2/Users/<id>")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=4, help="client processes (4)")
    parser.add_argument("--seconds", type=float, default=20, help="how long they run (20)")
    parser.add_argument("--web-concurrency", type=int, default=2, help="gunicorn workers (2)")
    parser.add_argument("--redis-url", help="a Redis to use instead of a private redis-server")
    args = parser.parse_args()
    if args.clients < 2 or args.seconds <= 0:
        parser.error("need --clients >= 2 (one signing in, one on SCIM) and --seconds > 0")
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        parser.error("set DATABASE_URL to a PostgreSQL server (postgres://user@host:port/db)")
    return args


# --- a database of our own ---------------------------------------------------------------------


def _server_connection(url: str) -> psycopg.Connection:
    parts = urlsplit(url)
    return psycopg.connect(
        host=parts.hostname,
        port=parts.port or 5432,
        user=parts.username,
        password=parts.password,
        dbname=parts.path.lstrip("/") or "postgres",
        autocommit=True,
    )


def create_database(server_url: str) -> tuple[str, str]:
    name = f"bench_load_{os.getpid()}"
    with _server_connection(server_url) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(server_url)
    return name, urlunsplit(parts._replace(path=f"/{name}"))


def drop_database(server_url: str, name: str) -> None:
    with _server_connection(server_url) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- the service -------------------------------------------------------------------------------


def seed(scim_clients: int) -> dict:
    """One JIT company signing in through the test IdP; a company and token per SCIM client."""
    # Imported here: only once the environment names the benchmark's own database.
    import django

    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    django.setup()
    from django.db import connections

    from accounts.services import company_create
    from connections.services import connection_create
    from provisioning.tokens import scim_token_issue

    keypair = make_keypair("load.okta.example")
    company = company_create(slug="load", name="Load", domains=["load.test"], teams=["Sales"])
    connection = connection_create(
        company=company,
        name="load",
        sign_on_url="https://load.okta.example/app/sso/saml",
        certificate_data=keypair.cert_pem,
        idp_entity_id="http://www.okta.com/load",
    )
    tokens = []
    for n in range(scim_clients):
        other = company_create(slug=f"scim{n}", name=f"SCIM {n}", domains=[f"scim{n}.test"])
        scim = connection_create(
            company=other,
            name=f"scim{n}",
            sign_on_url=f"https://scim{n}.okta.example/app/sso/saml",
            certificate_data=keypair.cert_pem,
            idp_entity_id=f"http://www.okta.com/scim{n}",
            provisioning="scim",
        )
        tokens.append(scim_token_issue(connection=scim, label="load")[1])
    connections.close_all()  # the client processes are forked from this one
    return {"idp": TestIdP(entity_id=connection.idp_entity_id, keypair=keypair), "tokens": tokens}


def run(command: str, env: dict[str, str]) -> None:
    result = subprocess.run(  # noqa: S603 - the Procfile's own line
        ["sh", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        sys.exit(f"{command} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")


def booted(port: int, workers: int):
    def ready(process: Process) -> bool:
        if process.text().count("Booting worker with pid") < workers:
            return False
        try:
            return send(port, "GET", "/healthz", proxied=False).status_code == 200
        except OSError:
            return False

    return ready


# --- the clients -------------------------------------------------------------------------------


def _address() -> str:
    return f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"


def _timed(samples: list, step: str, expected: int, method: str, port: int, path: str, **kwargs):
    """One request, timed and recorded; returns the response when its status is the expected
    one, else None (an error)."""
    started = time.perf_counter()
    try:
        response = send(port, method, path, **kwargs)
    except OSError:
        response = None
    ok = response is not None and response.status_code == expected
    samples.append((step, (time.perf_counter() - started) * 1000, ok))
    return response if ok else None


def sign_ins(port: int, idp: TestIdP, deadline: float, seed_: int) -> dict:
    rng = random.Random(seed_)
    samples, whole = [], []
    while time.monotonic() < deadline:
        browser = Browser(_address())
        email = f"person{rng.randrange(500)}@load.test"
        before = len(samples)
        login = _timed(
            samples, SIGN_IN_STEPS[0], 302, "GET", port, "/sso/load/login/?next=/", browser=browser
        )
        if login is None:
            continue
        xml = idp.respond_to(  # the IdP's work: not timed
            login.headers["Location"],
            name_id=email,
            attributes=okta_attributes(email, first="Load", last="Person"),
        )
        acs = _timed(
            samples, SIGN_IN_STEPS[1], 303, "POST", port, "/sso/load/acs/",
            browser=browser, data=post_data(xml),
        )  # fmt: skip
        if acs is None:
            continue
        if _timed(
            samples, SIGN_IN_STEPS[2], 302, "GET", port, acs.headers["Location"], browser=browser
        ):
            whole.append(sum(elapsed for _step, elapsed, _ok in samples[before:]))
    return {"samples": samples, "whole": whole}


def scim(port: int, token: str, deadline: float, client: int) -> dict:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": SCIM_JSON}
    deactivate = json.dumps(
        {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": {"active": False}}]}
    )
    samples, n = [], 0
    while time.monotonic() < deadline:
        n += 1
        email = f"user{n}@scim{client}.test"
        body = json.dumps(
            {"schemas": [USER_SCHEMA], "userName": email, "emails": [{"value": email}]}
        )
        created = _timed(
            samples, SCIM_STEPS[0], 201, "POST", port, "/scim/v2/Users", headers=headers, data=body
        )
        if created is None:
            continue
        lookup = f'/scim/v2/Users?filter=userName eq "{email}"'
        if _timed(samples, SCIM_STEPS[1], 200, "GET", port, lookup, headers=headers) is None:
            continue
        user = f"/scim/v2/Users/{created.json()['id']}"
        _timed(samples, SCIM_STEPS[2], 200, "PATCH", port, user, headers=headers, data=deactivate)
    return {"samples": samples, "whole": []}


# What the clients need, set before they are forked (a private key does not pickle).
_seeded: dict = {}


def client_main(job: tuple) -> dict:
    kind, port, deadline, index = job
    if kind == "sign-in":
        return sign_ins(port, _seeded["idp"], deadline, index)
    return scim(port, _seeded["tokens"][index], deadline, index)


# --- figures -----------------------------------------------------------------------------------


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * q + 0.5) - 1)]


def report(title: str, results: list[dict], seconds: float, steps: tuple[str, ...]) -> int:
    samples = [s for r in results for s in r["samples"]]
    by_step = defaultdict(list)
    for step, elapsed, _ok in samples:
        by_step[step].append(elapsed)
    failed = sum(1 for _step, _elapsed, ok in samples if not ok)
    print(
        f"{title:<14} {len(samples):6d} requests  {len(samples) / seconds:7.1f} req/s  "
        f"errors {failed}"
    )
    for step in steps:
        values = by_step.get(step, [])
        if values:
            print(
                f"  {step:<28} {len(values):6d}  p50 {statistics.median(values):7.1f} ms  "
                f"p95 {_p(values, 0.95):7.1f} ms"
            )
    whole = [w for r in results for w in r["whole"]]
    if whole:
        print(
            f"  {'whole sign-in (3 requests)':<28} {len(whole):6d}  "
            f"p50 {statistics.median(whole):7.1f} ms  p95 {_p(whole, 0.95):7.1f} ms  "
            f"({len(whole) / seconds:.1f} sign-ins/s)"
        )
    return failed


def main() -> None:
    args = parse_args()
    server_url = os.environ["DATABASE_URL"]
    name, database_url = create_database(server_url)
    work = Path(tempfile.mkdtemp(prefix="bench-load-"))
    processes: list[Process] = []
    seeded = None
    try:
        redis_url = args.redis_url
        if not redis_url:
            port = free_port()
            redis_server = Process(
                redis_server_command(port, work), log=work / "redis.log", env=dict(os.environ)
            )
            processes.append(redis_server.start(lambda p: "Ready to accept" in p.text()))
            redis_url = f"redis://127.0.0.1:{port}/0"
        web_port = free_port()
        env = service_env(
            secret_key=secrets.token_urlsafe(50),
            base_url=BASE_URL,
            DATABASE_URL=database_url,
            REDIS_URL=redis_url,
            DJANGO_STATIC_ROOT=str(work / "static"),
            PROMETHEUS_MULTIPROC_DIR=str(work / "metrics"),
            PORT=str(web_port),
            WEB_CONCURRENCY=str(args.web_concurrency),
            WORKER_CONCURRENCY="1",
            RATE_LIMIT_SCIM="100000/m",
            LOG_LEVEL="WARNING",  # one line per request would cost the clients' cores too
        )
        run(procfile_command("release"), env)
        os.environ.update(env)
        scim_clients = args.clients // 2
        seeded = seed(scim_clients)
        web = Process(procfile_command("web"), log=work / "web.log", env=env)
        processes.append(web.start(booted(web_port, args.web_concurrency)))
        worker = Process(
            procfile_command("worker"), log=work / "worker.log", env={**env, "LOG_LEVEL": "INFO"}
        )
        processes.append(worker.start(lambda p: " ready." in p.text()))

        sign_in_clients = args.clients - scim_clients
        print(
            f"{args.clients} client processes ({sign_in_clients} signing in, {scim_clients} on "
            f"SCIM) for {args.seconds:g} s against the web line ({args.web_concurrency} gunicorn "
            f"workers), PostgreSQL, Redis, 1 Celery worker; {os.cpu_count()} cores shared",
            flush=True,
        )
        deadline = time.monotonic() + args.seconds
        _seeded.update(seeded)
        jobs = [("sign-in", web_port, deadline, i) for i in range(sign_in_clients)]
        jobs += [("scim", web_port, deadline, i) for i in range(scim_clients)]
        started = time.monotonic()
        with multiprocessing.get_context("fork").Pool(len(jobs)) as pool:
            results = pool.map(client_main, jobs)
        elapsed = time.monotonic() - started

        signing, provisioning = results[:sign_in_clients], results[sign_in_clients:]
        errors = report("sign-ins", signing, elapsed, SIGN_IN_STEPS)
        errors += report("SCIM", provisioning, elapsed, SCIM_STEPS)
        total = sum(len(r["samples"]) for r in results)
        print(f"{'all':<14} {total:6d} requests  {total / elapsed:7.1f} req/s  errors {errors}")
        if errors:
            print(f"logs in {work}")
            sys.exit(1)
    finally:
        for process in reversed(processes):
            process.stop()
        if seeded is not None:
            from django.db import connections

            connections.close_all()
        drop_database(server_url, name)


if __name__ == "__main__":
    main()

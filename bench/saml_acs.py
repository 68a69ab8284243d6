"""SAML sign-in benchmark: the issue's figure, measured from outside, in one run.

    .venv/bin/python bench/saml_acs.py [--runs 300] [--warmup 30] [--workers 1]
        [--postgres postgres://postgres@127.0.0.1:5432/wt_fast_bench] [--no-postgres]
        [--fsync-diagnostic] [--connections 10000]

What it prints, for SQLite and for PostgreSQL (a database of its own, created and dropped here;
never ``postgres``), after a line saying what runs:

- **stock pysaml2 verification alone**: a stock pysaml2 SP (``Saml2Client`` configured from the
  IdP's metadata, the ``xmlsec1`` backend) verifying one Okta-signed response,
  ``parse_authn_request_response``, in this process;
- **our whole IdP-initiated sign-in over HTTP**: the ACS POST and the finish GET, each on a new TCP
  connection, against the service as production runs it: the ``Procfile``'s ``release`` line
  (migrations, static files), then its ``web`` line (gunicorn with ``config/gunicorn.py``, sync
  workers, ``WEB_CONCURRENCY=--workers``) on ``config.settings`` with DEBUG off (persistent
  database connections with health checks, SQLite in WAL, the JSON request log on stdout, to a
  file here) and no Redis, for a user who already exists; the response is signed beforehand (not
  timed), a fresh assertion each time;
- the **ratio** of the two (p50 over p50, p95 over p95), measured twice: **interleaved**, one of
  each per round, so each of our requests comes right after a stock verification (whose three
  ``xmlsec1`` processes have just gone through the CPU caches: our server answers cold), and
  **in blocks** of 25 of one then 25 of the other, alternating, so each side runs warm, as in a
  process busy with that work (a plain loop of sign-ins measures this one);
- the **SP-initiated redirect** (``GET /sso/<name>/login/``, a new connection each), in both;
- what one durable PostgreSQL commit costs on this machine (the WAL's fsync, which the finish
  step's transaction waits for; the ACS writes an unlogged table), and with
  ``--fsync-diagnostic`` the whole run again with ``synchronous_commit=off`` on the bench
  database, for machines with slower disks;
- the **memory of the configuration cache** (the keys each connection trusts) filled with
  ``--connections`` connections, and of pysaml2's per-connection client (made only by the
  ``xmlsec1`` backend, at most 256 per thread), in a process of its own.

Not a test: it asserts nothing about time. Figures and the machine they came from go in the README.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import platform
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# The signing side (tests.saml_idp, tests.certs) needs only lxml and cryptography. Django is set
# up only in the subprocesses that seed a database or fill the cache, each with its own settings.
from tests.certs import make_keypair  # noqa: E402
from tests.saml_idp import TestIdP, okta_attributes, post_data  # noqa: E402

BASE_URL = "https://sso.bench.test"
NAME = "bench"
EMAIL = "ada@bench.test"
IDP_ENTITY_ID = "http://www.okta.com/exkbench"
BLOCK = 25  # rounds per block in the blocks phase


# --- figures -----------------------------------------------------------------------------------


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[max(0, round(len(ordered) * 0.95) - 1)]


def line(label: str, samples: list[float]) -> str:
    p50, p95 = percentiles(samples)
    return f"  {label:<58} p50 {p50:7.2f} ms   p95 {p95:7.2f} ms"


def machine() -> str:
    model = ""
    try:
        for row in Path("/proc/cpuinfo").read_text().splitlines():
            if row.startswith("model name"):
                model = row.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from lxml import etree

    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return (
        f"machine: nproc {os.cpu_count()}, CPU {model or platform.processor() or '?'}, "
        f"Python {platform.python_version()}, libxml2 "
        f"{'.'.join(map(str, etree.LIBXML_VERSION))}; load average {load}"
    )


# --- the database and the server ---------------------------------------------------------------


def server_environment(database_url: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE_", "REDIS_", "SAML_"))
    }
    # The Procfile's commands (``gunicorn``, ``python``) are this interpreter's.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        SAML_KEY_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        BASE_URL=BASE_URL,
        DATABASE_URL=database_url,
        # One client signs in hundreds of times a minute from one address: above the default
        # per-address limit of /sso/, which is not what is measured here.
        RATE_LIMIT_SSO="100000/s",
    )
    return env


def subcommand(database_url: str, *args: str, root: Path = ROOT) -> dict:
    """``bench/saml_acs.py <args>`` of the checkout at ``root`` in a process of its own, Django
    set up on that database with production settings; returns the JSON it printed last."""
    result = subprocess.run(
        [sys.executable, str(root / "bench" / "saml_acs.py"), *args],
        cwd=root,
        env=server_environment(database_url),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"{args[0]} failed:\n{result.stderr}")
    lines = result.stdout.strip().splitlines()
    return json.loads(lines[-1]) if lines else {}


def seed(database_url: str, cert_file: Path, root: Path = ROOT) -> dict:
    """Migrate and seed (with the code of the checkout at ``root``): the bench connection, its
    certificate, the user who signs in."""
    return subcommand(database_url, "seed", str(cert_file), root=root)


def _seed_here(cert_file: str) -> None:
    import django

    django.setup()
    from django.core.management import call_command

    from accounts.services import company_create, user_create
    from connections.services import connection_create

    call_command("migrate", verbosity=0)
    company = company_create(slug=NAME, name="Bench", domains=["bench.test"], teams=["Sales"])
    connection = connection_create(
        company=company,
        name=NAME,
        sign_on_url="https://bench.okta.example/app/sso/saml",
        certificate_data=Path(cert_file).read_bytes(),
        idp_entity_id=IDP_ENTITY_ID,
    )
    user_create(email=EMAIL, company=company, first_name="Ada", last_name="Bench")
    print(json.dumps({"acs_url": connection.acs_url, "audience": connection.sp_entity_id}))


def procfile_line(process: str, root: Path = ROOT) -> str:
    """The command the ``Procfile`` (of the checkout at ``root``) runs for ``process``
    (``release``, ``web``...)."""
    for row in (root / "Procfile").read_text().splitlines():
        name, _, command = row.partition(":")
        if name.strip() == process:
            return command.strip()
    raise SystemExit(f"the Procfile has no {process} line")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """The service as production runs it: the Procfile's ``release`` line (migrations, static
    files), then its ``web`` line (gunicorn with ``config/gunicorn.py``: sync workers, the JSON
    request log on stdout, prometheus-client's multiprocess files) with ``WEB_CONCURRENCY``
    workers, ``config.settings`` with DEBUG off (persistent database connections with health
    checks, SQLite in WAL) and no Redis (the rate limit and cache in process)."""

    def __init__(self, database_url: str, workers: int, state: Path, root: Path = ROOT) -> None:
        self.port = free_port()
        self.command = procfile_line("web", root)
        env = server_environment(database_url) | {
            "PORT": str(self.port),
            "WEB_CONCURRENCY": str(workers),
            "DJANGO_STATIC_ROOT": str(state / "static"),
            "PROMETHEUS_MULTIPROC_DIR": str(state / "metrics"),
        }
        release = subprocess.run(
            ["sh", "-c", procfile_line("release", root)],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if release.returncode != 0:
            raise SystemExit(f"the release step failed:\n{release.stderr[-3000:]}")
        # Its log (a JSON line a request, as in production) goes to a file, not the figures.
        self.log = tempfile.NamedTemporaryFile(prefix="bench-server-", suffix=".log")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            ["sh", "-c", f"exec {self.command}"],
            cwd=root,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def request(
        self, method: str, path: str, body: bytes = b"", headers: dict | None = None
    ) -> http.client.HTTPResponse:
        """One request on a new TCP connection, read to the end."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(
                method,
                path,
                body=body,
                headers={"Connection": "close", "X-Forwarded-Proto": "https", **(headers or {})},
            )
            response = connection.getresponse()
            response.read()
            return response
        finally:
            connection.close()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"the server exited at start:\n{self.log_tail()}")
            try:
                self.request("GET", "/")
                return
            except OSError:
                time.sleep(0.2)
        raise SystemExit("the server did not answer")

    def log_tail(self) -> str:
        return "\n".join(Path(self.log.name).read_text(errors="replace").splitlines()[-20:])

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def _cookie(response: http.client.HTTPResponse, name: str) -> str:
    for header in response.headers.get_all("Set-Cookie") or []:
        if header.startswith(f"{name}="):
            return header.split(";", 1)[0].split("=", 1)[1]
    raise SystemExit(f"no {name} cookie (status {response.status})")


def acs_body(xml: bytes) -> bytes:
    """The form the browser posts (encoded beforehand: the client's work, not the server's)."""
    return urlencode(post_data(xml)).encode()


def sign_in(server: Server, body: bytes, cookies: str = "") -> tuple[float, float]:
    """ACS POST then the finish GET, each on its own connection; fails loudly if refused.
    ``cookies``: what else the browser sends on the (same-site) finish GET: the binding cookie
    of an SP-initiated start (the ACS, a cross-site POST, gets none of these Lax cookies).
    Returns how long each took, in ms."""
    started = time.perf_counter()
    acs = server.request(
        "POST", f"/sso/{NAME}/acs/", body, {"Content-Type": "application/x-www-form-urlencoded"}
    )
    if acs.status != 303:
        raise SystemExit(f"the ACS answered {acs.status}, not 303")
    between = time.perf_counter()
    done = server.request(
        "GET",
        urlsplit(acs.headers["Location"]).path,
        headers={
            "Cookie": "; ".join(filter(None, [f"sso_finish={_cookie(acs, 'sso_finish')}", cookies]))
        },
    )
    if done.status != 302 or not _cookie(done, "sessionid"):
        raise SystemExit(f"the finish step answered {done.status}, not a signed-in redirect")
    return (between - started) * 1000, (time.perf_counter() - between) * 1000


def sp_initiated_redirect(server: Server) -> tuple[str, str]:
    """``GET /sso/<name>/login/`` on a new connection; fails loudly unless it is the 302 to the
    IdP. Returns where it sends the browser (the AuthnRequest) and the cookies it set, as the
    browser sends them back."""
    answer = server.request("GET", f"/sso/{NAME}/login/?next=/x")
    if answer.status != 302:
        raise SystemExit(f"the login answered {answer.status}, not 302")
    set_cookies = answer.headers.get_all("Set-Cookie") or []
    return answer.headers["Location"], "; ".join(c.split(";", 1)[0] for c in set_cookies)


def sp_initiated_response(idp: TestIdP, location: str) -> bytes:
    """The IdP's signed answer to the AuthnRequest ``location`` carries, for the bench user."""
    return idp.respond_to(
        location,
        name_id=EMAIL,
        attributes=okta_attributes(EMAIL, first="Ada", last="Bench", user_type="sender"),
    )


def signed_response(idp: TestIdP, target: dict) -> bytes:
    """A fresh Okta-like response for the bench user, signed for the seeded connection
    (``target``: what ``seed`` returned)."""
    return idp.response(
        acs_url=target["acs_url"],
        audience=target["audience"],
        name_id=EMAIL,
        attributes=okta_attributes(EMAIL, first="Ada", last="Bench", user_type="sender"),
    )


# --- stock pysaml2 -------------------------------------------------------------------------------


def stock_client(idp: TestIdP, audience: str, acs_url: str):
    from saml2 import BINDING_HTTP_POST
    from saml2.client import Saml2Client
    from saml2.config import SPConfig

    config = SPConfig().load(
        {
            "entityid": audience,
            "xmlsec_binary": shutil.which("xmlsec1"),
            "metadata": {"inline": [idp.metadata().decode()]},
            "allow_unknown_attributes": True,
            "service": {
                "sp": {
                    "endpoints": {"assertion_consumer_service": [(acs_url, BINDING_HTTP_POST)]},
                    "allow_unsolicited": True,
                    "want_assertions_signed": True,
                    "want_response_signed": False,
                    "only_use_keys_in_metadata": True,
                }
            },
        }
    )
    return Saml2Client(config)


def stock_verify(client, xml: bytes) -> float:
    from saml2 import BINDING_HTTP_POST
    from saml2.population import Population

    encoded = base64.b64encode(xml).decode()
    started = time.perf_counter()
    response = client.parse_authn_request_response(encoded, BINDING_HTTP_POST)
    elapsed = (time.perf_counter() - started) * 1000
    if response is None or response.name_id.text != EMAIL:
        raise SystemExit("stock pysaml2 did not verify the response")
    client.users = Population()
    return elapsed


# --- one database --------------------------------------------------------------------------------


def run_database(label: str, database_url: str, idp: TestIdP, cert_file: Path, args) -> None:
    target = seed(database_url, cert_file)
    state = Path(tempfile.mkdtemp(prefix="bench-state-"))

    def response() -> bytes:
        return signed_response(idp, target)

    stock = stock_client(idp, target["audience"], target["acs_url"])
    server = Server(database_url, args.workers, state)

    def timed(action) -> float:
        started = time.perf_counter()
        action()
        return (time.perf_counter() - started) * 1000

    def redirect() -> None:
        sp_initiated_redirect(server)

    try:
        server.wait_ready()
        for _ in range(args.warmup):
            sign_in(server, acs_body(response()))
            redirect()
            stock_verify(stock, response())
        # Interleaved: one of each per round, so both see the same machine; each of our requests
        # comes right after a stock verification (its xmlsec1 processes through the caches).
        interleaved = {"stock": [], "sign-in": [], "redirect": []}
        for _ in range(args.runs):
            interleaved["stock"].append(stock_verify(stock, response()))
            body = acs_body(response())
            interleaved["sign-in"].append(timed(lambda body=body: sign_in(server, body)))
            interleaved["redirect"].append(timed(redirect))
        # In blocks: BLOCK of one, then BLOCK of the other, alternating (the machine's load
        # still shared out), each side warm as in a process busy with that work.
        blocks = {"stock": [], "sign-in": [], "redirect": []}
        while len(blocks["stock"]) < args.runs:
            count = min(BLOCK, args.runs - len(blocks["stock"]))
            blocks["stock"] += [stock_verify(stock, response()) for _ in range(count)]
            bodies = [acs_body(response()) for _ in range(count)]
            blocks["sign-in"] += [timed(lambda body=body: sign_in(server, body)) for body in bodies]
            blocks["redirect"] += [timed(redirect) for _ in range(count)]
    finally:
        server.stop()
        shutil.rmtree(state, ignore_errors=True)

    print(
        f"{label} ({args.runs} rounds interleaved and {args.runs} in blocks, after {args.warmup})"
    )
    for name, samples in (("interleaved", interleaved), (f"in blocks of {BLOCK}", blocks)):
        (sign_p50, sign_p95) = percentiles(samples["sign-in"])
        (stock_p50, stock_p95) = percentiles(samples["stock"])
        print(f" {name}")
        print(line("stock pysaml2 verification alone (xmlsec1)", samples["stock"]))
        print(
            line("our IdP-initiated sign-in over HTTP (ACS POST + finish GET)", samples["sign-in"])
        )
        print(
            f"  ratio sign-in / stock verification:   p50 {sign_p50 / stock_p50:.2f}"
            f"   p95 {sign_p95 / stock_p95:.2f}   (goal: at most 0.20)"
        )
        print(line("SP-initiated redirect (GET /login/ -> 302 to the IdP)", samples["redirect"]))
    sys.stdout.flush()


def postgres_database(url: str) -> str | None:
    """Create the bench database afresh (connecting to template1, never to postgres)."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not name or name in ("postgres", "template0", "template1"):
        raise SystemExit(f"--postgres must name a database of the bench's own, not {name!r}")
    maintenance = parts._replace(path="/template1").geturl()
    try:
        with psycopg.connect(maintenance, autocommit=True, connect_timeout=5) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
            connection.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as error:
        print(f"PostgreSQL: skipped ({str(error).strip().splitlines()[0]})")
        return None
    return url


def postgres_commit(url: str) -> str:
    """What one durable write costs on this server (INSERT + COMMIT: the WAL's fsync), the
    floor under each of the sign-in's two transactions."""
    import psycopg

    samples = []
    with psycopg.connect(url, connect_timeout=5) as connection:
        # A real table: a temporary one is not WAL-logged, its commit waits for no fsync.
        connection.execute("CREATE TABLE bench_commit (x int)")
        connection.commit()
        for _ in range(100):
            started = time.perf_counter()
            connection.execute("INSERT INTO bench_commit VALUES (1)")
            connection.commit()
            samples.append((time.perf_counter() - started) * 1000)
        connection.execute("DROP TABLE bench_commit")
    return line("PostgreSQL alone: INSERT + COMMIT (the WAL's fsync)", samples)


def postgres_asynchronous_commit(url: str) -> None:
    """For comparison with machines whose disks flush faster: the same database, its commits no
    longer waiting for the fsync (``synchronous_commit=off``, a diagnostic, not our setting)."""
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    maintenance = urlsplit(url)._replace(path="/template1").geturl()
    with psycopg.connect(maintenance, autocommit=True, connect_timeout=5) as connection:
        connection.execute(f'ALTER DATABASE "{name}" SET synchronous_commit TO off')


def drop_postgres_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    maintenance = parts._replace(path="/template1").geturl()
    with psycopg.connect(maintenance, autocommit=True, connect_timeout=5) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}"')


# --- the configuration cache ---------------------------------------------------------------------


def _heap_bytes() -> int:
    """Bytes in use: Python's allocations (tracemalloc) and the C heap's (glibc mallinfo2:
    OpenSSL's keys, libxml2, libxmlsec1)."""
    import ctypes
    import tracemalloc

    class MallInfo2(ctypes.Structure):
        _fields_ = [
            (name, ctypes.c_size_t)
            for name in (
                "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
                "uordblks", "fordblks", "keepcost",
            )
        ]  # fmt: skip

    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = MallInfo2
    info = libc.mallinfo2()
    return tracemalloc.get_traced_memory()[0] + info.uordblks + info.hblkhd


def _cache_seed_here(count: int) -> None:
    import django

    django.setup()
    from django.core.management import call_command

    from accounts.models import Company
    from connections.certificates import parse_certificate
    from connections.models import Connection, SigningCertificate

    call_command("migrate", verbosity=0)
    company = Company.objects.create(slug="many", name="Many")
    # Ten real certificates (RSA 2048) shared out: each connection still loads its own key.
    parsed = [parse_certificate(make_keypair(f"idp{n}.example").cert_pem) for n in range(10)]
    connections = Connection.objects.bulk_create(
        Connection(
            company=company,
            name=f"c{n}",
            sign_on_url=f"https://idp{n}.example/sso",
            idp_entity_id=f"http://idp{n}.example",
        )
        for n in range(count)
    )
    SigningCertificate.objects.bulk_create(
        SigningCertificate(
            connection=connection,
            pem=parsed[n % 10].pem,
            fingerprint_sha256=parsed[n % 10].fingerprint_sha256,
            subject=parsed[n % 10].subject,
            not_before=parsed[n % 10].not_before,
            not_after=parsed[n % 10].not_after,
        )
        for n, connection in enumerate(connections)
    )


def pysaml2_client(saml, connection) -> None:
    """The per-thread pysaml2 client the ``xmlsec1`` backend (``SAML_SIGNATURE_BACKEND``)
    verifies with; the in-process backend, the default, makes none."""
    saml._clients.get(connection, saml.placeholder_issuer(connection))


def _cache_memory_here() -> None:
    """In a process that has done nothing else: the heap grown by filling the caches."""
    import gc
    import tracemalloc

    import django

    django.setup()
    from connections import saml
    from connections.models import Connection

    connections = list(Connection.objects.order_by("pk"))
    saml.trusted_keys(connections[0])  # the modules and the first load out of the way
    pysaml2_client(saml, connections[0])
    tracemalloc.start()
    gc.collect()
    before = _heap_bytes()
    started = time.perf_counter()
    for connection in connections:
        saml.trusted_keys(connection)
    filled = time.perf_counter() - started
    gc.collect()
    keys = _heap_bytes() - before
    started = time.perf_counter()
    for connection in connections:
        saml.trusted_keys(connection)
    hit = (time.perf_counter() - started) / len(connections) * 1e6

    clients = connections[1:257]
    before = _heap_bytes()
    for connection in clients:
        pysaml2_client(saml, connection)
    gc.collect()
    per_client = (_heap_bytes() - before) / len(clients)

    per_row, row_limit = _remembered_row_bytes(connections)
    print(
        json.dumps(
            {
                "connections": len(connections),
                "keys_bytes": keys,
                "fill_s": filled,
                "hit_us": hit,
                "client_bytes": per_client,
                "row_bytes": per_row,
                "row_limit": row_limit,
            }
        )
    )


def _remembered_row_bytes(connections) -> tuple[float, int]:
    """What ``connections.connection_cache`` keeps per connection (PostgreSQL's ACS and
    ``/login/``): the row's values as the database hands them over, its version and its
    deadline, in the cache's own structure (filled here from this SQLite database, as
    PostgreSQL would fill it)."""
    import gc

    from connections import connection_cache
    from connections.models import Connection

    columns = [field.column for field in Connection._meta.concrete_fields]
    rows = list(Connection.objects.order_by("pk").values_list(*columns))
    kept = rows[: connection_cache.REMEMBERED_CONNECTIONS]
    gc.collect()
    before = _heap_bytes()
    for n, values in enumerate(kept):
        version = (str(1_000_000 + n), f"({n // 50},{n % 50 + 1})")
        connection_cache._rows[connections[n].name] = (values, version, time.monotonic() + 300)
    gc.collect()
    per_row = (_heap_bytes() - before) / len(kept)
    connection_cache.forget_all()
    return per_row, connection_cache.REMEMBERED_CONNECTIONS


def cache_memory(count: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        database_url = f"sqlite:///{Path(directory) / 'many.sqlite3'}"
        subcommand(database_url, "cache-seed", str(count))
        figures = subcommand(database_url, "cache-memory")
    n, size = figures["connections"], figures["keys_bytes"]
    print(f"configuration cache ({n:,} connections, one RSA-2048 certificate each)")
    print(
        f"  trusted keys: {size / 2**20:.1f} MB ({size / n / 1024:.2f} KB a connection), "
        f"filled in {figures['fill_s']:.2f} s, a hit {figures['hit_us']:.1f} us"
    )
    print(
        f"  pysaml2 clients (SAML_SIGNATURE_BACKEND=xmlsec1 only; at most 256 per thread): "
        f"{figures['client_bytes'] / 1024:.0f} KB a connection, "
        f"{figures['client_bytes'] * 256 / 2**20:.0f} MB for 256"
    )
    limit = figures["row_limit"]
    most = min(n, limit)
    print(
        f"  remembered connection rows (PostgreSQL; at most {limit:,} per "
        f"process): {figures['row_bytes'] / 1024:.2f} KB a row, "
        f"{figures['row_bytes'] * most / 2**20:.1f} MB for {most:,}"
    )


# --- main ----------------------------------------------------------------------------------------


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "seed":
        _seed_here(sys.argv[2])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "cache-seed":
        _cache_seed_here(int(sys.argv[2]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "cache-memory":
        _cache_memory_here()
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/wt_fast_bench"
        ),
        help="a database of the bench's own: created afresh, dropped at the end",
    )
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument(
        "--fsync-diagnostic",
        action="store_true",
        help="run PostgreSQL once more with synchronous_commit=off on the bench database",
    )
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument(
        "--workers", type=int, default=1, help="WEB_CONCURRENCY of the server (gunicorn workers)"
    )
    args = parser.parse_args()

    print(machine(), flush=True)
    print(
        f"server: the Procfile's release line, then its web line `{procfile_line('web')}` with "
        f"WEB_CONCURRENCY={args.workers}, config.settings (DJANGO_DEBUG=0), no REDIS_URL; "
        "client: this process, http.client, a new TCP connection per request",
        flush=True,
    )
    keypair = make_keypair("bench.okta.example", slot="bench")
    idp = TestIdP(entity_id=IDP_ENTITY_ID, keypair=keypair)
    with tempfile.TemporaryDirectory() as directory:
        cert_file = Path(directory) / "idp.pem"
        cert_file.write_bytes(keypair.cert_pem)
        sqlite = f"sqlite:///{Path(directory) / 'bench.sqlite3'}"
        run_database("SQLite", sqlite, idp, cert_file, args)
        postgres = None if args.no_postgres else postgres_database(args.postgres)
        if postgres:
            try:
                run_database("PostgreSQL", postgres, idp, cert_file, args)
                print(postgres_commit(postgres))
            finally:
                drop_postgres_database(postgres)
        if postgres and args.fsync_diagnostic and postgres_database(args.postgres):
            try:
                postgres_asynchronous_commit(postgres)
                label = "PostgreSQL, diagnostic: synchronous_commit=off (no fsync wait)"
                run_database(label, postgres, idp, cert_file, args)
            finally:
                drop_postgres_database(postgres)
    if args.connections:
        cache_memory(args.connections)
    print(machine().replace("machine:", "at the end:"))


if __name__ == "__main__":
    main()

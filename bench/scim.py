"""SCIM benchmark: latency, queries per request and the query plan, as the users table grows.

    DJANGO_SETTINGS_MODULE=config.test_settings .venv/bin/python bench/scim.py \
        [--users 100000] [--other-users 20000] [--companies 3] [--runs 200]

It never touches a database it did not create: with a SQLite DATABASE_URL (or none) it works in
a temporary file; with a PostgreSQL one it connects to that server, creates ``bench_scim_<pid>``,
and drops it at the end. The database is migrated, checked to be empty, then filled with
``--users`` users in the measured company (bench0) and ``--other-users`` spread over the other
companies, so the tenant filter has rows to skip (bulk_create in batches, COPY-sized).

Every request goes through Django's test client (in-process, no network) to the real SCIM views
with a real bearer token. Printed: the median and 95th percentile of a ``userName eq`` lookup; a
page of 100 at the start, the middle and the end of the company's users (and the ratio to the
50.7 ms a page took before paging was reworked), a random page, and an IdP's walk through every
page; a create (POST) and two PATCHes (``active`` and ``division``); the number of SQL queries of
each request; and the plans of the lookup's and the page's queries (EXPLAIN / EXPLAIN QUERY
PLAN). The lookup is measured at every checkpoint (10,000 users, then ``--users``) to show it
stays flat.

This is not a test (pytest collects only tests/); it asserts nothing about time.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# Django and the project are imported inside the functions: only once main() has pointed
# DATABASE_URL at the benchmark's own database and set Django up (psycopg only for PostgreSQL).

BATCH = 5_000
# The p50 of a page of 100 users before paging was reworked (issue 14: COUNT plus OFFSET).
BASELINE_PAGE_MS = 50.7
MEDIA_TYPE = "application/scim+json"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--users", type=int, default=100_000, help="users of the measured company (100000)"
    )
    parser.add_argument(
        "--other-users", type=int, default=20_000, help="users of the other companies (20000)"
    )
    parser.add_argument("--companies", type=int, default=3, help="companies (3)")
    parser.add_argument("--runs", type=int, default=200, help="timed requests per figure (200)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.users < 200 or args.companies < 1 or args.runs < 5 or args.other_users < 0:
        parser.error("need --companies >= 1, --users >= 200 and --runs >= 5")
    return args


# --- a database of our own ---------------------------------------------------------------------


@contextmanager
def throwaway_database():
    """Point DATABASE_URL at a database this process creates, and remove it afterwards."""
    url = os.environ.get("DATABASE_URL", "")
    scheme = url.split(":", 1)[0].lower()
    if scheme in ("postgres", "postgresql", "pgsql"):
        import psycopg

        name = f"bench_scim_{os.getpid()}"
        parts = urlsplit(url)
        server = psycopg.connect(url, autocommit=True)
        try:
            server.execute(f'CREATE DATABASE "{name}"')  # fails if it exists: never reuse one
            os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{name}"))
            print(f"database: PostgreSQL, created {name} on {parts.hostname}:{parts.port or 5432}")
            try:
                yield "postgresql"
            finally:
                from django.db import connections

                connections.close_all()
                server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                print(f"dropped {name}")
        finally:
            server.close()
    elif scheme in ("", "sqlite"):
        with tempfile.TemporaryDirectory(prefix="bench_scim_") as directory:
            path = Path(directory) / "bench.sqlite3"
            os.environ["DATABASE_URL"] = f"sqlite:///{path}"
            print(f"database: SQLite, temporary file {path}")
            yield "sqlite"
    else:
        sys.exit(f"bench/scim.py: DATABASE_URL must be postgres:// or sqlite:///, not {scheme}://")


def refuse_unless_empty() -> None:
    from accounts.models import Company, User

    if User.objects.exists() or Company.objects.exists():
        sys.exit("bench/scim.py: the database already holds data; refusing to run")


# --- loading -----------------------------------------------------------------------------------


class Fixture:
    def __init__(self, companies: int) -> None:
        from accounts.models import Company, Team
        from connections.models import Connection, Provisioning

        self.companies = [
            Company.objects.create(slug=f"bench{k}", name=f"Bench {k}") for k in range(companies)
        ]
        self.teams = {
            company.pk: [
                Team.objects.create(company=company, name=name) for name in ("Sales", "Marketing")
            ]
            for company in self.companies
        }
        self.connection = Connection.objects.create(
            company=self.companies[0],
            name="bench0",
            sign_on_url="https://bench.okta.example/app/sso/saml",
            provisioning=Provisioning.SCIM,
        )
        self.loaded = 0  # users of the measured company (companies[0])
        self.others = 0  # users of the other companies
        self.serial = 0

    def load_to(self, total: int) -> None:
        """Bring the measured company to ``total`` users."""
        self._load(total - self.loaded, lambda n: self.companies[0], "bench0")
        self.loaded = total

    def load_others(self, count: int) -> None:
        if len(self.companies) < 2 or count < 1:
            return
        others = self.companies[1:]
        self._load(count, lambda n: others[n % len(others)], "other companies")
        self.others += count

    def _load(self, count: int, company_of, label: str) -> None:
        from accounts.models import User, UserSource
        from accounts.normalize import email_key, identity_key

        started = time.perf_counter()
        done = 0
        while done < count:
            size = min(BATCH, count - done)
            batch = []
            for n in range(done, done + size):
                company = company_of(n)
                team = self.teams[company.pk][n % 2]
                email = f"user{self.serial + n:07d}@bench{company.pk}.test"
                batch.append(
                    User(
                        email=email,
                        email_key=email_key(email),
                        username=email,
                        username_key=identity_key(email),
                        first_name="Bench",
                        last_name=f"User {self.serial + n}",
                        company=company,
                        team=team,
                        division=team.name,
                        source=UserSource.SCIM,
                        password="!",  # unusable
                    )
                )
            User.objects.bulk_create(batch, batch_size=BATCH)
            done += size
            rate = done / (time.perf_counter() - started)
            print(f"\r  loading users ({label}): {done:>9,} / {count:,}  ({rate:,.0f}/s)", end="")
            sys.stdout.flush()
        self.serial += count
        print()
        analyze()

    def user_names(self, company_index: int = 0) -> list[str]:
        from accounts.models import User

        return list(
            User.objects.filter(company=self.companies[company_index]).values_list(
                "username", flat=True
            )
        )


def analyze() -> None:
    """Fresh planner statistics and, on PostgreSQL, the visibility map, as autovacuum gives
    them after a bulk insert (it vacuums tables that only grew too): index-only scans, which
    a page's keys are read with, need it."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")


# --- measuring ---------------------------------------------------------------------------------


class Scim:
    def __init__(self, raw_token: str) -> None:
        from django.test import Client

        self.client = Client()
        self.headers = {"Authorization": f"Bearer {raw_token}"}

    def get(self, path: str, query: dict | None = None):
        url = f"/scim/v2/{path}" + ("?" + urlencode(query, quote_via=quote) if query else "")
        return self.client.get(url, headers=self.headers)

    def post(self, path: str, body: dict):
        return self.client.post(
            f"/scim/v2/{path}", json.dumps(body), content_type=MEDIA_TYPE, headers=self.headers
        )

    def patch(self, path: str, body: dict):
        return self.client.patch(
            f"/scim/v2/{path}", json.dumps(body), content_type=MEDIA_TYPE, headers=self.headers
        )


def measure(label: str, request: Callable[[int], object], runs: int, expect: int) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for i in range(3):  # warm caches and code paths
        check(label, request(-1 - i), expect)
    with CaptureQueriesContext(connection) as captured:
        check(label, request(-4), expect)
    # Read now: the next request's request_started signal empties the query log.
    queries = [q["sql"] for q in captured.captured_queries]
    timings = []
    for i in range(runs):
        started = time.perf_counter()
        response = request(i)
        timings.append((time.perf_counter() - started) * 1000)
        check(label, response, expect)
    timings.sort()
    result = {
        "label": label,
        "median": statistics.median(timings),
        "p95": timings[max(0, int(round(0.95 * len(timings))) - 1)],
        "queries": len(queries),
        "sql": queries,
    }
    print(
        f"  {label:<44} median {result['median']:7.2f} ms   p95 {result['p95']:7.2f} ms   "
        f"{result['queries']:>2} queries/request"
    )
    return result


def check(label: str, response, expect: int) -> None:
    if response.status_code != expect:
        sys.exit(
            f"bench/scim.py: {label} answered {response.status_code}: {response.content[:300]}"
        )


def explain(vendor: str, sql: str) -> list[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        if vendor == "postgresql":
            cursor.execute(f"EXPLAIN {sql}")
            return [row[0] for row in cursor.fetchall()]
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
        return [row[-1] for row in cursor.fetchall()]


def lookup_figures(scim: Scim, fixture: Fixture, vendor: str, runs: int, rng: random.Random):
    names = fixture.user_names()
    picks = [rng.choice(names) for _ in range(runs + 10)]

    def lookup(i: int):
        return scim.get(
            "Users", {"filter": f'userName eq "{picks[i].upper()}"', "startIndex": 1, "count": 100}
        )

    result = measure(f"userName eq lookup ({fixture.loaded:,} users)", lookup, runs, 200)
    body = json.loads(lookup(0).content)
    assert body["totalResults"] == 1, body
    return result


def page_figures(scim: Scim, total: int, runs: int, rng: random.Random) -> dict[str, dict]:
    """A page of 100 at the start, the middle and the end, then at random places; each checked
    against the total and the users it must hold.

    A page served remembers where the next one starts, and the page asked again seeks too:
    the figures at one place are those of a position already known. What a position nobody
    asked for costs (a skip along the index of visible users) is measured apart, "cold", with
    the remembered positions forgotten before each request."""
    from django.core.cache import cache

    results = {}
    places = {"start": 1, "middle": total // 2 + 1, "end": total - 99}
    for where, start in places.items():

        def cold(i: int, start: int = start):
            cache.clear()
            return scim.get("Users", {"startIndex": start, "count": 100})

        results[f"{where}, cold"] = measure(
            f"... at startIndex={start:,}, position unknown", cold, max(5, runs // 4), 200
        )

        def page(i: int, start: int = start):
            return scim.get("Users", {"startIndex": start, "count": 100})

        results[where] = measure(
            f"a page of 100 at startIndex={start:,} ({where})", page, runs, 200
        )
        body = json.loads(page(0).content)
        assert body["totalResults"] == total and body["itemsPerPage"] == 100, body
    starts = [rng.randint(1, total - 99) for _ in range(runs + 10)]
    results["random"] = measure(
        "a page of 100 (random startIndex)",
        lambda i: scim.get("Users", {"startIndex": starts[i], "count": 100}),
        runs,
        200,
    )
    return results


def walk_figures(scim: Scim, total: int) -> None:
    """What an IdP's import does: every page of 100 in turn. Checks that no user is missed or
    seen twice, and prints the time per page."""
    seen: set[str] = set()
    timings = []
    for start in range(1, total + 1, 100):
        started = time.perf_counter()
        response = scim.get("Users", {"startIndex": start, "count": 100})
        timings.append((time.perf_counter() - started) * 1000)
        check("walk", response, 200)
        body = json.loads(response.content)
        assert body["totalResults"] == total, body["totalResults"]
        seen.update(resource["id"] for resource in body["Resources"])
    assert len(seen) == total, (len(seen), total)
    timings.sort()
    print(
        f"  walk through all {total:,} users, {len(timings)} pages of 100: "
        f"median {statistics.median(timings):.2f} ms, "
        f"p95 {timings[int(0.95 * len(timings)) - 1]:.2f} ms per page, "
        f"{sum(timings) / 1000:.1f} s in all; every user seen once"
    )


def print_plans(vendor: str, result: dict, what: str = "the lookup's") -> None:
    print(f"  query plan of {what} queries on accounts_user:")
    for sql in result["sql"]:
        if '"accounts_user"' not in sql or "scim_token" in sql or "UPDATE" in sql[:10]:
            continue
        print(f"    SQL: {sql[:100]}…{sql[-140:]}" if len(sql) > 240 else f"    SQL: {sql}")
        for line in explain(vendor, sql):
            print(f"      {line}")


def main() -> None:
    args = parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.test_settings")
    rng = random.Random(args.seed)
    with throwaway_database() as vendor:
        import django

        django.setup()
        # Celery's in-process broker says it has no hostname on first use; that is expected.
        logging.getLogger("kombu").setLevel(logging.ERROR)
        # Nor the request and task log lines: the figures are what this prints.
        logging.disable(logging.WARNING)
        from django.core.management import call_command
        from django.db import connection

        call_command("migrate", verbosity=0)
        refuse_unless_empty()
        assert connection.vendor == vendor

        from provisioning.tokens import scim_token_issue

        fixture = Fixture(args.companies)
        _token, raw = scim_token_issue(connection=fixture.connection, label="bench")
        scim = Scim(raw)
        checkpoints = sorted({min(10_000, args.users), args.users})
        print(
            f"{args.users:,} users in company bench0, {args.other_users:,} in "
            f"{args.companies - 1} other companies; {args.runs} timed runs per figure; "
            f"checkpoints at {', '.join(f'{c:,}' for c in checkpoints)} users\n"
        )
        fixture.load_others(args.other_users)

        lookups = []
        for checkpoint in checkpoints:
            print(f"checkpoint {checkpoint:,} users")
            fixture.load_to(checkpoint)
            lookups.append(lookup_figures(scim, fixture, vendor, args.runs, rng))
            print_plans(vendor, lookups[-1])

        total = len(fixture.user_names())
        print(f"\npages of 100 ({total:,} users in bench0, {args.other_users:,} elsewhere):")
        pages = page_figures(scim, total, args.runs, rng)
        print_plans(vendor, pages["middle, cold"], what="the middle page's (cold)")
        print_plans(vendor, pages["middle"], what="the middle page's")
        print("  ratio to the 50.7 ms p50 of a page before paging was reworked:")
        for where, result in pages.items():
            print(
                f"    {where:<15} p50 {result['median']:6.2f} ms  "
                f"x{BASELINE_PAGE_MS / result['median']:.1f} faster  (p95 {result['p95']:.2f} ms)"
            )
        walk_figures(scim, total)

        measure(
            "create (POST /Users)",
            lambda i: scim.post(
                "Users",
                {
                    "schemas": [USER_SCHEMA, ENTERPRISE],
                    "userName": f"new{i + 10}@bench-new.test",
                    "name": {"givenName": "New", "familyName": f"User {i}"},
                    "emails": [
                        {"primary": True, "value": f"new{i + 10}@bench-new.test", "type": "work"}
                    ],
                    "userType": "sender",
                    ENTERPRISE: {"division": "Sales"},
                    "active": True,
                },
            ),
            args.runs,
            201,
        )
        from accounts.models import User

        ids = [
            str(i)
            for i in User.objects.filter(company=fixture.companies[0], source="scim")
            .order_by("?")
            .values_list("scim_id", flat=True)[: 2 * args.runs + 20]
        ]
        measure(
            "PATCH replace active=false",
            lambda i: scim.patch(
                f"Users/{ids[i]}",
                {
                    "schemas": [PATCH_OP],
                    "Operations": [{"op": "replace", "value": {"active": False}}],
                },
            ),
            args.runs,
            200,
        )
        measure(
            "PATCH replace division (team change)",
            lambda i: scim.patch(
                f"Users/{ids[-1 - i]}",
                {
                    "schemas": [PATCH_OP],
                    "Operations": [
                        {
                            "op": "replace",
                            "path": f"{ENTERPRISE}:division",
                            "value": "Marketing" if i % 2 else "Sales",
                        }
                    ],
                },
            ),
            args.runs,
            200,
        )

        if len(lookups) > 1:
            first, last = lookups[0], lookups[-1]
            print(
                f"\nuserName lookup: median {first['median']:.2f} ms at {checkpoints[0]:,} users, "
                f"{last['median']:.2f} ms at {checkpoints[-1]:,} users "
                f"(x{last['median'] / first['median']:.2f} for x{checkpoints[-1] / checkpoints[0]:.0f} "
                f"the users); {first['queries']} and {last['queries']} queries per request"
            )


if __name__ == "__main__":
    main()

"""A change to the sign-in path against the code before it, both served at once.

    git worktree add /tmp/before <commit>            # the code before the change
    .venv/bin/python bench/saml_acs_ab.py --before /tmp/before [--after .] [--runs 500] [--cold]
        [--sp-initiated]
        [--postgres postgres://postgres@127.0.0.1:5432/wt_bench_ab] [--no-postgres]

A machine's speed moves from hour to hour (on the project's VM, stock pysaml2's verification
read 58 to 118 ms in one evening), more than most changes to the sign-in move it, so two runs of
``bench/saml_acs.py`` an hour apart compare the machine, not the code. Here both checkouts are
served at once, each as ``bench/saml_acs.py`` serves one (its own ``Procfile`` release and web
lines, one gunicorn worker, production settings, its own database: SQLite, then PostgreSQL),
and each round signs in once on each, in alternating order, so whatever the machine does
falls on both alike. Both run with this interpreter; each checkout seeds its database with its
own ``bench/saml_acs.py seed``.

It prints, per database and per checkout, the p50 of the ACS POST, of the finish GET and of the
whole IdP-initiated sign-in (a new TCP connection per request, a user who already exists, a
fresh signed response each time), the whole sign-in's p95, the p50 of the SP-initiated
redirect (``GET /sso/<name>/login/``, after each sign-in), and the changes: after against
before. With ``--cold``, a stock pysaml2 verification (its ``xmlsec1`` processes) runs before
each sign-in, as in ``bench/saml_acs.py``'s interleaved phase: each server answers cold, as it
does there. With ``--sp-initiated``, each sign-in starts at ``GET /sso/<name>/login/`` (timed as
the redirect) and the IdP answers the request it carries. Not a test: it asserts nothing about
time.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

import saml_acs as bench  # noqa: E402 - the bench beside this file

SIDES = ("before", "after")


def compare(label: str, urls: dict[str, str], roots: dict[str, Path], idp, cert_file, args):
    targets = {side: bench.seed(urls[side], cert_file, roots[side]) for side in SIDES}
    states = {side: Path(tempfile.mkdtemp(prefix=f"bench-ab-{side}-")) for side in SIDES}
    servers: dict[str, bench.Server] = {}

    def body(side: str) -> bytes:
        return bench.acs_body(bench.signed_response(idp, targets[side]))

    timed: dict[str, list[tuple[float, float]]] = {side: [] for side in SIDES}
    redirects: dict[str, list[float]] = {side: [] for side in SIDES}
    # Both sides sign in to their own connection; --cold verifies the first side's responses.
    stock = (
        bench.stock_client(idp, targets[SIDES[0]]["audience"], targets[SIDES[0]]["acs_url"])
        if args.cold
        else None
    )

    def cool_down() -> None:
        if stock is not None:
            bench.stock_verify(stock, bench.signed_response(idp, targets[SIDES[0]]))

    try:
        for side in SIDES:
            servers[side] = bench.Server(urls[side], 1, states[side], roots[side])
            servers[side].wait_ready()
        for side in SIDES:
            for _ in range(args.warmup):
                bench.sign_in(servers[side], body(side))
        for round_number in range(args.runs):
            order = SIDES if round_number % 2 == 0 else tuple(reversed(SIDES))
            for side in order:
                cool_down()
                if args.sp_initiated:
                    started = time.perf_counter()
                    location, cookies = bench.sp_initiated_redirect(servers[side])
                    redirects[side].append((time.perf_counter() - started) * 1000)
                    signed = bench.acs_body(bench.sp_initiated_response(idp, location))
                    timed[side].append(bench.sign_in(servers[side], signed, cookies))
                    continue
                signed = body(side)  # signed beforehand: the client's work, not timed
                timed[side].append(bench.sign_in(servers[side], signed))
                started = time.perf_counter()
                bench.sp_initiated_redirect(servers[side])
                redirects[side].append((time.perf_counter() - started) * 1000)
    finally:
        for server in servers.values():
            server.stop()
        for state in states.values():
            shutil.rmtree(state, ignore_errors=True)

    print(
        f"{label} ({args.runs} rounds, each side once a round in alternating order"
        + (", SP-initiated" if args.sp_initiated else ", IdP-initiated")
        + (", each sign-in after a stock pysaml2 verification)" if args.cold else ")")
    )
    whole = {}
    redirect = {side: bench.percentiles(redirects[side])[0] for side in SIDES}
    for side in SIDES:
        acs = [a for a, _ in timed[side]]
        finish = [f for _, f in timed[side]]
        whole[side] = bench.percentiles([a + f for a, f in timed[side]])
        print(
            f"  {side:<6} {str(roots[side]):<40} ACS p50 {bench.percentiles(acs)[0]:6.2f} ms"
            f"   finish p50 {bench.percentiles(finish)[0]:6.2f} ms"
            f"   sign-in p50 {whole[side][0]:6.2f} ms  p95 {whole[side][1]:6.2f} ms"
            f"   redirect p50 {redirect[side]:6.2f} ms"
        )
    for name, (before, after) in (
        ("sign-in", (whole["before"][0], whole["after"][0])),
        ("redirect", (redirect["before"], redirect["after"])),
    ):
        print(
            f"  change of the {name}'s p50: {after - before:+.2f} ms"
            f" ({(after - before) / before * 100:+.1f}%)"
        )
    sys.stdout.flush()


def _named(url: str, suffix: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"{parts.path.rstrip('/')}_{suffix}"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="a checkout of the old code")
    parser.add_argument("--after", type=Path, default=bench.ROOT, help="default: this checkout")
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument(
        "--postgres",
        default="postgres://postgres@127.0.0.1:5432/wt_bench_ab",
        help="the stem of two databases of the bench's own (<stem>_before, <stem>_after): "
        "created afresh, dropped at the end",
    )
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument(
        "--sp-initiated",
        action="store_true",
        help="SP-initiated sign-ins: each starts with GET /login/ (timed as the redirect), the "
        "IdP answers that request",
    )
    parser.add_argument(
        "--cold",
        action="store_true",
        help="a stock pysaml2 verification before each sign-in (each server answers cold)",
    )
    args = parser.parse_args()
    roots = {"before": args.before.resolve(), "after": args.after.resolve()}
    for side, root in roots.items():
        if not (root / "Procfile").exists() or not (root / "bench" / "saml_acs.py").exists():
            raise SystemExit(f"--{side} {root} is not a checkout of this project")

    print(bench.machine(), flush=True)
    keypair = bench.make_keypair("bench.okta.example", slot="bench")
    idp = bench.TestIdP(entity_id=bench.IDP_ENTITY_ID, keypair=keypair)
    with tempfile.TemporaryDirectory() as directory:
        cert_file = Path(directory) / "idp.pem"
        cert_file.write_bytes(keypair.cert_pem)
        sqlite = {side: f"sqlite:///{Path(directory) / f'{side}.sqlite3'}" for side in SIDES}
        compare("SQLite", sqlite, roots, idp, cert_file, args)
        if args.no_postgres:
            return
        postgres = {side: bench.postgres_database(_named(args.postgres, side)) for side in SIDES}
        try:
            if all(postgres.values()):
                compare("PostgreSQL", postgres, roots, idp, cert_file, args)
        finally:
            for url in postgres.values():
                if url:
                    bench.drop_postgres_database(url)
    print(bench.machine().replace("machine:", "at the end:"))


if __name__ == "__main__":
    main()

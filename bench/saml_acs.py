"""SAML ACS benchmark: what one IdP-initiated sign-in costs, and where the time goes.

    .venv/bin/python bench/saml_acs.py [--runs 200]

Works in a throwaway SQLite database. Each run signs a fresh Okta-shaped response with the test
IdP (tests/saml_idp.py, not timed) and posts it to the real ACS through Django's test client;
the finish step is not included. Printed: median and p95 of the whole ACS request, and of the
baseline: stock pysaml2 alone (``Saml2Client.parse_authn_request_response`` with the same
configuration our adapter builds) on the same kind of response, with the ratio between them.
This is not a test; it asserts nothing about time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# Django and the project are imported inside the functions: only once _setup() has pointed
# DATABASE_URL at a temporary database and set Django up.


def _setup() -> None:
    database = Path(tempfile.mkdtemp()) / "bench.sqlite3"
    os.environ["DATABASE_URL"] = f"sqlite:///{database}"
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.test_settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def _figures(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.95) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    runs = parser.parse_args().runs
    _setup()

    import base64

    from django.test import Client
    from saml2 import BINDING_HTTP_POST

    from accounts.services import company_create
    from connections import saml
    from connections.services import connection_create
    from tests.certs import make_keypair
    from tests.saml_idp import TestIdP, okta_attributes

    keypair = make_keypair("bench.okta.example")
    company = company_create(slug="bench", name="Bench", domains=["bench.test"], teams=["Sales"])
    connection = connection_create(
        company=company,
        name="bench",
        sign_on_url="https://bench.okta.example/app/sso/saml",
        certificate_data=keypair.cert_pem,
        idp_entity_id="http://www.okta.com/bench",
    )
    idp = TestIdP(entity_id=connection.idp_entity_id, keypair=keypair)

    def response(n: int) -> bytes:
        email = f"user{n}@bench.test"
        return idp.response(
            acs_url=connection.acs_url,
            audience=connection.sp_entity_id,
            name_id=email,
            attributes=okta_attributes(email, first="Bench", last=f"User{n}", user_type="sender"),
        )

    acs, baseline = [], []
    client = Client()
    print(f"{runs} runs, each a new signed response (signing not timed)", flush=True)
    for n in range(runs):
        data = idp.post_data(response(n))
        started = time.perf_counter()
        answer = client.post(f"/sso/{connection.name}/acs/", data)
        acs.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 303, answer.content[:300]

        # Baseline: the same pysaml2 client our adapter builds, used the stock way.
        stock = saml._clients.get(connection, connection.idp_entity_id)
        encoded = base64.b64encode(response(runs + n)).decode()
        started = time.perf_counter()
        stock.parse_authn_request_response(encoded, BINDING_HTTP_POST, outstanding={})
        baseline.append((time.perf_counter() - started) * 1000)
        if (n + 1) % 50 == 0:
            print(f"  {n + 1}/{runs}", flush=True)

    acs_median, acs_p95 = _figures(acs)
    base_median, base_p95 = _figures(baseline)
    print(
        f"ACS request (all checks, DB writes)  median {acs_median:7.2f} ms  p95 {acs_p95:7.2f} ms"
    )
    print(
        f"stock pysaml2 verification alone     median {base_median:7.2f} ms  p95 {base_p95:7.2f} ms"
    )
    print(f"ratio ACS / stock pysaml2: x{acs_median / base_median:.2f} (median)")


if __name__ == "__main__":
    main()

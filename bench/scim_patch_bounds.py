"""SCIM work bounds (issue 11): how long the outside review's PATCH bodies take to be refused,
and how long the largest body the bounds allow takes to be applied.

    DJANGO_SETTINGS_MODULE=config.test_settings .venv/bin/python bench/scim_patch_bounds.py [--runs 5]

Same database rules as bench/scim.py (a temporary SQLite file, or a PostgreSQL database it
creates and drops). Every request goes through Django's test client to the real SCIM views.
Printed: median and worst wall time per body, the status and the detail of the answer.
This is not a test; it asserts nothing about time.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scim import (  # noqa: E402
    PATCH_OP,
    USER_SCHEMA,
    Fixture,
    Scim,
    refuse_unless_empty,
    throwaway_database,
)


def add_emails(operations: int, per_operation: int, *, same: bool) -> dict:
    return {
        "schemas": [PATCH_OP],
        "Operations": [
            {
                "op": "add",
                "path": "emails",
                "value": [
                    {"value": f"{'x' if same else f'op{n}-'}{i}@example.org", "type": "other"}
                    for i in range(per_operation)
                ],
            }
            for n in range(operations)
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.test_settings")
    with throwaway_database():
        import django

        django.setup()
        logging.getLogger("kombu").setLevel(logging.ERROR)
        logging.getLogger("sso.request").setLevel(logging.WARNING)  # one line per request
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        refuse_unless_empty()
        from provisioning.scim.request_limits import (
            MAX_VALUES_PER_ATTRIBUTE,
            MAX_VALUES_PER_REQUEST,
        )
        from provisioning.tokens import scim_token_issue

        fixture = Fixture(1)
        _token, raw = scim_token_issue(connection=fixture.connection, label="bench")
        scim = Scim(raw)
        created = scim.post("Users", {"schemas": [USER_SCHEMA], "userName": "p@bench0.test"})
        user = f"Users/{created.json()['id']}"
        per = MAX_VALUES_PER_ATTRIBUTE - 1
        bodies = {
            "200 ops x 100 emails (review)": add_emails(200, 100, same=False),
            "1,000 ops x 200 emails (review)": add_emails(1000, 200, same=False),
            f"{MAX_VALUES_PER_REQUEST // per} ops x {per} same emails (allowed)": add_emails(
                MAX_VALUES_PER_REQUEST // per, per, same=True
            ),
        }
        for label, body in bodies.items():
            times, response = [], None
            for _ in range(args.runs):
                started = time.perf_counter()
                response = scim.patch(user, body)
                times.append((time.perf_counter() - started) * 1000)
            detail = response.json().get("detail", "") if response.status_code != 200 else ""
            print(
                f"{label:44} {response.status_code}  median {statistics.median(times):7.1f} ms"
                f"  worst {max(times):7.1f} ms  {detail}"
            )


if __name__ == "__main__":
    main()

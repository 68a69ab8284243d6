"""How long reading a SCIM request body takes (provisioning.scim.body.decode_json), for what
IdPs send and for what an attacker sends, each at the body cap (1 MiB):

    .venv/bin/python bench/scim_body.py

Every line prints the body, its size, the outcome (parsed, or the refusal) and the time, the
best of three. The hostile bodies are the ones that once cost the most: brackets nested to the
end, a quote escaped 500,000 times (which made the nesting check quadratic: hours at 1 MiB),
NUL characters everywhere. Not a test: it asserts nothing about time.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.test_settings")

import django  # noqa: E402

django.setup()

from provisioning.scim.body import decode_json  # noqa: E402
from provisioning.scim.errors import ScimError  # noqa: E402

CAP = 1024 * 1024


def fill(pattern: bytes, head: bytes = b"", tail: bytes = b"") -> bytes:
    body = head + pattern * ((CAP - len(head) - len(tail)) // len(pattern))
    return body + tail


def group_patch(members: int) -> bytes:
    value = [{"value": str(uuid.uuid4())} for _ in range(members)]
    operation = {"op": "add", "path": "members", "value": value}
    return json.dumps({"schemas": ["urn:...:PatchOp"], "Operations": [operation]}).encode()


BODIES = [
    (
        "an Okta user",
        json.dumps({"userName": "ada@acme.com", "name": {"givenName": "Ada"}}).encode(),
    ),
    ("a group PATCH of 10,000 members", group_patch(10_000)),
    ("arrays opened to the cap", fill(b"[", tail=b"]")),
    ("arrays nested to the cap", b"[" * (CAP // 2) + b"]" * (CAP // 2)),
    ("a quote escaped to the cap, unterminated", fill(b'\\"', head=b'["')),
    ("backslash-quote to the cap", fill(b'\\"')),
    ("quotes to the cap", fill(b'"')),
    ("an array of empty strings", fill(b'"",', head=b"[", tail=b'""]')),
    ("NUL escapes in one string", fill(b"\\u0000", head=b'["', tail=b'"]')),
    ("an object of 80,000 keys", fill(b'"k":1,', head=b"{", tail=b'"k":1}')),
]


def main() -> None:
    for name, body in BODIES:
        best, outcome = float("inf"), ""
        for _ in range(3):
            started = time.perf_counter()
            try:
                decode_json(body)
                outcome = "parsed"
            except ScimError as error:
                outcome = f"{error.http_status} {error.message[:60]}"
            best = min(best, time.perf_counter() - started)
        print(f"{name:45} {len(body):>9,} B  {best * 1000:8.1f} ms  {outcome}")


if __name__ == "__main__":
    main()

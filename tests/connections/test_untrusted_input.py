"""Anonymous requests cannot fill the audit trail or the log (issue 11).

The review's attack: a response signed with any key and carrying a 240 KiB Destination wrote
240 KiB into an audit row and into the log, each time; every ``GET /sso/<unknown>/metadata/``
wrote an audit row. Now what a request carries is clipped (``core.untrusted``) before it is
stored or logged, and requests for unknown connections are counted per day
(``audit.models.RefusalTally``) in a bounded number of rows.
"""

from __future__ import annotations

import json
import logging
import secrets
from datetime import timedelta

import pytest
from django.utils import timezone

from audit import services as audit_services
from audit.models import AuditEvent, RefusalTally
from connections.services import saml_state_purge
from core.untrusted import UNTRUSTED_MAX_CHARS, clip, clip_fields
from tests.certs import make_keypair
from tests.connections.saml_helpers import idp_response, post_to_acs
from tests.saml_idp import post_data

HUGE = 240 * 1024
SMALL_ROW = 8 * 1024  # what one refusal may take at most, every field of it together
SMALL_LINE = 8 * 1024


@pytest.fixture(scope="module")
def attacker():
    return make_keypair("attacker.example", slot="attacker")


def _row_size(event: AuditEvent) -> int:
    return len(json.dumps(event.details, ensure_ascii=False)) + len(event.target)


def _huge(prefix: str, size: int = HUGE) -> str:
    return prefix + "A" * size


# The value each option puts in the response, and the code its refusal has. The issuer and
# InResponseTo appear twice in a response (Response and assertion), so they get half each: the
# whole POST must stay under the size that is refused before anything is read.
HUGE_VALUES = {
    "destination": ("saml_destination_mismatch", lambda: _huge("https://evil.example/")),
    "issuer": ("saml_issuer_mismatch", lambda: _huge("http://evil.example/", HUGE // 2)),
    "audience": ("saml_audience_mismatch", lambda: _huge("https://evil.example/")),
    "in_response_to": ("saml_in_response_to_mismatch", lambda: _huge("id", HUGE // 2)),
}


@pytest.mark.parametrize("option", HUGE_VALUES)
def test_a_huge_value_signed_by_an_unknown_key_leaves_a_small_row_and_log_line(
    acme, client, caplog, attacker, option
):
    code, value = HUGE_VALUES[option]
    xml = idp_response(acme, acme.member.email, signing_keypair=attacker, **{option: value()})
    assert len(xml) > HUGE
    caplog.set_level(logging.INFO, logger="connections")

    response = post_to_acs(client, acme.connection, xml)

    assert response.status_code == 403
    [event] = AuditEvent.objects.filter(action="sso.login_refused")
    assert event.error_code == code
    assert _row_size(event) < SMALL_ROW, _row_size(event)
    assert "…[+" in json.dumps(event.details, ensure_ascii=False)  # says that it was cut
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("connections")]
    assert lines and max(len(line) for line in lines) < SMALL_LINE


def test_a_huge_status_message_leaves_a_small_row(acme, client, attacker):
    xml = idp_response(
        acme,
        acme.member.email,
        signing_keypair=attacker,
        status_code="urn:oasis:names:tc:SAML:2.0:status:Responder",
        status_message=_huge("failed: "),
    )

    response = post_to_acs(client, acme.connection, xml)

    assert response.status_code == 403
    [event] = AuditEvent.objects.filter(action="sso.login_refused")
    assert event.error_code == "saml_status_failure"
    assert _row_size(event) < SMALL_ROW


def test_a_huge_relay_state_is_not_stored(acme, client, attacker):
    xml = idp_response(acme, acme.member.email, signing_keypair=attacker)
    response = client.post(
        f"/sso/{acme.connection.name}/acs/", post_data(xml, "/" + "a" * (200 * 1024))
    )

    assert response.status_code == 403
    [event] = AuditEvent.objects.filter(action="sso.login_refused")
    assert _row_size(event) < SMALL_ROW


# --- unknown connections are counted, not stored -------------------------------------------------


@pytest.mark.parametrize("endpoint", ["metadata", "login", "finish"])
def test_requests_for_an_unknown_connection_are_counted_not_stored(db, client, endpoint):
    for _ in range(5):
        assert client.get(f"/sso/no-such-idp/{endpoint}/").status_code == 404

    assert not AuditEvent.objects.exists()
    [tally] = RefusalTally.objects.all()
    assert (tally.code, tally.endpoint, tally.name, tally.count) == (
        "connection_unknown",
        endpoint,
        "no-such-idp",
        5,
    )
    assert tally.day == timezone.now().date()


def test_posts_to_an_unknown_acs_are_counted(acme, client):
    xml = idp_response(acme, acme.member.email)
    for _ in range(3):
        assert client.post("/sso/no-such-idp/acs/", post_data(xml)).status_code == 404

    assert not AuditEvent.objects.exists()
    assert RefusalTally.objects.get(endpoint="acs").count == 3


def test_made_up_names_cannot_grow_the_tallies_without_bound(db, client, monkeypatch):
    monkeypatch.setattr(audit_services, "TALLY_NAMES_PER_DAY", 5)
    names = [f"probe-{secrets.token_hex(4)}" for _ in range(20)]

    for name in names:
        client.get(f"/sso/{name}/metadata/")
    client.get(f"/sso/{names[-1]}/metadata/")

    rows = list(RefusalTally.objects.order_by("first_seen", "pk"))
    assert len(rows) == 6  # five names, then "other names"
    assert [r.name for r in rows[:5]] == names[:5]
    assert (rows[5].name, rows[5].count) == (RefusalTally.OTHER_NAMES, 16)
    assert sum(r.count for r in rows) == 21
    assert not AuditEvent.objects.exists()


def test_a_huge_unknown_name_is_counted_under_its_hash(db, client, caplog):
    caplog.set_level(logging.INFO, logger="connections")
    name = "x" * (4 * 1024)

    assert client.get(f"/sso/{name}/metadata/").status_code == 404

    tally = RefusalTally.objects.get()
    assert tally.name == name[:63]
    assert len(tally.name_hash) == 16
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("connections")]
    assert lines and max(len(line) for line in lines) < 1024


def test_old_tallies_are_purged(db):
    today = timezone.now().date()
    for age in (0, audit_services.TALLY_RETENTION_DAYS, audit_services.TALLY_RETENTION_DAYS + 1):
        RefusalTally.objects.create(
            day=today - timedelta(days=age), code="connection_unknown", endpoint="metadata",
            name_hash=f"{age:016d}", name="x", count=1,
        )  # fmt: skip

    saml_state_purge()

    assert sorted(RefusalTally.objects.values_list("day", flat=True)) == [
        today - timedelta(days=audit_services.TALLY_RETENTION_DAYS),
        today,
    ]


# --- the one helper --------------------------------------------------------------------------


def test_clip_cuts_long_strings_and_says_how_much():
    value = "a" * (UNTRUSTED_MAX_CHARS + 10)

    assert clip(value) == "a" * UNTRUSTED_MAX_CHARS + "…[+10 chars]"
    assert clip("short") == "short"
    assert clip(b"\xff" * 3) == "\ufffd" * 3
    assert clip(None) is None and clip(3) == 3 and clip(True) is True


def test_clip_bounds_lists_of_any_items_even_empty_ones():
    clipped = clip([""] * 100_000)

    assert len(json.dumps(clipped)) < 2 * UNTRUSTED_MAX_CHARS
    assert clipped[-1].startswith("…[+")
    assert clip(["a", "b"]) == ["a", "b"]


def test_clip_fields_clips_each_value_of_a_record():
    record = clip_fields({"destination": "d" * 10_000, "expected": "https://sso.test/acs/"})

    assert record["expected"] == "https://sso.test/acs/"
    assert len(record["destination"]) < UNTRUSTED_MAX_CHARS + 20

"""The session engine (``accounts.sessions``) writes each session once: a new session costs one
INSERT when it is saved, a save of what was already written costs nothing, and otherwise it is
Django's database store (same table, same rows, same refusal of a session that vanished)."""

from __future__ import annotations

import json

import pytest
from django.contrib.sessions.backends.base import VALID_KEY_CHARS, UpdateError
from django.contrib.sessions.backends.db import SessionStore as DjangoDatabaseStore
from django.contrib.sessions.models import Session
from django.core import signing

from accounts.sessions import SessionStore
from tests.sql_statements import statements

# Transactional (tests/sql_statements.py says why); serialized_rollback puts back what the migrations
# made, as the end-to-end tests after these expect (tests/e2e/steps.py).
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_a_new_session_is_one_insert_when_saved_and_nothing_before():
    session = SessionStore()
    with statements() as ran:
        session.cycle_key()  # what login does: a new key
        session["user"] = "42"
        key = session.session_key
    assert len(ran) == 0
    assert key is not None and not Session.objects.filter(session_key=key).exists()

    with statements() as ran:
        session.save()
        session.save()  # the middleware's save of the same data

    assert ran.kinds() == ["INSERT django_session"]
    assert ran.transactions == 1
    assert DjangoDatabaseStore(session_key=key).load() == {"user": "42"}


def test_a_change_after_saving_is_one_update():
    session = SessionStore()
    session["user"] = "42"
    session.save()

    with statements() as ran:
        session["team"] = "Sales"
        session.save()

    assert ran.kinds() == ["UPDATE django_session"]
    assert SessionStore(session_key=session.session_key).load() == {"user": "42", "team": "Sales"}


def test_a_stored_session_loads_and_saves_like_djangos():
    stored = DjangoDatabaseStore()
    stored["user"] = "42"
    stored.save()
    session = SessionStore(session_key=stored.session_key)

    assert session["user"] == "42"
    session["user"] = "43"
    session.save()
    assert DjangoDatabaseStore(session_key=stored.session_key).load() == {"user": "43"}


def test_cycling_the_key_of_a_stored_session_moves_its_data_and_drops_the_old_row():
    session = SessionStore()
    session["user"] = "42"
    session.save()
    old = session.session_key

    session.cycle_key()
    session.save()

    assert session.session_key != old
    assert list(Session.objects.values_list("session_key", flat=True)) == [session.session_key]
    assert SessionStore(session_key=session.session_key).load() == {"user": "42"}


def test_a_session_deleted_meanwhile_is_not_written_back():
    """Deprovisioning deleted the row while the request ran: the save refuses (the middleware
    turns that into SessionInterrupted) instead of resurrecting the session."""
    session = SessionStore()
    session["user"] = "42"
    session.save()
    SessionStore(session_key=session.session_key).delete()

    session["user"] = "43"
    with pytest.raises(UpdateError):
        session.save()
    assert not Session.objects.exists()


def test_a_value_changed_in_place_is_written():
    session = SessionStore()
    session["teams"] = ["Sales"]
    session.save()

    session["teams"].append("Marketing")
    session.modified = True
    session.save()

    assert SessionStore(session_key=session.session_key).load() == {"teams": ["Sales", "Marketing"]}


def test_new_keys_are_32_characters_drawn_from_every_valid_character():
    """One draw of 36^32 written in base 36: each key its own, every position uniform over
    Django's VALID_KEY_CHARS (over 2,000 keys each character shows up at every position)."""
    keys = [_new_key() for _ in range(2000)]

    assert len(set(keys)) == len(keys)
    assert all(len(key) == 32 and set(key) <= set(VALID_KEY_CHARS) for key in keys)
    for position in (0, 15, 31):
        assert {key[position] for key in keys} == set(VALID_KEY_CHARS)


def _new_key() -> str:
    session = SessionStore()
    session.create()  # what a login's cycle_key does: a key picked without asking the database
    return session.session_key


SIGNED_IN = {
    "_auth_user_id": "42",
    "_auth_user_backend": "django.contrib.auth.backends.ModelBackend",
    "_auth_user_hash": "5f" * 32,
}


def test_a_session_is_stored_signed_but_not_compressed_and_both_stores_read_each_other():
    ours = SessionStore()
    ours.update(SIGNED_IN)
    ours.save()
    djangos = DjangoDatabaseStore()
    djangos.update(SIGNED_IN)
    djangos.save()

    stored = Session.objects.get(session_key=ours.session_key).session_data
    compressed = Session.objects.get(session_key=djangos.session_key).session_data
    # django.core.signing marks a compressed value with a leading "."; Django compresses this one.
    assert compressed.startswith(".") and not stored.startswith(".")
    assert DjangoDatabaseStore(session_key=ours.session_key).load() == SIGNED_IN
    assert SessionStore(session_key=djangos.session_key).load() == SIGNED_IN


def test_a_session_whose_data_was_tampered_with_loads_empty():
    session = SessionStore()
    session.update(SIGNED_IN)
    session.save()
    row = Session.objects.get(session_key=session.session_key)
    _, signed_rest = row.session_data.split(":", 1)
    forged = signing.b64_encode(json.dumps({**SIGNED_IN, "_auth_user_id": "43"}).encode())
    row.session_data = f"{forged.decode()}:{signed_rest}"  # another user, the old signature
    row.save()

    assert SessionStore(session_key=session.session_key).load() == {}

"""The session engine (``SESSION_ENGINE = "accounts.sessions"``): Django's database sessions,
each written once.

Django's database store makes a new session (at every login: ``cycle_key``) by asking the
database whether a random key is free, inserting an empty row for it, and letting the middleware
update that row with the session's data at the end of the request: three statements and two
commits for one session. This store picks the key without asking (32 characters out of 36: two
keys collide with odds of one in 10^49, and the row's unique key would still refuse it) and
writes the row once, when the session is saved; saving data this object already wrote does
nothing. The sign-in's finish step saves the session inside its own transaction
(``connections.views.finish``), so the session lands with the rest of the sign-in and the
middleware's save at the end of the response writes nothing more.

It stores what ``django.contrib.sessions.backends.db`` stores, in the same table, signed the
same way but not compressed: a signed-in session is about 280 characters plain, 160 compressed,
and zlib's compressor sets up a few hundred kilobytes of state for each call (fresh memory on
every sign-in, which costs more than the rest of the encoding). Django's store reads these rows
as it reads its own (the signed value says whether it was compressed) and this one reads
Django's: the deprovisioning task ends sessions through it like through Django's.
"""

from __future__ import annotations

import secrets

from django.contrib.sessions.backends.base import VALID_KEY_CHARS, CreateError, UpdateError
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.contrib.sessions.models import Session
from django.core import signing
from django.db import IntegrityError

from core.compiled import CompiledQuery, Param, insert_row

_SESSION_UPDATE = CompiledQuery(
    lambda key, data, expires: Session.objects.filter(session_key=key),
    update={"session_data": Param("data"), "expire_date": Param("expires")},
)


_KEY_LENGTH = 32
_KEY_SPACE = len(VALID_KEY_CHARS) ** _KEY_LENGTH


def _new_session_key() -> str:
    """32 characters of ``VALID_KEY_CHARS``, uniformly random as Django's
    ``get_random_string(32, VALID_KEY_CHARS)``, from one draw of the OS's generator (a number
    below 36^32, written in base 36) rather than one draw per character."""
    number = secrets.randbelow(_KEY_SPACE)
    characters = []
    for _ in range(_KEY_LENGTH):
        number, digit = divmod(number, len(VALID_KEY_CHARS))
        characters.append(VALID_KEY_CHARS[digit])
    return "".join(characters)


class SessionStore(DatabaseSessionStore):
    def __init__(self, session_key: str | None = None) -> None:
        super().__init__(session_key)
        self._row_missing = False  # a key made here: its row is inserted by the first save
        self._written: bytes | None = None  # the data this object last wrote, serialized

    def create(self) -> None:
        # Unlike Django's, no row yet: the first save inserts it (with the data by then).
        self._session_key = _new_session_key()
        self._row_missing = True
        self._get_session(no_load=True)
        self.modified = True

    def encode(self, session_dict: dict) -> str:
        # Django's, without compress=True (see the module).
        return signing.dumps(session_dict, salt=self.key_salt, serializer=self.serializer)

    def save(self, must_create: bool = False) -> None:
        if self.session_key is None:
            self.create()
        must_create = must_create or self._row_missing
        data = self._get_session(no_load=must_create)
        # Compared serialized (not signed: cheap), so a value changed in place still counts.
        serialized = self.serializer().dumps(data)
        if not must_create and serialized == self._written:
            return
        instance = self.create_model_instance(data)
        # No savepoint around it, unlike Django's: a clash of random keys cannot be retried in
        # practice anyway, and a savepoint is two more statements on every login.
        if must_create:  # every sign-in's: the INSERT compiled once per process
            try:
                insert_row(instance)
            except IntegrityError:
                raise CreateError from None
        elif not _SESSION_UPDATE.fetch(
            key=instance.session_key, data=instance.session_data, expires=instance.expire_date
        ):
            # The row is gone: the middleware says so.
            raise UpdateError
        self._row_missing = False
        self._written = serialized

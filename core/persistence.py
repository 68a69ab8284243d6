"""The two steps every write service takes: validate with the model's rules, then save with the
database settling uniqueness (so a race ends in a Conflict, not a 500)."""

from __future__ import annotations

import hashlib
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, models, transaction

from core.exceptions import Conflict, ValidationFailed

M = TypeVar("M", bound=models.Model)


def validated(instance: M, **full_clean_options: Any) -> M:
    """``full_clean()``, with a failure as a ``ValidationFailed`` whose message says which rule."""
    try:
        instance.full_clean(**full_clean_options)
    except ValidationError as error:
        raise ValidationFailed.from_django(error) from None
    return instance


def apply_changes(instance: models.Model, changes: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Set the fields that really change and return them as {field: {"from", "to"}} for the
    audit event (related objects shown by their name). Empty when nothing changes."""
    diff = {}
    for field, value in changes.items():
        old = getattr(instance, field)
        if old != value:
            diff[field] = {"from": _describe(old), "to": _describe(value)}
            setattr(instance, field, value)
    return diff


def _describe(value: Any) -> Any:
    return str(value) if isinstance(value, models.Model) else value


def save_or_conflict(instance: M, conflict_message: str, **save_options: Any) -> M:
    """Save in a savepoint; a unique constraint that fails becomes ``Conflict``."""
    try:
        with transaction.atomic():
            instance.save(**save_options)
    except IntegrityError:
        raise Conflict(conflict_message) from None
    return instance


def advisory_lock(key: str, *, shared: bool = False) -> None:
    """Hold a lock named ``key`` until the current transaction ends, so that a check and the write
    it allows cannot interleave with another transaction's check and write on the same key.

    On PostgreSQL this is ``pg_advisory_xact_lock`` (shared ones do not wait for each other, an
    exclusive one waits for all). SQLite needs none: it lets one transaction write at a time."""
    if connection.vendor != "postgresql":
        return
    number = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big", signed=True)
    function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {function}(%s)", [number])  # noqa: S608 - one of two names

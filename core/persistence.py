"""The two steps every write service takes: validate with the model's rules, then save with the
database settling uniqueness (so a race ends in a Conflict, not a 500)."""

from __future__ import annotations

import hashlib
from typing import Any, TypeVar

from django.core.exceptions import EmptyResultSet, FullResultSet, ValidationError
from django.db import IntegrityError, connection, connections, models, router, transaction

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


def delete_returning(queryset: models.QuerySet[M]) -> list[M]:
    """Delete the rows of ``queryset`` and return them, in one statement: ``DELETE ... WHERE ...
    RETURNING ...`` (PostgreSQL, and SQLite since 3.35). Reading a row and then deleting it
    takes two statements, and two requests can both read it before either deletes it; here the
    database hands each row to exactly one caller.

    Django's ``QuerySet.delete()`` returns counts, not rows, so the statement is built here: the
    queryset's own WHERE clause, compiled by Django (lookups and parameters adapted as in any
    query), then run through ``Model.objects.raw``, which turns the returned columns into model
    instances with the same converters as a SELECT. Only filters on the model's own table are
    allowed (a DELETE has no joins); signals and cascades are not run, as with ``_raw_delete``.
    """
    model = queryset.model
    using = router.db_for_write(model)
    try:
        sql, params = delete_returning_sql(queryset, connections[using])
    except EmptyResultSet:  # e.g. pk__in=[]: nothing can match
        return []
    return list(model.objects.raw(sql, params, using=using))


def delete_returning_sql(queryset: models.QuerySet, wrapper) -> tuple[str, list]:
    """The ``DELETE ... WHERE ... RETURNING <every column>`` of ``delete_returning`` (also run
    compiled: ``core.compiled.CompiledQuery(..., delete=True)``)."""
    where, params = _own_table_where(queryset, wrapper, "delete_returning()")
    table, columns = _table_and_columns(queryset.model, wrapper)
    sql = f"DELETE FROM {table} WHERE {where} RETURNING {columns}"  # noqa: S608 - identifiers from the model, values as parameters
    return sql, params


def update_returning_sql(
    queryset: models.QuerySet, wrapper, values: dict[str, Any]
) -> tuple[str, list]:
    """``UPDATE ... SET <values> WHERE ... RETURNING <every column>`` (the columns as they are
    after the update), for ``core.compiled.CompiledQuery(..., update=...)``: rows taken by one
    caller and kept, in one statement."""
    where, params = _own_table_where(queryset, wrapper, "an update returning rows")
    table, columns = _table_and_columns(queryset.model, wrapper)
    quote = wrapper.ops.quote_name
    assignments, set_params = [], []
    for name, value in values.items():
        field = queryset.model._meta.get_field(name)
        assignments.append(f"{quote(field.column)} = %s")
        set_params.append(field.get_db_prep_save(value, connection=wrapper))
    sql = f"UPDATE {table} SET {', '.join(assignments)} WHERE {where} RETURNING {columns}"  # noqa: S608 - identifiers from the model, values as parameters
    return sql, set_params + params


def _own_table_where(queryset: models.QuerySet, wrapper, what: str) -> tuple[str, list]:
    query = queryset.query
    # A filter on a foreign key leaves an unused join in the map; a filter across it uses it.
    if sum(1 for count in query.alias_refcount.values() if count) > 1:
        raise ValueError(f"{what} takes filters on the model's own table only")
    try:
        where, params = query.get_compiler(connection=wrapper).compile(query.where)
    except FullResultSet:
        where = ""
    if not where:
        raise ValueError(f"{what} refuses to touch every row")
    return where, list(params)


def _table_and_columns(model: type[models.Model], wrapper) -> tuple[str, str]:
    quote = wrapper.ops.quote_name
    columns = ", ".join(quote(f.column) for f in model._meta.concrete_fields)
    return quote(model._meta.db_table), columns

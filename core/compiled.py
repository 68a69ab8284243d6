"""Queries the ORM builds once per process and then runs with each call's values.

On a short request, building a query is most of what the ORM costs: a one-row SELECT by a key
takes about 0.3 ms of Python to build (the filters resolved, the columns listed, the SQL put
together) and a tenth of that to run and turn into an instance. The sign-in path runs the same
few lookups on every request, so ``CompiledQuery`` lets Django build each one once: it calls the
builder with marker values standing in for a call's values, keeps the SQL Django compiled, where
each marker landed among its parameters and the converters of its columns, and from then on runs
that SQL with the real values in the markers' places.

The SQL is the ORM's own (lookups, quoting, vendor differences, ``Meta.ordering``), and every
statement goes through Django's cursor (its execute wrappers, its error translation). What the
builder may do is checked when it is compiled, so a misuse fails at the first call, in tests:
- one model's rows, no ``select_related``, annotations or ``values()``;
- every value is a ``str``, an ``int`` or an aware ``datetime`` (a list of them for ``__in``)
  that the lookup passes to the database unchanged, so the marker must come out of the
  compiler as it went in (a field that normalizes, as ``DomainNameField`` does, gets values
  already normalized: the marker is made of characters normalizing keeps). A ``datetime`` is
  adapted for the database exactly as the compiler adapts it.
"""

from __future__ import annotations

import secrets
import weakref
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from django.db import DEFAULT_DB_ALIAS, connections, models, router, transaction
from django.db.models.constants import OnConflict
from django.db.models.sql.subqueries import InsertQuery

from core.batched_writes import result_unread

M = TypeVar("M", bound=models.Model)

_MARKER_EPOCH = datetime(1901, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Param:
    """In ``CompiledQuery(update=...)``: the value the call passes as ``name``."""

    name: str


class CompiledQuery(Generic[M]):
    """``build(**values)`` returns the queryset; ``CompiledQuery(build).fetch(**values)`` its
    rows. With ``delete=True`` the rows are deleted and handed back in one statement
    (``core.persistence.delete_returning``); with ``update={field: value}`` the fields are set
    (a ``Param`` value: the call's value of that name) and the rows handed back as they are
    after it, in one statement. A list value compiles one
    statement per length."""

    def __init__(
        self,
        build: Callable[..., models.QuerySet[M]],
        *,
        delete: bool = False,
        update: dict[str, Any] | None = None,
    ) -> None:
        if delete and update:
            raise ValueError("a compiled query deletes or updates, not both")
        self._build = build
        self._delete = delete
        self._update = update
        # Per database wrapper (one per thread and alias): converters are bound to it.
        self._compiled: weakref.WeakKeyDictionary[Any, dict[tuple, _Compiled]] = (
            weakref.WeakKeyDictionary()
        )
        self._model: type[M] | None = None

    def fetch(self, **values: Any) -> list[M]:
        return self._compiled_for(values).run(values)

    def _compiled_for(self, values: dict[str, Any]) -> _Compiled:
        model = self._model or self._build(**values).model
        self._model = model
        writes = self._delete or bool(self._update)
        using = (router.db_for_write if writes else router.db_for_read)(model)
        wrapper = connections[using]
        shape = tuple(
            (name, len(value) if isinstance(value, list | tuple) else -1)
            for name, value in sorted(values.items())
        )
        per_wrapper = self._compiled.setdefault(wrapper, {})
        compiled = per_wrapper.get(shape)
        if compiled is None:
            compiled = per_wrapper[shape] = _compile(
                self._build, values, wrapper, self._delete, self._update
            )
        return compiled

    def first(self, **values: Any) -> M | None:
        rows = self.fetch(**values)
        return rows[0] if rows else None

    def apply(self, **values: Any) -> None:
        """Run an ``update=`` or ``delete=`` query for its effect only: nothing is read back (so
        it can be one of ``core.batched_writes.writes_batched()``)."""
        if not (self._delete or self._update):
            raise ValueError("apply() runs a compiled update or delete")
        with result_unread():
            self._compiled_for(values).execute(values)


def fetch_together(*reads: tuple[CompiledQuery, dict[str, Any]]) -> list[list]:
    """The rows of several compiled reads (``(query, values)``, none an update or delete), each
    list as its own ``fetch(**values)`` would return it, read in one statement: ``SELECT 0,
    <the first read's columns>, NULL, ... FROM (<its SQL>) UNION ALL SELECT 1, NULL, ...,
    <the second's> ...``, each read's columns in a slot of their own. A short request pays the
    database per statement; reads that always run together can be one."""
    if any(query._delete or query._update for query, _ in reads):
        raise ValueError("fetch_together() runs reads only")
    compiled = [query._compiled_for(values) for query, values in reads]
    wrapper = compiled[0].wrapper
    if any(each.wrapper is not wrapper for each in compiled):
        raise ValueError("fetch_together() reads one database")
    key = tuple(compiled)
    built = _together.setdefault(wrapper, {}).get(key)
    if built is None:
        built = _together[wrapper][key] = (_together_sql(compiled), _slot_starts(compiled))
    sql, starts = built
    params = [
        value
        for each, (_, values) in zip(compiled, reads, strict=True)
        for value in each._params(values)
    ]
    with wrapper.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    found: list[list] = [[] for _ in compiled]
    for row in rows:
        index = row[0]
        start = starts[index]
        found[index].append(row[start : start + len(compiled[index].attnames)])
    return [each.instances(rows) for each, rows in zip(compiled, found, strict=True)]


def _slot_starts(compiled: list[_Compiled]) -> list[int]:
    starts, start = [], 1  # column 0 says which read a row is of
    for each in compiled:
        starts.append(start)
        start += len(each.attnames)
    return starts


def _together_sql(compiled: list[_Compiled]) -> str:
    widths = [len(each.attnames) for each in compiled]
    selects = []
    for index, each in enumerate(compiled):
        before = ["NULL"] * sum(widths[:index])
        after = ["NULL"] * sum(widths[index + 1 :])
        columns = ", ".join([str(index), *before, f"read{index}.*", *after])
        selects.append(f"SELECT {columns} FROM ({each.sql}) read{index}")  # noqa: S608 - the ORM's SQL
    return " UNION ALL ".join(selects)


# Per database wrapper and reads: the statement and where each read's columns start in its rows.
_together: weakref.WeakKeyDictionary[Any, dict[tuple, tuple[str, list[int]]]] = (
    weakref.WeakKeyDictionary()
)


def model_rows(model: type[M], using: str = DEFAULT_DB_ALIAS) -> ModelRows[M]:
    """How the ORM turns rows of ``model``'s columns (every concrete field, in order) into
    instances, for SQL written by hand that selects them (``connections.sign_in.take``)."""
    wrapper = connections[using]
    per_wrapper = _model_rows.setdefault(wrapper, {})
    rows = per_wrapper.get(model)
    if rows is None:
        rows = per_wrapper[model] = ModelRows(model, wrapper)
    return rows


class ModelRows(Generic[M]):
    def __init__(self, model: type[M], wrapper) -> None:
        fields = model._meta.concrete_fields
        self.model = model
        self.wrapper = wrapper
        self.attnames = [field.attname for field in fields]
        self.compiler = model.objects.none().query.get_compiler(connection=wrapper)
        columns = [field.get_col(model._meta.db_table) for field in fields]
        self.converters = self.compiler.get_converters(columns)

    def instance(self, values: tuple) -> M:
        """The instance of one row's values, converted as the ORM converts what it reads."""
        if self.converters:
            values = next(iter(self.compiler.apply_converters([values], self.converters)))
        return self.model.from_db(self.wrapper.alias, self.attnames, values)


# Per database wrapper (one per thread and alias): converters are bound to it.
_model_rows: weakref.WeakKeyDictionary[Any, dict[type, ModelRows]] = weakref.WeakKeyDictionary()


class _Compiled:
    def __init__(self, wrapper, model, sql, slots, attnames, converters, compiler) -> None:
        self.wrapper = wrapper
        self.model = model
        self.sql = sql
        self.slots = slots  # per parameter: ("value", name, index or None) or ("fixed", value)
        self.attnames = attnames
        self.converters = converters
        self.compiler = compiler

    def run(self, values: dict[str, Any]) -> list:
        with self.wrapper.cursor() as cursor:
            cursor.execute(self.sql, self._params(values))
            rows = cursor.fetchall()
        return self.instances(rows)

    def instances(self, rows: list) -> list:
        if self.converters:
            rows = self.compiler.apply_converters(rows, self.converters)
        alias = self.wrapper.alias
        return [self.model.from_db(alias, self.attnames, row) for row in rows]

    def execute(self, values: dict[str, Any]) -> None:
        with self.wrapper.cursor() as cursor:
            cursor.execute(self.sql, self._params(values))

    def _params(self, values: dict[str, Any]) -> list:
        params = []
        for slot in self.slots:
            if slot[0] == "fixed":
                params.append(slot[1])
                continue
            _, name, index = slot
            value = values[name] if index is None else values[name][index]
            params.append(_adapt(value, self.wrapper))
        return params


def _adapt(value: Any, wrapper) -> Any:
    if isinstance(value, datetime):
        return wrapper.ops.adapt_datetimefield_value(value)
    if isinstance(value, str | int) and not isinstance(value, bool):
        return value
    raise TypeError(f"a compiled query takes str, int or datetime values, not {type(value)}")


def _marker(value: Any) -> Any:
    if isinstance(value, datetime):
        return _MARKER_EPOCH + timedelta(microseconds=secrets.randbelow(10**12))
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise TypeError(f"a compiled query takes str, int or datetime values, not {type(value)}")
    if isinstance(value, int):
        return 1_000_000_000 + secrets.randbelow(2**31 - 1_000_000_001)
    return "cq" + secrets.token_hex(12)  # lowercase letters and digits: normalizing keeps it


def _compile(build, values: dict[str, Any], wrapper, delete: bool, update) -> _Compiled:
    markers: dict[str, Any] = {}
    wanted: dict[Any, tuple[str, int | None]] = {}
    for name, value in values.items():
        if isinstance(value, list | tuple):
            markers[name] = [_marker(item) for item in value]
            for index, marker in enumerate(markers[name]):
                wanted[_adapt(marker, wrapper)] = (name, index)
        else:
            markers[name] = _marker(value)
            wanted[_adapt(markers[name], wrapper)] = (name, None)
    queryset = build(**markers)
    model = queryset.model
    if queryset._fields is not None or queryset.query.annotations:
        raise ValueError("a compiled query returns model instances only")
    compiler = queryset.query.get_compiler(connection=wrapper)
    if delete or update:
        from core.persistence import delete_returning_sql, update_returning_sql

        if delete:
            sql, params = delete_returning_sql(queryset, wrapper)
        else:
            values_set = {
                field: markers[value.name] if isinstance(value, Param) else value
                for field, value in update.items()
            }
            sql, params = update_returning_sql(queryset, wrapper, values_set)
        fields = model._meta.concrete_fields
        columns = [field.get_col(model._meta.db_table) for field in fields]
        attnames = [field.attname for field in fields]
    else:
        sql, params = compiler.as_sql()
        info = compiler.klass_info
        if (
            info is None
            or info.get("related_klass_infos")
            or len(info["select_fields"]) != len(compiler.select)
        ):
            raise ValueError("a compiled query selects one model's columns only (no joins)")
        columns = [column for column, _, _ in compiler.select]
        attnames = [column.target.attname for column in columns]
    slots = []
    found = set()
    for param in params:
        where = wanted.get(param) if isinstance(param, str | int | datetime) else None
        if where is None:
            slots.append(("fixed", param))
        else:
            slots.append(("value", *where))
            found.add(where)
    if found != set(wanted.values()):
        missing = sorted(name for name, _ in set(wanted.values()) - found)
        raise ValueError(f"compiled query: the value of {missing} does not reach the SQL as given")
    converters = compiler.get_converters(columns)
    return _Compiled(wrapper, model, sql, slots, attnames, converters, compiler)


# --- one row inserted ------------------------------------------------------------------------


def insert_row(
    instance: M,
    *,
    on_conflict: OnConflict | None = None,
    unique_fields: tuple[str, ...] = (),
    update_fields: tuple[str, ...] = (),
    read_key: bool = True,
) -> M:
    """``instance.save(force_insert=True)`` (or, with ``on_conflict``, the one-row
    ``bulk_create(ignore_conflicts=... / update_conflicts=...)``) with the INSERT Django compiled
    for the model once per process: the values prepared by Django's insert compiler as a save
    prepares them, the generated key read back from ``RETURNING`` (unless ``read_key=False``: the
    instance's key then stays unset, and the INSERT can be one of
    ``core.batched_writes.writes_batched()``). What ``save()`` adds is not
    done: no ``pre_save``/``post_save`` signals (none is connected to the models written this
    way), no parent tables. A clash raises ``IntegrityError`` as ``save()`` does."""
    wrapper, compiled = _compiled_insert(
        instance, on_conflict, unique_fields, update_fields, read_key
    )
    params = _insert_params(compiled, instance)
    with (
        transaction.mark_for_rollback_on_error(wrapper.alias),
        nullcontext() if compiled.returning else result_unread(),
        wrapper.cursor() as cursor,
    ):
        cursor.execute(compiled.sql, [*params, *compiled.trailing])
        if compiled.returning:
            setattr(instance, type(instance)._meta.auto_field.attname, cursor.fetchone()[0])
    instance._state.adding = False
    instance._state.db = wrapper.alias
    return instance


def insert_row_if(
    instance: M, condition: str, params: list, *, with_query: tuple[str, list] | None = None
) -> bool:
    """``insert_row(instance, read_key=False)`` as one ``INSERT ... SELECT <the values> WHERE
    <condition>``: the row is inserted only if the SQL ``condition`` (with its ``params``)
    holds when the statement runs. Returns whether it was. ``with_query``: the SQL and
    parameters of a ``WITH`` put before it (PostgreSQL). A data-modifying part of that runs
    whether or not the row is inserted: to write both or neither, make ``condition`` depend on
    what the part returns."""
    wrapper, compiled = _compiled_insert(instance, None, (), (), False)
    if compiled.select_sql is None:
        raise ValueError("insert_row_if() writes a plain INSERT ... VALUES (...)")
    sql = f"{compiled.select_sql} WHERE {condition}"
    values = [*_insert_params(compiled, instance), *params]
    if with_query is not None:
        sql, values = f"WITH {with_query[0]} {sql}", [*with_query[1], *values]
    with transaction.mark_for_rollback_on_error(wrapper.alias), wrapper.cursor() as cursor:
        cursor.execute(sql, values)
        inserted = cursor.rowcount == 1
    if inserted:
        instance._state.adding = False
        instance._state.db = wrapper.alias
    return inserted


def _compiled_insert(instance, on_conflict, unique_fields, update_fields, read_key):
    """The database wrapper ``instance`` is written to, and its model's INSERT compiled there
    once per process."""
    model = type(instance)
    if model._meta.parents:
        raise ValueError("insert_row() writes a model without parent tables")
    wrapper = connections[router.db_for_write(model, instance=instance)]
    pk_set = instance.pk is not None
    returning = read_key and not pk_set
    key = (model, on_conflict, unique_fields, update_fields, pk_set, returning)
    per_wrapper = _inserts.setdefault(wrapper, {})
    compiled = per_wrapper.get(key)
    if compiled is None:
        compiled = per_wrapper[key] = _CompiledInsert(
            wrapper, model, on_conflict, unique_fields, update_fields, pk_set, returning
        )
    return wrapper, compiled


def _insert_params(compiled: _CompiledInsert, instance) -> list:
    """The row's values, prepared by Django's insert compiler as a save prepares them."""
    return [
        compiled.compiler.prepare_value(field, compiled.compiler.pre_save_val(field, instance))
        for field in compiled.fields
    ]


_inserts: weakref.WeakKeyDictionary[Any, dict[tuple, _CompiledInsert]] = weakref.WeakKeyDictionary()


class _CompiledInsert:
    def __init__(
        self, wrapper, model, on_conflict, unique_fields, update_fields, pk_set, returning
    ) -> None:
        meta = model._meta
        self.fields = [
            field
            for field in meta.local_concrete_fields
            if not field.generated and (pk_set or field is not meta.auto_field)
        ]
        self.returning = bool(
            returning
            and meta.auto_field is not None
            and on_conflict is None
            and wrapper.features.can_return_columns_from_insert
        )
        query = InsertQuery(
            model,
            on_conflict=on_conflict,
            unique_fields=[meta.get_field(name) for name in unique_fields],
            update_fields=[meta.get_field(name) for name in update_fields],
        )
        # Compiled from an empty instance: only the SQL is kept, never its values.
        query.insert_values(self.fields, [model()], raw=False)
        self.compiler = query.get_compiler(connection=wrapper)
        if self.returning:
            self.compiler.returning_fields = [meta.auto_field]
        statements = self.compiler.as_sql()
        if len(statements) != 1:
            raise ValueError("insert_row() compiles one statement")
        self.sql, compiled_params = statements[0]
        if self.sql.count("%s") != len(compiled_params) or any(
            hasattr(value, "as_sql") for value in compiled_params
        ):
            raise ValueError("insert_row() takes plain values (no expressions, placeholders)")
        # What follows the row's values (RETURNING's parameters, if the backend has any).
        self.trailing = list(compiled_params[len(self.fields) :])
        # The same row as ``INSERT ... SELECT <the values>``, for insert_row_if's WHERE (None:
        # not a plain INSERT ... VALUES (...)).
        head, values_at, values = self.sql.rpartition(" VALUES (")
        plain = values_at and not self.trailing and values.endswith(")")
        self.select_sql = f"{head} SELECT {values[:-1]}" if plain else None

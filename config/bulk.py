"""Writing many rows in one statement, each column sent as an array.

Django's `bulk_update` builds a `CASE WHEN id = ... THEN ...` per row and
compiles it in Python, and `bulk_create` prepares every value of every row
through its field: for the close's thousands of rows that costs more than
the database's work. On PostgreSQL `values_set` and `rows_insert` send one
array per column instead; elsewhere (SQLite: the demo and `make test`)
they fall back to Django's bulk methods.
"""

from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Any

from django.db import IntegrityError, connection, models, transaction
from django.utils.functional import Promise

from config.rows import concrete_field


def values_set(
    model: type[models.Model],
    column: str,
    values: Mapping[int, Any],
    *,
    also: Mapping[str, Any] | None = None,
) -> int:
    """Set `column` of each row whose primary key is in `values` to its own
    value, and the columns of `also` to one value for all. Returns the
    number of rows written."""
    if not values:
        return 0
    also = dict(also or {})
    if connection.vendor != "postgresql":
        rows = list(model._default_manager.filter(pk__in=list(values)))
        for row in rows:
            setattr(row, column, values[row.pk])
            for name, value in also.items():
                setattr(row, name, value)
        return model._default_manager.bulk_update(rows, [column, *also])
    pk = concrete_field(model, "pk")
    field = concrete_field(model, column)
    quote = connection.ops.quote_name
    assignments = [f"{quote(field.column)} = v.value"]
    shared: list[Any] = []
    for name, value in also.items():
        other = concrete_field(model, name)
        assignments.append(f"{quote(other.column)} = %s")
        shared.append(other.get_db_prep_save(value, connection))
    sql = (
        # Names from the model's own metadata; values go as parameters.
        f"UPDATE {quote(model._meta.db_table)} AS t "  # noqa: S608
        f"SET {', '.join(assignments)} "
        f"FROM unnest(%s::{pk.db_type(connection)}[], "
        f"%s::{field.db_type(connection)}[]) AS v(id, value) "
        f"WHERE t.{quote(pk.column)} = v.id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*shared, list(values), list(values.values())])
        return int(cursor.rowcount)


def rows_insert(rows: Sequence[models.Model], *, ignore_conflicts: bool = False) -> int:
    """Insert unsaved model instances of one model, without reading their
    ids back; with `ignore_conflicts`, a row that breaks a unique constraint
    is dropped. Returns how many rows were written (on SQLite, how many were
    given). Columns are taken as set on the instances, `auto_now_add` filled
    in; a model with a JSON column is left to `bulk_create`."""
    if not rows:
        return 0
    model = type(rows[0])
    meta = model._meta
    fields = [
        field
        for field in meta.concrete_fields
        if not (field.primary_key and getattr(rows[0], field.attname) is None)
    ]
    if connection.vendor != "postgresql" or any(
        isinstance(field, models.JSONField) for field in fields
    ):
        model._default_manager.bulk_create(rows, ignore_conflicts=ignore_conflicts)
        return len(rows)
    quote = connection.ops.quote_name
    columns = [[_plain(field.pre_save(row, True)) for row in rows] for field in fields]
    arrays = ", ".join(f"%s::{field.db_type(connection)}[]" for field in fields)
    sql = (
        f"INSERT INTO {quote(meta.db_table)} "  # noqa: S608 (names from the model)
        f"({', '.join(quote(field.column) for field in fields)}) "
        f"SELECT * FROM unnest({arrays})"
        + (" ON CONFLICT DO NOTHING" if ignore_conflicts else "")
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, columns)
        return int(cursor.rowcount)


def row_insert_once(row: models.Model) -> bool:
    """Insert one unsaved row unless it breaks a unique constraint (a retry,
    or a second report of the same fact); True when it was written. One
    statement on PostgreSQL (`ON CONFLICT DO NOTHING`) where a lookup then
    an insert took four round trips; elsewhere an insert in a savepoint."""
    if connection.vendor == "postgresql":
        return rows_insert([row], ignore_conflicts=True) == 1
    try:
        with transaction.atomic():
            row.save(force_insert=True)
    except IntegrityError:
        return False
    return True


def _plain(value: Any) -> Any:
    """A choice (a str or int enum) as its value, psycopg would send an
    enum's name; a lazy translation as its text."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Promise):
        return str(value)
    return value

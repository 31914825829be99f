"""Writing many rows, each its own value, in one statement.

Django's `bulk_update` builds a `CASE WHEN id = ... THEN ...` per row and
compiles it in Python: for the close's thousands of rows that costs more
than the database's work. On PostgreSQL `values_set` sends the ids and the
values as two arrays instead; elsewhere (SQLite: the demo and `make test`)
it falls back to `bulk_update`.
"""

from collections.abc import Mapping
from typing import Any

from django.db import connection, models


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
    meta = model._meta
    field = _concrete(model, column)
    quote = connection.ops.quote_name
    assignments = [f"{quote(field.column)} = v.value"]
    shared: list[Any] = []
    for name, value in also.items():
        other = _concrete(model, name)
        assignments.append(f"{quote(other.column)} = %s")
        shared.append(other.get_db_prep_save(value, connection))
    sql = (
        # Names from the model's own metadata; values go as parameters.
        f"UPDATE {quote(meta.db_table)} AS t SET {', '.join(assignments)} "  # noqa: S608
        f"FROM unnest(%s::{_concrete(model, 'pk').db_type(connection)}[], "
        f"%s::{field.db_type(connection)}[]) AS v(id, value) "
        f"WHERE t.{quote(_concrete(model, 'pk').column)} = v.id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*shared, list(values), list(values.values())])
        return int(cursor.rowcount)


def _concrete(model: type[models.Model], name: str) -> models.Field[Any, Any]:
    field = model._meta.pk if name == "pk" else model._meta.get_field(name)
    if not isinstance(field, models.Field) or not field.concrete:
        raise ValueError(f"{model.__name__}.{name} is not a column")
    return field

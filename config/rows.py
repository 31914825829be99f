"""Model instances read and written by written-out SQL.

A repayment runs the same few statements on every request: the token's
user, the loan locked with its member, its installments locked, one
installment updated, the repayment inserted. Compiling each through the
ORM cost more CPU than PostgreSQL spent answering it (docs/performance.md,
"Online"). `Columns` keeps the model the one source of column names and
conversions: the SQL names its columns through it, and it turns the row
back into an instance through the converters the ORM itself applies
(SQLite's decimals and dates need them; PostgreSQL's need none).
"""

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from django.db import connection, models

M = TypeVar("M", bound=models.Model)
Converter = Callable[[Any, Any, Any], Any]


class Columns(Generic[M]):
    """Every concrete column of `model`, under the table alias `alias`."""

    def __init__(self, model: type[M], alias: str) -> None:
        self.model = model
        self.alias = alias
        self.fields = list(model._meta.concrete_fields)
        self.names = [field.attname for field in self.fields]
        self._converters: dict[str, list[tuple[int, Any, list[Converter]]]] = {}

    def __len__(self) -> int:
        return len(self.fields)

    @property
    def table(self) -> str:
        """The model's table, quoted, with its alias: for FROM and JOIN."""
        return f"{connection.ops.quote_name(self.model._meta.db_table)} {self.alias}"

    @property
    def select(self) -> str:
        """The columns for a SELECT list, in the order `build` expects."""
        quote = connection.ops.quote_name
        return ", ".join(f"{self.alias}.{quote(field.column)}" for field in self.fields)

    def build(self, values: Sequence[Any]) -> M:
        """The instance of one row's values, as the ORM would load it."""
        values = list(values)
        for index, column, converters in self._converters_now():
            for convert in converters:
                values[index] = convert(values[index], column, connection)
        return self.model.from_db(connection.alias, self.names, values)

    def _converters_now(self) -> list[tuple[int, Any, list[Converter]]]:
        # The backend's converters and the field's own (`from_db_value`),
        # once per database vendor: what SQLCompiler.get_converters gives.
        vendor = connection.vendor
        if vendor not in self._converters:
            found = []
            for index, field in enumerate(self.fields):
                column = field.get_col(self.alias)
                converters = [
                    *connection.ops.get_db_converters(column),
                    *column.get_db_converters(connection),
                ]
                if converters:
                    found.append((index, column, converters))
            self._converters[vendor] = found
        return self._converters[vendor]


def row_update(row: models.Model, fields: Sequence[str]) -> None:
    """Write `fields` of a saved row, as `save(update_fields=...)` would,
    without compiling the UPDATE through the ORM (signals are not sent)."""
    model = type(row)
    quote = connection.ops.quote_name
    targets = [_concrete(model, name) for name in fields]
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in targets)
    values = [
        field.get_db_prep_save(getattr(row, field.attname), connection)
        for field in targets
    ]
    sql = (
        f"UPDATE {quote(model._meta.db_table)} SET {assignments} "  # noqa: S608
        f"WHERE {quote(_concrete(model, 'pk').column)} = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*values, row.pk])
        if cursor.rowcount != 1:
            missing = f"{model.__name__} {row.pk} was not updated"
            raise model.DoesNotExist(missing)  # type: ignore[attr-defined]


def row_insert(row: models.Model) -> None:
    """Insert one unsaved row and set its primary key, as `save()` would
    (with `auto_now_add` filled in and the database errors, an
    `IntegrityError` among them, as Django raises them), without compiling
    the INSERT through the ORM. Signals are not sent."""
    model = type(row)
    pk = _concrete(model, "pk")
    quote = connection.ops.quote_name
    fields = [field for field in model._meta.concrete_fields if field is not pk]
    values = [
        field.get_db_prep_save(field.pre_save(row, True), connection)
        for field in fields
    ]
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} "  # noqa: S608 (the model's names)
        f"({', '.join(quote(field.column) for field in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))}) "
        f"RETURNING {quote(pk.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        (key,) = cursor.fetchone()
    setattr(row, pk.attname, key)
    row._state.adding = False
    row._state.db = connection.alias


def _concrete(model: type[models.Model], name: str) -> models.Field[Any, Any]:
    field = model._meta.pk if name == "pk" else model._meta.get_field(name)
    if not isinstance(field, models.Field) or not field.concrete:
        raise ValueError(f"{model.__name__}.{name} is not a column")
    return field

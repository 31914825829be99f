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

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.db.backends.base.base import BaseDatabaseWrapper

M = TypeVar("M", bound=models.Model)
Converter = Callable[[Any, Any, Any], Any]


class Columns(Generic[M]):
    """Every concrete column of `model`, under the table alias `alias`."""

    def __init__(self, model: type[M], alias: str) -> None:
        self.model = model
        self.alias = alias
        self.fields = list(model._meta.concrete_fields)
        self.names = [field.attname for field in self.fields]
        # What depends on the database, worked out once per vendor: these
        # run on every request, where even the connection's lookups count.
        self._prepared: dict[str, _Prepared] = {}

    def __len__(self) -> int:
        return len(self.fields)

    @property
    def table(self) -> str:
        """The model's table, quoted, with its alias: for FROM and JOIN."""
        return self._now(connection).table

    @property
    def select(self) -> str:
        """The columns for a SELECT list, in the order `build` expects."""
        return self._now(connection).select

    def build(self, values: Sequence[Any]) -> M:
        """The instance of one row's values, as the ORM would load it."""
        return self.build_all([values])[0]

    def build_all(self, rows: Iterable[Sequence[Any]]) -> list[M]:
        """The instances of rows of these columns, as the ORM would load them."""
        db = connections[DEFAULT_DB_ALIAS]
        converters = self._now(db).converters
        built = []
        for row in rows:
            values = list(row)
            for index, column, convert in converters:
                values[index] = convert(values[index], column, db)
            built.append(self.model.from_db(db.alias, self.names, values))
        return built

    def _now(self, db: BaseDatabaseWrapper) -> "_Prepared":
        prepared = self._prepared.get(db.vendor)
        if prepared is None:
            prepared = self._prepared[db.vendor] = self._prepare(db)
        return prepared

    def _prepare(self, db: BaseDatabaseWrapper) -> "_Prepared":
        quote = db.ops.quote_name
        converters = []
        for index, field in enumerate(self.fields):
            # The backend's converters, then the field's own
            # (`from_db_value`): what SQLCompiler.get_converters gives.
            column = field.get_col(self.alias)
            for convert in [
                *db.ops.get_db_converters(column),
                *column.get_db_converters(db),
            ]:
                converters.append((index, column, convert))
        return _Prepared(
            table=f"{quote(self.model._meta.db_table)} {self.alias}",
            select=", ".join(
                f"{self.alias}.{quote(field.column)}" for field in self.fields
            ),
            converters=converters,
        )


@dataclass(frozen=True)
class _Prepared:
    table: str
    select: str
    converters: list[tuple[int, Any, Converter]]


def row_update(row: models.Model, fields: Sequence[str]) -> None:
    """Write `fields` of a saved row, as `save(update_fields=...)` would,
    without compiling the UPDATE through the ORM (signals are not sent)."""
    model = type(row)
    quote = connection.ops.quote_name
    targets = [concrete_field(model, name) for name in fields]
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in targets)
    values = [
        field.get_db_prep_save(getattr(row, field.attname), connection)
        for field in targets
    ]
    sql = (
        f"UPDATE {quote(model._meta.db_table)} SET {assignments} "  # noqa: S608
        f"WHERE {quote(concrete_field(model, 'pk').column)} = %s"
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
    pk = concrete_field(model, "pk")
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


def concrete_field(model: type[models.Model], name: str) -> models.Field[Any, Any]:
    """The field of a column of `model` ("pk" for its primary key)."""
    field = model._meta.pk if name == "pk" else model._meta.get_field(name)
    if not isinstance(field, models.Field) or not field.concrete:
        raise ValueError(f"{model.__name__}.{name} is not a column")
    return field

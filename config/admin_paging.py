"""Admin lists of tables that grow with the book, paged without counting
every row.

An exact COUNT(*) reads the whole table: on PostgreSQL, half a million
journal entries take seconds to count, on every page of the list. The
planner already keeps each table's size in `pg_class.reltuples` (kept
fresh by autovacuum's ANALYZE), so when a list shows the whole table, and
the table is large, the paginator takes that estimate instead. A filter,
a search, a user who sees only some branches or SQLite all count exactly.

Add `LongListAdmin` to a model admin of such a table; it also drops the
second count the admin makes for "N of M selected".
"""

from typing import Any

from django.contrib import admin
from django.core.paginator import EmptyPage, PageNotAnInteger, Paginator
from django.db import connection
from django.db.models import QuerySet
from django.utils.functional import cached_property

# Below this many rows an exact count is cheap and shown as it is.
ESTIMATE_FROM = 100_000


def table_estimate(table: str) -> int | None:
    """The planner's row count of `table` on PostgreSQL; None elsewhere, or
    while the table has never been analysed."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)",
            [connection.ops.quote_name(table)],
        )
        row = cursor.fetchone()
    if row is None or row[0] is None or row[0] < 0:
        return None
    return int(row[0])


class EstimatedCountPaginator(Paginator[Any]):
    """Counts exactly, unless the rows are a whole large PostgreSQL table."""

    @cached_property
    def estimate(self) -> int | None:
        rows = self.object_list
        if not isinstance(rows, QuerySet) or rows.query.where:
            return None
        if rows.query.distinct or rows.query.combinator:
            return None
        estimate = table_estimate(rows.model._meta.db_table)
        if estimate is None or estimate < ESTIMATE_FROM:
            return None
        return estimate

    @cached_property
    def count(self) -> int:
        return self.estimate if self.estimate is not None else super().count

    def validate_number(self, number: Any) -> int:
        if self.estimate is None:
            return super().validate_number(number)
        # The estimate may fall short of the rows there are: a page past it
        # is read (and may come back short or empty) rather than refused.
        try:
            page = int(number)
        except (TypeError, ValueError):
            raise PageNotAnInteger(self.error_messages["invalid_page"]) from None
        if page < 1:
            raise EmptyPage(self.error_messages["min_page"])
        return page


class LongListAdmin(admin.ModelAdmin[Any]):
    """A changelist of a table that grows with the book: estimated when
    unfiltered and large, and never counted twice."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False

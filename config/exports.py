"""Admin list exports: the selected rows, as the list shows them, to CSV or
Excel. The rows come from the list's own queryset, so staff export only the
branches they see; `view` permission is enough (auditors export too).

Add `ExportActions` to a model admin and `*EXPORT_ACTIONS` to its actions.
The columns are the list's `list_display`. Money stays a number whatever
the column's source: a two-place decimal field, an admin method returning a
Decimal, or one marked `@money_column` (which the list shows as ¥1,234.56).
Excel gets a number cell formatted #,##0.00; CSV a plain decimal (1234.56).
"""

import csv
from collections.abc import Callable, Iterator
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import wraps
from itertools import chain
from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import label_for_field, lookup_field
from django.db.models import DecimalField, QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils import timezone
from django.utils.html import strip_tags
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from config.money import yuan

EXPORT_ACTIONS = ["export_csv", "export_xlsx"]
CHUNK = 2000
FORMULA_STARTS = ("=", "+", "-", "@")
MONEY_FORMAT = "#,##0.00"
FEN = Decimal("0.01")


class Amount(Decimal):
    """An amount of money in a row being exported, to the fen."""


Cell = str | int | Decimal | date | datetime | bool | None
Shown = Callable[[Any, Any], str]


def money_column(method: Callable[[Any, Any], Decimal | None]) -> Shown:
    """Mark an admin method as an amount of money: the list shows what it
    returns as ¥1,234.56, exports keep the Decimal itself."""

    @wraps(method)
    def shown(modeladmin: Any, obj: Any) -> str:
        return yuan(method(modeladmin, obj))

    shown.export_amount = method  # type: ignore[attr-defined]
    return shown


def _amount(value: Decimal | int | None) -> Amount | None:
    if value is None:
        return None
    return Amount(Decimal(value).quantize(FEN, rounding=ROUND_HALF_UP))


def _is_money_field(field: Any) -> bool:
    return isinstance(field, DecimalField) and field.decimal_places == 2


def _cell(field: Any, value: Any) -> Cell:
    """Numbers and dates stay numbers and dates; choices show their label.
    Two-place decimal fields and Decimals from admin methods are money."""
    if value is None:
        return None
    if field is not None and getattr(field, "choices", None):
        return str(dict(field.flatchoices).get(value, value))
    if isinstance(value, datetime):
        return timezone.localtime(value).replace(tzinfo=None)
    if isinstance(value, Decimal) and (field is None or _is_money_field(field)):
        return _amount(value)
    if isinstance(value, bool | int | Decimal | date):
        return value
    text = strip_tags(str(value))
    # A cell a spreadsheet would read as a formula is kept as text.
    return "'" + text if text[:1] in FORMULA_STARTS else text


def _xlsx_cell(sheet: WriteOnlyWorksheet, value: Cell) -> Any:
    """Money as a number cell showing 1,234.56; the rest as it is."""
    if not isinstance(value, Amount):
        return value
    # openpyxl writes a Decimal as a number; its type stubs leave it out.
    cell = WriteOnlyCell(sheet, value=Decimal(value))  # type: ignore[arg-type]
    cell.number_format = MONEY_FORMAT
    return cell


class _Echo:
    """A file that hands back what is written, for streaming CSV lines."""

    def write(self, value: str) -> str:
        return value


class ExportActions(admin.ModelAdmin[Any]):
    def export_columns(self, request: HttpRequest) -> list[str]:
        """The list's columns that have a name (all of ours do)."""
        return [
            name
            for name in self.get_list_display(request)
            if isinstance(name, str) and name != "action_checkbox"
        ]

    def export_header(self, request: HttpRequest) -> list[str]:
        return [
            capfirst(str(label_for_field(name, self.model, self)))
            for name in self.export_columns(request)
        ]

    def export_rows(
        self, request: HttpRequest, queryset: QuerySet[Any]
    ) -> Iterator[list[Cell]]:
        columns = self.export_columns(request)
        for obj in queryset.iterator(chunk_size=CHUNK):
            row: list[Cell] = []
            for name in columns:
                amount_of = getattr(getattr(self, name, None), "export_amount", None)
                if amount_of is not None:
                    row.append(_amount(amount_of(self, obj)))
                    continue
                field, _attr, value = lookup_field(name, obj, self)
                row.append(_cell(field, value))
            yield row

    def export_filename(self, extension: str) -> str:
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        return f"{self.opts.model_name}-{stamp}.{extension}"

    @admin.action(description=_("Export selected rows to CSV"), permissions=["view"])
    def export_csv(
        self, request: HttpRequest, queryset: QuerySet[Any]
    ) -> StreamingHttpResponse:
        writer = csv.writer(_Echo())
        header: list[Cell] = list(self.export_header(request))
        rows = chain([header], self.export_rows(request, queryset))
        # A byte order mark first, so that Excel reads the Chinese as UTF-8.
        body = chain(["\ufeff"], (writer.writerow(row) for row in rows))
        response = StreamingHttpResponse(body, content_type="text/csv; charset=utf-8")
        name = self.export_filename("csv")
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response

    @admin.action(description=_("Export selected rows to Excel"), permissions=["view"])
    def export_xlsx(
        self, request: HttpRequest, queryset: QuerySet[Any]
    ) -> HttpResponse:
        book = Workbook(write_only=True)
        sheet = book.create_sheet(title=str(self.opts.verbose_name_plural)[:31])
        sheet.append(self.export_header(request))
        for row in self.export_rows(request, queryset):
            sheet.append([_xlsx_cell(sheet, value) for value in row])
        response = HttpResponse(
            content_type=(
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            )
        )
        name = self.export_filename("xlsx")
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        book.save(response)
        return response

"""Dates and rates as the borrower reads them, in the active language."""

from datetime import date, datetime
from decimal import Decimal

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import get_language

CHINESE_DATE = "Y年n月j日"


def local_date(value: date | datetime | None) -> str:
    """2026年2月15日 in Chinese; Django's DATE_FORMAT in any other language."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = timezone.localtime(value).date()
    if (get_language() or "").lower().startswith("zh"):
        return date_format(value, CHINESE_DATE)
    return date_format(value, "DATE_FORMAT")


def percent(rate: Decimal | None) -> str:
    """A fraction as a percentage without trailing zeros: 0.000500 → 0.05%."""
    if rate is None:
        return ""
    shown = (rate * 100).normalize()
    return f"{shown:f}%"

"""Runs the daily close: the steps named in `settings.CLOSE_STEPS`, in order,
each recorded as done for its date, so a second run changes nothing and a
killed run resumes at the step it was in."""

import logging
import time
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string

from loans.models import BusinessDay, CloseStep

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]


def _quiet(message: str) -> None:
    pass


def close_day(*, on: date, progress: Progress = _quiet) -> BusinessDay:
    day, _created = BusinessDay.objects.get_or_create(on=on)
    if day.closed_at is not None:
        progress(f"{on}: already closed")
        return day
    done = set(day.steps.values_list("name", flat=True))
    for name in settings.CLOSE_STEPS:
        if name in done:
            progress(f"{on}: {name} already done")
            continue
        step = import_string(name)
        started = time.monotonic()
        rows = step(on=on)
        seconds = Decimal(f"{time.monotonic() - started:.3f}")
        CloseStep.objects.create(day=day, name=name, rows=rows, seconds=seconds)
        logger.info("Close %s: %s touched %d rows in %ss", on, name, rows, seconds)
        progress(f"{on}: {name}: {rows} rows in {seconds}s")
    day.closed_at = timezone.now()
    day.save(update_fields=["closed_at"])
    return day


def dates_to_close(until: date) -> list[date]:
    """Every date not yet closed up to `until`; the first close starts there."""
    unfinished = (
        BusinessDay.objects.filter(closed_at__isnull=True).order_by("on").first()
    )
    last = BusinessDay.objects.filter(closed_at__isnull=False).order_by("-on").first()
    if unfinished is not None:
        start = unfinished.on
    elif last is not None:
        start = last.on + timedelta(days=1)
    else:
        start = until
    return [start + timedelta(days=n) for n in range((until - start).days + 1)]


def close_through(*, until: date, progress: Progress = _quiet) -> list[BusinessDay]:
    return [close_day(on=on, progress=progress) for on in dates_to_close(until)]

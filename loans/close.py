"""Runs the daily close: the steps named in `settings.CLOSE_STEPS`, in order,
each recorded as done for its date, so a second run changes nothing and a
killed run resumes at the step it was in.

Steps that work through the loans in chunks take the runner of their chunks
(see `loans.chunks`): in this process by default, or spread over the Celery
workers of the `close` queue (`close_day(..., chunks=chunks_dispatched)`).
One close runs at a time: on PostgreSQL a second one is refused while the
first holds the close's advisory lock.
"""

import inspect
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection
from django.utils import timezone
from django.utils.module_loading import import_string

from loans.chunks import Chunks
from loans.models import BusinessDay, CloseStep

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]


def _quiet(message: str) -> None:
    pass


# The key of the PostgreSQL advisory lock a close holds while it runs.
CLOSE_LOCK = 8_2026_0001


class CloseRunning(RuntimeError):
    """Another close holds the lock."""


@contextmanager
def close_lock() -> Iterator[None]:
    """Hold the close's lock for the session, or refuse at once.

    SQLite (the demo, one process) has no advisory locks; nothing is held.
    """
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [CLOSE_LOCK])
        (locked,) = cursor.fetchone()
    if not locked:
        raise CloseRunning("Another close is running; this one did not start.")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [CLOSE_LOCK])


def close_day(
    *, on: date, progress: Progress = _quiet, chunks: Chunks | None = None
) -> BusinessDay:
    with close_lock():
        return _close_day(on=on, progress=progress, chunks=chunks)


def _close_day(*, on: date, progress: Progress, chunks: Chunks | None) -> BusinessDay:
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
        if chunks is not None and "chunks" in inspect.signature(step).parameters:
            rows = step(on=on, chunks=chunks)
        else:
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


def close_through(
    *, until: date, progress: Progress = _quiet, chunks: Chunks | None = None
) -> list[BusinessDay]:
    with close_lock():
        return [
            _close_day(on=on, progress=progress, chunks=chunks)
            for on in dates_to_close(until)
        ]

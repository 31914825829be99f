"""How a step of the close works through the open loans: in chunks.

A chunked step names a chunk function, `f(*, on, first, last) -> rows`,
which does the step for the open loans whose ids lie between `first` and
`last`, in its own transactions, and is safe to run again. The step hands it
to a runner with the ranges of ids (`loan_ranges`): `chunks_here` runs them
one after another in this process; `chunks_dispatched` sends each as a
Celery task to the workers of the `close` queue and waits until every chunk
is recorded done, so the next step starts only after the last chunk of this
one. The ranges are read in one query and held as pairs of ids, never the
ids themselves.
"""

import logging
import time
from collections.abc import Callable, Sequence
from datetime import date

from django.conf import settings
from django.db import connection
from django.utils.module_loading import import_string

from loans.models import BusinessDay, CloseStep, Loan

logger = logging.getLogger(__name__)

Ranges = Sequence[tuple[int, int]]
Chunks = Callable[[str, date, Ranges], int]

# How often a waiting close looks for chunks done, in seconds.
POLL = 0.2


def loan_ranges(*, size: int) -> list[tuple[int, int]]:
    """The first and last id of each run of `size` open loans, in id order."""
    table = Loan._meta.db_table
    states = list(Loan.OPEN_STATES)
    marks = ", ".join(["%s"] * len(states))
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT min(id), max(id) FROM (
                SELECT id, (row_number() OVER (ORDER BY id) - 1) / %s AS run
                  FROM {table} WHERE state IN ({marks})) AS numbered
             GROUP BY run ORDER BY run
            """,  # noqa: S608 (the table name is the model's)
            [size, *states],
        )
        return [(first, last) for first, last in cursor.fetchall()]


def chunks_here(chunk: str, on: date, ranges: Ranges) -> int:
    """Run every chunk in this process, in order."""
    function = import_string(chunk)
    return sum(function(on=on, first=first, last=last) for first, last in ranges)


def chunk_name(chunk: str, first: int, last: int) -> str:
    return f"{chunk}:{first}-{last}"


def chunk_failed_name(name: str) -> str:
    """The mark a chunk task leaves when its work failed and was undone."""
    return f"{name}!"


class ChunkFailed(RuntimeError):
    """A chunk of a dispatched step failed on its worker."""


def chunks_dispatched(chunk: str, on: date, ranges: Ranges) -> int:
    """Send each chunk not yet done to the close workers; wait for them all.

    A chunk task records itself as a `CloseStep` row named after its range in
    the transaction of its work, so a chunk runs once however often it is
    sent, and a close resumed after a crash sends only the chunks missing.
    The records go once the step is whole; the step is then recorded as
    one row as in a close run in one process. A chunk that fails leaves a
    mark instead, and the close stops with `ChunkFailed`.
    """
    from loans.tasks import loans_close_chunk

    day = BusinessDay.objects.get(on=on)
    names = {chunk_name(chunk, first, last): (first, last) for first, last in ranges}
    failures = CloseStep.objects.filter(
        day=day, name__in=[chunk_failed_name(name) for name in names]
    )
    # Failures of an earlier run are what this run is here to redo.
    failures.delete()
    done = set(
        CloseStep.objects.filter(day=day, name__in=names).values_list("name", flat=True)
    )
    for name, (first, last) in names.items():
        if name not in done:
            loans_close_chunk.apply_async(
                args=[chunk, on.isoformat(), first, last], queue="close"
            )
    deadline = time.monotonic() + settings.CLOSE_TIME_LIMIT
    while True:
        records = CloseStep.objects.filter(day=day, name__in=names)
        if records.count() == len(names):
            break
        failed = list(failures.values_list("name", flat=True))
        if failed:
            failures.delete()
            raise ChunkFailed(
                f"Close {on}: {', '.join(failed)} failed (see the worker's log); "
                "run the close again to resume"
            )
        if time.monotonic() > deadline:
            raise TimeoutError(f"Close {on}: chunks of {chunk} not done in time")
        time.sleep(POLL)
    rows = sum(records.values_list("rows", flat=True))
    records.delete()
    logger.info("Close %s: %s done in %d chunks", on, chunk, len(names))
    return rows

"""Celery tasks of loans. They take plain values and call a service."""

import logging
import time
from datetime import date
from decimal import Decimal

from celery import shared_task
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from loans.chunks import chunk_failed_name, chunk_name
from loans.close import close_through
from loans.models import BusinessDay, CloseStep

logger = logging.getLogger(__name__)


@shared_task
def loans_close_business_day() -> int:
    """Nightly, from beat: close every business date up to today."""
    return len(close_through(until=timezone.localdate()))


@shared_task(acks_late=True)
def loans_close_chunk(chunk: str, on: str, first: int, last: int) -> int:
    """One chunk of a step of the close, sent by `loans.chunks.chunks_dispatched`
    to the `close` queue: the open loans with ids from `first` to `last`.
    Its work and the record that it is done commit together, so a chunk
    delivered twice runs once."""
    day = BusinessDay.objects.get(on=date.fromisoformat(on))
    name = chunk_name(chunk, first, last)
    started = time.monotonic()
    try:
        with transaction.atomic():
            if CloseStep.objects.filter(day=day, name=name).exists():
                return 0
            rows = import_string(chunk)(on=day.on, first=first, last=last)
            seconds = Decimal(f"{time.monotonic() - started:.3f}")
            CloseStep.objects.create(day=day, name=name, rows=rows, seconds=seconds)
    except Exception:
        # The waiting close learns of it from this mark and stops; the
        # chunk's work was rolled back and runs again when the close does.
        logger.exception("Close %s: chunk %s failed", on, name)
        CloseStep.objects.get_or_create(
            day=day, name=chunk_failed_name(name), defaults={"seconds": 0}
        )
        raise
    return int(rows)

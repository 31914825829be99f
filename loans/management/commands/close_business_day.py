"""`manage.py close_business_day [--date YYYY-MM-DD]`."""

import logging
from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from loans.chunks import chunks_dispatched
from loans.close import CloseRunning, close_through

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Close every business date not yet closed up to --date (today by "
        "default), in order, so a machine that was down catches up. Safe to run "
        "twice; resumes a close that stopped at the step it was in."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--date",
            type=date.fromisoformat,
            default=None,
            help="Last business date to close, YYYY-MM-DD (default: today).",
        )
        parser.add_argument(
            "--on-workers",
            action="store_true",
            help=(
                "Send the chunks of loans to the Celery workers of the close "
                "queue and wait for them, instead of working here."
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        until = options["date"] or timezone.localdate()
        if until > timezone.localdate():
            raise CommandError("A business date in the future cannot be closed.")
        chunks = chunks_dispatched if options["on_workers"] else None
        try:
            days = close_through(until=until, progress=self.stdout.write, chunks=chunks)
        except CloseRunning as error:
            raise CommandError(str(error)) from error
        except Exception as error:
            # The steps done are recorded; the next run resumes after them.
            logger.exception("Close through %s stopped", until)
            raise CommandError(
                f"The close stopped: {error}. Fix the cause and run again; "
                "it resumes at the step that failed."
            ) from error
        self.stdout.write(
            self.style.SUCCESS(f"Closed through {until} ({len(days)} dates).")
        )

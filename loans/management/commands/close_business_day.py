"""`manage.py close_business_day [--date YYYY-MM-DD]`."""

from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from loans.close import close_through


class Command(BaseCommand):
    help = (
        "Close every business date not yet closed up to --date (today by "
        "default), in order. Safe to run twice; resumes a close that stopped."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--date", type=date.fromisoformat, default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        until = options["date"] or timezone.localdate()
        if until > timezone.localdate():
            raise CommandError("A business date in the future cannot be closed.")
        days = close_through(until=until, progress=self.stdout.write)
        self.stdout.write(
            self.style.SUCCESS(f"Closed through {until} ({len(days)} dates).")
        )

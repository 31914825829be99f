"""`manage.py ledger_check [--from YYYY-MM-DD] [--to YYYY-MM-DD]`."""

from datetime import date, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from loans.ledger_check import ledger_check


class Command(BaseCommand):
    help = (
        "Check the ledger: every journal entry dated in the range is balanced, "
        "the whole ledger's debits equal its credits, and each open loan's "
        "receivables on the ledger equal what its schedule leaves unpaid. "
        "Prints a report; exits with status 1 when anything disagrees."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--from",
            dest="start",
            type=date.fromisoformat,
            default=None,
            help="First business date of entries to check (default: 30 days ago).",
        )
        parser.add_argument(
            "--to",
            dest="end",
            type=date.fromisoformat,
            default=None,
            help="Last business date of entries to check (default: today).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        end = options["end"] or timezone.localdate()
        start = options["start"] or end - timedelta(days=30)
        if start > end:
            raise CommandError("--from must not be after --to.")

        report = ledger_check(start=start, end=end, progress=self.stdout.write)

        for pk, wrong in report.unbalanced_entries.items():
            self.stdout.write(
                f"Entry {pk}: debits {wrong.expected} != credits {wrong.found}"
            )
        for loan_id, disagreements in report.loans_disagreeing.items():
            for wrong in disagreements:
                self.stdout.write(
                    f"Loan {loan_id}: {wrong.what} on the ledger {wrong.found}, "
                    f"schedule says {wrong.expected}"
                )
        if report.debits != report.credits:
            self.stdout.write(
                f"Whole ledger unbalanced by {report.debits - report.credits}"
            )
        if not report.ok:
            raise CommandError(
                f"Ledger disagrees: {len(report.unbalanced_entries)} unbalanced "
                f"entries, {len(report.loans_disagreeing)} loans off their schedule."
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Ledger agrees: {report.entries_checked} entries, "
                f"{report.loans_checked} open loans."
            )
        )

"""Checks that the ledger still tells the truth, for `manage.py ledger_check`.

Three questions: is each journal entry of a date range balanced, is the whole
ledger balanced, and does each open loan's receivable on the ledger equal
what its schedule says is unpaid? Reads only; every figure is in fen.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from django.db.models import DecimalField, F, Q, Sum

from loans import ledger
from loans.models import ZERO, Account, Installment, JournalEntry, Loan
from loans.schedule import CENT

CHUNK = 2000

Progress = Callable[[str], None]


def _quiet(message: str) -> None:
    pass


@dataclass(frozen=True)
class Disagreement:
    what: str
    expected: Decimal
    found: Decimal


@dataclass
class LedgerReport:
    entries_checked: int = 0
    loans_checked: int = 0
    debits: Decimal = ZERO
    credits: Decimal = ZERO
    unbalanced_entries: dict[int, Disagreement] = field(default_factory=dict)
    loans_disagreeing: dict[int, list[Disagreement]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return (
            self.debits == self.credits
            and not self.unbalanced_entries
            and not self.loans_disagreeing
        )


def _fen(value: Decimal | float | None) -> Decimal:
    # SQLite sums decimals as floats; a fen is the ledger's unit.
    return Decimal(str(value or 0)).quantize(CENT)


def _entries(start: date, end: date) -> Iterator[tuple[int, Decimal, Decimal]]:
    rows = (
        JournalEntry.objects.filter(on__range=(start, end))
        .annotate(debit=Sum("lines__debit"), credit=Sum("lines__credit"))
        .order_by("pk")
        .values_list("pk", "debit", "credit")
    )
    for pk, debit, credit in rows.iterator(chunk_size=CHUNK):
        yield pk, _fen(debit), _fen(credit)


def _unpaid(amount: str, paid: str, **extra: Any) -> Sum:
    return Sum(F(amount) - F(paid), output_field=DecimalField(), **extra)


def schedule_receivables(loan_ids: list[int]) -> dict[int, dict[str, Decimal]]:
    """What each loan's schedule says is owed, per receivable account:
    unpaid principal, unpaid interest already fallen due, unpaid penalty."""
    rows = (
        Installment.objects.filter(loan_id__in=loan_ids)
        .values("loan_id")
        .annotate(
            principal=_unpaid("principal", "paid_principal"),
            interest=_unpaid(
                "interest", "paid_interest", filter=Q(interest_recognised=True)
            ),
            penalty=_unpaid("penalty", "paid_penalty"),
        )
    )
    return {
        row["loan_id"]: {
            Account.PRINCIPAL_RECEIVABLE: _fen(row["principal"]),
            Account.INTEREST_RECEIVABLE: _fen(row["interest"]),
            Account.PENALTY_RECEIVABLE: _fen(row["penalty"]),
        }
        for row in rows
    }


def _open_loan_chunks() -> Iterator[list[int]]:
    ids = list(
        Loan.objects.filter(state__in=Loan.OPEN_STATES)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def ledger_check(
    *, start: date, end: date, progress: Progress = _quiet
) -> LedgerReport:
    report = LedgerReport()

    for pk, debit, credit in _entries(start, end):
        report.entries_checked += 1
        if debit != credit:
            report.unbalanced_entries[pk] = Disagreement("entry", debit, credit)
    progress(f"Entries from {start} to {end}: {report.entries_checked} checked")

    report.debits, report.credits = ledger.totals()
    progress(f"Whole ledger: debits {report.debits}, credits {report.credits}")

    for chunk in _open_loan_chunks():
        on_ledger = ledger.balances(chunk)
        on_schedule = schedule_receivables(chunk)
        for loan_id in chunk:
            expected = on_schedule.get(loan_id, {})
            found = on_ledger[loan_id]
            wrong = [
                Disagreement(account, expected.get(account, ZERO), found[account])
                for account in (
                    Account.PRINCIPAL_RECEIVABLE,
                    Account.INTEREST_RECEIVABLE,
                    Account.PENALTY_RECEIVABLE,
                )
                if expected.get(account, ZERO) != found[account]
            ]
            if wrong:
                report.loans_disagreeing[loan_id] = wrong
        report.loans_checked += len(chunk)
        progress(f"Open loans: {report.loans_checked} checked")
    return report

"""The double-entry ledger: every money event is one balanced entry.

`post` writes one entry; `post_many` writes many at once for the close.
Both refuse an unbalanced entry before it reaches the database, where
PostgreSQL checks again at commit (see migration 0002).
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.db.models import Sum

from loans.models import ZERO, Account, JournalEntry, JournalLine, Loan
from loans.schedule import CENT


class UnbalancedEntry(ValueError):
    pass


@dataclass
class Entry:
    loan_id: int
    kind: JournalEntry.Kind
    on: date
    dedupe_key: str
    memo: str = ""
    lines: list[tuple[Account, Decimal, Decimal]] = field(default_factory=list)

    def debit(self, account: Account, amount: Decimal) -> "Entry":
        if amount:
            self.lines.append((account, amount, ZERO))
        return self

    def credit(self, account: Account, amount: Decimal) -> "Entry":
        if amount:
            self.lines.append((account, ZERO, amount))
        return self

    def check(self) -> None:
        debits = sum((line[1] for line in self.lines), ZERO)
        credits = sum((line[2] for line in self.lines), ZERO)
        if debits != credits or not self.lines:
            raise UnbalancedEntry(
                f"Entry {self.dedupe_key}: debits {debits} != credits {credits}"
            )


def post_many(entries: Sequence[Entry]) -> list[JournalEntry]:
    """Write balanced entries with their lines in two bulk inserts."""
    for entry in entries:
        entry.check()
    rows = JournalEntry.objects.bulk_create(
        JournalEntry(
            loan_id=entry.loan_id,
            kind=entry.kind,
            on=entry.on,
            memo=entry.memo,
            dedupe_key=entry.dedupe_key,
        )
        for entry in entries
    )
    JournalLine.objects.bulk_create(
        JournalLine(
            entry=row,
            loan_id=entry.loan_id,
            account=account,
            debit=debit,
            credit=credit,
        )
        for row, entry in zip(rows, entries, strict=True)
        for account, debit, credit in entry.lines
    )
    return rows


def post(entry: Entry) -> JournalEntry:
    return post_many([entry])[0]


def balances(loan_ids: Iterable[int]) -> dict[int, dict[str, Decimal]]:
    """Each loan's balance per account, as debits less credits."""
    result: dict[int, dict[str, Decimal]] = defaultdict(
        lambda: dict.fromkeys(Account.values, ZERO)
    )
    rows = (
        JournalLine.objects.filter(loan_id__in=list(loan_ids))
        .values("loan_id", "account")
        .annotate(debit=Sum("debit"), credit=Sum("credit"))
    )
    for row in rows:
        # SQLite sums decimals as floats; a fen is the ledger's unit anyway.
        result[row["loan_id"]][row["account"]] = (
            row["debit"] - row["credit"]
        ).quantize(CENT)
    return result


def balance_of(loan: Loan) -> dict[str, Decimal]:
    return balances([loan.pk])[loan.pk]


def totals() -> tuple[Decimal, Decimal]:
    """The whole ledger's debits and credits; they are always equal."""
    sums = JournalLine.objects.aggregate(debit=Sum("debit"), credit=Sum("credit"))
    return (sums["debit"] or ZERO).quantize(CENT), (sums["credit"] or ZERO).quantize(
        CENT
    )

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

from django.db import connection
from django.db.models import Sum
from django.utils import timezone

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


def post_many(entries: Sequence[Entry]) -> int:
    """Write balanced entries with their lines; returns how many entries.

    On PostgreSQL one statement writes the entries and their lines (the
    lines find their entry by its dedupe key); elsewhere two bulk inserts.
    """
    for entry in entries:
        entry.check()
    if not entries:
        return 0
    if connection.vendor == "postgresql":
        _insert_together(entries)
        return len(entries)
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
    return len(rows)


def _insert_together(entries: Sequence[Entry]) -> None:
    """Entries and lines in one statement, each column sent as an array:
    no model is built, and a repayment saves a round trip."""
    lines = [
        (entry.dedupe_key, entry.loan_id, account, debit, credit)
        for entry in entries
        for account, debit, credit in entry.lines
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH entry AS (
                INSERT INTO "loans_journalentry"
                       (loan_id, kind, "on", memo, dedupe_key, at)
                SELECT e.loan_id, e.kind, e.on, e.memo, e.dedupe_key, %s
                  FROM unnest(%s::bigint[], %s::text[], %s::date[], %s::text[],
                              %s::text[]) AS e(loan_id, kind, "on", memo, dedupe_key)
                RETURNING id, dedupe_key)
            INSERT INTO "loans_journalline"
                   (entry_id, loan_id, account, debit, credit)
            SELECT entry.id, l.loan_id, l.account, l.debit, l.credit
              FROM unnest(%s::text[], %s::bigint[], %s::text[], %s::numeric[],
                          %s::numeric[])
                   AS l(dedupe_key, loan_id, account, debit, credit)
              JOIN entry ON entry.dedupe_key = l.dedupe_key
            """,
            [
                timezone.now(),
                [entry.loan_id for entry in entries],
                [str(entry.kind) for entry in entries],
                [entry.on for entry in entries],
                [entry.memo for entry in entries],
                [entry.dedupe_key for entry in entries],
                *(list(column) for column in zip(*lines, strict=True)),
            ],
        )


def post(entry: Entry) -> None:
    post_many([entry])


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

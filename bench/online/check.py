"""After a run: did every confirmed repayment land once, and only those?

Reads the locustfile's results (BENCH_RESULTS) and compares them with the
database: the run's repayments are those whose idempotency key carries the
run's id. Prints one line per check and exits 1 when any fails. The ledger
itself is checked by `manage.py ledger_check`, which run.py calls after.
"""

import json
import os
import sys
from decimal import Decimal
from pathlib import Path

import django

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from django.db.models import Count, Sum  # noqa: E402

from loans.models import JournalEntry, Repayment  # noqa: E402


def main() -> int:
    results = json.loads(Path(os.environ["BENCH_RESULTS"]).read_text())
    confirmed: dict[str, int] = results["confirmed"]
    unconfirmed = set(results["unconfirmed"])
    ours = Repayment.objects.filter(
        idempotency_key__startswith=f"bench-{results['run']}-"
    )
    stored = dict(ours.values_list("idempotency_key", "pk"))
    totals = ours.aggregate(amount=Sum("amount"), references=Count("reference"))
    references = ours.values("reference").distinct().count()
    entries = JournalEntry.objects.filter(
        kind=JournalEntry.Kind.REPAYMENT,
        dedupe_key__in=[
            f"{loan}:repayment:{pk}" for loan, pk in ours.values_list("loan_id", "pk")
        ],
    ).count()

    missing = set(confirmed) - set(stored)
    unexpected = set(stored) - set(confirmed) - unconfirmed
    answered_other = [k for k, pk in confirmed.items() if stored.get(k, pk) != pk]
    checks = [
        (
            f"confirmed repayments stored: {len(confirmed)} confirmed, "
            f"{len(stored)} in the database, {len(missing)} missing",
            not missing,
        ),
        (
            f"no repayment the server did not confirm: {len(unexpected)} unexpected "
            f"({len(unconfirmed & set(stored))} of {len(unconfirmed)} "
            "unanswered posts landed)",
            not unexpected,
        ),
        (
            f"each repayment once: {totals['references']} rows, "
            f"{references} distinct references",
            totals["references"] == references,
        ),
        (
            "answers name the stored repayment: "
            f"{len(answered_other)} answered with another id",
            not answered_other,
        ),
        (
            f"a retry with the same key returns the first repayment: "
            f"{results['replays']['same']} same, "
            f"{results['replays']['different']} different",
            results["replays"]["different"] == 0,
        ),
        (
            f"amount posted: {totals['amount'] or Decimal('0.00')} for "
            f"{len(stored)} repayments of 1.00",
            (totals["amount"] or 0) == len(stored),
        ),
        (
            f"one journal entry per repayment: {entries} for {len(stored)}",
            entries == len(stored),
        ),
    ]
    for text, ok in checks:
        print(f"{'ok  ' if ok else 'FAIL'} {text}")
    return 0 if all(ok for _text, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())

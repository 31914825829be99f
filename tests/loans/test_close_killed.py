"""A close killed for real, mid-step, then resumed.

`manage.py close_business_day` runs in a process of its own against the
test database and is killed with SIGKILL three times while it works (no
handler, no cleanup: only what PostgreSQL had committed stays), the last
time inside a step, after it committed part of its work. A fourth run
finishes the close. Everything the close writes must then be what an
uninterrupted close of the same book writes, compared by a hash of the
ledger lines, the loans' states and days past due, the installments, the
transitions, members, blacklist, credit profiles and limit changes, the
messages written and the close's own records.
"""

import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction

from collection.models import Message
from loans import services
from loans.close import close_through
from loans.models import BusinessDay, CloseStep, Loan
from tests.loans.factories import ProductFactory, Staff, active_loan, borrower
from tests.loans.test_close import _digest
from tests.workers import ROOT, _database_url

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

LOANS = 36
CLOSED_BEFORE = date(2026, 2, 10)
LAST = date(2026, 3, 20)
FIRST_STEP = "loans.cob.interest_due"
LADDER = "collection.cob.ladder"
# The reminders of the second due date, written by the ladder three days
# before it and sent in the same step, before the step is recorded.
SECOND_DUE_REMINDED = date(2026, 3, 12)


def _book() -> None:
    """36 loans in three branches: a third on a product without grace days
    that blacklists after ten, a third paying their first installment on
    time, the rest falling behind with grace."""
    staff = Staff()
    graceless = ProductFactory(grace_days=0, blacklist_days=10)
    usual = ProductFactory()
    branches = [borrower().branch for _ in range(3)]
    for n in range(LOANS):
        member = borrower(branch=branches[n % 3])
        product = graceless if n % 3 == 0 else usual
        loan = active_loan(
            staff=staff,
            member=member,
            product=product,
            principal=Decimal(1000 + 20 * n),
        )
        if n % 3 == 1:
            first = loan.installments.order_by("number").first()
            assert first is not None
            services.repayment_post(
                loan=loan,
                amount=first.principal + first.interest,
                reference=f"on-time-{n}",
                by=None,
                on=date(2026, 2, 14),
            )


def _hash(digest: dict[str, list[Any]]) -> str:
    return hashlib.sha256(repr(sorted(digest.items())).encode()).hexdigest()


def _close_process(log: Path) -> subprocess.Popen[bytes]:
    environment = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "DJANGO_MODE": "development",
        # Messages queued on commit are sent in the process itself.
        "CELERY_BROKER_URL": "",
    }
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "manage.py", "close_business_day", "--date", str(LAST)],
            cwd=ROOT,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def _kill_when(seen: Callable[[], bool], on: date, log: Path) -> list[str]:
    """Start the close, SIGKILL it as soon as `seen()`, and return the steps
    the date `on` had recorded when it died."""
    close = _close_process(log)
    deadline = time.monotonic() + 120
    while not seen():
        assert close.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.005)
    close.send_signal(signal.SIGKILL)
    assert close.wait(timeout=30) == -signal.SIGKILL
    assert BusinessDay.objects.get(on=on).closed_at is None
    steps = CloseStep.objects.filter(day__on=on).order_by("pk")
    return list(steps.values_list("name", flat=True))


def _first_step_recorded(on: date) -> Callable[[], bool]:
    return CloseStep.objects.filter(day__on=on, name=FIRST_STEP).exists


def _reminders_written(due: date) -> Callable[[], bool]:
    return Message.objects.filter(dedupe_key__endswith=f":{due}").exists


def _everything() -> dict[str, list[Any]]:
    """The close's digest, and the messages it wrote (not their sending)."""
    # A key may name a case ("12:early:case45"), whose id PostgreSQL's
    # sequences do not give back when the uninterrupted close is rolled back.
    messages = Message.objects.values_list("dedupe_key", "purpose", "loan_id")
    return _digest() | {
        "messages": sorted(
            (re.sub(r"case\d+", "case", key), purpose, loan)
            for key, purpose, loan in messages
        )
    }


def test_a_close_killed_three_times_resumes_to_the_uninterrupted_result(
    tmp_path: Path,
) -> None:
    _book()
    close_through(until=CLOSED_BEFORE)
    with transaction.atomic():
        close_through(until=LAST)
        expected = _everything()
        transaction.set_rollback(True)
    assert Loan.objects.filter(state=Loan.State.BLACKLISTED).count() == 0
    assert Loan.objects.filter(state=Loan.State.ACTIVE).count() == LOANS
    log = tmp_path / "close.log"

    # Just after the first step of the first due date is recorded, and of
    # the day the graceless loans cross their blacklisting threshold.
    for on in (date(2026, 2, 15), date(2026, 2, 26)):
        done = _kill_when(_first_step_recorded(on), on, log)
        assert done[0] == FIRST_STEP
        print(f"killed on {on} after {done}")
    # Inside the ladder step: its reminders are committed and being sent,
    # the step itself not yet recorded.
    done = _kill_when(_reminders_written(date(2026, 3, 15)), SECOND_DUE_REMINDED, log)
    assert LADDER not in done
    print(f"killed on {SECOND_DUE_REMINDED} inside {LADDER} after {done}")

    resumed = _close_process(log)
    assert resumed.wait(timeout=300) == 0, log.read_text()

    digest = _everything()
    assert _hash(digest) == _hash(expected), [
        key for key in expected if digest[key] != expected[key]
    ]
    # The book the close met had something to do on the days it was killed.
    assert Loan.objects.filter(state=Loan.State.BLACKLISTED).count() == LOANS // 3
    assert Loan.objects.filter(state=Loan.State.OVERDUE).count() == 2 * LOANS // 3

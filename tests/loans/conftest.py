"""Fixtures for every loans test.

`_ledger_agrees` checks after each test that uses the database what the
issue promises for all of them: the whole ledger balances, and each loan's
receivables agree with its schedule.
"""

from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal

import pytest
from django.db import connection

from loans import ledger
from loans.models import ZERO, Account, Installment, Loan

RECEIVABLES = (
    Account.PRINCIPAL_RECEIVABLE,
    Account.INTEREST_RECEIVABLE,
    Account.PENALTY_RECEIVABLE,
)
CLOSED = (Loan.State.REPAID, Loan.State.WRITTEN_OFF)


def _uses_database(request: pytest.FixtureRequest) -> bool:
    if request.node.get_closest_marker("django_db") is not None:
        return True
    for name in ("transactional_db", "db"):
        if name in request.fixturenames:
            # Set it up first, so that it is torn down after the check.
            request.getfixturevalue(name)
            return True
    return False


def _schedule_receivables() -> dict[int, dict[str, Decimal]]:
    """What each open loan's schedule says is receivable, per account."""
    owed: dict[int, dict[str, Decimal]] = defaultdict(
        lambda: dict.fromkeys(RECEIVABLES, ZERO)
    )
    rows = Installment.objects.filter(loan__state__in=Loan.OPEN_STATES).values_list(
        "loan_id",
        "principal",
        "paid_principal",
        "interest",
        "paid_interest",
        "interest_recognised",
        "penalty",
        "paid_penalty",
    )
    for loan_id, principal, paid_p, interest, paid_i, due, penalty, paid_pen in rows:
        owed[loan_id][Account.PRINCIPAL_RECEIVABLE] += principal - paid_p
        if due:
            owed[loan_id][Account.INTEREST_RECEIVABLE] += interest - paid_i
        owed[loan_id][Account.PENALTY_RECEIVABLE] += penalty - paid_pen
    return owed


def _check_ledger() -> None:
    if connection.vendor == "postgresql":
        # What COMMIT would do: run the deferred balance trigger now.
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    debits, credits = ledger.totals()
    assert debits == credits, "the ledger does not balance"

    open_ids = list(
        Loan.objects.filter(state__in=Loan.OPEN_STATES).values_list("pk", flat=True)
    )
    owed = _schedule_receivables()
    balances = ledger.balances(open_ids)
    for loan_id in open_ids:
        expected = owed[loan_id]
        actual = {account: balances[loan_id][account] for account in RECEIVABLES}
        assert actual == expected, f"loan {loan_id}: ledger disagrees with schedule"

    closed_ids = list(
        Loan.objects.filter(state__in=CLOSED).values_list("pk", flat=True)
    )
    for loan_id, balance in ledger.balances(closed_ids).items():
        left = {account: balance[account] for account in RECEIVABLES}
        assert left == dict.fromkeys(RECEIVABLES, ZERO), f"loan {loan_id}: not closed"


@pytest.fixture(autouse=True)
def _ledger_agrees(request: pytest.FixtureRequest) -> Iterator[None]:
    """After every test: debits equal credits, and every open loan's
    receivables in the ledger equal what its installments leave unpaid."""
    if not _uses_database(request):
        yield
        return
    yield
    _check_ledger()

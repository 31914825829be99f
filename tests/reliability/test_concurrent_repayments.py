"""Fifty clients at once against the real repayment view, each from its own
thread and PostgreSQL connection: one key retried fifty times pays once;
fifty different payments on one loan all apply once, and those that would
pay more than is owed are refused and write nothing."""

from datetime import date
from decimal import Decimal

import pytest
from django.contrib.auth.models import User

from loans.close import close_through
from loans.models import JournalEntry, Loan, Repayment
from loans.selectors import business_date_current, payable
from members.models import Branch
from tests.loans.factories import Staff, active_loan, borrower
from tests.reliability.conftest import (
    assert_book_agrees,
    loan_url,
    owed_today,
    post_at_once,
)

CLIENTS = 50

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture
def loan(book: Staff, branch: Branch) -> Loan:
    """1,200 over three months at 1 % a month, disbursed on the factories'
    date."""
    return active_loan(staff=book, member=borrower(branch=branch))


def _payoff(loan: Loan) -> Decimal:
    """What the repayment service would accept at most today."""
    installments = list(Loan.objects.get(pk=loan.pk).installments.all())
    rows = payable(installments, business_date_current())
    return sum((row.total for row in rows), Decimal(0))


def test_fifty_concurrent_posts_with_one_key_make_one_repayment(
    finance: User, loan: Loan
) -> None:
    body = {"amount": "30.00", "reference": "retry-storm"}

    answers = post_at_once(
        finance, loan_url(loan, "repayments"), [body] * CLIENTS, ["storm"] * CLIENTS
    )

    repayment = Repayment.objects.get()
    assert {status for status, _ in answers} == {201}
    assert [answer for _, answer in answers] == [answers[0][1]] * CLIENTS
    assert answers[0][1]["id"] == repayment.pk
    assert answers[0][1]["amount"] == "30.00"
    assert JournalEntry.objects.filter(kind=JournalEntry.Kind.REPAYMENT).count() == 1
    assert owed_today(loan) == Decimal("1200.00") - repayment.to_principal
    assert_book_agrees()


def test_fifty_concurrent_repayments_on_one_loan_apply_once_or_are_refused(
    finance: User, loan: Loan
) -> None:
    # Overdue since 19 February, so each payment meets penalty, interest
    # and principal; together the fifty ask nearly twice what is owed.
    close_through(until=date(2026, 2, 25))
    loan.refresh_from_db()
    assert loan.state == Loan.State.OVERDUE
    payoff = _payoff(loan)
    owed_before = owed_today(loan)
    # Whole yuan never add up to an amount with fen, so the loan stays open
    # and every refusal is for the amount, not for a loan already repaid.
    assert payoff % 1 != 0
    amounts = [Decimal(20 + n) for n in range(CLIENTS)]
    assert sum(amounts) > payoff * Decimal("1.5")
    bodies = [
        {"amount": f"{amount}.00", "reference": f"pay-{n}"}
        for n, amount in enumerate(amounts)
    ]

    answers = post_at_once(
        finance,
        loan_url(loan, "repayments"),
        bodies,
        [f"distinct-{n}" for n in range(CLIENTS)],
    )

    accepted = {
        n: answer for n, (status, answer) in enumerate(answers) if status == 201
    }
    refused = {n: answer for n, (status, answer) in enumerate(answers) if status != 201}
    assert {status for status, _ in answers} <= {201, 400}
    assert all(set(answer) == {"amount"} for answer in refused.values())
    assert accepted
    assert refused
    # None lost: every accepted post is one repayment, and nothing else is.
    repayments = {r.pk: r for r in Repayment.objects.filter(loan=loan)}
    assert sorted(answer["id"] for answer in accepted.values()) == sorted(repayments)
    for n, answer in accepted.items():
        repayment = repayments[answer["id"]]
        assert repayment.amount == amounts[n]
        assert repayment.reference == f"pay-{n}"
    paid = sum((r.amount for r in repayments.values()), Decimal(0))
    left = _payoff(loan)
    assert paid + left == payoff
    # A refused amount was more than was owed when it came; what is owed
    # only fell since.
    assert all(amounts[n] > left for n in refused)
    assert JournalEntry.objects.filter(kind=JournalEntry.Kind.REPAYMENT).count() == len(
        accepted
    )
    # What the ledger says is owed fell by the principal, recognised
    # interest and penalty paid; the current period's interest paid early
    # went straight to income.
    loan.refresh_from_db()
    assert loan.state in Loan.OPEN_STATES
    early_interest = paid - (owed_before - owed_today(loan))
    assert (
        Decimal(0)
        <= early_interest
        <= sum((r.to_interest for r in repayments.values()), Decimal(0))
    )
    assert_book_agrees()

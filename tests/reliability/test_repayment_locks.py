"""What a repayment locks: its loan, and the borrower only when the loan moves.

Two loans of one borrower take payments at the same time; two payments
that cure two late loans of one borrower take turns, so the second sees the
first cured and unfreezes the borrower's credit."""

import threading
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User

from credit.models import CreditProfile
from loans.close import close_through
from loans.models import Loan
from loans.selectors import arrears, business_date_current
from members.models import Branch, Member
from tests.loans.factories import Staff, active_loan, borrower
from tests.reliability.conftest import (
    Pause,
    assert_book_agrees,
    loan_url,
    post_at_once,
    waiting_on_a_lock,
)

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

Answers = list[tuple[int, Any]]


def two_loans(book: Staff, member: Member) -> tuple[Loan, Loan]:
    return (
        active_loan(staff=book, member=member, principal=Decimal("800.00")),
        active_loan(staff=book, member=member, principal=Decimal("800.00")),
    )


def post_in_background(
    finance: User, loan: Loan, amount: str, answers: Answers
) -> threading.Thread:
    thread = threading.Thread(
        target=lambda: answers.extend(
            post_at_once(
                finance,
                loan_url(loan, "repayments"),
                [{"amount": amount, "reference": f"pay-{loan.pk}"}],
                [f"pay-{loan.pk}"],
            )
        )
    )
    thread.start()
    return thread


def test_two_loans_of_one_borrower_take_payments_at_the_same_time(
    book: Staff, branch: Branch, finance: User, paused: Pause
) -> None:
    first, second = two_loans(book, borrower(branch=branch))
    answers: Answers = []
    paying_first = post_in_background(finance, first, "5.00", answers)
    assert paused.reached.wait(timeout=30)

    paying_second = post_in_background(finance, second, "5.00", answers)
    for _poll in range(300):
        if len(paused.backend_pids) == 2 or waiting_on_a_lock():
            break
        paying_second.join(timeout=0.1)
    # Both are inside their transactions at once: neither waited.
    both_inside = len(paused.backend_pids) == 2
    paused.go.set()
    paying_first.join()
    paying_second.join()

    assert both_inside, "the second loan's payment waited for the first's"
    assert [status for status, _ in answers] == [201, 201]
    assert_book_agrees()


def test_cures_of_two_late_loans_of_one_borrower_unfreeze_their_credit(
    book: Staff, branch: Branch, finance: User, paused: Pause
) -> None:
    member = borrower(branch=branch)
    first, second = two_loans(book, member)
    close_through(until=date(2026, 2, 25))
    today = business_date_current()
    owed = {
        loan.pk: arrears(list(loan.installments.all()), today)
        for loan in (first, second)
    }
    assert CreditProfile.objects.get(member=member).frozen
    assert set(Loan.objects.values_list("state", flat=True)) == {Loan.State.OVERDUE}

    answers: Answers = []
    paying_first = post_in_background(finance, first, str(owed[first.pk]), answers)
    assert paused.reached.wait(timeout=30)
    paying_second = post_in_background(finance, second, str(owed[second.pk]), answers)
    for _poll in range(300):
        if waiting_on_a_lock():
            break
        paying_second.join(timeout=0.1)
    # The first cure holds the borrower (and their credit profile, which it
    # restores) until it commits.
    second_waited = waiting_on_a_lock() == 1
    paused.go.set()
    paying_first.join()
    paying_second.join()

    assert second_waited, "the second cure did not wait for the first"
    assert [status for status, _ in answers] == [201, 201]
    assert set(Loan.objects.values_list("state", flat=True)) == {Loan.State.ACTIVE}
    assert not CreditProfile.objects.get(member=member).frozen
    assert_book_agrees()

"""A repayment ends a collection case only when it takes its loan out of
arrears; every other payment leaves the cases alone, without a statement."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from collection.models import CollectionCase
from loans import services as loan_services
from loans.close import close_through
from loans.models import Loan
from loans.selectors import payable
from tests.loans.factories import ON, Staff, active_loan

pytestmark = pytest.mark.django_db

FIRST_DUE = date(2026, 2, 15)
# Past the grace days, with a case opened by the ladder.
PAY_ON = FIRST_DUE + timedelta(days=20)


@pytest.fixture
def staff() -> Staff:
    return Staff()


@pytest.fixture
def late_loan(staff: Staff) -> Loan:
    loan = active_loan(staff=staff)
    close_through(until=PAY_ON - timedelta(days=1))
    loan.refresh_from_db()
    assert loan.state == Loan.State.OVERDUE
    assert CollectionCase.objects.get(loan=loan).status == CollectionCase.Status.OPEN
    return loan


def _owed(loan: Loan, on: date, *, arrears_only: bool) -> Decimal:
    rows = payable(list(loan.installments.all()), on)
    return sum(
        (
            row.total
            for row in rows
            if not arrears_only or row.installment.due_date < on
        ),
        Decimal("0.00"),
    )


def _case_statements(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries if "collection_collectioncase" in q["sql"]]


def test_a_payment_on_a_loan_never_late_touches_no_case(staff: Staff) -> None:
    loan = active_loan(staff=staff)

    with CaptureQueriesContext(connection) as queries:
        loan_services.repayment_post(
            loan=loan, amount=Decimal("5.00"), reference="a", by=staff.finance, on=ON
        )

    assert _case_statements(queries) == []


def test_part_of_the_arrears_keeps_the_case_open_without_a_statement(
    staff: Staff, late_loan: Loan
) -> None:
    with CaptureQueriesContext(connection) as queries:
        loan_services.repayment_post(
            loan=late_loan,
            amount=Decimal("10.00"),
            reference="part",
            by=staff.finance,
            on=PAY_ON,
        )

    assert _case_statements(queries) == []
    late_loan.refresh_from_db()
    assert late_loan.state == Loan.State.OVERDUE
    case = CollectionCase.objects.get(loan=late_loan)
    assert case.status == CollectionCase.Status.OPEN


def test_paying_the_arrears_resolves_the_case(staff: Staff, late_loan: Loan) -> None:
    loan_services.repayment_post(
        loan=late_loan,
        amount=_owed(late_loan, PAY_ON, arrears_only=True),
        reference="cure",
        by=staff.finance,
        on=PAY_ON,
    )

    late_loan.refresh_from_db()
    assert late_loan.state == Loan.State.ACTIVE
    case = CollectionCase.objects.get(loan=late_loan)
    assert (case.status, case.resolved_on) == (CollectionCase.Status.RESOLVED, PAY_ON)


def test_repaying_a_late_loan_in_full_resolves_the_case(
    staff: Staff, late_loan: Loan
) -> None:
    loan_services.repayment_post(
        loan=late_loan,
        amount=_owed(late_loan, PAY_ON, arrears_only=False),
        reference="all",
        by=staff.finance,
        on=PAY_ON,
    )

    late_loan.refresh_from_db()
    assert late_loan.state == Loan.State.REPAID
    case = CollectionCase.objects.get(loan=late_loan)
    assert (case.status, case.resolved_on) == (CollectionCase.Status.RESOLVED, PAY_ON)

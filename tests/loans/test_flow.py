"""A loan's whole life through the services and the daily close."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from credit.models import CreditProfile
from loans import ledger, services
from loans.close import close_through
from loans.models import Account, Loan
from members.models import Member
from tests.loans.factories import ON, ProductFactory, Staff, active_loan, borrower

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff() -> Staff:
    return Staff()


def _reload(loan: Loan) -> Loan:
    return Loan.objects.get(pk=loan.pk)


def _assert_ledger_agrees(loan: Loan) -> None:
    debits, credits = ledger.totals()
    assert debits == credits
    balance = ledger.balance_of(loan)
    installments = list(loan.installments.all())
    assert balance[Account.PRINCIPAL_RECEIVABLE] == sum(
        i.principal_due for i in installments
    )
    assert balance[Account.PENALTY_RECEIVABLE] == sum(
        i.penalty_due for i in installments
    )
    assert balance[Account.INTEREST_RECEIVABLE] == sum(
        i.interest_due for i in installments if i.interest_recognised
    )


def test_a_loan_is_applied_approved_disbursed_and_repaid_in_full(staff: Staff) -> None:
    loan = active_loan(staff=staff)

    assert loan.state == Loan.State.ACTIVE
    assert [i.due_date for i in loan.installments.all()] == [
        date(2026, 2, 15),
        date(2026, 3, 15),
        date(2026, 4, 15),
    ]
    assert CreditProfile.objects.get(member=loan.member).open_principal == Decimal(
        "1200.00"
    )
    _assert_ledger_agrees(loan)

    owed = sum(i.principal + i.interest for i in loan.installments.all()) - sum(
        i.interest for i in loan.installments.all()[1:]
    )
    repayment = services.repayment_post(
        loan=loan, amount=owed, reference="pay-1", by=None, on=ON + timedelta(days=5)
    )

    loan = _reload(loan)
    assert loan.state == Loan.State.REPAID
    assert repayment.to_principal == Decimal("1200.00")
    _assert_ledger_agrees(loan)
    profile = CreditProfile.objects.get(member=loan.member)
    assert profile.open_principal == 0


def test_a_late_loan_ages_through_grace_overdue_and_blacklisted(staff: Staff) -> None:
    loan = active_loan(staff=staff)
    first_due = date(2026, 2, 15)

    close_through(until=first_due)
    assert _reload(loan).state == Loan.State.ACTIVE
    close_through(until=first_due + timedelta(days=1))
    assert _reload(loan).state == Loan.State.GRACE
    close_through(until=first_due + timedelta(days=4))
    loan = _reload(loan)
    assert loan.state == Loan.State.OVERDUE
    assert loan.days_past_due == 4
    assert loan.installments.get(number=1).penalty > 0
    assert CreditProfile.objects.get(member=loan.member).frozen is True
    _assert_ledger_agrees(loan)

    close_through(until=first_due + timedelta(days=91))
    loan = _reload(loan)
    assert loan.state == Loan.State.BLACKLISTED
    assert loan.member.status == Member.Status.BLACKLISTED
    _assert_ledger_agrees(loan)
    assert list(loan.transitions.values_list("target", flat=True)) == [
        "applied",
        "approved",
        "active",
        "grace",
        "overdue",
        "blacklisted",
    ]


def test_paying_the_arrears_cures_an_overdue_loan(staff: Staff) -> None:
    loan = active_loan(staff=staff)
    today = date(2026, 2, 20)
    close_through(until=today)
    loan = _reload(loan)
    assert loan.state == Loan.State.OVERDUE
    first = loan.installments.get(number=1)

    services.repayment_post(
        loan=loan,
        amount=first.total_due,
        reference="arrears",
        by=None,
        on=today + timedelta(days=1),
    )

    loan = _reload(loan)
    assert loan.state == Loan.State.ACTIVE
    assert CreditProfile.objects.get(member=loan.member).frozen is False
    _assert_ledger_agrees(loan)


def test_closing_a_date_twice_changes_nothing(staff: Staff) -> None:
    loan = active_loan(staff=staff)
    close_through(until=date(2026, 2, 25))
    before = (ledger.totals(), _reload(loan).state, loan.transitions.count())

    close_through(until=date(2026, 2, 25))

    assert (ledger.totals(), _reload(loan).state, loan.transitions.count()) == before


def test_maker_cannot_approve_and_amount_over_the_limit_names_principal(
    staff: Staff,
) -> None:
    member = borrower()
    product = ProductFactory()
    with pytest.raises(ValidationError) as error:
        services.loan_apply(
            member=member,
            product=product,
            principal=Decimal("3000.00"),
            term_months=3,
            by=staff.clerk,
            on=ON,
        )
    assert "principal" in error.value.message_dict

    loan = services.loan_apply(
        member=member,
        product=product,
        principal=Decimal("1000.00"),
        term_months=3,
        by=staff.clerk,
        on=ON,
    )
    with pytest.raises(PermissionDenied):
        services.loan_approve(loan=loan, by=staff.clerk, comment="", on=ON)

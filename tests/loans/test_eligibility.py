"""What stops an application stops its approval and payout too."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from credit import services as credit
from loans import services
from loans.models import Loan
from members import services as member_services
from members.models import BlacklistEntry
from tests.loans.factories import ON, ProductFactory, Staff, borrower

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff() -> Staff:
    return Staff()


def _applied(staff: Staff) -> Loan:
    return services.loan_apply(
        member=borrower(),
        product=ProductFactory(),
        principal=Decimal("1000.00"),
        term_months=3,
        by=staff.clerk,
        on=ON,
    )


def test_a_member_blacklisted_after_applying_cannot_be_approved(
    staff: Staff,
) -> None:
    loan = _applied(staff)
    credit.member_blacklist_and_zero_limit(
        member=loan.member,
        reason="其他平台严重违约",
        source=BlacklistEntry.Source.STAFF,
        source_reference="",
        on=ON,
        by=None,
    )

    with pytest.raises(ValidationError) as refused:
        services.loan_approve(loan=loan, by=staff.leader, comment="同意", on=ON)

    assert refused.value.error_list[0].code == "cannot_borrow"
    loan.refresh_from_db()
    assert loan.state == Loan.State.APPLIED


def test_an_approved_loan_is_not_paid_out_in_a_paused_branch(staff: Staff) -> None:
    loan = _applied(staff)
    services.loan_approve(loan=loan, by=staff.leader, comment="同意", on=ON)
    member_services.branch_pause(branch=loan.member.branch, reason="逾期率过高")

    with pytest.raises(ValidationError):
        services.loan_disburse(loan=loan, by=staff.finance, on=ON)

    loan.refresh_from_db()
    assert loan.state == Loan.State.APPROVED
    assert not loan.installments.exists()

"""Loans made through the services, as production makes them."""

from datetime import date
from decimal import Decimal
from typing import Any

import factory
from django.contrib.auth.models import User

from config.roles import StaffRole
from credit import services as credit
from loans import services
from loans.models import Loan, Product, RepaymentMethod
from members.models import Member
from tests.factories import MemberFactory, staff_user

ON = date(2026, 1, 15)


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    name = factory.Sequence(lambda n: f"支部小额贷{n}")
    min_amount = Decimal("500.00")
    max_amount = Decimal("10000.00")
    terms = factory.LazyFunction(lambda: [3, 6, 12])
    annual_rate = Decimal("0.1200")
    repayment_method = RepaymentMethod.EQUAL_INSTALLMENT
    grace_days = 3
    penalty_daily_rate = Decimal("0.000500")
    blacklist_days = 90
    second_approval_above = Decimal("5000.00")
    cost_cap = Decimal("0.2400")


def borrower(**kwargs: Any) -> Member:
    """A verified, scored member with the first limit of 2,000."""
    member = MemberFactory(**kwargs)
    return credit.member_verify_kyc_and_score(member=member, by=None, on=ON)


class Staff:
    """One person per role, so maker-checker rules can be met."""

    def __init__(self) -> None:
        self.clerk: User = staff_user(StaffRole.BRANCH_LEADER)
        self.leader: User = staff_user(StaffRole.BRANCH_LEADER)
        self.risk: User = staff_user(StaffRole.RISK_OFFICER)
        self.finance: User = staff_user(StaffRole.FINANCE)


def active_loan(
    *,
    staff: Staff,
    member: Member | None = None,
    product: Product | None = None,
    principal: Decimal = Decimal("1200.00"),
    term_months: int = 3,
    on: date = ON,
) -> Loan:
    member = member or borrower()
    product = product or ProductFactory()
    loan = services.loan_apply(
        member=member,
        product=product,
        principal=principal,
        term_months=term_months,
        by=staff.clerk,
        on=on,
    )
    services.loan_approve(loan=loan, by=staff.leader, comment="同意", on=on)
    if loan.approvals_required == 2:
        services.loan_approve(loan=loan, by=staff.risk, comment="同意", on=on)
    return services.loan_disburse(loan=loan, by=staff.finance, on=on)

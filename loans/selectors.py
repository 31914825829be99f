"""Reads about loans that several callers need."""

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import QuerySet
from django.utils import timezone

from loans import schedule
from loans.models import ZERO, BusinessDay, Installment, Loan, Product
from members.selectors import branches_visible_to, sees_all_branches


def business_date_current() -> date:
    """The date being traded: the day after the last closed one, or today."""
    last = (
        BusinessDay.objects.filter(closed_at__isnull=False)
        .order_by("-on")
        .values_list("on", flat=True)
        .first()
    )
    return last + timedelta(days=1) if last else timezone.localdate()


def loans_visible_to(user: User | AnonymousUser) -> QuerySet[Loan]:
    if sees_all_branches(user):
        return Loan.objects.all()
    return Loan.objects.filter(member__branch__in=branches_visible_to(user))


@dataclass(frozen=True)
class Quote:
    lines: list[schedule.Line]
    total_interest: Decimal
    total_payment: Decimal
    annual_percentage_rate: Decimal


def loan_quote(
    *, product: Product, principal: Decimal, term_months: int, start: date
) -> Quote:
    """The schedule and cost a member would see before confirming."""
    lines = schedule.build(
        principal=principal,
        annual_rate=product.annual_rate,
        months=term_months,
        method=product.repayment_method,
        start=start,
    )
    interest = sum((line.interest for line in lines), ZERO)
    return Quote(
        lines=lines,
        total_interest=interest,
        total_payment=schedule.fen(principal) + interest,
        annual_percentage_rate=schedule.annual_percentage_rate(
            schedule.fen(principal), lines, start
        ),
    )


@dataclass(frozen=True)
class Payable:
    """What a repayment on `on` may pay on one installment, in order."""

    installment: Installment
    penalty: Decimal
    interest: Decimal
    principal: Decimal

    @property
    def total(self) -> Decimal:
        return self.penalty + self.interest + self.principal


def payable(installments: list[Installment], on: date) -> list[Payable]:
    """Penalty and principal of every installment, and interest of those due
    and of the current period; later periods' interest is not yet owed.
    Rows a restructure superseded are closed and left out."""
    rows = []
    current_seen = False
    live = [i for i in installments if not i.superseded]
    for installment in sorted(live, key=lambda i: i.number):
        interest = installment.interest_due
        if installment.due_date > on:
            if current_seen:
                interest = ZERO
            current_seen = True
        rows.append(
            Payable(
                installment,
                installment.penalty_due,
                interest,
                installment.principal_due,
            )
        )
    return rows


def days_past_due(installments: list[Installment], on: date) -> int:
    """`on` less the due date of the oldest installment not fully paid."""
    unpaid = [i.due_date for i in installments if i.total_due > 0 and i.due_date < on]
    return (on - min(unpaid)).days if unpaid else 0


def arrears(installments: list[Installment], on: date) -> Decimal:
    """What is late: everything unpaid of installments due before `on`."""
    return sum((i.total_due for i in installments if i.due_date < on), ZERO)

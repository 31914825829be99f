"""Reads about loans that several callers need."""

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.contrib.auth.models import AnonymousUser, User
from django.db import connection
from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from loans import schedule
from loans.models import ZERO, BusinessDay, Installment, Loan, Product
from members.models import Branch, Member
from members.selectors import branches_visible_to, sees_all_branches


def business_date_current() -> date:
    """The date being traded: the day after the last closed one, or today."""
    # Read on every repayment: the statement is written out, since building
    # it through the ORM cost more than the database's answer.
    with connection.cursor() as cursor:
        cursor.execute(_LAST_CLOSED)
        row = cursor.fetchone()
    last = BusinessDay._meta.get_field("on").to_python(row[0]) if row else None
    return last + timedelta(days=1) if last else timezone.localdate()


_LAST_CLOSED = (
    f'SELECT max("on") FROM "{BusinessDay._meta.db_table}"'  # noqa: S608
    " WHERE closed_at IS NOT NULL"
)


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


@dataclass(frozen=True)
class BranchStanding:
    """How a branch repays, in aggregate: counts and shares, no one's debt."""

    members: int
    borrowing: int
    behind: int
    late_30_share: Decimal

    @property
    def current(self) -> int:
        return self.borrowing - self.behind

    @property
    def current_share(self) -> Decimal | None:
        """The share of borrowing members with nothing past due."""
        if not self.borrowing:
            return None
        return (Decimal(self.current) / self.borrowing).quantize(Decimal("0.0001"))


def branch_standing(*, branch: Branch) -> BranchStanding:
    """Members, members borrowing and behind, and the share of the branch's
    unpaid principal on loans 30 or more days past due (as the last close
    left them). Three queries whatever the branch's size."""
    members = Member.objects.filter(branch=branch).exclude(status=Member.Status.EXITED)
    open_loans = Loan.objects.filter(member__branch=branch, state__in=Loan.OPEN_STATES)
    people = open_loans.aggregate(
        borrowing=Count("member", distinct=True),
        behind=Count("member", distinct=True, filter=Q(days_past_due__gt=0)),
    )
    unpaid = F("principal") - F("paid_principal")
    principal = Installment.objects.filter(
        loan__in=open_loans, superseded=False
    ).aggregate(
        all=Coalesce(Sum(unpaid), ZERO),
        late=Coalesce(Sum(unpaid, filter=Q(loan__days_past_due__gte=30)), ZERO),
    )
    share = principal["late"] / principal["all"] if principal["all"] else ZERO
    return BranchStanding(
        members=members.count(),
        borrowing=people["borrowing"],
        behind=people["behind"],
        late_30_share=share.quantize(Decimal("0.0001")),
    )

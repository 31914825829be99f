"""A book of ordinary borrowers for the demo, so that the risk pages have a
portfolio to show: most pay on time, some pay late, a few stop paying and
a few repay early. Behaviour is drawn from a seeded generator, so every
demo tells the same story, and it happens through the same services and
closes as everything else in the demo.
"""

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.contrib.auth.models import User
from django.utils import timezone

from credit import services as credit_services
from loans import services as loan_services
from loans.models import Loan, Product
from loans.selectors import payable
from members import services
from members.models import Branch, Member
from members.validators import national_id_check_character

Event = Callable[[date], None]
Schedule = Callable[[date, Event], None]

SEED = 20261204
PER_BRANCH = 14
FIRST_DISBURSEMENT_WITHIN_DAYS = 120

SURNAMES = "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨朱秦尤许何吕施张孔曹严华金魏陶姜"
GIVEN = [
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "丽",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "涛",
]

# How a borrower of the book behaves, and how likely each behaviour is.
ON_TIME, LATE, STOPS, EARLY = "on_time", "late", "stops", "early"
BEHAVIOURS = [(ON_TIME, 70), (LATE, 15), (STOPS, 10), (EARLY, 5)]


@dataclass
class Borrower:
    member: Member
    behaviour: str


def _national_id(index: int) -> str:
    born = date(1970, 1, 1) + timedelta(days=index * 251)
    first_17 = f"510107{born:%Y%m%d}{index % 1000:03d}"
    return first_17 + national_id_check_character(first_17)


def _morning(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(9, 0)))


class Book:
    """Registers the book's members and schedules their loans' lives."""

    def __init__(
        self,
        *,
        branches: list[Branch],
        product: Product,
        approver: User,
        finance: User,
        admin: User,
        start: date,
        today: date,
    ) -> None:
        self.random = random.Random(SEED)  # noqa: S311 (a demo story, not security)
        self.branches = branches
        self.product = product
        self.approver = approver
        self.finance = finance
        self.admin = admin
        self.start = start
        self.today = today
        self.borrowers: list[Borrower] = []

    def register(self) -> None:
        behaviours = [name for name, _ in BEHAVIOURS]
        weights = [weight for _, weight in BEHAVIOURS]
        index = 0
        for branch in self.branches:
            for _ in range(PER_BRANCH):
                index += 1
                name = self.random.choice(SURNAMES) + self.random.choice(GIVEN)
                member = services.member_register(
                    branch=branch,
                    real_name=name,
                    national_id=_national_id(index),
                    phone=f"137{index:08d}",
                    joined_on=date(2025, 4, 1),
                    by=self.admin,
                )
                member = credit_services.member_verify_kyc_and_score(
                    member=member, by=self.admin, on=self.start
                )
                behaviour = self.random.choices(behaviours, weights)[0]
                self.borrowers.append(Borrower(member, behaviour))
        self._guarantees()

    def _guarantees(self) -> None:
        """Neighbours vouch for each other down the list; in the last branch
        the third also vouches for the first, closing a ring of three that
        the early warnings catch."""
        for left, right in zip(self.borrowers, self.borrowers[1:], strict=False):
            if left.member.branch_id == right.member.branch_id:
                self._tie(guarantor=left.member, borrower=right.member)
        ring = [
            b.member for b in self.borrowers if b.member.branch == self.branches[-1]
        ]
        self._tie(guarantor=ring[2], borrower=ring[0])

    def _tie(self, *, guarantor: Member, borrower: Member) -> None:
        services.guarantor_tie_create(
            guarantor=guarantor,
            borrower=borrower,
            amount=Decimal("1000.00"),
            consented_at=_morning(self.start),
            consent_evidence="支部大会上签署的担保承诺书",
            by=self.admin,
        )

    def schedule(self, at: Schedule) -> None:
        for borrower in self.borrowers:
            offset = self.random.randrange(FIRST_DISBURSEMENT_WITHIN_DAYS)
            amount = Decimal(self.random.choice(["1000.00", "1500.00", "2000.00"]))
            months = self.random.choice([3, 6])
            at(
                self.start + timedelta(days=offset),
                self._disburse(borrower, amount, months, at),
            )

    def _disburse(
        self, borrower: Borrower, amount: Decimal, months: int, at: Schedule
    ) -> Event:
        def event(day: date) -> None:
            member = Member.objects.get(pk=borrower.member.pk)
            loan = loan_services.loan_apply(
                member=member,
                product=self.product,
                principal=amount,
                term_months=months,
                by=member.user,
                on=day,
            )
            loan_services.loan_approve(
                loan=loan, by=self.approver, comment="同意", on=day
            )
            loan = loan_services.loan_disburse(loan=loan, by=self.finance, on=day)
            self._repayments(loan, borrower.behaviour, day, at)

        return event

    def _repayments(self, loan: Loan, behaviour: str, day: date, at: Schedule) -> None:
        if behaviour == EARLY:
            at(day + timedelta(days=40), lambda on: _repay_all(loan.pk, on))
            return
        dues = list(loan.installments.values_list("due_date", flat=True))
        if behaviour == STOPS:
            dues = dues[: self.random.choice([0, 1])]
        for due in dues:
            delay = self.random.choice([3, 8, 15, 25]) if behaviour == LATE else -1
            at(due + timedelta(days=delay), lambda on: _repay_next(loan.pk, on))


def _repay_next(loan_id: int, on: date) -> None:
    """Pay the oldest unpaid installment in full, penalty and all."""
    loan = Loan.objects.get(pk=loan_id)
    if loan.state not in Loan.OPEN_STATES:
        return
    rows = payable(list(loan.installments.all()), on)
    unpaid = [row for row in rows if row.total > 0]
    if unpaid:
        loan_services.repayment_post(
            loan=loan,
            amount=unpaid[0].total,
            reference=f"demo-book-{loan_id}-{on}",
            by=None,
            on=on,
        )


def _repay_all(loan_id: int, on: date) -> None:
    loan = Loan.objects.get(pk=loan_id)
    if loan.state not in Loan.OPEN_STATES:
        return
    rows = payable(list(loan.installments.all()), on)
    owed = sum((row.total for row in rows), Decimal("0.00"))
    loan_services.repayment_post(
        loan=loan,
        amount=owed,
        reference=f"demo-book-{loan_id}-payoff",
        by=None,
        on=on,
    )

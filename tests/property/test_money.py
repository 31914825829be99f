"""Random lives of a small book of loans, checked after every step.

Hypothesis draws a sequence of operations (disburse, repay a random amount,
close some days, restructure, write off with a second person, recover on a
written-off loan) and runs it through the services on one database. After
each step: every journal entry balances and so does the whole ledger, every
open loan's receivables equal what its schedule leaves unpaid, no amount is
negative, each repayment's parts add up to it, and after a close every
loan's state agrees with its days past due.

Derandomized and bounded: the same examples run every time, in well under a
minute. Each example runs in a savepoint that is rolled back, so the
borrowers and staff made once serve them all.
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credit.models import CreditProfile
from loans import ledger, services
from loans.close import close_day
from loans.models import (
    ZERO,
    Account,
    Installment,
    JournalEntry,
    JournalLine,
    Loan,
    Product,
    Repayment,
)
from loans.schedule import fen
from loans.selectors import days_past_due, payable
from members.models import Member
from tests.loans.conftest import _check_ledger
from tests.loans.factories import ON, ProductFactory, Staff, borrower

pytestmark = pytest.mark.django_db

BORROWERS = 4
CENT = Decimal("0.01")
# What the figures in docs/reliability.md count, summed over every example.
TALLY: Counter[str] = Counter()

disburse = st.tuples(
    st.just("disburse"),
    st.integers(0, BORROWERS - 1),
    st.integers(500, 2000),
    st.sampled_from([3, 6, 12]),
)
repay = st.tuples(
    st.just("repay"),
    st.integers(0, 9),
    st.one_of(
        st.integers(1, 200_000),  # fen, capped at what is owed
        st.sampled_from(["all", "too much", "three decimals"]),
    ),
)
advance = st.tuples(st.just("advance"), st.integers(1, 60))
restructure = st.tuples(
    st.just("restructure"),
    st.integers(0, 9),
    st.sampled_from([3, 6, 12]),
    st.sampled_from([Decimal(0), Decimal("0.35"), Decimal(1)]),
)
write_off = st.tuples(st.just("write_off"), st.integers(0, 9))
recover = st.tuples(st.just("recover"), st.integers(0, 9), st.integers(1, 100_000))
# Loans first, then what happens to them; closing days is drawn most often,
# since a loan must age a month or more before it can be written off.
operations = st.builds(
    lambda first, then: first + then,
    st.lists(disburse, min_size=1, max_size=3),
    st.lists(
        st.one_of(
            advance, advance, advance, repay, repay, restructure, write_off, recover
        ),
        min_size=1,
        max_size=20,
    ),
)


@dataclass
class Book:
    staff: Staff
    product: Product
    members: list[Member]
    today: date = ON
    loans: list[Loan] = field(default_factory=list)

    def loan(self, index: int) -> Loan | None:
        if not self.loans:
            return None
        return Loan.objects.get(pk=self.loans[index % len(self.loans)].pk)


def _owed(loan: Loan, on: date) -> Decimal:
    rows = payable(list(loan.installments.all()), on)
    return sum((row.total for row in rows), ZERO)


def _do(book: Book, step: tuple[object, ...]) -> str:
    """Run one operation; answer what happened, for the tally."""
    name = step[0]
    if name == "advance":
        days = step[1]
        assert isinstance(days, int)
        for _ in range(days):
            TALLY["days closed"] += 1
            close_day(on=book.today)
            _check_states(book.today)
            book.today += timedelta(days=1)
        return "closed"
    if name == "disburse":
        return _disburse(book, step)
    loan = book.loan(int(str(step[1])))
    if loan is None:
        return "no loan"
    if name == "repay":
        return _repay(book, loan, step[2])
    if name == "restructure":
        assert isinstance(step[3], Decimal)
        try:
            services.loan_restructure(
                loan=loan,
                installments=int(str(step[2])),
                penalty_waiver=step[3],
                by=book.staff.risk,
                on=book.today,
                reason="hardship",
            )
        except ValidationError:
            assert loan.state not in (
                Loan.State.ACTIVE,
                Loan.State.GRACE,
                Loan.State.OVERDUE,
            ), f"loan {loan.pk}: restructure refused while {loan.state}"
            return "refused"
        return "restructured"
    if name == "write_off":
        if loan.state not in (Loan.State.OVERDUE, Loan.State.BLACKLISTED):
            with pytest.raises(ValidationError):
                services.loan_write_off_request(
                    loan=loan, by=book.staff.risk, reason="no contact"
                )
            return "refused"
        services.loan_write_off_request(
            loan=loan, by=book.staff.risk, reason="no contact"
        )
        services.loan_write_off_approve(loan=loan, by=book.staff.finance, on=book.today)
        return "written off"
    return _recover(book, loan, int(str(step[2])))


def _disburse(book: Book, step: tuple[object, ...]) -> str:
    member = book.members[int(str(step[1]))]
    if Loan.objects.filter(member=member, state__in=Loan.OPEN_STATES).exists():
        return "busy"
    try:
        loan = services.loan_apply(
            member=member,
            product=book.product,
            principal=Decimal(int(str(step[2]))),
            term_months=int(str(step[3])),
            by=book.staff.clerk,
            on=book.today,
        )
    except ValidationError:
        # Blacklisted, frozen or over the limit: refused, nothing written.
        return "refused"
    services.loan_approve(loan=loan, by=book.staff.leader, comment="ok", on=book.today)
    services.loan_disburse(loan=loan, by=book.staff.finance, on=book.today)
    book.loans.append(loan)
    return "disbursed"


def _repay(book: Book, loan: Loan, how: object) -> str:
    if loan.state not in Loan.OPEN_STATES:
        return "closed loan"
    owed = _owed(loan, book.today)
    if how in ("too much", "three decimals"):
        amount = owed + CENT if how == "too much" else Decimal("1.005")
        before = Repayment.objects.count(), JournalEntry.objects.count()
        with pytest.raises(ValidationError):
            services.repayment_post(
                loan=loan, amount=amount, reference="x", by=None, on=book.today
            )
        assert (Repayment.objects.count(), JournalEntry.objects.count()) == before
        return "refused"
    amount = owed if how == "all" else min(owed, Decimal(int(str(how))) * CENT)
    repayment = services.repayment_post(
        loan=loan, amount=amount, reference="pay", by=None, on=book.today
    )
    loan.refresh_from_db()
    installments = list(loan.installments.all())
    if amount == owed:
        assert loan.state == Loan.State.REPAID, f"loan {loan.pk}: paid all, still open"
    elif loan.state in (Loan.State.GRACE, Loan.State.OVERDUE):
        arrears = sum(
            (i.total_due for i in installments if i.due_date < book.today), ZERO
        )
        assert arrears > 0, f"loan {loan.pk}: arrears paid but not cured"
    assert repayment.amount == amount
    return "repaid"


def _recover(book: Book, loan: Loan, fen_amount: int) -> str:
    if loan.state != Loan.State.WRITTEN_OFF:
        return "not written off"
    left = ledger.balance_of(loan)[Account.WRITE_OFF_EXPENSE]
    if not left:
        return "recovered in full"
    amount = min(left, Decimal(fen_amount) * CENT)
    services.repayment_post(
        loan=loan, amount=amount, reference="late", by=None, on=book.today
    )
    assert ledger.balance_of(loan)[Account.WRITE_OFF_EXPENSE] == left - amount
    return "recovered"


RANK = {
    Loan.State.ACTIVE: 0,
    Loan.State.GRACE: 1,
    Loan.State.OVERDUE: 2,
    Loan.State.BLACKLISTED: 3,
}


def _check_states(closed: date) -> None:
    """After closing `closed`: each open loan's days past due are its
    schedule's, and its state is at least as late as they say (a loan only
    comes back to active when its arrears are all paid, and a blacklisted
    loan stays blacklisted)."""
    loans = Loan.objects.filter(state__in=Loan.OPEN_STATES).prefetch_related(
        "installments"
    )
    for loan in loans:
        days = days_past_due(list(loan.installments.all()), closed)
        assert loan.days_past_due == days, f"loan {loan.pk}: days past due"
        if days == 0:
            band = 0
        elif days <= loan.grace_days:
            band = 1
        elif days <= loan.blacklist_days:
            band = 2
        else:
            band = 3
        rank = RANK[Loan.State(loan.state)]
        assert rank >= band, f"loan {loan.pk}: {loan.state} with {days} days late"
        if band == 0:
            assert rank in (0, 3), f"loan {loan.pk}: {loan.state} without arrears"


def _check_amounts() -> None:
    per_entry = JournalLine.objects.values("entry_id").annotate(
        debit=Sum("debit"), credit=Sum("credit")
    )
    for row in per_entry:
        assert fen(row["debit"]) == fen(row["credit"]), f"entry {row['entry_id']}"
    assert not JournalLine.objects.filter(debit__lt=0).exists()
    assert not JournalLine.objects.filter(credit__lt=0).exists()

    for i in Installment.objects.all():
        for part in ("principal", "interest", "penalty"):
            amount, paid = getattr(i, part), getattr(i, f"paid_{part}")
            assert 0 <= paid <= amount, f"installment {i.pk}: {part} {paid}/{amount}"

    for r in Repayment.objects.all():
        parts = (r.to_penalty, r.to_interest, r.to_principal)
        assert r.amount > 0, f"repayment {r.pk}"
        assert min(parts) >= 0, f"repayment {r.pk}"
        assert sum(parts) == r.amount, f"repayment {r.pk}: allocation"

    for loan_id, balance in ledger.balances(
        Loan.objects.values_list("pk", flat=True)
    ).items():
        assert balance[Account.WRITE_OFF_EXPENSE] >= 0, f"loan {loan_id}: recovered"

    for profile in CreditProfile.objects.all():
        for amount in (profile.limit, profile.open_principal, profile.held):
            assert amount >= 0, f"credit profile {profile.pk}"


def test_random_lives_of_loans_keep_the_books_exact() -> None:
    staff = Staff()
    product = ProductFactory(
        min_amount=Decimal("500.00"),
        max_amount=Decimal("2000.00"),
        grace_days=3,
        blacklist_days=30,
    )
    members = [borrower() for _ in range(BORROWERS)]

    @settings(
        max_examples=45,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(steps=operations)
    def run(steps: list[tuple[object, ...]]) -> None:
        with transaction.atomic():
            book = Book(staff=staff, product=product, members=members)
            for step in steps:
                TALLY[f"{step[0]}: {_do(book, step)}"] += 1
                _check_ledger()
                _check_amounts()
            transaction.set_rollback(True)

    run()
    print(dict(sorted(TALLY.items())))
    assert TALLY["disburse: disbursed"]
    assert TALLY["repay: repaid"]


def test_written_off_loans_take_recoveries_up_to_what_was_written_off() -> None:
    staff = Staff()
    product = ProductFactory(grace_days=3, blacklist_days=30)
    member = borrower()

    @settings(max_examples=6, derandomize=True, deadline=None, database=None)
    @given(
        paid_first=st.integers(0, 40_000),
        days_late=st.integers(35, 45),
        recoveries=st.lists(st.integers(1, 150_000), min_size=1, max_size=6),
    )
    def run(paid_first: int, days_late: int, recoveries: list[int]) -> None:
        with transaction.atomic():
            book = Book(staff=staff, product=product, members=[member])
            steps: list[tuple[object, ...]] = [("disburse", 0, 1500, 3)]
            if paid_first:
                steps.append(("repay", 0, paid_first))
            steps += [("advance", 31 + days_late), ("write_off", 0)]
            steps += [("recover", 0, amount) for amount in recoveries]
            for step in steps:
                TALLY[f"{step[0]}: {_do(book, step)}"] += 1
                _check_ledger()
                _check_amounts()
            transaction.set_rollback(True)

    run()
    print(dict(sorted(TALLY.items())))
    assert TALLY["recover: recovered"]

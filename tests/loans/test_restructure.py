"""Restructuring a loan under a hardship plan: what is unpaid becomes a new
schedule of equal installments, and the loan is current again."""

from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from credit.models import CreditProfile, LimitChange
from loans import cob, ledger, schedule, services
from loans.close import close_through
from loans.models import (
    Account,
    Installment,
    JournalEntry,
    Loan,
    RepaymentMethod,
)
from loans.selectors import business_date_current, payable
from members.models import Member
from tests.loans.conftest import _check_ledger
from tests.loans.factories import ProductFactory, Staff, active_loan, borrower

pytestmark = pytest.mark.django_db

# 1,200 over three months at 12 %, disbursed on ON (see test_schedule.py):
# the first installment, 396.03 + 12.00, falls due on 15 February.
FIRST_DUE = date(2026, 2, 15)
# Ten days late: overdue since 19 February, 0.20 of penalty a day.
OVERDUE_UNTIL = date(2026, 2, 25)
RESTRUCTURED_ON = date(2026, 2, 26)
RECOGNISED_INTEREST = Decimal("12.00")
PENALTY = 7 * Decimal("0.20")


@pytest.fixture
def staff() -> Staff:
    return Staff()


def _reload(loan: Loan) -> Loan:
    return Loan.objects.get(pk=loan.pk)


def _installments(loan: Loan, *, superseded: bool) -> list[Installment]:
    return list(
        Installment.objects.filter(loan=loan, superseded=superseded).order_by("number")
    )


def _overdue_loan(staff: Staff, **product: Any) -> Loan:
    """A 1,200 loan disbursed on ON, aged by real closes to ten days late."""
    loan = active_loan(staff=staff, product=ProductFactory(**product))
    close_through(until=FIRST_DUE)
    close_through(until=OVERDUE_UNTIL)
    return _reload(loan)


def _restructure(
    loan: Loan,
    staff: Staff,
    *,
    installments: int = 6,
    penalty_waiver: Decimal | str = "0.5",
    on: date | None = None,
) -> Loan:
    return services.loan_restructure(
        loan=loan,
        installments=installments,
        penalty_waiver=Decimal(penalty_waiver),
        by=staff.leader,
        on=on or business_date_current(),
        reason="困难帮扶计划",
    )


def _lines(entry: JournalEntry) -> list[tuple[str, Decimal, Decimal]]:
    return [(line.account, line.debit, line.credit) for line in entry.lines.all()]


def _total(installments: list[Installment], name: str) -> Decimal:
    return sum((getattr(i, name) for i in installments), Decimal(0))


# The loan moves ---------------------------------------------------------------


def test_an_overdue_loan_restructured_into_six_is_active_again_and_says_who_and_why(
    staff: Staff,
) -> None:
    loan = _overdue_loan(staff)
    assert (loan.state, loan.days_past_due) == (Loan.State.OVERDUE, 10)

    loan = _reload(_restructure(loan, staff))

    assert (loan.state, loan.days_past_due) == (Loan.State.ACTIVE, 0)
    assert loan.restructure_count == 1
    move = loan.transitions.last()
    assert move is not None
    assert (move.source, move.target, move.on, move.by, move.reason) == (
        Loan.State.OVERDUE,
        Loan.State.ACTIVE,
        RESTRUCTURED_ON,
        staff.leader,
        "困难帮扶计划",
    )


def test_the_unpaid_installments_are_closed_as_superseded_on_the_date(
    staff: Staff,
) -> None:
    loan = _overdue_loan(staff)

    _restructure(loan, staff)

    old = _installments(loan, superseded=True)
    assert [i.number for i in old] == [1, 2, 3]
    assert all(i.paid_on == RESTRUCTURED_ON and i.total_due == 0 for i in old)
    new = _installments(loan, superseded=False)
    assert [i.number for i in new] == [4, 5, 6, 7, 8, 9]
    assert [i.due_date for i in new] == schedule.due_dates(RESTRUCTURED_ON, 6)
    assert not any(i.interest_recognised for i in new)


def test_a_fully_paid_installment_is_kept_as_it_was(staff: Staff) -> None:
    loan = _overdue_loan(staff)
    first = loan.installments.get(number=1)
    services.repayment_post(
        loan=loan,
        amount=first.total_due,
        reference="bank-1",
        by=None,
        on=RESTRUCTURED_ON,
    )

    _restructure(loan, staff, installments=3)

    kept = Installment.objects.get(loan=loan, number=1)
    assert (kept.superseded, kept.paid_on, kept.principal, kept.interest) == (
        False,
        RESTRUCTURED_ON,
        first.principal,
        first.interest,
    )
    assert [i.number for i in _installments(loan, superseded=True)] == [2, 3]


# The new schedule --------------------------------------------------------------


def test_the_new_principal_sums_to_the_unpaid_principal_to_the_fen(
    staff: Staff,
) -> None:
    loan = _overdue_loan(staff)
    # Part of the first installment's principal is paid: 987.65 is left.
    services.repayment_post(
        loan=loan,
        amount=PENALTY + RECOGNISED_INTEREST + Decimal("212.35"),
        reference="bank-1",
        by=None,
        on=RESTRUCTURED_ON,
    )

    _restructure(loan, staff, installments=12)

    new = _installments(loan, superseded=False)
    assert _total(new, "principal") == Decimal("987.65")
    expected = schedule.build(
        principal=Decimal("987.65"),
        annual_rate=loan.annual_rate,
        months=12,
        method=RepaymentMethod.EQUAL_INSTALLMENT,
        start=RESTRUCTURED_ON,
    )
    assert [i.principal for i in new] == [line.principal for line in expected]


def test_new_installments_are_equal_whatever_the_loans_own_method(
    staff: Staff,
) -> None:
    loan = _overdue_loan(staff, repayment_method=RepaymentMethod.EQUAL_PRINCIPAL)

    _restructure(loan, staff)

    def principal_of(method: RepaymentMethod) -> list[Decimal]:
        lines = schedule.build(
            principal=Decimal("1200.00"),
            annual_rate=loan.annual_rate,
            months=6,
            method=method,
            start=RESTRUCTURED_ON,
        )
        return [line.principal for line in lines]

    new = [i.principal for i in _installments(loan, superseded=False)]
    assert new == principal_of(RepaymentMethod.EQUAL_INSTALLMENT)
    assert new != principal_of(RepaymentMethod.EQUAL_PRINCIPAL)


def test_carried_interest_and_unwaived_penalty_move_onto_the_new_installments(
    staff: Staff,
) -> None:
    loan = _overdue_loan(staff)
    assert _total(list(loan.installments.all()), "penalty") == PENALTY

    _restructure(loan, staff, penalty_waiver="0.5")

    new = _installments(loan, superseded=False)
    lines = schedule.build(
        principal=Decimal("1200.00"),
        annual_rate=loan.annual_rate,
        months=6,
        method=RepaymentMethod.EQUAL_INSTALLMENT,
        start=RESTRUCTURED_ON,
    )
    carried = [i.interest - line.interest for i, line in zip(new, lines, strict=True)]
    # Only interest already fallen due is carried; later periods' interest
    # is dropped, as the new schedule charges its own from the restructure.
    assert sum(carried) == RECOGNISED_INTEREST
    share = (RECOGNISED_INTEREST / 6).quantize(Decimal("0.01"), rounding="ROUND_DOWN")
    assert carried == [share] * 5 + [RECOGNISED_INTEREST - 5 * share]
    assert [i.penalty for i in new] == [Decimal("0.11")] * 5 + [Decimal("0.15")]
    assert ledger.balance_of(loan)[Account.PENALTY_RECEIVABLE] == Decimal("0.70")


def test_the_entry_reverses_recognised_interest_and_the_waived_penalty(
    staff: Staff,
) -> None:
    loan = _overdue_loan(staff)
    income_before = ledger.balance_of(loan)

    _restructure(loan, staff, penalty_waiver="0.5")

    (entry,) = JournalEntry.objects.filter(
        loan=loan, kind=JournalEntry.Kind.RESTRUCTURE
    )
    assert (entry.on, entry.dedupe_key) == (RESTRUCTURED_ON, f"{loan.pk}:restructure:1")
    assert _lines(entry) == [
        (Account.INTEREST_INCOME, RECOGNISED_INTEREST, Decimal("0.00")),
        (Account.INTEREST_RECEIVABLE, Decimal("0.00"), RECOGNISED_INTEREST),
        (Account.PENALTY_INCOME, Decimal("0.70"), Decimal("0.00")),
        (Account.PENALTY_RECEIVABLE, Decimal("0.00"), Decimal("0.70")),
    ]
    after = ledger.balance_of(loan)
    assert after[Account.PENALTY_INCOME] - income_before[Account.PENALTY_INCOME] == (
        Decimal("0.70")
    )


def test_a_full_waiver_leaves_no_penalty_anywhere(staff: Staff) -> None:
    loan = _overdue_loan(staff)

    _restructure(loan, staff, penalty_waiver="1")

    assert _total(list(loan.installments.all()), "penalty_due") == 0
    assert ledger.balance_of(loan)[Account.PENALTY_RECEIVABLE] == 0


def test_nothing_to_reverse_posts_no_entry(staff: Staff) -> None:
    # Active and before the first due date: no interest recognised, no penalty.
    loan = active_loan(staff=staff)

    loan = _reload(_restructure(loan, staff, on=date(2026, 2, 1)))

    assert not JournalEntry.objects.filter(
        loan=loan, kind=JournalEntry.Kind.RESTRUCTURE
    ).exists()
    assert (loan.state, loan.restructure_count) == (Loan.State.ACTIVE, 1)


def test_after_a_restructure_the_ledger_balances_and_agrees_with_the_schedule(
    staff: Staff,
) -> None:
    loan = _overdue_loan(staff)

    _restructure(loan, staff, penalty_waiver="0.25")

    _check_ledger()
    installments = list(loan.installments.all())
    balance = ledger.balance_of(loan)
    assert balance[Account.PRINCIPAL_RECEIVABLE] == _total(
        installments, "principal_due"
    )
    assert balance[Account.PENALTY_RECEIVABLE] == _total(installments, "penalty_due")
    # No new installment has fallen due yet.
    assert balance[Account.INTEREST_RECEIVABLE] == 0


def test_a_second_restructure_posts_under_its_own_key(staff: Staff) -> None:
    loan = _overdue_loan(staff)
    _restructure(loan, staff, installments=3)
    close_through(until=date(2026, 4, 10))

    loan = _reload(_restructure(loan, staff, installments=12))

    assert loan.restructure_count == 2
    assert list(
        JournalEntry.objects.filter(
            loan=loan, kind=JournalEntry.Kind.RESTRUCTURE
        ).values_list("dedupe_key", flat=True)
    ) == [f"{loan.pk}:restructure:1", f"{loan.pk}:restructure:2"]
    assert [i.number for i in _installments(loan, superseded=False)] == list(
        range(7, 19)
    )
    _check_ledger()


# The close and repayments after -----------------------------------------------------


def test_the_close_after_a_restructure_does_not_age_the_loan(staff: Staff) -> None:
    loan = _overdue_loan(staff)
    _restructure(loan, staff)
    first_new = _installments(loan, superseded=False)[0]

    close_through(until=first_new.due_date)

    loan = _reload(loan)
    assert (loan.state, loan.days_past_due) == (Loan.State.ACTIVE, 0)
    assert not JournalEntry.objects.filter(
        loan=loan, kind=JournalEntry.Kind.PENALTY, on__gt=RESTRUCTURED_ON
    ).exists()


def test_the_close_recognises_each_new_installments_interest_as_it_falls_due(
    staff: Staff,
) -> None:
    loan = _overdue_loan(staff)
    _restructure(loan, staff)
    first, second, *_rest = _installments(loan, superseded=False)

    close_through(until=first.due_date - timedelta(days=1))
    assert ledger.balance_of(loan)[Account.INTEREST_RECEIVABLE] == 0
    close_through(until=first.due_date)
    assert ledger.balance_of(loan)[Account.INTEREST_RECEIVABLE] == first.interest
    services.repayment_post(
        loan=loan,
        amount=first.total_due,
        reference="bank-1",
        by=None,
        on=business_date_current(),
    )
    close_through(until=second.due_date)

    assert ledger.balance_of(loan)[Account.INTEREST_RECEIVABLE] == second.interest
    assert list(
        JournalEntry.objects.filter(
            loan=loan, kind=JournalEntry.Kind.INTEREST_DUE, on__gt=RESTRUCTURED_ON
        ).values_list("dedupe_key", flat=True)
    ) == [f"{loan.pk}:interest:4", f"{loan.pk}:interest:5"]
    assert _reload(loan).state == Loan.State.ACTIVE


def test_a_late_new_installment_ages_the_loan_from_its_own_due_date(
    staff: Staff,
) -> None:
    loan = _overdue_loan(staff)
    _restructure(loan, staff)
    first_new = _installments(loan, superseded=False)[0]

    close_through(until=first_new.due_date + timedelta(days=2))

    loan = _reload(loan)
    assert (loan.state, loan.days_past_due) == (Loan.State.GRACE, 2)


def test_repaying_the_first_new_installment_pays_penalty_interest_then_principal(
    staff: Staff,
) -> None:
    loan = _overdue_loan(staff)
    _restructure(loan, staff)
    first, second, *_rest = _installments(loan, superseded=False)

    repayment = services.repayment_post(
        loan=loan,
        amount=first.total_due,
        reference="bank-1",
        by=None,
        on=RESTRUCTURED_ON + timedelta(days=3),
    )

    assert (
        repayment.to_penalty,
        repayment.to_interest,
        repayment.to_principal,
    ) == (first.penalty, first.interest, first.principal)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.total_due == 0
    assert first.paid_on == RESTRUCTURED_ON + timedelta(days=3)
    assert second.paid_penalty == second.paid_interest == second.paid_principal == 0


# Refusals --------------------------------------------------------------------


def _blacklisted_loan(staff: Staff) -> Loan:
    loan = active_loan(staff=staff, product=ProductFactory(blacklist_days=10))
    close_through(until=FIRST_DUE)
    close_through(until=date(2026, 2, 26))
    return _reload(loan)


def _repaid_loan(staff: Staff) -> Loan:
    loan = active_loan(staff=staff)
    close_through(until=FIRST_DUE)
    on = business_date_current()
    rows = payable(list(loan.installments.all()), on)
    services.repayment_post(
        loan=loan,
        amount=sum((row.total for row in rows), Decimal(0)),
        reference="bank-1",
        by=None,
        on=on,
    )
    return _reload(loan)


@pytest.mark.parametrize(
    ("make", "changes", "field"),
    [
        (_blacklisted_loan, {}, "state"),
        (_repaid_loan, {}, "state"),
        (_overdue_loan, {"installments": 4}, "installments"),
        (_overdue_loan, {"penalty_waiver": "1.5"}, "penalty_waiver"),
        (_overdue_loan, {"penalty_waiver": "-0.1"}, "penalty_waiver"),
    ],
)
def test_a_restructure_that_is_not_allowed_is_refused_naming_the_field(
    staff: Staff,
    make: Callable[[Staff], Loan],
    changes: dict[str, Any],
    field: str,
) -> None:
    loan = make(staff)
    state = loan.state
    count = Installment.objects.filter(loan=loan).count()

    with pytest.raises(ValidationError) as error:
        _restructure(loan, staff, **changes)

    assert list(error.value.message_dict) == [field]
    assert _reload(loan).state == state
    assert Installment.objects.filter(loan=loan).count() == count
    assert not Installment.objects.filter(loan=loan, superseded=True).exists()
    assert not JournalEntry.objects.filter(
        loan=loan, kind=JournalEntry.Kind.RESTRUCTURE
    ).exists()


def test_only_an_active_or_late_loan_may_make_the_restructure_move() -> None:
    assert cob.transition_graph("restructure") == (
        ["active", "grace", "overdue"],
        "active",
    )


# Credit ------------------------------------------------------------------------


def test_restructuring_unfreezes_a_member_with_no_other_late_loan(
    staff: Staff,
) -> None:
    loan = _overdue_loan(staff)
    assert CreditProfile.objects.get(member=loan.member).frozen is True

    _restructure(loan, staff)

    assert CreditProfile.objects.get(member=loan.member).frozen is False
    change = LimitChange.objects.get(
        profile__member=loan.member, cause=LimitChange.Cause.UNFROZEN
    )
    assert (change.on, change.reference) == (RESTRUCTURED_ON, loan.number)


def test_a_member_with_another_overdue_loan_stays_frozen(staff: Staff) -> None:
    member = borrower()
    CreditProfile.objects.filter(member=member).update(limit=Decimal("9000.00"))
    product = ProductFactory()
    loans = [active_loan(staff=staff, member=member, product=product) for _ in "ab"]
    close_through(until=FIRST_DUE)
    close_through(until=OVERDUE_UNTIL)

    _restructure(loans[0], staff)

    assert _reload(loans[1]).state == Loan.State.OVERDUE
    assert CreditProfile.objects.get(member=member).frozen is True
    assert Member.objects.get(pk=member.pk).status == Member.Status.ACTIVE


# What people see ---------------------------------------------------------------


def test_the_api_schedule_shows_superseded_installments_as_restructured(
    staff: Staff,
) -> None:
    loan = _overdue_loan(staff)
    _restructure(loan, staff, installments=3)
    client = APIClient()
    client.force_authenticate(staff.risk)

    response = client.get(f"/api/v1/loans/{loan.pk}/")

    assert response.status_code == 200
    assert [row["status"] for row in response.json()["schedule"]] == [
        "restructured"
    ] * 3 + ["due"] * 3


def test_the_admin_schedule_shows_which_rows_a_restructure_replaced(
    staff: Staff, admin_client: Client, settings: Any
) -> None:
    settings.LANGUAGE_CODE = "en"
    loan = _overdue_loan(staff)
    _restructure(loan, staff, installments=3)

    response = admin_client.get(reverse("admin:loans_loan_change", args=[loan.pk]))

    assert response.status_code == 200
    assert "Replaced by a restructure" in response.content.decode()

"""Roll rates between month ends, vintages, concentration and collection
outcomes, each against a small hand-computed book."""

from datetime import date
from decimal import Decimal

import pytest

from collection.models import Cause, CollectionCase, Stage
from loans import services
from loans.models import Installment, Loan
from members.models import Branch
from risk import selectors
from risk.models import DelinquencyMark, WarningRule
from risk.portfolio import snapshot_record
from tests.factories import BranchFactory
from tests.loans.factories import ProductFactory, Staff, active_loan, borrower

pytestmark = pytest.mark.django_db

JAN_END = date(2026, 1, 31)
FEB_END = date(2026, 2, 28)


@pytest.fixture
def staff() -> Staff:
    return Staff()


def _loan(
    staff: Staff,
    branch: Branch,
    principal: str,
    days: int = 0,
    on: date = date(2026, 1, 15),
) -> Loan:
    loan = active_loan(
        staff=staff,
        member=borrower(branch=branch),
        product=ProductFactory(),
        principal=Decimal(principal),
        on=on,
    )
    Loan.objects.filter(pk=loan.pk).update(days_past_due=days)
    return loan


def _behind(loan: Loan, days: int, state: str = Loan.State.OVERDUE) -> None:
    Loan.objects.filter(pk=loan.pk).update(days_past_due=days, state=state)


# Roll rates -------------------------------------------------------------------


def test_roll_rates_share_principal_between_two_month_ends(staff: Staff) -> None:
    a, b = BranchFactory(), BranchFactory()
    stays = _loan(staff, a, "1200.00")
    slips = _loan(staff, a, "2000.00")
    worsens = _loan(staff, a, "1000.00", days=10)
    repaid = _loan(staff, a, "1500.00", days=20)
    _loan(staff, b, "900.00", days=5)
    snapshot_record(on=JAN_END)
    _behind(slips, 5)
    _behind(worsens, 40)
    _behind(repaid, 0, state=Loan.State.REPAID)
    del stays
    snapshot_record(on=FEB_END)

    assert selectors.month_ends(until=date(2026, 3, 1)) == [JAN_END, FEB_END]
    rates = selectors.roll_rates(start=JAN_END, end=FEB_END, branch=a)

    assert rates.columns == ["current", "1-30", "31-60", "61-90", "90+", "closed"]
    assert rates.principal["current"] == Decimal("3200.00")
    assert rates.principal["1-30"] == Decimal("2500.00")  # branch b left out
    # 1,200 / 3,200 stay current, 2,000 / 3,200 slip to 1-30.
    assert rates.matrix["current"]["current"] == Decimal("0.375000")
    assert rates.matrix["current"]["1-30"] == Decimal("0.625000")
    # 1,000 / 2,500 worsen to 31-60, 1,500 / 2,500 are repaid.
    assert rates.matrix["1-30"]["31-60"] == Decimal("0.400000")
    assert rates.matrix["1-30"]["closed"] == Decimal("0.600000")
    assert rates.matrix["1-30"]["1-30"] == Decimal(0)
    assert set(rates.matrix["90+"].values()) == {Decimal(0)}


def test_roll_rates_of_the_whole_book_count_every_branch(staff: Staff) -> None:
    a, b = BranchFactory(), BranchFactory()
    _loan(staff, a, "500.00", days=5)
    moving = _loan(staff, b, "1500.00", days=5)
    snapshot_record(on=JAN_END)
    _behind(moving, 35)
    snapshot_record(on=FEB_END)

    rates = selectors.roll_rates(start=JAN_END, end=FEB_END)

    assert rates.principal["1-30"] == Decimal("2000.00")
    assert rates.matrix["1-30"]["1-30"] == Decimal("0.250000")
    assert rates.matrix["1-30"]["31-60"] == Decimal("0.750000")


# Vintages ---------------------------------------------------------------------


def test_vintages_accumulate_marks_by_month_since_disbursement(staff: Staff) -> None:
    branch = BranchFactory()
    marked = _loan(staff, branch, "1200.00")
    _loan(staff, branch, "800.00")
    february = _loan(staff, branch, "1000.00", on=date(2026, 2, 10))
    DelinquencyMark.objects.create(loan=marked, first_on=date(2026, 3, 17))
    # Marked after the date asked about: not yet known then.
    DelinquencyMark.objects.create(loan=february, first_on=date(2026, 5, 3))

    found = selectors.vintages(as_of=date(2026, 4, 30))

    assert [(v.cohort, v.loans, v.principal) for v in found] == [
        ("2026-01", 2, Decimal("2000.00")),
        ("2026-02", 1, Decimal("1000.00")),
    ]
    # 1,200 of 2,000 went 30+ in March, the cohort's third month.
    assert found[0].curve == [Decimal(0), Decimal(0), Decimal("0.6"), Decimal("0.6")]
    assert found[1].curve == [Decimal(0), Decimal(0), Decimal(0)]


def test_a_vintage_curve_stops_at_the_last_month_ended(staff: Staff) -> None:
    _loan(staff, BranchFactory(), "1200.00")

    (january,) = selectors.vintages(as_of=date(2026, 4, 29))

    assert len(january.curve) == 3  # January, February, March
    assert selectors.vintages(as_of=date(2026, 1, 30))[0].curve == []


# Concentration ----------------------------------------------------------------


@pytest.fixture
def two_branches(staff: Staff) -> tuple[Branch, Branch]:
    """甲 holds 4,200 (1,200 + 2,000 + 1,000), 乙 2,300 (1,500 + 800)."""
    a, b = BranchFactory(name="甲支部"), BranchFactory(name="乙支部")
    for principal in ("1200.00", "2000.00", "1000.00"):
        _loan(staff, a, principal)
    _loan(staff, b, "1500.00", days=40)
    _loan(staff, b, "800.00")
    snapshot_record(on=JAN_END)
    return a, b


def test_concentration_shares_hhi_and_breaches(
    two_branches: tuple[Branch, Branch],
) -> None:
    a, _b = two_branches

    found = selectors.concentration(on=JAN_END, top=2)

    assert found.principal == Decimal("6500.00")
    assert [(e.branch_name, e.principal, e.share) for e in found.branches] == [
        ("甲支部", Decimal("4200.00"), Decimal("0.646154")),
        ("乙支部", Decimal("2300.00"), Decimal("0.353846")),
    ]
    assert found.branches[1].par30 == Decimal("0.652174")  # 1,500 / 2,300
    # (4,200² + 2,300²) / 6,500² = 22,930,000 / 42,250,000.
    assert found.hhi == Decimal("0.542722")
    assert found.limit == Decimal("0.4000")
    assert [e.branch_id for e in found.breaches] == [a.pk]
    assert [(e.branch_name, e.principal, e.share) for e in found.largest] == [
        ("甲支部", Decimal("2000.00"), Decimal("0.307692")),
        ("乙支部", Decimal("1500.00"), Decimal("0.230769")),
    ]


def test_a_disabled_concentration_rule_sets_no_limit(
    two_branches: tuple[Branch, Branch],
) -> None:
    WarningRule.objects.filter(kind=WarningRule.Kind.BRANCH_CONCENTRATION).update(
        enabled=False
    )

    found = selectors.concentration(on=JAN_END)

    assert (found.limit, found.breaches) == (None, [])
    assert len(found.largest) == 5


def test_concentration_of_a_date_without_snapshots_is_empty() -> None:
    found = selectors.concentration(on=JAN_END)

    assert (found.principal, found.branches, found.hhi) == (0, [], Decimal(0))


# Collection outcomes ----------------------------------------------------------


def _case(loan: Loan, stage: str, cause: str = "") -> CollectionCase:
    return CollectionCase.objects.create(
        loan=loan,
        stage=stage,
        cause=cause,
        opened_on=date(2026, 2, 20),
        next_action_on=date(2026, 2, 21),
    )


def _pay(staff: Staff, loan: Loan, amount: str, on: date) -> None:
    services.repayment_post(
        loan=Loan.objects.get(pk=loan.pk),
        amount=Decimal(amount),
        reference=f"{loan.pk}-{on}",
        by=staff.finance,
        on=on,
    )


def test_recovery_by_stage_and_cause_from_hand_computed_cases(staff: Staff) -> None:
    branch = BranchFactory()
    partly, fully, paid_before = (_loan(staff, branch, "1200.00") for _ in range(3))
    first = Installment.objects.get(loan=partly, number=1)
    # 1,200 at 1 % a month over 3 months: 408.03 a month, 12.00 interest.
    assert (first.principal, first.interest) == (Decimal("396.03"), Decimal("12.00"))
    for loan in (partly, fully, paid_before):
        _behind(loan, 5)
    _pay(staff, paid_before, "100.00", date(2026, 2, 16))  # before the case
    _case(partly, Stage.EARLY, Cause.CASH_SHORTAGE)
    _case(fully, Stage.LATE)
    _case(paid_before, Stage.EARLY, Cause.CASH_SHORTAGE)
    _pay(staff, partly, "200.00", date(2026, 2, 25))
    # Paying the arrears cures the loan, and the repayment resolves its case.
    _pay(staff, fully, "408.03", date(2026, 2, 26))
    _pay(staff, fully, "100.00", date(2026, 3, 1))  # after it was resolved
    _pay(staff, paid_before, "500.00", date(2026, 3, 1))  # more than the arrears
    assert list(
        CollectionCase.objects.order_by("pk").values_list("resolved_on", flat=True)
    ) == [None, date(2026, 2, 26), date(2026, 3, 1)]

    stages, causes = selectors.collection_outcomes(until=date(2026, 3, 31))

    early, late = stages
    assert (early.key, early.cases, early.resolved) == ("early", 2, 1)
    # Arrears 408.03 + (408.03 - 100) = 716.06; recovered 200 + 308.03.
    assert (early.arrears, early.recovered) == (Decimal("716.06"), Decimal("508.03"))
    assert early.recovery_rate == Decimal("0.709480")  # 508.03 / 716.06
    assert early.resolved_rate == Decimal("0.5")
    assert (late.key, late.cases, late.resolved) == ("late", 1, 1)
    assert (late.arrears, late.recovered) == (Decimal("408.03"), Decimal("408.03"))
    assert (late.recovery_rate, late.resolved_rate) == (Decimal(1), Decimal(1))
    assert [(c.key, c.cases, c.recovered) for c in causes] == [
        ("cash_shortage", 2, Decimal("508.03")),
        ("unclassified", 1, Decimal("408.03")),
    ]
    assert causes[1].label == "Unclassified"


def test_outcomes_leave_out_cases_opened_later_and_count_payments_so_far(
    staff: Staff,
) -> None:
    loan = _loan(staff, BranchFactory(), "1200.00")
    _behind(loan, 5)
    _case(loan, Stage.MID, Cause.ACCIDENT_ILLNESS)
    _pay(staff, loan, "200.00", date(2026, 2, 25))

    assert selectors.collection_outcomes(until=date(2026, 2, 19)) == ([], [])
    (mid,), _causes = selectors.collection_outcomes(until=date(2026, 2, 24))
    assert (mid.arrears, mid.recovered, mid.recovery_rate) == (
        Decimal("408.03"),
        Decimal("0.00"),
        Decimal(0),
    )

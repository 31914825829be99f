"""The close's snapshot step: PARs, buckets, tiers and provisions against a
hand-computed book, month-end positions, delinquency marks, and a second
run that changes nothing."""

from datetime import date
from decimal import Decimal

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.test import Client

from loans.close import close_through
from loans.models import Loan
from members.models import Branch
from risk import cob
from risk.models import DelinquencyMark, LoanPosition, Snapshot, Tier, TierCode
from risk.portfolio import TierRate, tiers_check
from tests.factories import BranchFactory
from tests.loans.factories import ON, ProductFactory, Staff, active_loan, borrower

pytestmark = pytest.mark.django_db

DAY = date(2026, 3, 10)
MONTH_END = date(2026, 3, 31)


@pytest.fixture
def staff() -> Staff:
    return Staff()


def _loan(staff: Staff, branch: Branch, principal: str, days: int) -> Loan:
    loan = active_loan(
        staff=staff,
        member=borrower(branch=branch),
        product=ProductFactory(),
        principal=Decimal(principal),
    )
    # The loans step of the close stores days past due; here they are set.
    Loan.objects.filter(pk=loan.pk).update(days_past_due=days)
    return loan


@pytest.fixture
def book(staff: Staff) -> dict[str, Branch]:
    """Branch A: 1,200 current, 2,000 one day behind, 1,000 thirty days.
    Branch B: 1,500 ninety days behind, 800 ninety-one. 6,500 in all."""
    a, b = BranchFactory(name="甲支部"), BranchFactory(name="乙支部")
    _loan(staff, a, "1200.00", 0)
    _loan(staff, a, "2000.00", 1)
    _loan(staff, a, "1000.00", 30)
    _loan(staff, b, "1500.00", 90)
    _loan(staff, b, "800.00", 91)
    return {"a": a, "b": b}


def _amounts(table: dict[str, dict[str, object]]) -> dict[str, tuple[object, ...]]:
    return {key: tuple(row.values()) for key, row in table.items()}


def test_the_book_snapshot_has_hand_computed_pars(book: dict[str, Branch]) -> None:
    assert cob.snapshot(on=DAY) == 6  # three snapshots, three new marks

    whole = Snapshot.objects.get(on=DAY, branch=None)
    assert whole.loans_outstanding == 5
    assert whole.principal_outstanding == Decimal("6500.00")
    # 5,300 / 6,500; 3,300 / 6,500; 2,300 / 6,500 (at least 1, 30, 90 days).
    assert whole.par1 == Decimal("0.815385")
    assert whole.par30 == Decimal("0.507692")
    assert whole.par90 == Decimal("0.353846")


def test_a_loan_ninety_days_behind_is_in_par90_but_the_61_90_bucket(
    book: dict[str, Branch],
) -> None:
    cob.snapshot(on=DAY)

    whole = Snapshot.objects.get(on=DAY, branch=None)
    assert whole.buckets == {
        "current": {"count": 1, "principal": "1200.00"},
        "1-30": {"count": 2, "principal": "3000.00"},
        "31-60": {"count": 0, "principal": "0.00"},
        "61-90": {"count": 1, "principal": "1500.00"},
        "90+": {"count": 1, "principal": "800.00"},
    }


def test_tiers_and_provisions_follow_the_shipped_day_ranges(
    book: dict[str, Branch],
) -> None:
    cob.snapshot(on=DAY)

    whole = Snapshot.objects.get(on=DAY, branch=None)
    assert _amounts(whole.tiers) == {
        "normal": (1, "1200.00", "12.00", "0.0100"),
        "special_mention": (2, "3000.00", "60.00", "0.0200"),
        "substandard": (0, "0.00", "0.00", "0.2500"),
        "doubtful": (1, "1500.00", "750.00", "0.5000"),
        "loss": (1, "800.00", "800.00", "1.0000"),
    }
    assert whole.provision == Decimal("1622.00")


def test_each_branch_with_open_loans_has_its_own_snapshot(
    book: dict[str, Branch], staff: Staff
) -> None:
    BranchFactory(name="丙支部")  # no loans, no snapshot

    cob.snapshot(on=DAY)

    a = Snapshot.objects.get(on=DAY, branch=book["a"])
    assert (a.loans_outstanding, a.principal_outstanding) == (3, Decimal("4200.00"))
    # 3,000 / 4,200 and 1,000 / 4,200.
    assert (a.par1, a.par30, a.par90) == (
        Decimal("0.714286"),
        Decimal("0.238095"),
        Decimal("0.000000"),
    )
    assert a.provision == Decimal("72.00")
    b = Snapshot.objects.get(on=DAY, branch=book["b"])
    assert (b.par1, b.par30, b.par90) == (Decimal(1), Decimal(1), Decimal(1))
    assert b.provision == Decimal("1550.00")
    assert Snapshot.objects.filter(on=DAY).count() == 3


def test_provision_is_rounded_half_up_to_the_fen_per_tier(staff: Staff) -> None:
    branch = BranchFactory()
    _loan(staff, branch, "1234.50", 0)
    Tier.objects.filter(code=TierCode.NORMAL).update(provision_rate=Decimal("0.0100"))

    cob.snapshot(on=DAY)

    # 1,234.50 x 0.01 = 12.345, half up to 12.35.
    assert Snapshot.objects.get(on=DAY, branch=None).provision == Decimal("12.35")


def test_repaid_principal_is_not_outstanding(staff: Staff) -> None:
    from loans import services

    loan = _loan(staff, BranchFactory(), "1200.00", 0)
    # 1,200 at 1 % a month over 3 months: 408.03 a month, the first
    # installment 12.00 interest and 396.03 principal.
    services.repayment_post(
        loan=loan, amount=Decimal("408.03"), reference="r1", by=staff.finance, on=ON
    )

    cob.snapshot(on=DAY)

    whole = Snapshot.objects.get(on=DAY, branch=None)
    assert whole.principal_outstanding == Decimal("803.97")


def test_an_empty_book_has_zero_pars_and_no_branch_snapshots() -> None:
    assert cob.snapshot(on=DAY) == 1

    whole = Snapshot.objects.get(on=DAY, branch=None)
    assert (whole.loans_outstanding, whole.principal_outstanding) == (0, Decimal(0))
    assert (whole.par1, whole.par30, whole.par90) == (0, 0, 0)
    assert whole.provision == Decimal("0.00")


def test_loans_thirty_days_behind_get_a_delinquency_mark_once(
    book: dict[str, Branch],
) -> None:
    cob.snapshot(on=DAY)
    cob.snapshot(on=date(2026, 3, 11))

    marks = DelinquencyMark.objects.order_by("loan_id")
    assert [mark.first_on for mark in marks] == [DAY, DAY, DAY]
    days = sorted(
        Loan.objects.filter(pk__in=marks.values("loan_id")).values_list(
            "days_past_due", flat=True
        )
    )
    assert days == [30, 90, 91]


def test_positions_are_written_at_a_month_end_only(book: dict[str, Branch]) -> None:
    cob.snapshot(on=DAY)
    assert not LoanPosition.objects.exists()

    # 3 snapshots, 5 positions; the marks were set on DAY.
    assert cob.snapshot(on=MONTH_END) == 8

    positions = LoanPosition.objects.filter(on=MONTH_END)
    assert sorted(positions.values_list("bucket", "principal", "branch__name")) == [
        ("1-30", Decimal("1000.00"), "甲支部"),
        ("1-30", Decimal("2000.00"), "甲支部"),
        ("61-90", Decimal("1500.00"), "乙支部"),
        ("90+", Decimal("800.00"), "乙支部"),
        ("current", Decimal("1200.00"), "甲支部"),
    ]


def test_running_the_step_twice_rewrites_the_same_rows(
    book: dict[str, Branch],
) -> None:
    first = cob.snapshot(on=MONTH_END)
    before = list(Snapshot.objects.values("branch", "par30", "buckets", "tiers"))

    second = cob.snapshot(on=MONTH_END)

    assert (first, second) == (11, 8)  # the marks are not written again
    assert list(Snapshot.objects.values("branch", "par30", "buckets", "tiers")) == (
        before
    )
    assert LoanPosition.objects.count() == 5
    assert DelinquencyMark.objects.count() == 3


def test_the_close_runs_the_snapshot_after_the_collection_ladder() -> None:
    steps = list(settings.CLOSE_STEPS)
    assert steps.index("risk.cob.snapshot") == steps.index("collection.cob.ladder") + 1


def test_the_real_close_marks_a_loan_the_day_it_reaches_thirty_days(
    staff: Staff,
) -> None:
    loan = active_loan(staff=staff)  # first due 2026-02-15, unpaid

    close_through(until=date(2026, 3, 15))
    close_through(until=date(2026, 3, 18))

    assert DelinquencyMark.objects.get(loan_id=loan.pk).first_on == date(2026, 3, 17)
    on_17 = Snapshot.objects.get(on=date(2026, 3, 17), branch=None)
    assert (on_17.par1, on_17.par30) == (Decimal(1), Decimal(1))
    on_16 = Snapshot.objects.get(on=date(2026, 3, 16), branch=None)
    assert (on_16.par1, on_16.par30) == (Decimal(1), Decimal(0))
    assert on_16.buckets["1-30"] == {"count": 1, "principal": "1200.00"}


# Tiers and snapshots in the back-office -----------------------------------------


def _tiers(*rows: tuple[str, int, str]) -> list[TierRate]:
    return [TierRate(code, days, Decimal(rate)) for code, days, rate in rows]


SHIPPED = (
    ("normal", 0, "0.01"),
    ("special_mention", 1, "0.02"),
    ("substandard", 31, "0.25"),
    ("doubtful", 61, "0.5"),
    ("loss", 91, "1"),
)


def test_the_shipped_tiers_pass_the_tier_check() -> None:
    tiers_check(_tiers(*SHIPPED))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (("normal", 1, "0.01"), "min_days"),
        (("doubtful", 31, "0.5"), "min_days"),
        (("doubtful", 61, "0.2"), "provision_rate"),
        (("loss", 91, "1.5"), "provision_rate"),
    ],
)
def test_tiers_out_of_order_are_refused_naming_the_field(
    change: tuple[str, int, str], field: str
) -> None:
    rows = [change if row[0] == change[0] else row for row in SHIPPED]

    with pytest.raises(ValidationError) as refused:
        tiers_check(_tiers(*rows))

    assert list(refused.value.message_dict) == [field]


def test_a_risk_officer_edits_a_tier_in_the_admin(
    client: Client, risk_officer: User
) -> None:
    client.force_login(risk_officer)
    tier = Tier.objects.get(code=TierCode.SUBSTANDARD)
    url = f"/admin/risk/tier/{tier.pk}/change/"

    refused = client.post(url, {"min_days": "70", "provision_rate": "0.2500"})
    accepted = client.post(url, {"min_days": "45", "provision_rate": "0.3000"})

    assert refused.status_code == 200
    assert "must start later" in refused.content.decode()
    assert accepted.status_code == 302
    tier.refresh_from_db()
    assert (tier.min_days, tier.provision_rate) == (45, Decimal("0.3000"))
    assert client.get("/admin/risk/tier/add/").status_code == 403


def test_an_auditor_reads_snapshots_with_percentages_and_tables(
    client: Client, auditor: User, book: dict[str, Branch]
) -> None:
    cob.snapshot(on=DAY)
    client.force_login(auditor)
    whole = Snapshot.objects.get(on=DAY, branch=None)

    listing = client.get("/admin/risk/snapshot/").content.decode()
    detail = client.get(f"/admin/risk/snapshot/{whole.pk}/change/").content.decode()

    assert "81.54 %" in listing  # PAR 1 of the book
    assert "750.00" in detail  # the doubtful tier's provision
    assert "<table>" in detail
    normal = Tier.objects.get(code=TierCode.NORMAL)
    tier_page = client.get(f"/admin/risk/tier/{normal.pk}/change/")
    assert tier_page.status_code == 200
    assert 'name="min_days"' not in tier_page.content.decode()  # read only

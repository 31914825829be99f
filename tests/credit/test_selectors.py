"""The inputs the scorecard reads, gathered for many members at once."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from credit.models import CreditProfile, Input, RepaymentEvent
from credit.selectors import score_inputs, stale_member_ids
from members import services as member_services
from members.models import BlacklistEntry, Branch, Member
from tests.credit.factories import (
    AT,
    ON,
    BureauReportFactory,
    CreditProfileFactory,
    RepaymentEventFactory,
    tie,
)
from tests.factories import BranchFactory, MemberFactory

pytestmark = pytest.mark.django_db

D = Decimal
VERIFIED = Member.KycStatus.VERIFIED
Kind = RepaymentEvent.Kind
A_YEAR_AGO = ON - timedelta(days=365)


def inputs_of(member: Member, *, on: date = ON) -> dict[str, Decimal | None]:
    return score_inputs([member], on=on)[member.pk]


@pytest.fixture
def member() -> Member:
    return MemberFactory(kyc=VERIFIED)


# Identity


def test_verified_member_counts_as_kyc_verified(member: Member) -> None:
    assert inputs_of(member)[Input.KYC_VERIFIED] == 1
    assert inputs_of(MemberFactory())[Input.KYC_VERIFIED] == 0


@pytest.mark.parametrize(
    ("on", "months"),
    [
        (date(2025, 2, 14), 0),
        (date(2025, 2, 15), 1),
        (date(2026, 1, 14), 11),
        (date(2026, 1, 15), 12),
    ],
)
def test_tenure_counts_whole_months_since_joining(on: date, months: int) -> None:
    member = MemberFactory(joined_on=date(2025, 1, 15))

    assert inputs_of(member, on=on)[Input.TENURE_MONTHS] == months


def test_tenure_is_never_negative() -> None:
    member = MemberFactory(joined_on=date(2026, 3, 1))

    assert inputs_of(member, on=date(2026, 2, 1))[Input.TENURE_MONTHS] == 0


# Repayment record


def test_on_time_share_counts_installments_of_the_last_year_only(
    member: Member,
) -> None:
    for _ in range(3):
        RepaymentEventFactory(member=member, occurred_on=ON - timedelta(days=30))
    RepaymentEventFactory(member=member, kind=Kind.INSTALLMENT_LATE, days_past_due=2)
    for _ in range(5):
        RepaymentEventFactory(
            member=member, kind=Kind.INSTALLMENT_LATE, occurred_on=A_YEAR_AGO
        )

    inputs = inputs_of(member)

    assert inputs[Input.ON_TIME_SHARE] == D("0.7500")
    assert inputs[Input.LATE_INSTALLMENTS] == 1


def test_on_time_share_is_missing_without_installments(member: Member) -> None:
    RepaymentEventFactory(member=member, kind=Kind.LOAN_REPAID)

    inputs = inputs_of(member)

    assert inputs[Input.ON_TIME_SHARE] is None
    assert inputs[Input.LATE_INSTALLMENTS] == 0


def test_worst_days_past_due_is_the_worst_of_the_last_year(member: Member) -> None:
    RepaymentEventFactory(member=member, kind=Kind.INSTALLMENT_LATE, days_past_due=3)
    RepaymentEventFactory(member=member, kind=Kind.LOAN_OVERDUE, days_past_due=12)
    RepaymentEventFactory(
        member=member,
        kind=Kind.LOAN_OVERDUE,
        days_past_due=90,
        occurred_on=A_YEAR_AGO - timedelta(days=30),
    )

    assert inputs_of(member)[Input.WORST_DAYS_PAST_DUE] == 12


def test_worst_days_past_due_is_zero_without_history(member: Member) -> None:
    assert inputs_of(member)[Input.WORST_DAYS_PAST_DUE] == 0


def test_loans_repaid_counts_every_repaid_loan_however_old(member: Member) -> None:
    RepaymentEventFactory(member=member, kind=Kind.LOAN_REPAID)
    RepaymentEventFactory(
        member=member, kind=Kind.LOAN_REPAID, occurred_on=date(2024, 3, 1)
    )
    RepaymentEventFactory(
        member=member, kind=Kind.LOAN_REPAID, on_time=False, occurred_on=ON
    )

    assert inputs_of(member)[Input.LOANS_REPAID] == 3


def test_another_members_history_does_not_count(member: Member) -> None:
    other = MemberFactory(branch=member.branch, kyc=VERIFIED)
    RepaymentEventFactory(member=other, kind=Kind.LOAN_REPAID)
    RepaymentEventFactory(member=other, kind=Kind.INSTALLMENT_LATE, days_past_due=9)

    inputs = inputs_of(member)

    assert inputs[Input.LOANS_REPAID] == 0
    assert inputs[Input.WORST_DAYS_PAST_DUE] == 0
    assert inputs[Input.ON_TIME_SHARE] is None


# Current indebtedness


def test_utilisation_is_open_principal_against_the_limit(member: Member) -> None:
    CreditProfileFactory(member=member, limit=D("2000.00"), open_principal=D("500.00"))

    assert inputs_of(member)[Input.UTILISATION] == D("0.2500")


def test_utilisation_is_missing_without_a_limit(member: Member) -> None:
    assert inputs_of(member)[Input.UTILISATION] is None

    CreditProfileFactory(member=member, limit=D("0.00"))

    assert inputs_of(member)[Input.UTILISATION] is None


# Group record


def test_branch_overdue_share_is_over_every_profile_in_the_branch(
    member: Member,
) -> None:
    neighbour = MemberFactory(branch=member.branch, kyc=VERIFIED)
    CreditProfileFactory(
        member=member, open_principal=D("1000.00"), overdue_principal=D("300.00")
    )
    CreditProfileFactory(member=neighbour, open_principal=D("3000.00"))
    CreditProfileFactory(
        open_principal=D("1000.00"), overdue_principal=D("1000.00")
    )  # in another branch

    assert inputs_of(member)[Input.BRANCH_OVERDUE_SHARE] == D("0.0750")
    assert inputs_of(neighbour)[Input.BRANCH_OVERDUE_SHARE] == D("0.0750")


def test_branch_overdue_share_is_missing_when_nothing_is_lent(member: Member) -> None:
    assert inputs_of(member)[Input.BRANCH_OVERDUE_SHARE] is None

    CreditProfileFactory(member=member)

    assert inputs_of(member)[Input.BRANCH_OVERDUE_SHARE] is None


@pytest.fixture
def branch() -> Branch:
    return BranchFactory()


def defaulted(member: Member, *, on: date = ON) -> RepaymentEvent:
    return RepaymentEventFactory(
        member=member, kind=Kind.LOAN_DEFAULTED, occurred_on=on
    )


def test_tie_defaults_count_defaults_on_both_sides_of_active_guarantees(
    branch: Branch,
) -> None:
    member, guarantor, guaranteed, stranger = (
        MemberFactory(branch=branch, kyc=VERIFIED) for _ in range(4)
    )
    tie(guarantor, member)
    tie(member, guaranteed)
    defaulted(guarantor)
    defaulted(guaranteed)
    defaulted(guaranteed, on=ON - timedelta(days=40))
    defaulted(stranger)

    assert inputs_of(member)[Input.TIE_DEFAULTS] == 3


def test_tie_defaults_ignore_released_guarantees(branch: Branch) -> None:
    member, former_guarantor = (
        MemberFactory(branch=branch, kyc=VERIFIED) for _ in "ab"
    )
    member_services.guarantor_tie_release(tie=tie(former_guarantor, member), at=AT)
    defaulted(former_guarantor)

    assert inputs_of(member)[Input.TIE_DEFAULTS] == 0


def test_tie_defaults_ignore_defaults_older_than_a_year(branch: Branch) -> None:
    member, guarantor = (MemberFactory(branch=branch, kyc=VERIFIED) for _ in "ab")
    tie(guarantor, member)
    defaulted(guarantor, on=A_YEAR_AGO)

    assert inputs_of(member)[Input.TIE_DEFAULTS] == 0


def test_members_own_default_is_not_a_tie_default(branch: Branch) -> None:
    member, guarantor = (MemberFactory(branch=branch, kyc=VERIFIED) for _ in "ab")
    tie(guarantor, member)
    defaulted(member)

    assert inputs_of(member)[Input.TIE_DEFAULTS] == 0
    assert inputs_of(guarantor)[Input.TIE_DEFAULTS] == 1


# Bureau data


def test_bureau_inputs_come_from_the_latest_report_by_date(member: Member) -> None:
    CreditProfileFactory(member=member, declared_monthly_income=D("4000.00"))
    BureauReportFactory(
        member=member,
        reported_on=date(2026, 11, 1),
        external_overdue_count=1,
        external_debt=D("24000.00"),
        inquiries_90d=2,
    )
    # Received later, but reported earlier: it is not the latest.
    BureauReportFactory(
        member=member,
        reported_on=date(2026, 6, 1),
        external_overdue_count=5,
        external_debt=D("99000.00"),
        inquiries_90d=9,
    )

    inputs = inputs_of(member)

    assert inputs[Input.BUREAU_OVERDUE_COUNT] == 1
    assert inputs[Input.INQUIRIES_90D] == 2
    # 24 000 against 4 000 a month, 48 000 a year.
    assert inputs[Input.DEBT_TO_INCOME] == D("0.5000")


def test_debt_to_income_is_missing_without_declared_income(member: Member) -> None:
    BureauReportFactory(member=member, external_debt=D("1000.00"))
    assert inputs_of(member)[Input.DEBT_TO_INCOME] is None

    CreditProfileFactory(member=member, declared_monthly_income=None)
    assert inputs_of(member)[Input.DEBT_TO_INCOME] is None


def test_bureau_inputs_are_missing_without_a_report(member: Member) -> None:
    CreditProfileFactory(member=member, declared_monthly_income=D("4000.00"))

    inputs = inputs_of(member)

    assert inputs[Input.BUREAU_OVERDUE_COUNT] is None
    assert inputs[Input.DEBT_TO_INCOME] is None
    assert inputs[Input.INQUIRIES_90D] is None


# In bulk


def members_with_history(count: int) -> list[Member]:
    """Members with every kind of data the selector reads, ties included."""
    branch = BranchFactory()
    members = [MemberFactory(branch=branch, kyc=VERIFIED) for _ in range(count)]
    for index, member in enumerate(members):
        CreditProfileFactory(
            member=member,
            open_principal=D("500.00"),
            declared_monthly_income=D("3000.00"),
        )
        RepaymentEventFactory(member=member)
        RepaymentEventFactory(member=member, kind=Kind.LOAN_DEFAULTED)
        BureauReportFactory(member=member)
        if index:
            tie(members[index - 1], member)
    return list(Member.objects.filter(pk__in=[m.pk for m in members]))


def queries_to_score(members: list[Member]) -> int:
    with CaptureQueriesContext(connection) as queries:
        inputs = score_inputs(members, on=ON)
    assert set(inputs) == {member.pk for member in members}
    return len(queries)


def test_inputs_for_thirty_members_take_as_many_queries_as_for_three() -> None:
    few = queries_to_score(members_with_history(3))
    many = queries_to_score(members_with_history(30))

    assert many == few
    assert few <= 6


def test_inputs_in_bulk_equal_inputs_one_by_one() -> None:
    members = members_with_history(4)

    together = score_inputs(members, on=ON)

    for member in members:
        assert together[member.pk] == inputs_of(member)


# Stale scores


def test_stale_members_have_no_profile_or_an_expired_one() -> None:
    unscored = MemberFactory(kyc=VERIFIED)
    never_valid = CreditProfileFactory(valid_until=None).member
    expired = CreditProfileFactory(valid_until=ON - timedelta(days=1)).member
    CreditProfileFactory(valid_until=ON)
    CreditProfileFactory(valid_until=ON + timedelta(days=30))

    assert stale_member_ids(on=ON) == sorted([unscored.pk, never_valid.pk, expired.pk])


def test_unverified_and_blacklisted_members_are_never_stale() -> None:
    MemberFactory()
    MemberFactory(kyc=Member.KycStatus.REJECTED)
    member_services.member_blacklist(
        member=MemberFactory(kyc=VERIFIED),
        reason="骗贷",
        source=BlacklistEntry.Source.FRAUD,
        on=ON,
        by=None,
    )

    assert stale_member_ids(on=ON) == []
    assert CreditProfile.objects.count() == 0

"""The early-warning rules: each fires on its case, stays quiet otherwise,
never fires when disabled, and raises nothing twice however often the
close runs."""

from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from credit.models import CreditScore, Grade
from credit.selectors import policy_in_force
from loans import services as loans
from loans.models import Installment, Loan
from members.models import Branch, GuarantorTie, Member
from risk import warnings
from risk.cob import early_warnings
from risk.models import Alert, Severity, Snapshot, WarningRule
from risk.services import alert_resolve, rules_evaluate
from tests.credit.factories import BureauReportFactory, tie
from tests.factories import BranchFactory, MemberFactory
from tests.loans.factories import ON as LOAN_DAY
from tests.loans.factories import ProductFactory, Staff, active_loan, borrower

pytestmark = pytest.mark.django_db

ON = date(2026, 6, 30)
FIRST_DUE = date(2026, 2, 15)  # a loan disbursed on LOAN_DAY, 2026-01-15


def only(kind: str, **changes: Any) -> WarningRule:
    """Leave only the rule of `kind` enabled, with `changes` made to it."""
    WarningRule.objects.exclude(kind=kind).update(enabled=False)
    WarningRule.objects.filter(kind=kind).update(enabled=True, **changes)
    return WarningRule.objects.get(kind=kind)


def alerts(kind: str) -> list[Alert]:
    return list(Alert.objects.filter(rule__kind=kind).order_by("pk"))


def snapshot(
    branch: Branch | None,
    *,
    principal: str,
    par30: str = "0",
    on: date = ON,
    loans: int = 10,
) -> Snapshot:
    return Snapshot.objects.create(
        on=on,
        branch=branch,
        loans_outstanding=loans,
        principal_outstanding=Decimal(principal),
        par1=Decimal(par30),
        par30=Decimal(par30),
        par90=Decimal(0),
        provision=Decimal(0),
    )


def score(member: Member, total: int, as_of: date) -> CreditScore:
    policy = policy_in_force()
    assert policy is not None
    return CreditScore.objects.create(
        member=member,
        policy=policy,
        total=total,
        grade=Grade.C,
        ceiling=Decimal("3000.00"),
        factors=[],
        as_of=as_of,
        trigger=CreditScore.Trigger.SCHEDULED,
    )


def verified(branch: Branch) -> Member:
    return MemberFactory(branch=branch, kyc=Member.KycStatus.VERIFIED)


def apply(member: Member, on: date) -> Loan:
    return loans.loan_apply(
        member=member,
        product=ProductFactory(),
        principal=Decimal("500.00"),
        term_months=3,
        by=None,
        on=on,
    )


# Cases where each rule fires, for the checks every rule shares.


def first_installment_case() -> date:
    active_loan(staff=Staff())
    return FIRST_DUE + timedelta(days=1)


def branch_par30_case() -> date:
    snapshot(BranchFactory(), principal="1000.00", par30="0.150000")
    return ON


def score_drop_case() -> date:
    member = verified(BranchFactory())
    score(member, 600, ON - timedelta(days=10))
    score(member, 500, ON)
    return ON


def bureau_overdue_case() -> date:
    BureauReportFactory(reported_on=ON, external_overdue_count=2)
    return ON


def application_burst_case() -> date:
    member = borrower()
    for days_ago in (6, 3, 0):
        apply(member, LOAN_DAY - timedelta(days=days_ago))
    return LOAN_DAY


def guarantor_ring_case() -> date:
    branch = BranchFactory()
    a, b, c = (verified(branch) for _ in range(3))
    tie(a, b)
    tie(b, c)
    tie(c, a)
    return ON


def branch_concentration_case() -> date:
    snapshot(None, principal="10000.00")
    snapshot(BranchFactory(), principal="5000.00")
    return ON


CASES: dict[str, Callable[[], date]] = {
    WarningRule.Kind.FIRST_INSTALLMENT_MISSED: first_installment_case,
    WarningRule.Kind.BRANCH_PAR30: branch_par30_case,
    WarningRule.Kind.SCORE_DROP: score_drop_case,
    WarningRule.Kind.BUREAU_OVERDUE: bureau_overdue_case,
    WarningRule.Kind.APPLICATION_BURST: application_burst_case,
    WarningRule.Kind.GUARANTOR_RING: guarantor_ring_case,
    WarningRule.Kind.BRANCH_CONCENTRATION: branch_concentration_case,
}


def test_every_shipped_rule_has_a_check_and_a_case() -> None:
    kinds = set(WarningRule.objects.values_list("kind", flat=True))

    assert kinds == set(warnings.CHECKS) == set(CASES)


@pytest.mark.parametrize("kind", list(CASES))
def test_each_rule_raises_its_alert_once_however_often_it_runs(kind: str) -> None:
    rule = only(kind, severity=Severity.CRITICAL)
    on = CASES[kind]()

    assert rules_evaluate(on=on) == 1
    assert rules_evaluate(on=on) == 0
    assert early_warnings(on=on) == 0

    [alert] = alerts(kind)
    assert alert.severity == Severity.CRITICAL
    assert alert.raised_on == on
    assert alert.status == Alert.Status.OPEN
    assert alert.rule == rule
    assert alert.branch_id is not None


@pytest.mark.parametrize("kind", list(CASES))
def test_a_disabled_rule_never_fires(kind: str) -> None:
    only(kind)
    WarningRule.objects.filter(kind=kind).update(enabled=False)
    on = CASES[kind]()

    assert rules_evaluate(on=on) == 0
    assert Alert.objects.count() == 0


@pytest.mark.parametrize("kind", list(CASES))
def test_no_subject_names_a_national_id_or_phone(kind: str) -> None:
    only(kind)
    rules_evaluate(on=CASES[kind]())

    [alert] = alerts(kind)
    if alert.member is not None:
        assert alert.member.national_id_masked not in alert.subject
        assert alert.member.phone_masked not in alert.subject
        assert alert.member.real_name in alert.subject


# First installment missed


def test_first_installment_unpaid_the_day_after_its_due_date_fires() -> None:
    only(WarningRule.Kind.FIRST_INSTALLMENT_MISSED)
    loan = active_loan(staff=Staff())
    first = loan.installments.get(number=1)

    assert rules_evaluate(on=FIRST_DUE + timedelta(days=1)) == 1

    [alert] = alerts(WarningRule.Kind.FIRST_INSTALLMENT_MISSED)
    assert alert.loan == loan
    assert alert.member == loan.member
    assert alert.branch == loan.member.branch
    assert alert.dedupe_key == f"first_installment_missed:loan:{loan.pk}"
    assert loan.number in alert.subject
    assert alert.evidence == {
        "installment": first.pk,
        "due_date": "2026-02-15",
        "days_late": 1,
        "amount_due": str(first.principal + first.interest),
        "principal": "1200.00",
    }


def test_first_installment_on_its_due_date_is_not_yet_missed() -> None:
    only(WarningRule.Kind.FIRST_INSTALLMENT_MISSED)
    active_loan(staff=Staff())

    assert rules_evaluate(on=FIRST_DUE) == 0


def test_first_installment_paid_on_time_raises_nothing() -> None:
    only(WarningRule.Kind.FIRST_INSTALLMENT_MISSED)
    loan = active_loan(staff=Staff())
    first = loan.installments.get(number=1)
    loans.repayment_post(
        loan=loan, amount=first.total_due, reference="T1", by=None, on=FIRST_DUE
    )

    assert rules_evaluate(on=FIRST_DUE + timedelta(days=5)) == 0


def test_a_superseded_first_installment_is_not_a_missed_one() -> None:
    only(WarningRule.Kind.FIRST_INSTALLMENT_MISSED)
    loan = active_loan(staff=Staff())
    Installment.objects.filter(loan=loan, number=1).update(superseded=True)

    assert rules_evaluate(on=FIRST_DUE + timedelta(days=5)) == 0


def test_the_threshold_gives_days_of_slack_after_the_due_date() -> None:
    only(WarningRule.Kind.FIRST_INSTALLMENT_MISSED, threshold=Decimal(3))
    active_loan(staff=Staff())

    assert rules_evaluate(on=FIRST_DUE + timedelta(days=3)) == 0
    assert rules_evaluate(on=FIRST_DUE + timedelta(days=4)) == 1


def test_a_resolved_missed_first_installment_is_not_raised_again() -> None:
    only(WarningRule.Kind.FIRST_INSTALLMENT_MISSED)
    active_loan(staff=Staff())
    rules_evaluate(on=FIRST_DUE + timedelta(days=1))
    [alert] = alerts(WarningRule.Kind.FIRST_INSTALLMENT_MISSED)
    alert_resolve(alert=alert, by=Staff().risk, note="已电话联系，承诺周五还款")

    assert rules_evaluate(on=FIRST_DUE + timedelta(days=2)) == 0


# Branch PAR 30


def test_branch_par30_above_the_threshold_fires_with_its_figures() -> None:
    only(WarningRule.Kind.BRANCH_PAR30, threshold=Decimal("0.1000"))
    hot, calm = BranchFactory(name="东风支部"), BranchFactory()
    hot_snapshot = snapshot(hot, principal="8000.00", par30="0.125000", loans=6)
    snapshot(calm, principal="8000.00", par30="0.100000")
    snapshot(None, principal="16000.00", par30="0.112500")

    assert rules_evaluate(on=ON) == 1

    [alert] = alerts(WarningRule.Kind.BRANCH_PAR30)
    assert alert.branch == hot
    assert alert.member is None
    assert "东风支部" in alert.subject
    assert "12.5 %" in alert.subject
    assert "paused" not in alert.subject
    assert alert.evidence == {
        "snapshot": hot_snapshot.pk,
        "par30": "0.125000",
        "threshold": "0.1000",
        "principal_outstanding": "8000.00",
        "loans_outstanding": 6,
        "lending_paused": False,
    }
    hot.refresh_from_db()
    assert hot.status == Branch.Status.ACTIVE


def test_branch_par30_without_a_snapshot_of_the_day_stays_quiet() -> None:
    only(WarningRule.Kind.BRANCH_PAR30)
    snapshot(BranchFactory(), principal="1000.00", par30="0.5", on=ON)

    assert rules_evaluate(on=ON + timedelta(days=1)) == 0


def test_branch_par30_rule_that_pauses_pauses_the_branch_and_says_so() -> None:
    only(WarningRule.Kind.BRANCH_PAR30, pauses_branch=True)
    branch = BranchFactory()
    snapshot(branch, principal="1000.00", par30="0.200000")

    rules_evaluate(on=ON)

    branch.refresh_from_db()
    assert branch.status == Branch.Status.PAUSED
    assert branch.paused_reason
    [alert] = alerts(WarningRule.Kind.BRANCH_PAR30)
    assert "lending paused" in alert.subject
    assert alert.evidence["lending_paused"] is True


def test_an_already_paused_branch_is_not_paused_again_nor_said_to_be() -> None:
    only(WarningRule.Kind.BRANCH_PAR30, pauses_branch=True)
    branch = BranchFactory(status=Branch.Status.PAUSED, paused_reason="整改中")
    snapshot(branch, principal="1000.00", par30="0.200000")

    rules_evaluate(on=ON)

    branch.refresh_from_db()
    assert branch.paused_reason == "整改中"
    [alert] = alerts(WarningRule.Kind.BRANCH_PAR30)
    assert alert.evidence["lending_paused"] is False


def test_branch_par30_keeps_one_unresolved_alert_per_branch() -> None:
    only(WarningRule.Kind.BRANCH_PAR30)
    branch = BranchFactory()
    for day in range(3):
        snapshot(
            branch,
            principal="1000.00",
            par30="0.200000",
            on=ON + timedelta(days=day),
        )

    assert rules_evaluate(on=ON) == 1
    assert rules_evaluate(on=ON + timedelta(days=1)) == 0

    [alert] = alerts(WarningRule.Kind.BRANCH_PAR30)
    alert_resolve(alert=alert, by=Staff().risk, note="已派驻风控专员")
    assert rules_evaluate(on=ON + timedelta(days=2)) == 1


# Score drop


def test_score_drop_from_the_window_high_fires() -> None:
    only(WarningRule.Kind.SCORE_DROP, threshold=Decimal(80), window_days=30)
    member = verified(BranchFactory())
    score(member, 640, ON - timedelta(days=40))  # outside the window
    score(member, 590, ON - timedelta(days=25))
    score(member, 560, ON - timedelta(days=5))
    latest = score(member, 510, ON - timedelta(days=1))

    assert rules_evaluate(on=ON) == 1

    [alert] = alerts(WarningRule.Kind.SCORE_DROP)
    assert alert.member == member
    assert alert.branch == member.branch
    assert alert.evidence == {
        "score": latest.pk,
        "as_of": "2026-06-29",
        "total": 510,
        "highest_in_window": 590,
        "drop": 80,
        "threshold": "80.0000",
        "window_days": 30,
    }


def test_score_drop_smaller_than_the_threshold_stays_quiet() -> None:
    only(WarningRule.Kind.SCORE_DROP, threshold=Decimal(80), window_days=30)
    member = verified(BranchFactory())
    score(member, 640, ON - timedelta(days=31))  # a higher one, but too early
    score(member, 589, ON - timedelta(days=20))
    score(member, 510, ON)

    assert rules_evaluate(on=ON) == 0


def test_score_drop_looks_at_the_latest_score_only() -> None:
    only(WarningRule.Kind.SCORE_DROP, threshold=Decimal(80), window_days=30)
    member = verified(BranchFactory())
    score(member, 600, ON - timedelta(days=20))
    score(member, 500, ON - timedelta(days=10))
    score(member, 610, ON - timedelta(days=2))  # recovered since

    assert rules_evaluate(on=ON) == 0


def test_scores_after_the_business_date_are_not_seen() -> None:
    only(WarningRule.Kind.SCORE_DROP, threshold=Decimal(80), window_days=30)
    member = verified(BranchFactory())
    score(member, 600, ON - timedelta(days=5))
    score(member, 400, ON + timedelta(days=1))

    assert rules_evaluate(on=ON) == 0


# Bureau overdue


def test_a_first_report_with_outside_overdue_debt_fires() -> None:
    only(WarningRule.Kind.BUREAU_OVERDUE)
    report = BureauReportFactory(
        reported_on=ON, external_overdue_count=2, external_debt=Decimal("12000.50")
    )

    assert rules_evaluate(on=ON) == 1

    [alert] = alerts(WarningRule.Kind.BUREAU_OVERDUE)
    assert alert.member == report.member
    assert alert.evidence == {
        "report": report.pk,
        "source": "人行征信",
        "reported_on": "2026-06-30",
        "external_overdue_count": 2,
        "previous_count": 0,
        "external_debt": "12000.50",
    }


def test_a_report_with_more_overdue_debts_than_the_last_one_fires() -> None:
    only(WarningRule.Kind.BUREAU_OVERDUE)
    earlier = BureauReportFactory(
        reported_on=ON - timedelta(days=90), external_overdue_count=1
    )
    BureauReportFactory(member=earlier.member, reported_on=ON, external_overdue_count=3)

    assert rules_evaluate(on=ON) == 1
    [alert] = alerts(WarningRule.Kind.BUREAU_OVERDUE)
    assert alert.evidence["previous_count"] == 1


def test_a_report_with_no_more_overdue_debts_than_the_last_stays_quiet() -> None:
    only(WarningRule.Kind.BUREAU_OVERDUE)
    earlier = BureauReportFactory(
        reported_on=ON - timedelta(days=90), external_overdue_count=2
    )
    BureauReportFactory(member=earlier.member, reported_on=ON, external_overdue_count=2)
    BureauReportFactory(reported_on=ON, external_overdue_count=0)

    assert rules_evaluate(on=ON) == 0


def test_with_no_window_only_reports_of_the_day_are_read() -> None:
    only(WarningRule.Kind.BUREAU_OVERDUE, window_days=0)
    BureauReportFactory(reported_on=ON - timedelta(days=1), external_overdue_count=4)

    assert rules_evaluate(on=ON) == 0

    WarningRule.objects.filter(kind=WarningRule.Kind.BUREAU_OVERDUE).update(
        window_days=7
    )
    assert rules_evaluate(on=ON) == 1


# Application burst


def test_three_applications_in_seven_days_fire() -> None:
    only(WarningRule.Kind.APPLICATION_BURST, threshold=Decimal(3), window_days=7)
    member = borrower()
    applied = [apply(member, LOAN_DAY - timedelta(days=d)) for d in (6, 2, 0)]

    assert rules_evaluate(on=LOAN_DAY) == 1

    [alert] = alerts(WarningRule.Kind.APPLICATION_BURST)
    assert alert.member == member
    assert alert.evidence == {
        "applications": 3,
        "from": "2026-01-09",
        "to": "2026-01-15",
        "threshold": "3.0000",
        "last_loan": applied[-1].pk,
    }


def test_applications_spread_wider_than_the_window_stay_quiet() -> None:
    only(WarningRule.Kind.APPLICATION_BURST, threshold=Decimal(3), window_days=7)
    member = borrower()
    for days_ago in (7, 2, 0):
        apply(member, LOAN_DAY - timedelta(days=days_ago))

    assert rules_evaluate(on=LOAN_DAY) == 0


def test_a_burst_is_raised_once_while_its_alert_is_open() -> None:
    only(WarningRule.Kind.APPLICATION_BURST, threshold=Decimal(3), window_days=7)
    member = borrower()
    for days_ago in (3, 2, 1):
        apply(member, LOAN_DAY - timedelta(days=days_ago))
    assert rules_evaluate(on=LOAN_DAY - timedelta(days=1)) == 1

    apply(member, LOAN_DAY)

    assert rules_evaluate(on=LOAN_DAY) == 0


# Guarantor ring


def test_a_guarantee_loop_fires_with_the_ring_as_evidence() -> None:
    only(WarningRule.Kind.GUARANTOR_RING)
    branch = BranchFactory()
    a, b, c, d = (verified(branch) for _ in range(4))
    tie(a, b)
    tie(b, c)
    tie(c, a)
    tie(c, d)

    assert rules_evaluate(on=ON) == 1

    [alert] = alerts(WarningRule.Kind.GUARANTOR_RING)
    assert alert.evidence == {"ring": [a.pk, b.pk, c.pk], "length": 3}
    assert alert.branch == branch
    assert alert.dedupe_key == f"guarantor_ring:members:{a.pk}-{b.pk}-{c.pk}"


def test_a_chain_of_guarantees_is_no_ring() -> None:
    only(WarningRule.Kind.GUARANTOR_RING)
    branch = BranchFactory()
    a, b, c = (verified(branch) for _ in range(3))
    tie(a, b)
    tie(b, c)
    tie(a, c)

    assert rules_evaluate(on=ON) == 0


def test_a_released_tie_breaks_the_ring() -> None:
    only(WarningRule.Kind.GUARANTOR_RING)
    branch = BranchFactory()
    a, b = verified(branch), verified(branch)
    tie(a, b)
    back = tie(b, a)
    GuarantorTie.objects.filter(pk=back.pk).update(status=GuarantorTie.Status.RELEASED)

    assert rules_evaluate(on=ON) == 0


def test_rings_are_found_once_each_even_when_they_share_members() -> None:
    edges = [(1, 2), (2, 1), (2, 3), (3, 1), (4, 5)]

    assert warnings.guarantor_rings(edges) == [[1, 2], [1, 2, 3]]


def test_a_ring_found_starting_elsewhere_is_the_same_ring() -> None:
    assert warnings.guarantor_rings([(5, 3), (3, 9), (9, 5)]) == [[3, 9, 5]]


def test_two_rings_sharing_members_raise_two_alerts() -> None:
    only(WarningRule.Kind.GUARANTOR_RING)
    branch = BranchFactory()
    a, b, c = (verified(branch) for _ in range(3))
    tie(a, b)
    tie(b, a)
    tie(b, c)
    tie(c, a)

    assert rules_evaluate(on=ON) == 2


# Branch concentration


def test_a_branch_above_the_share_limit_fires() -> None:
    only(WarningRule.Kind.BRANCH_CONCENTRATION, threshold=Decimal("0.4000"))
    big, small = BranchFactory(), BranchFactory()
    snapshot(None, principal="12000.00")
    snapshot(big, principal="7000.00")
    snapshot(small, principal="4000.00")
    snapshot(BranchFactory(), principal="1000.00")

    assert rules_evaluate(on=ON) == 1

    [alert] = alerts(WarningRule.Kind.BRANCH_CONCENTRATION)
    assert alert.branch == big
    assert "58.3 %" in alert.subject
    assert alert.evidence == {
        "share": "0.583333",
        "threshold": "0.4000",
        "branch_principal": "7000.00",
        "book_principal": "12000.00",
    }


def test_a_branch_exactly_at_the_limit_stays_quiet() -> None:
    only(WarningRule.Kind.BRANCH_CONCENTRATION, threshold=Decimal("0.4000"))
    snapshot(None, principal="10000.00")
    snapshot(BranchFactory(), principal="4000.00")
    snapshot(BranchFactory(), principal="3000.00")
    snapshot(BranchFactory(), principal="3000.00")

    assert rules_evaluate(on=ON) == 0


def test_no_book_snapshot_means_no_concentration_alert() -> None:
    only(WarningRule.Kind.BRANCH_CONCENTRATION)
    snapshot(BranchFactory(), principal="4000.00")

    assert rules_evaluate(on=ON) == 0

"""Business rules of credit, through `credit.services`, with the shipped policy.

Policy version 1 ships in force (migration 0002). With it, a member who
joined on 1 February 2026 and is verified on 3 December 2026, with no
history and no bureau report, scores 350: identity 100 + 20 (ten months),
repayment 40 + 0 + 40 + 0, indebtedness 40 (no limit yet), group 40 + 20,
bureau 20 + 20 + 10. That is grade C, ceiling ¥3,000, first limit ¥2,000.
"""

import json
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from config.roles import StaffRole
from credit import services
from credit.models import (
    BureauReport,
    CreditFlag,
    CreditProfile,
    CreditScore,
    Dimension,
    GradeBand,
    Input,
    LimitChange,
    PolicyBand,
    RepaymentEvent,
    ScoringPolicy,
)
from credit.selectors import open_flags, policy_in_force
from members import services as member_services
from members.models import BlacklistEntry, BlacklistRule, Branch, Member
from tests.credit.factories import (
    ON,
    latest_score,
    new_policy_in_force,
    points,
    profile_of,
    scored_member,
    set_ceiling,
    tie,
)
from tests.factories import BranchFactory, MemberFactory, national_id, staff_user

pytestmark = pytest.mark.django_db

D = Decimal
Cause = LimitChange.Cause
Trigger = CreditScore.Trigger
FlagKind = CreditFlag.Kind
VERIFIED = Member.KycStatus.VERIFIED
LATER = ON + timedelta(days=30)


def refusal(call: Callable[..., Any], /, **kwargs: Any) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        call(**kwargs)
    return caught.value


def codes(error: ValidationError) -> list[str | None]:
    return [item.code for item in error.error_list]


def causes(member: Member) -> list[str]:
    return list(
        LimitChange.objects.filter(profile__member=member)
        .order_by("id")
        .values_list("cause", flat=True)
    )


def rescore(member: Member, *, on: date = LATER) -> CreditScore:
    credit_score = services.credit_score_member(
        member=member, on=on, trigger=Trigger.MANUAL
    )
    assert credit_score is not None
    return credit_score


def inputs_shown(credit_score: CreditScore, dimension: Dimension) -> dict[str, Any]:
    return next(
        factor["inputs"]
        for factor in credit_score.factors
        if factor["dimension"] == dimension
    )


def fresh(member: Member) -> Member:
    return Member.objects.select_related("branch").get(pk=member.pk)


@pytest.fixture
def maker() -> User:
    return staff_user(StaffRole.RISK_OFFICER)


@pytest.fixture
def checker() -> User:
    return staff_user(StaffRole.RISK_OFFICER)


@pytest.fixture
def branch() -> Branch:
    return BranchFactory()


@pytest.fixture
def member(branch: Branch) -> Member:
    return scored_member(branch=branch)


@pytest.fixture
def v1() -> ScoringPolicy:
    policy = policy_in_force()
    assert policy is not None
    assert policy.version == 1
    return policy


# The policy in force scores a verified member


def test_verified_member_gets_score_grade_and_limit_from_the_policy_in_force(
    v1: ScoringPolicy,
) -> None:
    member = scored_member()

    credit_score = latest_score(member)
    assert credit_score.policy == v1
    assert (credit_score.total, credit_score.grade) == (350, "C")
    assert credit_score.ceiling == D("3000.00")
    assert credit_score.trigger == Trigger.VERIFIED
    assert credit_score.as_of == ON
    assert [f["dimension"] for f in credit_score.factors] == list(Dimension.values)
    assert sum(f["points"] for f in credit_score.factors) == credit_score.total

    profile = profile_of(member)
    assert profile.latest_score == credit_score
    assert profile.limit == min(v1.initial_limit, credit_score.ceiling) == D("2000")
    assert profile.available == D("2000.00")
    assert profile.limit_started_on == ON
    assert profile.valid_until == ON + timedelta(days=v1.review_days)


def test_first_limit_is_recorded_with_its_cause_and_score(member: Member) -> None:
    change = LimitChange.objects.get(profile__member=member)

    assert change.cause == Cause.FIRST_SCORE
    assert (change.limit_before, change.limit_after) == (D("0"), D("2000"))
    assert change.reference == f"score:{latest_score(member).pk}"
    assert change.on == ON
    assert not change.frozen_after


def test_first_limit_is_capped_by_the_grades_ceiling(
    maker: User, checker: User
) -> None:
    new_policy_in_force(
        maker=maker,
        checker=checker,
        on=ON,
        edit=lambda draft: set_ceiling(draft, "C", "1500.00"),
    )

    member = scored_member()

    assert latest_score(member).grade == "C"
    assert profile_of(member).limit == D("1500.00")


def test_member_whose_kyc_is_pending_is_not_scored() -> None:
    member = MemberFactory()

    result = services.credit_score_member(member=member, on=ON, trigger=Trigger.MANUAL)

    assert result is None
    assert not CreditScore.objects.filter(member=member).exists()
    assert not CreditProfile.objects.filter(member=member).exists()


def test_scoring_without_a_policy_in_force_is_refused(member: Member) -> None:
    ScoringPolicy.objects.update(status=ScoringPolicy.Status.RETIRED)

    error = refusal(
        services.credit_score_member, member=member, on=LATER, trigger=Trigger.MANUAL
    )

    assert error.code == "no_policy"
    assert CreditScore.objects.filter(member=member).count() == 1


def test_scoring_many_members_scores_only_the_verified(branch: Branch) -> None:
    verified = [MemberFactory(branch=branch, kyc=VERIFIED) for _ in range(3)]
    pending = MemberFactory(branch=branch)

    scores = services.credit_score_members(
        members=[*verified, pending], on=ON, trigger=Trigger.SCHEDULED
    )

    assert sorted(s.member_id for s in scores) == sorted(m.pk for m in verified)
    assert {profile_of(m).limit for m in verified} == {D("2000.00")}


# Each dimension reacts


def test_longer_tenure_earns_more_identity_points(branch: Branch) -> None:
    newcomer = scored_member(branch=branch)
    old_hand = scored_member(branch=branch, joined_on=date(2025, 6, 1))

    newcomer_score, old_hand_score = latest_score(newcomer), latest_score(old_hand)
    assert points(old_hand_score, Dimension.IDENTITY) > points(
        newcomer_score, Dimension.IDENTITY
    )
    assert inputs_shown(old_hand_score, Dimension.IDENTITY) == {
        Input.KYC_VERIFIED: "1",
        Input.TENURE_MONTHS: "18",
    }
    assert old_hand_score.total > newcomer_score.total


def pay_installments(member: Member, *, late_days: int) -> None:
    loan = f"L-{member.pk}"
    for number in (1, 2, 3):
        due_on = ON + timedelta(days=number)
        services.credit_installment_paid(
            member=member,
            loan_reference=loan,
            number=number,
            due_on=due_on,
            paid_on=due_on + timedelta(days=late_days),
        )


def test_late_installments_lower_the_repayment_dimension(member: Member) -> None:
    prompt = scored_member(branch=member.branch)
    first = latest_score(member)
    pay_installments(prompt, late_days=0)
    pay_installments(member, late_days=10)

    prompt_score, late_score = rescore(prompt), rescore(member)

    late_points = points(late_score, Dimension.REPAYMENT)
    assert late_points < points(first, Dimension.REPAYMENT)
    assert late_points < points(prompt_score, Dimension.REPAYMENT)
    assert inputs_shown(late_score, Dimension.REPAYMENT) == {
        Input.ON_TIME_SHARE: "0.0000",
        Input.LATE_INSTALLMENTS: "3",
        Input.WORST_DAYS_PAST_DUE: "10",
        Input.LOANS_REPAID: "0",
    }
    assert inputs_shown(prompt_score, Dimension.REPAYMENT)[Input.ON_TIME_SHARE] == (
        "1.0000"
    )


def test_installment_paid_twice_is_recorded_once(member: Member) -> None:
    for _ in range(2):
        services.credit_installment_paid(
            member=member, loan_reference="L1", number=1, due_on=ON, paid_on=ON
        )

    assert RepaymentEvent.objects.filter(member=member).count() == 1


def test_using_most_of_the_limit_lowers_the_indebtedness_dimension(
    member: Member,
) -> None:
    before = rescore(member)
    services.credit_hold(member=member, amount=D("1900.00"))
    services.credit_draw(member=member, amount=D("1900.00"))

    after = rescore(member)

    assert points(after, Dimension.INDEBTEDNESS) < points(
        before, Dimension.INDEBTEDNESS
    )
    assert inputs_shown(after, Dimension.INDEBTEDNESS) == {Input.UTILISATION: "0.9500"}


def test_a_guarantors_default_lowers_the_group_dimension(member: Member) -> None:
    guarantor = scored_member(branch=member.branch)
    tie(guarantor, member)
    before = rescore(member)

    services.credit_loan_defaulted(member=guarantor, loan_reference="L-G", on=LATER)
    after = rescore(member)

    assert points(after, Dimension.GROUP) < points(before, Dimension.GROUP)
    assert inputs_shown(after, Dimension.GROUP)[Input.TIE_DEFAULTS] == "1"


def test_overdue_principal_in_the_branch_lowers_the_group_dimension(
    member: Member,
) -> None:
    neighbour = scored_member(branch=member.branch)
    services.credit_hold(member=neighbour, amount=D("1000.00"))
    services.credit_draw(member=neighbour, amount=D("1000.00"))
    before = rescore(member)

    services.credit_set_overdue_principal(member=neighbour, amount=D("400.00"))
    after = rescore(member)

    assert points(after, Dimension.GROUP) < points(before, Dimension.GROUP)
    assert inputs_shown(after, Dimension.GROUP)[Input.BRANCH_OVERDUE_SHARE] == (
        "0.4000"
    )


def receive_report(member: Member, **overrides: Any) -> BureauReport:
    values: dict[str, Any] = {
        "member": member,
        "source": "人行征信",
        "reported_on": LATER,
        "reported_name": member.real_name,
        "reported_national_id": member.national_id,
        "monthly_income": D("5000.00"),
        "external_overdue_count": 0,
        "external_debt": D("0.00"),
        "inquiries_90d": 1,
        "raw": {"score": 650},
        "by": None,
        "on": LATER,
    }
    values.update(overrides)
    return services.bureau_report_receive(**values)


def test_overdue_debts_elsewhere_lower_the_bureau_dimension(member: Member) -> None:
    clean = scored_member(branch=member.branch)
    receive_report(clean)
    receive_report(member, external_overdue_count=3)

    clean_score, overdue_score = latest_score(clean), latest_score(member)

    assert points(overdue_score, Dimension.BUREAU) < points(
        clean_score, Dimension.BUREAU
    )
    bureau_inputs = inputs_shown(overdue_score, Dimension.BUREAU)
    assert bureau_inputs[Input.BUREAU_OVERDUE_COUNT] == "3"


def test_heavy_outside_debt_against_declared_income_lowers_the_bureau_dimension(
    member: Member,
) -> None:
    light = scored_member(branch=member.branch)
    for someone in (light, member):
        services.credit_declare_income(member=someone, monthly_income=D("4000.00"))
    receive_report(light, monthly_income=D("4000.00"), external_debt=D("4800.00"))
    receive_report(member, monthly_income=D("4000.00"), external_debt=D("96000.00"))

    light_score, heavy_score = latest_score(light), latest_score(member)

    assert points(heavy_score, Dimension.BUREAU) < points(light_score, Dimension.BUREAU)
    assert inputs_shown(heavy_score, Dimension.BUREAU)[Input.DEBT_TO_INCOME] == (
        "2.0000"
    )
    assert inputs_shown(light_score, Dimension.BUREAU)[Input.DEBT_TO_INCOME] == (
        "0.1000"
    )


# Policy versions


def edit_kyc_points(draft: ScoringPolicy) -> None:
    PolicyBand.objects.filter(
        policy=draft, input=Input.KYC_VERIFIED, lower=D("1")
    ).update(points=0)


def test_new_policy_changes_later_scores_and_leaves_earlier_ones_intact(
    member: Member, v1: ScoringPolicy, maker: User, checker: User
) -> None:
    earlier = latest_score(member)
    earlier_factors = earlier.factors

    v2 = new_policy_in_force(
        maker=maker, checker=checker, on=LATER, edit=edit_kyc_points
    )
    later = rescore(member)

    assert (later.policy, later.policy.version) == (v2, 2)
    assert later.total == earlier.total + 20 - 100  # a limit now; KYC worth 0
    assert later.grade == "D"
    assert profile_of(member).latest_score == later

    earlier.refresh_from_db()
    assert (earlier.policy, earlier.policy.version) == (v1, 1)
    assert (earlier.total, earlier.grade, earlier.ceiling) == (350, "C", D("3000"))
    assert earlier.factors == earlier_factors
    assert points(earlier, Dimension.IDENTITY) == 120


def test_new_policy_with_a_lower_ceiling_lowers_the_limit_at_the_next_score(
    member: Member, maker: User, checker: User
) -> None:
    new_policy_in_force(
        maker=maker,
        checker=checker,
        on=LATER,
        edit=lambda draft: set_ceiling(draft, "C", "1200.00"),
    )
    assert profile_of(member).limit == D("2000.00")

    rescore(member)

    assert profile_of(member).limit == D("1200.00")
    assert causes(member) == [Cause.FIRST_SCORE, Cause.SCORE_CEILING]


def test_approved_policy_retires_the_old_one_which_stays_readable(
    v1: ScoringPolicy, maker: User, checker: User
) -> None:
    v1_bands = list(v1.bands.values_list("input", "lower", "upper", "points"))

    v2 = new_policy_in_force(
        maker=maker, checker=checker, on=LATER, edit=edit_kyc_points
    )

    v1.refresh_from_db()
    assert v1.status == ScoringPolicy.Status.RETIRED
    assert list(v1.bands.values_list("input", "lower", "upper", "points")) == v1_bands
    assert v1.grades.count() == 5
    assert v2.version == 2
    assert v2.status == ScoringPolicy.Status.IN_FORCE
    assert v2.effective_from == LATER
    assert (v2.created_by, v2.approved_by) == (maker, checker)
    assert v2.approved_at is not None
    assert policy_in_force() == v2
    assert ScoringPolicy.objects.filter(status="in_force").count() == 1


def test_draft_copies_the_base_policy_and_is_not_used_until_approved(
    v1: ScoringPolicy, maker: User, branch: Branch
) -> None:
    draft = services.scoring_policy_draft(base=v1, by=maker)
    edit_kyc_points(draft)

    assert (draft.version, draft.status) == (2, ScoringPolicy.Status.DRAFT)
    assert draft.created_by == maker
    assert draft.initial_limit == v1.initial_limit
    assert draft.guarantor_cut == v1.guarantor_cut
    assert draft.bands.count() == v1.bands.count()
    assert list(draft.grades.values_list("grade", "min_points", "ceiling")) == list(
        v1.grades.values_list("grade", "min_points", "ceiling")
    )
    assert latest_score(scored_member(branch=branch)).policy == v1


def test_draft_from_nothing_starts_empty(maker: User) -> None:
    draft = services.scoring_policy_draft(base=None, by=maker)

    assert draft.version == 2
    assert not draft.bands.exists()
    assert not draft.grades.exists()


def test_drafter_cannot_approve_their_own_policy(
    v1: ScoringPolicy, maker: User, checker: User
) -> None:
    draft = services.scoring_policy_draft(base=v1, by=maker)

    with pytest.raises(ValidationError):
        services.scoring_policy_approve(policy=draft, by=maker, on=LATER)

    draft.refresh_from_db()
    assert draft.status == ScoringPolicy.Status.DRAFT
    assert policy_in_force() == v1

    services.scoring_policy_approve(policy=draft, by=checker, on=LATER)
    assert policy_in_force() == draft


def test_only_a_draft_can_be_approved(
    v1: ScoringPolicy, maker: User, checker: User
) -> None:
    with pytest.raises(ValidationError):
        services.scoring_policy_approve(policy=v1, by=checker, on=LATER)
    v1.refresh_from_db()
    assert v1.status == ScoringPolicy.Status.IN_FORCE
    assert v1.effective_from == date(2026, 1, 1)

    v2 = new_policy_in_force(maker=maker, checker=checker, on=LATER)
    with pytest.raises(ValidationError):
        services.scoring_policy_approve(policy=v1, by=checker, on=LATER)
    v1.refresh_from_db()
    assert v1.status == ScoringPolicy.Status.RETIRED
    assert policy_in_force() == v2


def test_an_unchanged_copy_of_the_shipped_policy_is_fit(
    v1: ScoringPolicy, maker: User
) -> None:
    assert services.scoring_policy_check(v1) == []
    assert (
        services.scoring_policy_check(services.scoring_policy_draft(base=v1, by=maker))
        == []
    )


def break_by_dropping_grades(draft: ScoringPolicy) -> None:
    draft.grades.all().delete()


def break_by_inverting_a_band(draft: ScoringPolicy) -> None:
    band = draft.bands.get(input=Input.TENURE_MONTHS, lower=D("3"))
    band.lower, band.upper = D("12"), D("3")
    band.save()


def break_by_an_empty_band(draft: ScoringPolicy) -> None:
    band = draft.bands.get(input=Input.TENURE_MONTHS, lower=D("3"))
    band.upper = D("3")
    band.save()


def break_by_a_better_grade_with_a_lower_ceiling(draft: ScoringPolicy) -> None:
    set_ceiling(draft, "B", "2000.00")


def break_by_a_huge_first_limit(draft: ScoringPolicy) -> None:
    draft.initial_limit = draft.max_single_loan * 10 + 1
    draft.save()


@pytest.mark.parametrize(
    "break_it",
    [
        break_by_dropping_grades,
        break_by_inverting_a_band,
        break_by_an_empty_band,
        break_by_a_better_grade_with_a_lower_ceiling,
        break_by_a_huge_first_limit,
    ],
)
def test_unfit_policy_has_one_problem_and_cannot_be_approved(
    break_it: Callable[[ScoringPolicy], None],
    v1: ScoringPolicy,
    maker: User,
    checker: User,
) -> None:
    draft = services.scoring_policy_draft(base=v1, by=maker)
    break_it(draft)

    assert len(services.scoring_policy_check(draft)) == 1
    error = refusal(services.scoring_policy_approve, policy=draft, by=checker, on=LATER)
    assert len(error.messages) == 1
    draft.refresh_from_db()
    assert draft.status == ScoringPolicy.Status.DRAFT
    assert policy_in_force() == v1


def test_policy_without_point_bands_is_unfit(maker: User) -> None:
    draft = services.scoring_policy_draft(base=None, by=maker)
    GradeBand.objects.create(policy=draft, grade="A", min_points=0)

    assert len(services.scoring_policy_check(draft)) == 1


# Limits react: overdue and freezing


def test_loan_falling_overdue_freezes_new_borrowing(member: Member) -> None:
    services.credit_loan_overdue(
        member=member, loan_reference="L1", on=LATER, days_past_due=3
    )

    profile = profile_of(member)
    assert profile.frozen
    assert profile.frozen_reason
    assert profile.available == D("0.00")
    assert profile.limit == D("2000.00")
    change = LimitChange.objects.filter(profile=profile).latest("id")
    assert change.cause == Cause.FROZEN
    assert change.frozen_after
    assert (change.reference, change.on) == ("L1", LATER)
    assert latest_score(member).trigger == Trigger.LOAN_OVERDUE


def test_same_overdue_reported_twice_changes_nothing_more(member: Member) -> None:
    for _ in range(2):
        services.credit_loan_overdue(
            member=member, loan_reference="L1", on=LATER, days_past_due=3
        )

    assert causes(member) == [Cause.FIRST_SCORE, Cause.FROZEN]
    assert CreditScore.objects.filter(member=member).count() == 2
    assert RepaymentEvent.objects.filter(member=member).count() == 1


def test_overdue_loan_the_next_day_keeps_one_freeze(member: Member) -> None:
    for day in (0, 1):
        services.credit_loan_overdue(
            member=member,
            loan_reference="L1",
            on=LATER + timedelta(days=day),
            days_past_due=3 + day,
        )

    assert causes(member) == [Cause.FIRST_SCORE, Cause.FROZEN]
    assert profile_of(member).frozen


def test_unfreezing_restores_borrowing_with_its_cause(member: Member) -> None:
    services.credit_loan_overdue(
        member=member, loan_reference="L1", on=LATER, days_past_due=3
    )

    services.credit_unfreeze(member=member, on=LATER, reference="L1")

    profile = profile_of(member)
    assert not profile.frozen
    assert profile.frozen_reason == ""
    assert profile.available == D("2000.00")
    assert causes(member)[-1] == Cause.UNFROZEN


def test_unfreezing_a_profile_that_is_not_frozen_records_nothing(
    member: Member,
) -> None:
    services.credit_unfreeze(member=member, on=LATER)

    assert causes(member) == [Cause.FIRST_SCORE]


# Limits react: blacklisting


def blacklist(member: Member, *, on: date = LATER) -> BlacklistEntry:
    return services.member_blacklist_and_zero_limit(
        member=member,
        reason="冒用他人身份",
        source=BlacklistEntry.Source.FRAUD,
        on=on,
        by=None,
    )


def test_blacklisting_zeroes_the_limit_and_freezes(member: Member) -> None:
    entry = blacklist(member)

    profile = profile_of(member)
    assert (profile.limit, profile.available) == (D("0"), D("0"))
    assert profile.frozen
    change = LimitChange.objects.filter(profile=profile).latest("id")
    assert change.cause == Cause.BLACKLISTED
    assert (change.limit_before, change.limit_after) == (D("2000"), D("0"))
    assert change.reference == f"blacklist:{entry.pk}"


def test_limit_change_records_the_staff_member_who_caused_it(
    member: Member, checker: User
) -> None:
    services.member_blacklist_and_zero_limit(
        member=member,
        reason="冒用他人身份",
        source=BlacklistEntry.Source.STAFF,
        on=LATER,
        by=checker,
    )

    change = LimitChange.objects.filter(profile__member=member).latest("id")
    assert (change.cause, change.by) == (Cause.BLACKLISTED, checker)


def test_rescoring_a_blacklisted_member_keeps_the_limit_at_zero(
    member: Member,
) -> None:
    blacklist(member)

    rescore(member, on=LATER + timedelta(days=1))

    assert profile_of(member).limit == D("0.00")
    assert causes(member) == [Cause.FIRST_SCORE, Cause.BLACKLISTED]


def test_lifted_blacklisting_starts_the_member_again_from_the_first_limit(
    member: Member,
) -> None:
    rule = BlacklistRule.current()
    rule.require_debt_settled = False
    rule.cooling_off_days = 0
    rule.save()
    entry = blacklist(member)
    lifted_on = LATER + timedelta(days=10)

    services.blacklist_lift_and_restart(
        entry=entry, on=lifted_on, by=None, reason="核实为误报"
    )

    profile = profile_of(member)
    assert not profile.frozen
    assert profile.limit == D("2000.00")
    assert profile.limit_started_on == lifted_on
    assert causes(member)[-2:] == [Cause.BLACKLIST_LIFTED, Cause.FIRST_SCORE]
    assert fresh(member).status == Member.Status.ACTIVE


def test_lift_refused_by_the_rule_leaves_the_limit_at_zero(member: Member) -> None:
    entry = blacklist(member)  # the default rule waits 180 days

    with pytest.raises(ValidationError):
        services.blacklist_lift_and_restart(
            entry=entry, on=LATER, by=None, reason="核实为误报"
        )

    profile = profile_of(member)
    assert (profile.limit, profile.frozen) == (D("0"), True)


# Limits react: a default in the group


@pytest.fixture
def ring(branch: Branch) -> dict[str, Member]:
    """A defaulter, their guarantor, a neighbour, and someone elsewhere."""
    people = {
        "defaulter": scored_member(branch=branch),
        "guarantor": scored_member(branch=branch),
        "neighbour": scored_member(branch=branch),
        "elsewhere": scored_member(),
    }
    tie(people["guarantor"], people["defaulter"])
    tie(people["defaulter"], people["neighbour"])  # the defaulter vouches for them
    return people


def test_default_cuts_guarantors_and_branch_limits_by_policy_factors(
    ring: dict[str, Member], v1: ScoringPolicy
) -> None:
    services.credit_loan_defaulted(
        member=ring["defaulter"], loan_reference="L-D", on=LATER
    )

    assert profile_of(ring["guarantor"]).limit == D("2000.00") * v1.guarantor_cut
    assert profile_of(ring["neighbour"]).limit == D("2000.00") * v1.branch_cut
    assert profile_of(ring["guarantor"]).limit == D("1000.00")
    assert profile_of(ring["neighbour"]).limit == D("1800.00")
    assert causes(ring["guarantor"])[-1] == Cause.GUARANTOR_DEFAULT
    assert causes(ring["neighbour"])[-1] == Cause.BRANCH_DEFAULT
    change = LimitChange.objects.filter(profile__member=ring["guarantor"]).latest("id")
    assert (change.reference, change.on) == ("L-D", LATER)


def test_default_leaves_other_branches_alone(ring: dict[str, Member]) -> None:
    services.credit_loan_defaulted(
        member=ring["defaulter"], loan_reference="L-D", on=LATER
    )

    assert profile_of(ring["elsewhere"]).limit == D("2000.00")
    assert causes(ring["elsewhere"]) == [Cause.FIRST_SCORE]


def test_default_reported_twice_cuts_once(ring: dict[str, Member]) -> None:
    for _ in range(2):
        services.credit_loan_defaulted(
            member=ring["defaulter"], loan_reference="L-D", on=LATER
        )

    assert profile_of(ring["guarantor"]).limit == D("1000.00")
    assert profile_of(ring["neighbour"]).limit == D("1800.00")
    assert causes(ring["guarantor"]) == [Cause.FIRST_SCORE, Cause.GUARANTOR_DEFAULT]


def test_released_guarantor_is_cut_as_branch_member_only(
    ring: dict[str, Member],
) -> None:
    for guarantee in ring["defaulter"].guarantees_received.all():
        member_services.guarantor_tie_release(tie=guarantee, at=guarantee.created_at)

    services.credit_loan_defaulted(
        member=ring["defaulter"], loan_reference="L-D", on=LATER
    )

    assert profile_of(ring["guarantor"]).limit == D("1800.00")
    assert causes(ring["guarantor"])[-1] == Cause.BRANCH_DEFAULT


# Limits react: graduation and the grade's ceiling


def repaid(member: Member, loan: str, *, days: int, on_time: bool = True) -> None:
    services.credit_loan_repaid(
        member=member,
        loan_reference=loan,
        on=ON + timedelta(days=days),
        on_time=on_time,
    )


def test_two_loans_repaid_on_time_raise_the_limit_one_step(
    member: Member, v1: ScoringPolicy
) -> None:
    repaid(member, "L1", days=10)
    assert profile_of(member).limit == D("2000.00")

    repaid(member, "L2", days=20)

    assert profile_of(member).limit == D("2000.00") + v1.graduation_step
    change = LimitChange.objects.filter(profile__member=member).latest("id")
    assert change.cause == Cause.GRADUATION
    assert change.reference == "L2"
    assert latest_score(member).trigger == Trigger.LOAN_REPAID


def test_the_next_step_needs_a_new_run(member: Member) -> None:
    repaid(member, "L1", days=10)
    repaid(member, "L2", days=20)
    repaid(member, "L3", days=30)
    assert profile_of(member).limit == D("3000.00")

    repaid(member, "L4", days=40)

    assert profile_of(member).limit == D("4000.00")
    assert causes(member).count(Cause.GRADUATION) == 2


def test_graduation_stops_at_the_grades_ceiling(
    member: Member, maker: User, checker: User
) -> None:
    def big_steps(draft: ScoringPolicy) -> None:
        draft.graduation_step = D("9000.00")

    new_policy_in_force(maker=maker, checker=checker, on=ON, edit=big_steps)

    repaid(member, "L1", days=10)
    repaid(member, "L2", days=20)

    credit_score = latest_score(member)
    assert profile_of(member).limit == credit_score.ceiling < D("11000.00")


def test_a_late_loan_resets_the_run(member: Member) -> None:
    repaid(member, "L1", days=10)
    repaid(member, "L2", days=20, on_time=False)
    repaid(member, "L3", days=30)
    assert profile_of(member).limit == D("2000.00")

    repaid(member, "L4", days=40)

    assert profile_of(member).limit == D("3000.00")


def test_loan_repaid_reported_twice_counts_once(member: Member) -> None:
    repaid(member, "L1", days=10)
    repaid(member, "L1", days=10)

    assert profile_of(member).limit == D("2000.00")
    assert CreditScore.objects.filter(member=member).count() == 2


def test_blacklisted_member_repaying_on_time_keeps_a_zero_limit(
    member: Member,
) -> None:
    blacklist(member, on=ON)

    repaid(member, "L1", days=10)
    repaid(member, "L2", days=20)

    profile = profile_of(member)
    assert profile.limit == D("0.00")
    assert Cause.GRADUATION not in causes(member)


def test_rescore_with_a_lower_ceiling_lowers_the_limit_to_it(member: Member) -> None:
    # Three overdue debts elsewhere: bureau -60 + 20 + 20, grade D.
    receive_report(member, external_overdue_count=3)

    credit_score = latest_score(member)
    assert credit_score.grade == "D"
    assert profile_of(member).limit == credit_score.ceiling == D("1000.00")
    change = LimitChange.objects.filter(profile__member=member).latest("id")
    assert change.cause == Cause.SCORE_CEILING
    assert change.reference == f"score:{credit_score.pk}"


def test_rescore_with_a_higher_ceiling_never_raises_the_limit(
    member: Member,
) -> None:
    receive_report(member)

    credit_score = latest_score(member)
    assert credit_score.ceiling > D("2000.00")
    assert profile_of(member).limit == D("2000.00")
    assert causes(member) == [Cause.FIRST_SCORE]


# Limit use


def test_hold_reserves_part_of_the_available_limit(member: Member) -> None:
    profile = services.credit_hold(member=member, amount=D("500"))

    assert profile.held == D("500.00")
    assert profile_of(member).available == D("1500.00")


def test_available_is_limit_less_open_principal_and_holds(member: Member) -> None:
    services.credit_hold(member=member, amount=D("500.00"))
    services.credit_draw(member=member, amount=D("500.00"))
    services.credit_hold(member=member, amount=D("300.00"))

    profile = profile_of(member)
    assert (profile.open_principal, profile.held) == (D("500"), D("300"))
    assert profile.available == D("1200.00")


def test_hold_beyond_the_available_amount_is_refused(member: Member) -> None:
    services.credit_hold(member=member, amount=D("1500.00"))

    error = refusal(services.credit_hold, member=member, amount=D("500.01"))

    assert set(error.error_dict) == {"amount"}
    assert profile_of(member).held == D("1500.00")


def test_hold_of_the_whole_available_amount_is_allowed(member: Member) -> None:
    services.credit_hold(member=member, amount=D("2000.00"))

    assert profile_of(member).available == D("0.00")


def test_hold_beyond_the_largest_single_loan_is_refused(
    member: Member, maker: User, checker: User
) -> None:
    def small_loans(draft: ScoringPolicy) -> None:
        draft.max_single_loan = D("1000.00")

    new_policy_in_force(maker=maker, checker=checker, on=ON, edit=small_loans)

    error = refusal(services.credit_hold, member=member, amount=D("1000.01"))

    assert set(error.error_dict) == {"amount"}
    assert profile_of(member).held == D("0.00")
    services.credit_hold(member=member, amount=D("1000.00"))


@pytest.mark.parametrize("amount", [D("0"), D("-5.00")])
def test_hold_of_nothing_is_refused(member: Member, amount: Decimal) -> None:
    error = refusal(services.credit_hold, member=member, amount=amount)

    assert set(error.error_dict) == {"amount"}


def test_frozen_member_cannot_hold(member: Member) -> None:
    services.credit_loan_overdue(
        member=member, loan_reference="L1", on=LATER, days_past_due=3
    )

    error = refusal(services.credit_hold, member=member, amount=D("100.00"))

    assert error.code == "frozen"
    assert profile_of(member).held == D("0.00")


def test_unverified_member_cannot_hold() -> None:
    member = MemberFactory()

    error = refusal(services.credit_hold, member=member, amount=D("100.00"))

    assert codes(error) == ["cannot_borrow"]


def test_blacklisted_member_cannot_hold(member: Member) -> None:
    blacklist(member)

    error = refusal(services.credit_hold, member=fresh(member), amount=D("100.00"))

    assert codes(error) == ["cannot_borrow"]


def test_member_of_a_paused_branch_cannot_hold(member: Member) -> None:
    member_services.branch_pause(branch=member.branch, reason="逾期率超过警戒线")

    error = refusal(services.credit_hold, member=fresh(member), amount=D("100.00"))

    assert codes(error) == ["cannot_borrow"]
    assert profile_of(member).held == D("0.00")


def test_draw_turns_the_hold_into_open_principal(member: Member) -> None:
    services.credit_hold(member=member, amount=D("800.00"))

    profile = services.credit_draw(member=member, amount=D("800.00"))

    assert (profile.held, profile.open_principal) == (D("0"), D("800"))
    assert profile_of(member).available == D("1200.00")


def test_restore_gives_repaid_principal_back_to_the_limit(member: Member) -> None:
    services.credit_hold(member=member, amount=D("800.00"))
    services.credit_draw(member=member, amount=D("800.00"))

    services.credit_restore(member=member, principal=D("300.00"))

    profile = profile_of(member)
    assert profile.open_principal == D("500.00")
    assert profile.available == D("1500.00")


def test_restore_never_leaves_negative_principal(member: Member) -> None:
    services.credit_hold(member=member, amount=D("800.00"))
    services.credit_draw(member=member, amount=D("800.00"))

    services.credit_restore(member=member, principal=D("900.00"))

    assert profile_of(member).open_principal == D("0.00")


def test_a_restore_reads_an_existing_profile_once_as_it_locks_it(
    member: Member,
) -> None:
    services.credit_hold(member=member, amount=D("800.00"))
    services.credit_draw(member=member, amount=D("800.00"))

    with CaptureQueriesContext(connection) as queries:
        services.credit_restore(member=member, principal=D("300.00"))

    reads = [q["sql"] for q in queries if q["sql"].startswith("SELECT")]
    assert len(reads) == 1
    assert "credit_creditprofile" in reads[0]
    assert profile_of(member).open_principal == D("500.00")


def test_a_member_without_a_profile_gets_one_when_first_reported() -> None:
    member = MemberFactory()
    CreditProfile.objects.filter(member=member).delete()

    services.credit_declare_income(member=member, monthly_income=D("3000.00"))

    assert profile_of(member).declared_monthly_income == D("3000.00")
    assert profile_of(member).limit == D("0.00")


def test_release_returns_a_hold(member: Member) -> None:
    services.credit_hold(member=member, amount=D("800.00"))

    services.credit_release(member=member, amount=D("800.00"))

    profile = profile_of(member)
    assert profile.held == D("0.00")
    assert profile.available == D("2000.00")


def test_limit_cut_below_open_principal_leaves_nothing_available(
    ring: dict[str, Member],
) -> None:
    guarantor = ring["guarantor"]
    services.credit_hold(member=guarantor, amount=D("1500.00"))
    services.credit_draw(member=guarantor, amount=D("1500.00"))

    services.credit_loan_defaulted(
        member=ring["defaulter"], loan_reference="L-D", on=LATER
    )

    profile = profile_of(guarantor)
    assert profile.limit == D("1000.00")
    assert profile.available == D("0.00")


# Bureau data


def test_negative_declared_income_is_refused(member: Member) -> None:
    error = refusal(
        services.credit_declare_income, member=member, monthly_income=D("-1")
    )

    assert set(error.error_dict) == {"monthly_income"}
    assert profile_of(member).declared_monthly_income is None


def test_report_keeps_the_reported_national_id_encrypted_and_masked(
    member: Member,
) -> None:
    plain = member.national_id

    report = receive_report(member, reported_national_id=plain)

    stored = BureauReport.objects.get(pk=report.pk)
    assert plain not in stored.reported_national_id_encrypted
    assert stored.reported_national_id == plain
    assert stored.reported_national_id_masked == plain[:6] + "*" * 8 + plain[-4:]


def test_report_keeps_the_raw_payload_encrypted(member: Member) -> None:
    raw = {"报告编号": "RPT-778899", "score": 650}

    report = receive_report(member, raw=raw)

    stored = BureauReport.objects.get(pk=report.pk)
    assert "RPT-778899" not in stored.raw_encrypted
    assert json.loads(stored.raw) == raw


def flag_kinds(report: BureauReport) -> set[str]:
    return set(report.flags.values_list("kind", flat=True))


def test_report_that_agrees_with_the_member_raises_no_flag(member: Member) -> None:
    services.credit_declare_income(member=member, monthly_income=D("5000.00"))

    report = receive_report(member, monthly_income=D("5200.00"))

    assert flag_kinds(report) == set()
    assert open_flags(member) == []


def test_report_with_the_id_spaced_and_in_lower_case_still_matches() -> None:
    member = scored_member(national_id=national_id(born=date(1985, 1, 1)))
    spaced = " ".join([member.national_id[:6], member.national_id[6:]]).lower()

    report = receive_report(member, reported_national_id=spaced)

    assert FlagKind.NATIONAL_ID_MISMATCH not in flag_kinds(report)


def test_report_under_another_name_raises_a_name_flag(member: Member) -> None:
    report = receive_report(member, reported_name="李四")

    assert flag_kinds(report) == {FlagKind.NAME_MISMATCH}


def test_report_for_another_national_id_raises_an_id_flag(member: Member) -> None:
    other = national_id()

    report = receive_report(member, reported_national_id=other)

    assert flag_kinds(report) == {FlagKind.NATIONAL_ID_MISMATCH}
    assert report.reported_national_id_masked == other[:6] + "*" * 8 + other[-4:]


def test_report_with_a_malformed_national_id_raises_an_id_flag(
    member: Member,
) -> None:
    report = receive_report(member, reported_national_id="12345")

    assert flag_kinds(report) == {FlagKind.NATIONAL_ID_MISMATCH}
    assert report.reported_national_id_masked == "*****"
    assert report.reported_national_id == "12345"


@pytest.mark.parametrize(
    ("reported", "flagged"),
    [
        (D("5000.00"), False),
        (D("6500.00"), False),  # exactly 30 % more: within the tolerance
        (D("3500.00"), False),
        (D("6500.01"), True),
        (D("3499.99"), True),
    ],
)
def test_income_beyond_the_policys_tolerance_raises_an_income_flag(
    member: Member, reported: Decimal, flagged: bool
) -> None:
    services.credit_declare_income(member=member, monthly_income=D("5000.00"))

    report = receive_report(member, monthly_income=reported)

    assert (FlagKind.INCOME_MISMATCH in flag_kinds(report)) is flagged


def test_income_is_not_checked_without_declared_income(member: Member) -> None:
    report = receive_report(member, monthly_income=D("90000.00"))

    assert flag_kinds(report) == set()


def test_overdue_debts_elsewhere_raise_a_flag(member: Member) -> None:
    report = receive_report(member, external_overdue_count=1)

    assert flag_kinds(report) == {FlagKind.EXTERNAL_OVERDUE}


def test_every_mismatch_raises_its_own_flag(member: Member) -> None:
    services.credit_declare_income(member=member, monthly_income=D("3000.00"))

    report = receive_report(
        member,
        reported_name="李四",
        reported_national_id=national_id(),
        monthly_income=D("9000.00"),
        external_overdue_count=2,
    )

    assert flag_kinds(report) == set(FlagKind.values)
    assert {flag.kind for flag in open_flags(member)} == set(FlagKind.values)


def test_report_rescores_a_verified_member(member: Member) -> None:
    receive_report(member, reported_on=LATER)

    credit_score = latest_score(member)
    assert credit_score.trigger == Trigger.BUREAU_REPORT
    assert credit_score.as_of == LATER
    assert inputs_shown(credit_score, Dimension.BUREAU)[Input.INQUIRIES_90D] == "1"


def test_report_for_a_pending_member_is_stored_without_a_score() -> None:
    member = MemberFactory()

    receive_report(member)

    assert BureauReport.objects.filter(member=member).count() == 1
    assert not CreditScore.objects.filter(member=member).exists()


def test_report_with_negative_amounts_is_refused_on_those_fields(
    member: Member,
) -> None:
    error = refusal(
        receive_report,
        member=member,
        monthly_income=D("-1.00"),
        external_debt=D("-1.00"),
    )

    assert set(error.error_dict) == {"monthly_income", "external_debt"}
    assert not BureauReport.objects.exists()


def test_clearing_a_flag_records_who_and_why(member: Member, checker: User) -> None:
    flag = receive_report(member, reported_name="李四").flags.get()

    services.credit_flag_clear(flag=flag, by=checker, note="曾用名，已核实户口本")

    flag.refresh_from_db()
    assert flag.status == CreditFlag.Status.CLEARED
    assert flag.cleared_by == checker
    assert flag.cleared_at is not None
    assert flag.clear_note == "曾用名，已核实户口本"
    assert open_flags(member) == []


@pytest.mark.parametrize("note", ["", "   "])
def test_clearing_a_flag_needs_a_note(member: Member, checker: User, note: str) -> None:
    flag = receive_report(member, reported_name="李四").flags.get()

    error = refusal(services.credit_flag_clear, flag=flag, by=checker, note=note)

    assert set(error.error_dict) == {"note"}
    assert open_flags(member) == [flag]


def test_a_cleared_flag_cannot_be_cleared_again(
    member: Member, checker: User, maker: User
) -> None:
    flag = receive_report(member, reported_name="李四").flags.get()
    services.credit_flag_clear(flag=flag, by=checker, note="曾用名")

    with pytest.raises(ValidationError):
        services.credit_flag_clear(flag=flag, by=maker, note="再次清除")

    flag.refresh_from_db()
    assert (flag.cleared_by, flag.clear_note) == (checker, "曾用名")


def test_open_flags_are_the_members_uncleared_flags_only(
    member: Member, checker: User
) -> None:
    other = scored_member(branch=member.branch)
    receive_report(other, reported_name="李四")
    report = receive_report(member, reported_name="李四", external_overdue_count=1)
    cleared = report.flags.get(kind=FlagKind.NAME_MISMATCH)
    services.credit_flag_clear(flag=cleared, by=checker, note="曾用名")

    assert [flag.kind for flag in open_flags(member)] == [FlagKind.EXTERNAL_OVERDUE]

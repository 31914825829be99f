"""Rules settled in review: approvals are named, frozen members don't
graduate, back-dated scores see only what was known, and cuts only touch
members who have a limit."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from credit import services
from credit.models import CreditProfile, CreditScore, LimitChange, ScoringPolicy
from credit.selectors import policy_in_force, score_inputs
from members.models import Member
from tests.credit.factories import ON, RepaymentEventFactory, profile_of, scored_member
from tests.factories import MemberFactory, staff_user

pytestmark = pytest.mark.django_db


def test_a_policy_cannot_be_approved_without_a_named_approver() -> None:
    draft = services.scoring_policy_draft(base=policy_in_force(), by=staff_user())

    with pytest.raises(ValidationError):
        services.scoring_policy_approve(policy=draft, by=None, on=ON)

    draft.refresh_from_db()
    assert draft.status == ScoringPolicy.Status.DRAFT


def test_a_frozen_member_does_not_graduate() -> None:
    member = scored_member()
    services.credit_loan_overdue(
        member=member, loan_reference="L-9", on=ON, days_past_due=3
    )
    for number in (1, 2):
        services.credit_loan_repaid(
            member=member,
            loan_reference=f"L-{number}",
            on=ON + timedelta(days=number),
            on_time=True,
        )

    assert profile_of(member).limit == Decimal("2000.00")
    assert not LimitChange.objects.filter(
        profile__member=member, cause=LimitChange.Cause.GRADUATION
    ).exists()


def test_a_back_dated_score_ignores_events_after_its_date() -> None:
    member = MemberFactory(kyc=Member.KycStatus.VERIFIED)
    RepaymentEventFactory(
        member=member,
        kind="installment_late",
        occurred_on=date(2026, 11, 1),
        days_past_due=20,
    )

    inputs = score_inputs([member], on=date(2026, 10, 1))[member.pk]

    assert inputs["late_installments"] == 0
    assert inputs["worst_days_past_due"] == 0


def test_a_group_default_leaves_members_without_a_limit_alone() -> None:
    defaulter = scored_member()
    unscored = MemberFactory(branch=defaulter.branch)

    services.credit_loan_defaulted(member=defaulter, loan_reference="L-5", on=ON)

    assert not CreditProfile.objects.filter(member=unscored).exists()


def test_a_bureau_report_rescores_as_of_the_business_date_not_the_reports() -> None:
    member = scored_member()

    services.bureau_report_receive(
        member=member,
        source="百行征信",
        reported_on=ON - timedelta(days=200),
        reported_name=member.real_name,
        reported_national_id=member.national_id,
        monthly_income=Decimal("5000"),
        external_overdue_count=0,
        external_debt=Decimal("0"),
        inquiries_90d=0,
        raw={},
        by=None,
        on=ON,
    )

    rescored = CreditScore.objects.filter(
        member=member, trigger=CreditScore.Trigger.BUREAU_REPORT
    ).get()
    assert rescored.as_of == ON

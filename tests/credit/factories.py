"""Factories and small builders for the credit app's tests.

Scored members, policies and ties are made through the services, so their
protected fields are filled exactly as in production. Rows that the
services only ever write as a side effect (repayment events, bureau
reports, profiles) have plain model factories for the selector tests.
"""

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import factory
from django.contrib.auth.models import User

from credit import services
from credit.models import (
    BureauReport,
    CreditProfile,
    CreditScore,
    Dimension,
    GradeBand,
    RepaymentEvent,
    ScoringPolicy,
)
from credit.selectors import policy_in_force
from members import pii
from members import services as member_services
from members.models import GuarantorTie, Member
from tests.factories import MemberFactory

ON = date(2026, 12, 3)
AT = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)


class CreditProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CreditProfile

    member = factory.SubFactory(MemberFactory, kyc=Member.KycStatus.VERIFIED)
    limit = Decimal("2000.00")


class RepaymentEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RepaymentEvent

    member = factory.SubFactory(MemberFactory, kyc=Member.KycStatus.VERIFIED)
    kind = RepaymentEvent.Kind.INSTALLMENT_ON_TIME
    occurred_on = ON
    loan_reference = factory.Sequence(lambda n: f"L{n:06d}")
    dedupe_key = factory.Sequence(lambda n: f"test-event-{n}")


class BureauReportFactory(factory.django.DjangoModelFactory):
    """A report as stored; by default it agrees with the member in every way."""

    class Meta:
        model = BureauReport

    class Params:
        national_id = factory.LazyAttribute(lambda o: o.member.national_id)
        payload = factory.LazyFunction(dict)

    member = factory.SubFactory(MemberFactory, kyc=Member.KycStatus.VERIFIED)
    source = "人行征信"
    reported_on = ON
    reported_name = factory.LazyAttribute(lambda o: o.member.real_name)
    reported_national_id_encrypted = factory.LazyAttribute(
        lambda o: pii.encrypt(o.national_id)
    )
    reported_national_id_masked = factory.LazyAttribute(
        lambda o: pii.mask_national_id(o.national_id)
    )
    monthly_income = Decimal("5000.00")
    external_overdue_count = 0
    external_debt = Decimal("0.00")
    inquiries_90d = 0
    raw_encrypted = factory.LazyAttribute(lambda o: pii.encrypt(json.dumps(o.payload)))


def scored_member(*, on: date = ON, **kwargs: Any) -> Member:
    """A member verified through credit, so scored and given a first limit."""
    member = MemberFactory(**kwargs)
    return services.member_verify_kyc_and_score(member=member, by=None, on=on)


def profile_of(member: Member) -> CreditProfile:
    return CreditProfile.objects.get(member=member)


def latest_score(member: Member) -> CreditScore:
    return CreditScore.objects.filter(member=member).order_by("-id")[0]


def points(credit_score: CreditScore, dimension: Dimension) -> int:
    return next(
        factor["points"]
        for factor in credit_score.factors
        if factor["dimension"] == dimension
    )


def tie(guarantor: Member, borrower: Member) -> GuarantorTie:
    """`guarantor` vouches for `borrower`; both must be verified, same branch."""
    return member_services.guarantor_tie_create(
        guarantor=guarantor,
        borrower=borrower,
        amount=Decimal("1000.00"),
        consented_at=AT,
        consent_evidence="担保书 2026-001",
        by=None,
    )


def set_ceiling(policy: ScoringPolicy, grade: str, ceiling: str) -> None:
    GradeBand.objects.filter(policy=policy, grade=grade).update(
        ceiling=Decimal(ceiling)
    )


def new_policy_in_force(
    *,
    maker: User,
    checker: User,
    on: date,
    edit: Callable[[ScoringPolicy], None] = lambda draft: None,
) -> ScoringPolicy:
    """Draft a copy of the policy in force, edit it, and have it approved."""
    draft = services.scoring_policy_draft(base=policy_in_force(), by=maker)
    edit(draft)
    draft.save()
    return services.scoring_policy_approve(policy=draft, by=checker, on=on)

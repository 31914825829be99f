"""Reads of credit data that several callers share, in bulk where it counts."""

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Count, Max, Q, Sum

from credit.models import (
    ZERO,
    BureauReport,
    CreditFlag,
    CreditProfile,
    Input,
    RepaymentEvent,
    ScoringPolicy,
)
from credit.scoring import Band, GradeCut, Scorecard, Value
from members.models import GuarantorTie, Member

HISTORY_DAYS = 365
RATIO = Decimal("0.0001")


def policy_in_force() -> ScoringPolicy | None:
    return ScoringPolicy.objects.filter(status=ScoringPolicy.Status.IN_FORCE).first()


def scorecard_of(policy: ScoringPolicy) -> Scorecard:
    bands = tuple(
        Band(
            input=band.input,
            points=band.points,
            lower=band.lower,
            upper=band.upper,
            when_missing=band.when_missing,
        )
        for band in policy.bands.all()
    )
    grades = tuple(
        GradeCut(grade=cut.grade, min_points=cut.min_points, ceiling=cut.ceiling)
        for cut in policy.grades.all()
    )
    return Scorecard(version=policy.version, bands=bands, grades=grades)


def _months_between(start: date, end: date) -> int:
    months = (end.year - start.year) * 12 + end.month - start.month
    if end.day < start.day:
        months -= 1
    return max(0, months)


def _ratio(part: Decimal, whole: Decimal) -> Decimal | None:
    if not whole:
        return None
    return (part / whole).quantize(RATIO)


def score_inputs(members: Sequence[Member], *, on: date) -> dict[int, dict[str, Value]]:
    """Every scorecard input for each member, in a fixed number of queries."""
    ids = [member.pk for member in members]
    since = on - timedelta(days=HISTORY_DAYS)
    profiles = {p.member_id: p for p in CreditProfile.objects.filter(member_id__in=ids)}

    # Nothing after `on` counts, so a back-dated score sees what was known then.
    known = RepaymentEvent.objects.filter(member_id__in=ids, occurred_on__lte=on)
    history = {
        row["member_id"]: row
        for row in known.values("member_id").annotate(
            on_time=Count(
                "id",
                filter=Q(
                    kind=RepaymentEvent.Kind.INSTALLMENT_ON_TIME, occurred_on__gt=since
                ),
            ),
            late=Count(
                "id",
                filter=Q(
                    kind=RepaymentEvent.Kind.INSTALLMENT_LATE, occurred_on__gt=since
                ),
            ),
            worst=Max("days_past_due", filter=Q(occurred_on__gt=since)),
            repaid=Count("id", filter=Q(kind=RepaymentEvent.Kind.LOAN_REPAID)),
        )
    }

    branch_ids = {member.branch_id for member in members}
    branch_share = {
        row["member__branch_id"]: _ratio(row["overdue"] or ZERO, row["open"] or ZERO)
        for row in CreditProfile.objects.filter(member__branch_id__in=branch_ids)
        .values("member__branch_id")
        .annotate(overdue=Sum("overdue_principal"), open=Sum("open_principal"))
    }

    counterparts: dict[int, set[int]] = defaultdict(set)
    for guarantor_id, borrower_id in GuarantorTie.objects.filter(
        Q(guarantor_id__in=ids) | Q(borrower_id__in=ids),
        status=GuarantorTie.Status.ACTIVE,
    ).values_list("guarantor_id", "borrower_id"):
        counterparts[guarantor_id].add(borrower_id)
        counterparts[borrower_id].add(guarantor_id)
    tied = set().union(*counterparts.values()) if counterparts else set()
    defaults = dict(
        RepaymentEvent.objects.filter(
            member_id__in=tied,
            kind=RepaymentEvent.Kind.LOAN_DEFAULTED,
            occurred_on__gt=since,
            occurred_on__lte=on,
        )
        .values("member_id")
        .annotate(n=Count("id"))
        .values_list("member_id", "n")
    )

    latest_report: dict[int, BureauReport] = {}
    for newer_first in BureauReport.objects.filter(
        member_id__in=ids, reported_on__lte=on
    ).order_by("member_id", "-reported_on", "-id"):
        latest_report.setdefault(newer_first.member_id, newer_first)

    result: dict[int, dict[str, Value]] = {}
    for member in members:
        profile = profiles.get(member.pk)
        events = history.get(member.pk, {})
        installments = (events.get("on_time") or 0) + (events.get("late") or 0)
        report = latest_report.get(member.pk)
        income = profile.declared_monthly_income if profile else None
        inputs: dict[str, Value] = {
            Input.KYC_VERIFIED: Decimal(
                int(member.kyc_status == Member.KycStatus.VERIFIED)
            ),
            Input.TENURE_MONTHS: Decimal(_months_between(member.joined_on, on)),
            Input.ON_TIME_SHARE: _ratio(
                Decimal(events.get("on_time") or 0), Decimal(installments)
            ),
            Input.LATE_INSTALLMENTS: Decimal(events.get("late") or 0),
            Input.WORST_DAYS_PAST_DUE: Decimal(events.get("worst") or 0),
            Input.LOANS_REPAID: Decimal(events.get("repaid") or 0),
            Input.UTILISATION: (
                _ratio(profile.open_principal, profile.limit) if profile else None
            ),
            Input.BRANCH_OVERDUE_SHARE: branch_share.get(member.branch_id),
            Input.TIE_DEFAULTS: Decimal(
                sum(defaults.get(other, 0) for other in counterparts.get(member.pk, ()))
            ),
            Input.BUREAU_OVERDUE_COUNT: (
                Decimal(report.external_overdue_count) if report else None
            ),
            Input.DEBT_TO_INCOME: (
                _ratio(report.external_debt, income * 12) if report and income else None
            ),
            Input.INQUIRIES_90D: Decimal(report.inquiries_90d) if report else None,
        }
        result[member.pk] = inputs
    return result


def open_flags(member: Member) -> list[CreditFlag]:
    return list(CreditFlag.objects.filter(member=member, status=CreditFlag.Status.OPEN))


def stale_member_ids(*, on: date) -> list[int]:
    """Verified, active members whose score has expired or who have none."""
    return list(
        Member.objects.filter(
            kyc_status=Member.KycStatus.VERIFIED, status=Member.Status.ACTIVE
        )
        .filter(
            Q(credit_profile__isnull=True)
            | Q(credit_profile__valid_until__isnull=True)
            | Q(credit_profile__valid_until__lt=on)
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def profile_with_score(member: Member) -> CreditProfile | None:
    """The member's profile with its latest score and that score's policy."""
    return (
        CreditProfile.objects.select_related("latest_score__policy")
        .filter(member=member)
        .first()
    )

"""Business operations of credit: the only writers of its tables.

Keyword-only and atomic. Errors a user can fix raise `ValidationError`
keyed by field. The loans app reports repayment behaviour through the
`credit_loan_*` and `credit_installment_paid` functions and moves amounts
between held and open principal with `credit_hold`, `credit_draw` and
`credit_restore`; credit never reads the loans app.
"""

import json
import logging
from collections.abc import Mapping, Sequence
from contextlib import suppress
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from config.bulk import row_insert_once, values_set
from config.money import yuan
from credit.models import (
    ZERO,
    BureauReport,
    CreditFlag,
    CreditProfile,
    CreditScore,
    LimitChange,
    RepaymentEvent,
    ScoringPolicy,
)
from credit.scoring import score
from credit.selectors import policy_in_force, score_inputs, scorecard_of
from members import pii
from members import services as member_services
from members.models import BlacklistEntry, GuarantorTie, Member
from members.selectors import member_borrowing_blockers
from members.validators import validate_national_id

logger = logging.getLogger(__name__)

CENT = Decimal("0.01")
Actor = User | AnonymousUser | None


def _user(by: Actor) -> User | None:
    return by if isinstance(by, User) else None


# Members whose overdue principal the close sets in one transaction.
OVERDUE_CHUNK = 2000


def _money(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def _locked_profile(member: Member) -> CreditProfile:
    """The member's profile, locked; made first if the member has none.

    By id, so that `member` caches no copy of the profile that goes stale.
    Almost every member has a profile, so the locking read comes first: one
    statement where a get_or_create and a lock took two (a repayment's).
    """
    profiles = CreditProfile.objects.select_for_update()
    with suppress(CreditProfile.DoesNotExist):
        return profiles.get(member_id=member.pk)

    # A row this transaction inserts is its own until the commit. A
    # concurrent first call may insert it between our read and our insert:
    # the savepoint keeps the transaction usable, and that profile is read.
    try:
        with transaction.atomic():
            return CreditProfile.objects.create(member_id=member.pk)
    except IntegrityError:
        return profiles.get(member_id=member.pk)


def _change(
    profile: CreditProfile,
    *,
    cause: LimitChange.Cause,
    on: date,
    limit: Decimal | None = None,
    frozen: bool | None = None,
    reason: str = "",
    reference: str = "",
    by: Actor = None,
) -> LimitChange | None:
    """Set the limit and/or the frozen flag, recording the cause if it changed."""
    before = profile.limit
    was_frozen = profile.frozen
    if limit is not None:
        profile.limit = _money(max(ZERO, limit))
    if frozen is not None:
        profile.frozen = frozen
        profile.frozen_reason = reason if frozen else ""
    profile.save()
    if profile.limit == before and profile.frozen == was_frozen:
        return None

    logger.info(
        "Credit profile %s: %s, limit %s -> %s",
        profile.pk,
        cause,
        before,
        profile.limit,
    )
    return LimitChange.objects.create(
        profile=profile,
        cause=cause,
        limit_before=before,
        limit_after=profile.limit,
        frozen_after=profile.frozen,
        reference=reference,
        note=reason[:200],
        on=on,
        by=_user(by),
    )


# Scoring ------------------------------------------------------------------


def _apply_score(
    profile: CreditProfile, credit_score: CreditScore, policy: ScoringPolicy, on: date
) -> None:
    """Set the limit a new score implies.

    A first score starts the member at the policy's first limit, capped by
    the grade's ceiling. Later scores can only lower a limit to the ceiling;
    limits rise through graduation, one step per run of on-time loans.
    """
    profile.latest_score = credit_score
    profile.valid_until = on + timedelta(days=policy.review_days)
    reference = f"score:{credit_score.pk}"
    member = profile.member
    if member.status == Member.Status.BLACKLISTED:
        _change(profile, cause=LimitChange.Cause.BLACKLISTED, on=on, limit=ZERO)
    elif profile.limit_started_on is None:
        profile.limit_started_on = on
        _change(
            profile,
            cause=LimitChange.Cause.FIRST_SCORE,
            on=on,
            limit=min(policy.initial_limit, credit_score.ceiling),
            reference=reference,
        )
    elif profile.limit > credit_score.ceiling:
        _change(
            profile,
            cause=LimitChange.Cause.SCORE_CEILING,
            on=on,
            limit=credit_score.ceiling,
            reference=reference,
        )
    else:
        profile.save()


@transaction.atomic
def credit_score_members(
    *, members: Sequence[Member], on: date, trigger: CreditScore.Trigger
) -> list[CreditScore]:
    """Score verified members with the policy in force and update their limits.

    Members whose KYC is not verified are skipped: they have no limit.
    """
    policy = policy_in_force()
    if policy is None:
        raise ValidationError(_("No scoring policy is in force."), code="no_policy")
    card = scorecard_of(policy)
    verified = [m for m in members if m.kyc_status == Member.KycStatus.VERIFIED]
    inputs = score_inputs(verified, on=on)

    scores = []
    for member in verified:
        result = score(inputs[member.pk], card)
        credit_score = CreditScore.objects.create(
            member=member,
            policy=policy,
            total=result.total,
            grade=result.grade,
            ceiling=result.ceiling,
            factors=[factor.as_json() for factor in result.factors],
            as_of=on,
            trigger=trigger,
        )
        _apply_score(_locked_profile(member), credit_score, policy, on)
        scores.append(credit_score)

    logger.info("Credit: scored %d members (%s)", len(scores), trigger)
    return scores


def credit_score_member(
    *, member: Member, on: date, trigger: CreditScore.Trigger
) -> CreditScore | None:
    scores = credit_score_members(members=[member], on=on, trigger=trigger)
    return scores[0] if scores else None


# Member operations that change credit -------------------------------------


@transaction.atomic
def member_verify_kyc_and_score(
    *, member: Member, by: Actor, on: date, note: str = ""
) -> Member:
    """Verify a member's KYC and give them their first score and limit."""
    member = member_services.member_verify_kyc(member=member, by=by, note=note)
    credit_score_member(member=member, on=on, trigger=CreditScore.Trigger.VERIFIED)
    return member


@transaction.atomic
def member_blacklist_and_zero_limit(
    *,
    member: Member,
    reason: str,
    source: BlacklistEntry.Source,
    on: date,
    by: Actor,
    source_reference: str = "",
) -> BlacklistEntry:
    """Blacklist a member: the limit drops to zero and borrowing is frozen."""
    entry = member_services.member_blacklist(
        member=member,
        reason=reason,
        source=source,
        on=on,
        by=by,
        source_reference=source_reference,
    )
    _change(
        _locked_profile(entry.member),
        cause=LimitChange.Cause.BLACKLISTED,
        on=on,
        limit=ZERO,
        frozen=True,
        reason=reason,
        reference=f"blacklist:{entry.pk}",
        by=by,
    )
    return entry


@transaction.atomic
def blacklist_lift_and_restart(
    *, entry: BlacklistEntry, on: date, by: Actor, reason: str
) -> BlacklistEntry:
    """Lift a blacklisting; the member starts again from the first limit."""
    entry = member_services.blacklist_lift(entry=entry, on=on, by=by, reason=reason)
    profile = _locked_profile(entry.member)
    profile.limit_started_on = None
    _change(
        profile,
        cause=LimitChange.Cause.BLACKLIST_LIFTED,
        on=on,
        frozen=False,
        reference=f"blacklist:{entry.pk}",
        by=by,
    )
    if entry.member.kyc_status == Member.KycStatus.VERIFIED:
        credit_score_member(
            member=entry.member, on=on, trigger=CreditScore.Trigger.MANUAL
        )
    return entry


# Repayment behaviour, reported by the loans app ---------------------------


def _record_event(
    *,
    member: Member,
    kind: RepaymentEvent.Kind,
    loan_reference: str,
    occurred_on: date,
    dedupe_key: str,
    days_past_due: int = 0,
    on_time: bool = True,
) -> bool:
    """Store an event once; False when it was already recorded (a retry)."""
    return row_insert_once(
        RepaymentEvent(
            dedupe_key=dedupe_key,
            member=member,
            kind=kind,
            loan_reference=loan_reference,
            occurred_on=occurred_on,
            days_past_due=days_past_due,
            on_time=on_time,
        )
    )


@transaction.atomic
def credit_installment_paid(
    *, member: Member, loan_reference: str, number: int, due_on: date, paid_on: date
) -> None:
    """An installment was paid in full; late if after its due date."""
    late_days = max(0, (paid_on - due_on).days)
    _record_event(
        member=member,
        kind=(
            RepaymentEvent.Kind.INSTALLMENT_LATE
            if late_days
            else RepaymentEvent.Kind.INSTALLMENT_ON_TIME
        ),
        loan_reference=loan_reference,
        occurred_on=paid_on,
        days_past_due=late_days,
        dedupe_key=f"{member.pk}:{loan_reference}:installment:{number}",
    )


@transaction.atomic
def credit_loan_overdue(
    *, member: Member, loan_reference: str, on: date, days_past_due: int
) -> None:
    """A loan fell overdue: new borrowing is frozen and the member rescored."""
    if not _record_event(
        member=member,
        kind=RepaymentEvent.Kind.LOAN_OVERDUE,
        loan_reference=loan_reference,
        occurred_on=on,
        days_past_due=days_past_due,
        dedupe_key=f"{member.pk}:{loan_reference}:overdue:{on.isoformat()}",
    ):
        return
    _change(
        _locked_profile(member),
        cause=LimitChange.Cause.FROZEN,
        on=on,
        frozen=True,
        reason=_("Loan %(loan)s is overdue.") % {"loan": loan_reference},
        reference=loan_reference,
    )
    credit_score_member(member=member, on=on, trigger=CreditScore.Trigger.LOAN_OVERDUE)


@transaction.atomic
def credit_loans_overdue(
    *, overdue: Sequence[tuple[Member, str, int]], on: date
) -> int:
    """Loans fell overdue in the close, as (member, loan reference, days past
    due): as `credit_loan_overdue` for each, with the members rescored in one
    pass at the end rather than one scoring each. Returns the members."""
    rescored: dict[int, Member] = {}
    for member, loan_reference, days_past_due in overdue:
        if not _record_event(
            member=member,
            kind=RepaymentEvent.Kind.LOAN_OVERDUE,
            loan_reference=loan_reference,
            occurred_on=on,
            days_past_due=days_past_due,
            dedupe_key=f"{member.pk}:{loan_reference}:overdue:{on.isoformat()}",
        ):
            continue
        _change(
            _locked_profile(member),
            cause=LimitChange.Cause.FROZEN,
            on=on,
            frozen=True,
            reason=_("Loan %(loan)s is overdue.") % {"loan": loan_reference},
            reference=loan_reference,
        )
        rescored[member.pk] = member
    if rescored:
        credit_score_members(
            members=list(rescored.values()),
            on=on,
            trigger=CreditScore.Trigger.LOAN_OVERDUE,
        )
    return len(rescored)


@transaction.atomic
def credit_unfreeze(
    *, member: Member, on: date, reference: str = "", by: Actor = None
) -> None:
    """Borrowing may resume: the loans app calls this when nothing is overdue."""
    _change(
        _locked_profile(member),
        cause=LimitChange.Cause.UNFROZEN,
        on=on,
        frozen=False,
        reference=reference,
        by=by,
    )


def _on_time_run(member: Member) -> int:
    """On-time loans repaid since the last late one, default or graduation."""
    last_graduation = (
        LimitChange.objects.filter(
            profile__member=member, cause=LimitChange.Cause.GRADUATION
        )
        .order_by("-id")
        .values_list("on", flat=True)
        .first()
    )
    events = RepaymentEvent.objects.filter(member=member)
    last_bad = (
        events.filter(
            Q(kind=RepaymentEvent.Kind.LOAN_REPAID, on_time=False)
            | Q(kind=RepaymentEvent.Kind.LOAN_DEFAULTED)
        )
        .order_by("-occurred_on", "-id")
        .values_list("occurred_on", flat=True)
        .first()
    )
    since = max((d for d in (last_graduation, last_bad) if d), default=None)
    run = events.filter(kind=RepaymentEvent.Kind.LOAN_REPAID, on_time=True)
    if since is not None:
        run = run.filter(occurred_on__gt=since)
    return run.count()


@transaction.atomic
def credit_loan_repaid(
    *, member: Member, loan_reference: str, on: date, on_time: bool
) -> None:
    """A loan was repaid in full: rescore, and graduate after a run on time."""
    if not _record_event(
        member=member,
        kind=RepaymentEvent.Kind.LOAN_REPAID,
        loan_reference=loan_reference,
        occurred_on=on,
        on_time=on_time,
        dedupe_key=f"{member.pk}:{loan_reference}:repaid",
    ):
        return
    credit_score = credit_score_member(
        member=member, on=on, trigger=CreditScore.Trigger.LOAN_REPAID
    )
    policy = policy_in_force()
    if credit_score is None or policy is None or not on_time:
        return
    if _on_time_run(member) < policy.graduation_run:
        return
    profile = _locked_profile(member)
    # No raise while borrowing is frozen (an overdue loan, a blacklisting):
    # a blacklisted member's limit stays at zero until the entry is lifted.
    if profile.frozen or profile.member.status == Member.Status.BLACKLISTED:
        return
    raised = min(profile.limit + policy.graduation_step, credit_score.ceiling)
    if raised > profile.limit:
        _change(
            profile,
            cause=LimitChange.Cause.GRADUATION,
            on=on,
            limit=raised,
            reference=loan_reference,
        )


@transaction.atomic
def credit_loan_defaulted(*, member: Member, loan_reference: str, on: date) -> None:
    """A default hits the group: guarantors' and the branch's limits are cut."""
    if not _record_event(
        member=member,
        kind=RepaymentEvent.Kind.LOAN_DEFAULTED,
        loan_reference=loan_reference,
        occurred_on=on,
        dedupe_key=f"{member.pk}:{loan_reference}:defaulted",
    ):
        return
    policy = policy_in_force()
    if policy is None:
        return
    guarantor_ids = set(
        GuarantorTie.objects.filter(
            borrower=member, status=GuarantorTie.Status.ACTIVE
        ).values_list("guarantor_id", flat=True)
    )
    # Only members who have a limit can have it cut: their profiles, locked
    # in one query and written in bulk, however large the branch.
    profiles = list(
        CreditProfile.objects.select_for_update()
        .filter(member__branch_id=member.branch_id)
        .exclude(member_id=member.pk)
        .order_by("pk")
    )
    reason = _("Loan %(loan)s defaulted.") % {"loan": loan_reference}
    limits: dict[int, Decimal] = {}
    changes: list[LimitChange] = []
    for profile in profiles:
        is_guarantor = profile.member_id in guarantor_ids
        before = profile.limit
        cut = policy.guarantor_cut if is_guarantor else policy.branch_cut
        profile.limit = _money(max(ZERO, before * cut))
        if profile.limit == before:
            continue
        limits[profile.pk] = profile.limit
        cause = (
            LimitChange.Cause.GUARANTOR_DEFAULT
            if is_guarantor
            else LimitChange.Cause.BRANCH_DEFAULT
        )
        logger.info(
            "Credit profile %s: %s, limit %s -> %s",
            profile.pk,
            cause,
            before,
            profile.limit,
        )
        changes.append(
            LimitChange(
                profile=profile,
                cause=cause,
                limit_before=before,
                limit_after=profile.limit,
                frozen_after=profile.frozen,
                reference=loan_reference,
                note=reason[:200],
                on=on,
                by=None,
            )
        )
    values_set(CreditProfile, "limit", limits, also={"updated_at": timezone.now()})
    LimitChange.objects.bulk_create(changes)
    logger.info(
        "Member %s: default on %s cut the group's limits", member.pk, loan_reference
    )


# Limit use, moved by the loans app ----------------------------------------


def _positive(amount: Decimal) -> Decimal:
    if amount <= 0:
        raise ValidationError({"amount": _("The amount must be more than zero.")})
    return _money(amount)


@transaction.atomic
def credit_hold(*, member: Member, amount: Decimal) -> CreditProfile:
    """Reserve part of the available limit for an application."""
    amount = _positive(amount)
    # Judge the member as stored now, not as the caller last saw them.
    member = Member.objects.select_related("branch").get(pk=member.pk)
    blockers = member_borrowing_blockers(member)
    if blockers:
        # A list's items lose the code given beside it; give it to each one.
        raise ValidationError(
            [ValidationError(blocker, code="cannot_borrow") for blocker in blockers]
        )
    profile = _locked_profile(member)
    if profile.frozen:
        raise ValidationError(
            _("Borrowing is frozen: %(reason)s") % {"reason": profile.frozen_reason},
            code="frozen",
        )
    policy = policy_in_force()
    if policy is not None and amount > policy.max_single_loan:
        raise ValidationError(
            {
                "amount": _("A single loan can be at most %(max)s.")
                % {"max": yuan(policy.max_single_loan)}
            }
        )
    if amount > profile.available:
        raise ValidationError(
            {
                "amount": _("Only %(available)s of the limit is available.")
                % {"available": yuan(profile.available)}
            }
        )
    profile.held += amount
    profile.save(update_fields=["held", "updated_at"])
    return profile


@transaction.atomic
def credit_release(*, member: Member, amount: Decimal) -> CreditProfile:
    """An application was rejected or cancelled: its hold goes back."""
    profile = _locked_profile(member)
    profile.held = max(ZERO, profile.held - _positive(amount))
    profile.save(update_fields=["held", "updated_at"])
    return profile


@transaction.atomic
def credit_draw(*, member: Member, amount: Decimal) -> CreditProfile:
    """A loan was disbursed: its hold becomes open principal."""
    amount = _positive(amount)
    profile = _locked_profile(member)
    profile.held = max(ZERO, profile.held - amount)
    profile.open_principal += amount
    profile.save(update_fields=["held", "open_principal", "updated_at"])
    return profile


@transaction.atomic
def credit_restore(*, member: Member, principal: Decimal) -> CreditProfile:
    """Principal was repaid: that much of the limit is available again."""
    profile = _locked_profile(member)
    profile.open_principal = max(ZERO, profile.open_principal - _positive(principal))
    profile.save(update_fields=["open_principal", "updated_at"])
    return profile


@transaction.atomic
def credit_set_overdue_principal(*, member: Member, amount: Decimal) -> None:
    """The daily close reports how much of the member's principal is overdue."""
    profile = _locked_profile(member)
    profile.overdue_principal = _money(max(ZERO, amount))
    profile.save(update_fields=["overdue_principal", "updated_at"])


def credit_set_overdue_principals(*, amounts: Mapping[int, Decimal]) -> int:
    """The daily close reports each member's overdue principal, by member
    id, for many members at once: only the profiles whose figure changes are
    written, in bulk, a chunk of members per transaction. Returns how many."""
    wanted = {pk: _money(max(ZERO, amount)) for pk, amount in amounts.items()}
    ids = sorted(wanted)
    written = 0
    for start in range(0, len(ids), OVERDUE_CHUNK):
        part = ids[start : start + OVERDUE_CHUNK]
        with transaction.atomic():
            profiles = list(
                CreditProfile.objects.select_for_update()
                .filter(member_id__in=part)
                .only("pk", "member_id", "overdue_principal")
            )
            missing = set(part) - {profile.member_id for profile in profiles}
            for member_id in missing:
                profile, _created = CreditProfile.objects.get_or_create(
                    member_id=member_id
                )
                profiles.append(profile)
            written += values_set(
                CreditProfile,
                "overdue_principal",
                {
                    profile.pk: wanted[profile.member_id]
                    for profile in profiles
                    if profile.overdue_principal != wanted[profile.member_id]
                },
                also={"updated_at": timezone.now()},
            )
    return written


@transaction.atomic
def credit_declare_income(*, member: Member, monthly_income: Decimal) -> CreditProfile:
    if monthly_income < 0:
        raise ValidationError({"monthly_income": _("Income cannot be negative.")})
    profile = _locked_profile(member)
    profile.declared_monthly_income = _money(monthly_income)
    profile.save(update_fields=["declared_monthly_income", "updated_at"])
    return profile


# Bureau data ---------------------------------------------------------------


def _cross_check(
    member: Member, report: BureauReport, national_id: str, policy: ScoringPolicy | None
) -> list[tuple[CreditFlag.Kind, str]]:
    """What in a report disagrees with what the member told us."""
    flags: list[tuple[CreditFlag.Kind, str]] = []
    if report.reported_name.strip() != member.real_name.strip():
        flags.append(
            (
                CreditFlag.Kind.NAME_MISMATCH,
                _("The bureau knows this ID under another name."),
            )
        )
    if pii.digest("national_id", national_id) != member.national_id_digest:
        flags.append(
            (
                CreditFlag.Kind.NATIONAL_ID_MISMATCH,
                _("The report is for %(masked)s.")
                % {"masked": report.reported_national_id_masked},
            )
        )
    profile = CreditProfile.objects.filter(member=member).first()
    declared = profile.declared_monthly_income if profile else None
    tolerance = policy.income_tolerance if policy else Decimal("0.30")
    if declared and abs(report.monthly_income - declared) > declared * tolerance:
        flags.append(
            (
                CreditFlag.Kind.INCOME_MISMATCH,
                _("Declared %(declared)s a month, the bureau reports %(reported)s.")
                % {
                    "declared": yuan(declared),
                    "reported": yuan(report.monthly_income),
                },
            )
        )
    if report.external_overdue_count:
        flags.append(
            (
                CreditFlag.Kind.EXTERNAL_OVERDUE,
                _("%(count)d overdue debts with other lenders.")
                % {"count": report.external_overdue_count},
            )
        )
    return flags


@transaction.atomic
def bureau_report_receive(
    *,
    member: Member,
    source: str,
    reported_on: date,
    reported_name: str,
    reported_national_id: str,
    monthly_income: Decimal,
    external_overdue_count: int,
    external_debt: Decimal,
    inquiries_90d: int,
    raw: Any,
    by: Actor,
    on: date,
) -> BureauReport:
    """Store a bureau report, raise a flag for each mismatch, and rescore."""
    errors = {}
    if monthly_income < 0:
        errors["monthly_income"] = _("Income cannot be negative.")
    if external_debt < 0:
        errors["external_debt"] = _("Debt cannot be negative.")
    if errors:
        raise ValidationError(errors)
    national_id = "".join(reported_national_id.split()).upper()
    # A malformed ID in a report is kept as sent: it is itself a mismatch.
    with suppress(ValidationError):
        national_id = validate_national_id(national_id, today=reported_on)

    report = BureauReport.objects.create(
        member=member,
        source=source,
        reported_on=reported_on,
        reported_name=reported_name,
        reported_national_id_encrypted=pii.encrypt(national_id),
        reported_national_id_masked=pii.mask_national_id(national_id)
        if len(national_id) >= 10
        else "*" * len(national_id),
        monthly_income=_money(monthly_income),
        external_overdue_count=external_overdue_count,
        external_debt=_money(external_debt),
        inquiries_90d=inquiries_90d,
        raw_encrypted=pii.encrypt(json.dumps(raw, ensure_ascii=False, default=str)),
        received_by=_user(by),
    )
    policy = policy_in_force()
    CreditFlag.objects.bulk_create(
        CreditFlag(member=member, report=report, kind=kind, detail=detail[:200])
        for kind, detail in _cross_check(member, report, national_id, policy)
    )
    if policy is not None and member.kyc_status == Member.KycStatus.VERIFIED:
        credit_score_member(
            member=member, on=on, trigger=CreditScore.Trigger.BUREAU_REPORT
        )

    logger.info("Member %s: bureau report %s received", member.pk, report.pk)
    return report


@transaction.atomic
def credit_flag_clear(*, flag: CreditFlag, by: Actor, note: str) -> CreditFlag:
    note = (note or "").strip()
    if not note:
        raise ValidationError({"note": _("Say why the flag can be cleared.")})
    flag = CreditFlag.objects.select_for_update().get(pk=flag.pk)
    if flag.status != CreditFlag.Status.OPEN:
        raise ValidationError(_("This flag has already been cleared."))

    flag.status = CreditFlag.Status.CLEARED
    flag.cleared_by = _user(by)
    flag.cleared_at = timezone.now()
    flag.clear_note = note
    flag.save()

    logger.info("Credit flag %s: cleared", flag.pk)
    return flag


# Policies ------------------------------------------------------------------


@transaction.atomic
def scoring_policy_draft(*, base: ScoringPolicy | None, by: Actor) -> ScoringPolicy:
    """A new draft version, copying `base` (its settings, bands and grades)."""
    last = ScoringPolicy.objects.select_for_update().order_by("-version").first()
    version = (last.version if last else 0) + 1
    draft = ScoringPolicy(version=version, created_by=_user(by))
    if base is not None:
        for name in (
            "review_days",
            "initial_limit",
            "graduation_step",
            "graduation_run",
            "max_single_loan",
            "guarantor_cut",
            "branch_cut",
            "income_tolerance",
        ):
            setattr(draft, name, getattr(base, name))
        draft.notes = _("Copied from version %(version)d.") % {"version": base.version}
    draft.save()
    if base is not None:
        for band in base.bands.all():
            band.pk = None
            band.policy = draft
            band.save()
        for grade in base.grades.all():
            grade.pk = None
            grade.policy = draft
            grade.save()
    logger.info("Scoring policy v%s: drafted", version)
    return draft


def scoring_policy_check(policy: ScoringPolicy) -> list[str]:
    """What makes a policy unfit to be put in force; empty when it is fit."""
    problems = []
    grades = list(policy.grades.all())
    if not grades:
        problems.append(_("Define at least one grade band."))
    if not policy.bands.exists():
        problems.append(_("Define at least one point band."))
    ceilings = [g.ceiling for g in sorted(grades, key=lambda g: g.min_points)]
    if ceilings != sorted(ceilings):
        problems.append(_("A better grade cannot have a lower limit ceiling."))
    for band in policy.bands.all():
        if (
            band.lower is not None
            and band.upper is not None
            and band.lower >= band.upper
        ):
            problems.append(
                _("Band %(band)s: the lower bound must be below the upper bound.")
                % {"band": band}
            )
    if policy.initial_limit > policy.max_single_loan * 10:
        problems.append(_("The first limit is out of proportion to the largest loan."))
    return problems


@transaction.atomic
def scoring_policy_approve(
    *, policy: ScoringPolicy, by: Actor, on: date
) -> ScoringPolicy:
    """Put a draft in force; the policy in force until now is retired.

    Maker-checker: whoever drafted a version cannot approve it.
    """
    policy = ScoringPolicy.objects.select_for_update().get(pk=policy.pk)
    if policy.status != ScoringPolicy.Status.DRAFT:
        raise ValidationError(_("Only a draft can be approved."))
    approver = _user(by)
    if approver is None:
        raise ValidationError(_("A policy is approved by a named user."))
    if policy.created_by_id == approver.pk:
        raise ValidationError(
            _("A policy must be approved by someone other than who drafted it.")
        )
    problems = scoring_policy_check(policy)
    if problems:
        raise ValidationError(problems)

    ScoringPolicy.objects.filter(status=ScoringPolicy.Status.IN_FORCE).update(
        status=ScoringPolicy.Status.RETIRED
    )
    policy.status = ScoringPolicy.Status.IN_FORCE
    policy.effective_from = on
    policy.approved_by = approver
    policy.approved_at = timezone.now()
    policy.save()

    logger.info("Scoring policy v%s: in force from %s", policy.version, on)
    return policy

"""The collections app's steps of the daily close.

`ladder` walks every open loan up the escalation ladder: it runs after the
loans steps, so days past due and states are today's. Work is done in
chunks with bulk writes; what each loan has had is recorded (`StepDone`),
so a second run, or a resumed one, takes no step twice. A step reached is
taken even when the loan jumped past it; a reminder whose moment has
passed (a later step is reached) is not sent late.
"""

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import NamedTuple

from django.db import transaction
from django.db.models import Min
from django.utils import timezone

from collection import services
from collection.models import (
    STAGE_ORDER,
    CallTask,
    CollectionCase,
    ContactConsent,
    EscalationPolicy,
    LadderStep,
    LegalReferral,
    Mediation,
    Message,
    Purpose,
    StepDone,
)
from collection.rules import has_consent
from config.bulk import rows_insert
from loans.chunks import Chunks, chunks_here, loan_ranges
from loans.models import Installment, Loan
from members.events import EventKind, events_emit
from members.models import GuarantorTie

logger = logging.getLogger(__name__)

CHUNK = 2000


def _morning(on: date) -> datetime:
    """Messages of the close of `on` go out from the next morning."""
    return timezone.make_aware(datetime.combine(on + timedelta(days=1), time(9, 0)))


class _Terms(NamedTuple):
    """What deciding a loan's steps reads of it, locked."""

    pk: int
    grace_days: int
    blacklist_days: int


# What the ladder's messages, cases and events read of a loan with a step to
# take: building the models whole cost more than the rest of the step.
# (tests/collection/test_ladder.py counts the statements: a field read
# here late would be a query per loan.)
_MESSAGED = (
    "grace_days",
    "blacklist_days",
    "days_past_due",
    "state",
    "member",
    "member__real_name",
    "member__status",
    "member__branch",
    "member__branch__name",
)


@dataclass
class _Plan:
    """What one chunk of loans needs, written in bulk at the end."""

    new_cases: dict[int, CollectionCase]
    steps: list[tuple[Loan, LadderStep, date | None]]


def _threshold(step: LadderStep, loan: _Terms) -> int:
    return step.reached_at(
        grace_days=loan.grace_days, blacklist_days=loan.blacklist_days
    )


def _reached(steps: list[LadderStep], loan: _Terms, relative: int) -> list[LadderStep]:
    """The steps a loan `relative` days from its oldest due date has reached,
    in the order they are reached."""
    found = [step for step in steps if _threshold(step, loan) <= relative]
    return sorted(
        found, key=lambda s: (_threshold(s, loan), STAGE_ORDER.index(s.stage))
    )


def ladder(*, on: date, chunks: Chunks = chunks_here) -> int:
    """Take every ladder step reached today by every open loan."""
    if not EscalationPolicy.current().steps.exists():
        return 0
    return chunks("collection.cob.ladder_chunk", on, loan_ranges(size=CHUNK))


def ladder_chunk(*, on: date, first: int, last: int) -> int:
    """The ladder for the open loans with ids from `first` to `last`."""
    policy = EscalationPolicy.current()
    steps = list(policy.steps.all())
    if not steps:
        return 0
    earliest = min(s.reached_at(grace_days=0, blacklist_days=0) for s in steps)
    # A loan can reach a step only once it is within the earliest offset of
    # its oldest unpaid due date; most loans on most days are not. Only the
    # unpaid installments due by then are read: a loan that has one has its
    # oldest among them, and the others are not near. Whether the loan is
    # open is asked as it is locked: joined here, the loans were read whole
    # for every range.
    oldest = dict(
        Installment.objects.filter(
            loan_id__gte=first,
            loan_id__lte=last,
            paid_on__isnull=True,
            due_date__lte=on - timedelta(days=earliest),
        )
        .values("loan_id")
        .annotate(oldest=Min("due_date"))
        .values_list("loan_id", "oldest")
    )
    near = [pk for pk, due in oldest.items() if (on - due).days >= earliest]
    if not near:
        return 0
    with transaction.atomic():
        # Locked as plain rows: most loans near a step have taken it already,
        # and only those with a step to take are read whole, below.
        near_loans = [
            _Terms(*row)
            for row in Loan.objects.select_for_update()
            .filter(pk__in=near, state__in=Loan.OPEN_STATES)
            .values_list(*_Terms._fields)
        ]
        cases = {
            case.loan_id: case
            for case in CollectionCase.objects.select_for_update().filter(
                loan_id__in=[loan.pk for loan in near_loans],
                status__in=CollectionCase.OPEN_STATUSES,
            )
        }
        # A reminder is marked with the due date it was for; only the marks
        # for each loan's oldest unpaid date matter, not its years of others.
        done_by_due = set(
            StepDone.objects.filter(
                loan_id__in=[loan.pk for loan in near_loans],
                case__isnull=True,
                due_date__in={oldest[loan.pk] for loan in near_loans},
            ).values_list("loan_id", "step_id", "due_date")
        )
        done_by_case = set(
            StepDone.objects.filter(case__in=cases.values()).values_list(
                "case_id", "step_id"
            )
        )
        # Loan id, step, due date (None for a case's step); the step that
        # opens a loan's case, where it has none.
        todo: list[tuple[int, LadderStep, date | None]] = []
        opening: dict[int, LadderStep] = {}
        for loan in near_loans:
            due = oldest[loan.pk]
            reached = _reached(steps, loan, (on - due).days)
            case_steps = [s for s in reached if s.starts_case_work]
            if case_steps:
                case = cases.get(loan.pk)
                for step in case_steps:
                    if case is not None and (case.pk, step.pk) in done_by_case:
                        continue
                    if case is None:
                        opening.setdefault(loan.pk, step)
                    todo.append((loan.pk, step, None))
            elif reached:
                # Only the latest reminder reached: an earlier one is moot.
                step = reached[-1]
                if (loan.pk, step.pk, due) not in done_by_due:
                    todo.append((loan.pk, step, due))
        loans = (
            Loan.objects.select_related("member__branch")
            .only(*_MESSAGED)
            .in_bulk({pk for pk, _step, _due in todo})
        )
        plan = _Plan(
            new_cases={
                pk: _new_case(loans[pk], step, on) for pk, step in opening.items()
            },
            steps=[(loans[pk], step, due) for pk, step, due in todo],
        )
        # What the figures quote is due by today or by the oldest unpaid due
        # date, which for a loan near a step is at most `-earliest` days away.
        horizon = on + timedelta(days=max(0, -earliest))
        return _write(plan, cases, policy, on, horizon)


def _new_case(loan: Loan, step: LadderStep, on: date) -> CollectionCase:
    return CollectionCase(
        loan=loan,
        stage=step.stage,
        collector=services.collector_for(loan.member),
        opened_on=on,
        next_action_on=on + timedelta(days=1),
    )


def _write(
    plan: _Plan,
    cases: dict[int, CollectionCase],
    policy: EscalationPolicy,
    on: date,
    horizon: date,
) -> int:
    CollectionCase.objects.bulk_create(plan.new_cases.values())
    cases = {**cases, **plan.new_cases}
    stages_before: dict[int, str | None] = {
        case.pk: None if loan_id in plan.new_cases else case.stage
        for loan_id, case in cases.items()
    }
    loan_ids = {loan.pk for loan, _step, _due in plan.steps}
    # The figures quote what is late and the oldest unpaid installment: an
    # installment paid in full (its `paid_on` set) owes nothing, and one due
    # after `horizon` is neither, so neither is read.
    installments: dict[int, list[Installment]] = defaultdict(list)
    for installment in Installment.objects.filter(
        loan_id__in=loan_ids, paid_on__isnull=True, due_date__lte=horizon
    ).order_by("number"):
        installments[installment.loan_id].append(installment)

    at = _morning(on)
    # Message bodies by purpose, each read once for the chunk.
    templates: dict[str, str] = {}
    marks: list[StepDone] = []
    messages: list[Message] = []
    tasks: list[CallTask] = []
    mediations: list[Mediation] = []
    referrals: list[LegalReferral] = []
    referred = set(
        LegalReferral.objects.filter(case__in=cases.values()).values_list(
            "case_id", flat=True
        )
    )
    for loan, step, due in plan.steps:
        case = cases.get(loan.pk) if step.starts_case_work else None
        marks.append(StepDone(loan=loan, step=step, due_date=due, case=case, on=on))
        episode = f"case{case.pk}" if case is not None else str(due)
        if step.message:
            messages.append(
                services.message_build(
                    member=loan.member,
                    loan=loan,
                    purpose=Purpose(step.message),
                    dedupe_key=f"{loan.pk}:{step.message}:{episode}",
                    figures=services.loan_figures(loan, installments[loan.pk], on),
                    at=at,
                    policy=policy,
                    templates=templates,
                )
            )
        if case is None:
            continue
        if STAGE_ORDER.index(step.stage) > STAGE_ORDER.index(case.stage):
            case.stage = step.stage
        if step.call_task:
            tasks.append(CallTask(case=case, due_on=on + timedelta(days=1)))
        if step.offer_mediation:
            mediations.append(Mediation(case=case, offered_on=on))
        if step.prepare_legal and case.pk not in referred:
            referred.add(case.pk)
            referrals.append(LegalReferral(case=case, prepared_on=on))
        if step.tell_leader:
            messages.extend(_leader_message(loan, case, at, policy, templates))
        if step.tell_guarantors:
            messages.extend(_guarantor_messages(loan, case, at, policy, templates))

    # Only the cases whose stage moved are written: the others are as read.
    CollectionCase.objects.bulk_update(
        {
            case.pk: case
            for case in cases.values()
            if case.stage != stages_before[case.pk]
        }.values(),
        ["stage", "updated_at"],
    )
    # A case changes stage only through a step of the plan, which has its loan.
    members = {loan.pk: loan.member_id for loan, _step, _due in plan.steps}
    events_emit(
        kind=EventKind.COLLECTION_STAGE_CHANGED,
        payloads=[
            {
                "case": case.pk,
                "loan": case.loan_id,
                "member": members[case.loan_id],
                "from": stages_before[case.pk],
                "to": case.stage,
            }
            for case in {case.pk: case for case in cases.values()}.values()
            if case.stage != stages_before[case.pk]
        ],
        on=on,
    )
    rows_insert(marks)
    rows_insert(tasks)
    Mediation.objects.bulk_create(mediations)
    LegalReferral.objects.bulk_create(referrals)
    services.messages_save(messages)
    return len(marks)


def _leader_message(
    loan: Loan,
    case: CollectionCase,
    at: datetime,
    policy: EscalationPolicy,
    templates: dict[str, str],
) -> list[Message]:
    """The branch leader is asked to help, only if the borrower agreed."""
    member = loan.member
    if not has_consent(member, ContactConsent.Kind.LEADER, at):
        return []
    leader = services.branch_leader_of(member)
    if leader is None:
        return []
    return [
        services.message_build(
            member=member,
            loan=loan,
            purpose=Purpose.LEADER,
            dedupe_key=f"{loan.pk}:leader:case{case.pk}",
            figures=services.third_party_figures(member),
            at=at,
            audience=Message.Audience.BRANCH_LEADER,
            recipient_member=leader,
            policy=policy,
            templates=templates,
        )
    ]


def _guarantor_messages(
    loan: Loan,
    case: CollectionCase,
    at: datetime,
    policy: EscalationPolicy,
    templates: dict[str, str],
) -> list[Message]:
    ties = GuarantorTie.objects.filter(
        borrower=loan.member, status=GuarantorTie.Status.ACTIVE
    ).select_related("guarantor")
    return [
        services.message_build(
            member=loan.member,
            loan=loan,
            purpose=Purpose.GUARANTOR,
            dedupe_key=f"{loan.pk}:guarantor:case{case.pk}:{tie.guarantor_id}",
            figures=services.third_party_figures(loan.member),
            at=at,
            audience=Message.Audience.GUARANTOR,
            recipient_member=tie.guarantor,
            policy=policy,
            templates=templates,
        )
        for tie in ties
    ]


def cases(*, on: date) -> int:
    """Cases of loans no longer behind are resolved; promises are reviewed."""
    cured = Loan.objects.filter(
        collection_cases__status__in=[
            CollectionCase.Status.OPEN,
            CollectionCase.Status.PROMISED,
        ]
    ).exclude(state__in=[Loan.State.GRACE, Loan.State.OVERDUE, Loan.State.BLACKLISTED])
    resolved = services.case_resolve_many(
        loan_ids=cured.values_list("pk", flat=True), on=on
    )
    reviewed = services.promises_review(on=on)
    logger.info("Close %s: %d cases resolved, %d promises due", on, resolved, reviewed)
    return resolved + reviewed

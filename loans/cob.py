"""The loans app's steps of the daily close (close of business).

Each step takes the business date and returns how many rows it touched. A
step works on sets of rows in chunks, never a transaction or `save()` per
loan, and is safe to run again: what it has done is marked (interest
recognised, penalty accrued through the date), so a close killed midway
resumes without doing anything twice. State moves ask the FSM graph for
their legal sources and record a transition row per loan.

The steps that go through the loans do it in ranges of `CHUNK` open loans
(`loans.chunks`), each range a `*_chunk` function its runner calls, here or
on the close's Celery workers.
"""

import logging
from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any, NamedTuple

from django.db import connection, transaction
from django.db.models import Case, F, Min, Q, QuerySet, Sum, Value, When
from django.utils.translation import gettext as _

from config.bulk import rows_insert
from credit import services as credit
from loans import ledger
from loans.chunks import Chunks, chunks_here, loan_ranges
from loans.models import (
    ZERO,
    Account,
    Installment,
    JournalEntry,
    Loan,
    LoanTransition,
)
from loans.schedule import fen
from loans.services import loan_moved_payload
from members.events import EventKind, events_emit
from members.models import BlacklistEntry, Member

logger = logging.getLogger(__name__)

CHUNK = 2000
DAYS_A_YEAR = Decimal(365)


def transition_graph(name: str) -> tuple[list[str], str]:
    """The legal sources and the target of a transition, from the FSM."""
    field = Loan._meta.get_field("state")
    moves = [t for t in field.get_all_transitions(Loan) if t.name == name]
    return sorted({str(t.source) for t in moves}), str(moves[0].target)


def move_set(loans: QuerySet[Loan], name: str, *, on: date, reason: str) -> int:
    """Move every loan of `loans` that may make transition `name`.

    Each chunk is read again under a row lock, so a repayment that moved a
    loan in the meantime is seen and not overwritten.
    """
    sources, target = transition_graph(name)
    candidates = list(loans.filter(state__in=sources).values_list("pk", flat=True))
    moved = 0
    for start in range(0, len(candidates), CHUNK):
        chunk = candidates[start : start + CHUNK]
        with transaction.atomic():
            moving = list(
                loans.select_for_update()
                .filter(pk__in=chunk, state__in=sources)
                .values_list("pk", "state", "member_id")
            )
            Loan.objects.filter(pk__in=[pk for pk, _, _ in moving]).update(state=target)
            rows_insert(
                [
                    LoanTransition(
                        loan_id=pk, source=source, target=target, on=on, reason=reason
                    )
                    for pk, source, _ in moving
                ]
            )
            events_emit(
                kind=EventKind.LOAN_STATE_CHANGED,
                payloads=[
                    loan_moved_payload(pk, member_id, source, target)
                    for pk, source, member_id in moving
                ],
                on=on,
            )
        moved += len(moving)
    return moved


def _ranges() -> list[tuple[int, int]]:
    return loan_ranges(size=CHUNK)


def interest_due(*, on: date, chunks: Chunks = chunks_here) -> int:
    """Interest of installments falling due becomes receivable income."""
    return chunks("loans.cob.interest_due_chunk", on, _ranges())


def interest_due_chunk(*, on: date, first: int, last: int) -> int:
    """Recognise the interest fallen due in one range. The loans are locked
    before their installments, in the order a repayment takes them, so the
    two never wait for each other in a circle."""
    due = Installment.objects.filter(
        loan_id__gte=first,
        loan_id__lte=last,
        due_date__lte=on,
        interest_recognised=False,
    )
    with transaction.atomic():
        # The range bounds the loans too, or each range reads them all.
        loan_ids = list(
            Loan.objects.select_for_update()
            .filter(
                pk__range=(first, last),
                pk__in=due.values("loan_id"),
                state__in=Loan.OPEN_STATES,
            )
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        # The installments are not locked again: every writer of an
        # installment (a repayment, a restructure) holds its loan first.
        rows = list(
            due.filter(loan_id__in=loan_ids)
            .order_by("pk")
            .values_list("pk", "loan_id", "number", "interest", "paid_interest")
        )
        ledger.post_many(
            [
                ledger.Entry(
                    loan_id,
                    JournalEntry.Kind.INTEREST_DUE,
                    on,
                    f"{loan_id}:interest:{number}",
                )
                .debit(Account.INTEREST_RECEIVABLE, interest - paid)
                .credit(Account.INTEREST_INCOME, interest - paid)
                for _, loan_id, number, interest, paid in rows
                if interest > paid
            ]
        )
        Installment.objects.filter(pk__in=[row[0] for row in rows]).update(
            interest_recognised=True
        )
    return len(rows)


def age(*, on: date, chunks: Chunks = chunks_here) -> int:
    """Days past due for every open loan, then the state moves they imply."""
    return chunks("loans.cob.age_chunk", on, _ranges())


def age_chunk(*, on: date, first: int, last: int) -> int:
    """Age the open loans of one range under their row locks, taken before
    the installments are read, so a repayment that held a loan is seen.

    Only the loans whose days past due may change are locked: those late
    until now and those with an installment unpaid past its date. Any other
    loan has nothing late, and a payment cannot make it late, so it stays at
    0 whatever commits meanwhile. (Locking the whole range wrote a lock on
    every row of the book, most of the step's time.)
    """
    open_loans = Loan.objects.filter(
        pk__range=(first, last), state__in=Loan.OPEN_STATES
    )
    late = Installment.objects.filter(
        loan_id__gte=first, loan_id__lte=last, due_date__lt=on, paid_on__isnull=True
    ).values("loan_id")
    with transaction.atomic():
        ids = list(
            open_loans.filter(Q(days_past_due__gt=0) | Q(pk__in=late))
            .select_for_update()
            .values_list("pk", flat=True)
        )
        _days_past_due_set(ids, on=on)
        moved = move_set(
            open_loans.filter(days_past_due=0), "cure", on=on, reason=_("No arrears.")
        )
        moved += move_set(
            open_loans.filter(days_past_due__gte=1),
            "enter_grace",
            on=on,
            reason=_("Installment unpaid."),
        )
        moved += move_set(
            open_loans.filter(days_past_due__gt=F("grace_days")),
            "fall_overdue",
            on=on,
            reason=_("Past the grace days."),
        )
        moved += move_set(
            open_loans.filter(days_past_due__gt=F("blacklist_days")),
            "blacklist",
            on=on,
            reason=_("Past the blacklisting threshold."),
        )
    return moved


def _days_past_due_set(ids: list[int], *, on: date) -> None:
    """Days from the oldest unpaid due date before `on`, 0 without one."""
    if not ids:
        return
    if connection.vendor == "postgresql":
        # Two statements that touch only the loans that may change: those
        # with an installment late (most add a day) and those late until
        # now that have none. The range bounds the loans on both sides of
        # the join, or the planner reads the whole table for every range.
        params: dict[str, Any] = {
            "on": on,
            "ids": ids,
            "first": min(ids),
            "last": max(ids),
        }
        with connection.cursor() as cursor:
            cursor.execute(
                """
                UPDATE loans_loan AS loan SET days_past_due = %(on)s - late.oldest
                  FROM (SELECT loan_id, min(due_date) AS oldest
                          FROM loans_installment
                         WHERE loan_id BETWEEN %(first)s AND %(last)s
                           AND due_date < %(on)s AND paid_on IS NULL
                         GROUP BY loan_id) AS late
                 WHERE loan.id = late.loan_id
                   AND loan.id BETWEEN %(first)s AND %(last)s
                   AND loan.id = ANY(%(ids)s)
                   AND loan.days_past_due <> %(on)s - late.oldest
                """,
                params,
            )
            cursor.execute(
                """
                UPDATE loans_loan AS loan SET days_past_due = 0
                 WHERE loan.id BETWEEN %(first)s AND %(last)s
                   AND loan.id = ANY(%(ids)s)
                   AND loan.days_past_due > 0
                   AND NOT EXISTS (
                       SELECT 1 FROM loans_installment i
                        WHERE i.loan_id = loan.id AND i.due_date < %(on)s
                          AND i.paid_on IS NULL)
                """,
                params,
            )
        return
    oldest = dict(
        Installment.objects.filter(
            loan_id__in=ids, due_date__lt=on, paid_on__isnull=True
        )
        .values("loan_id")
        .annotate(oldest=Min("due_date"))
        .values_list("loan_id", "oldest")
    )
    by_days: dict[int, list[int]] = defaultdict(list)
    for loan_id in ids:
        due = oldest.get(loan_id)
        by_days[(on - due).days if due else 0].append(loan_id)
    for days, loan_ids in by_days.items():
        Loan.objects.filter(pk__in=loan_ids).exclude(days_past_due=days).update(
            days_past_due=days
        )


class _Terms(NamedTuple):
    """What the penalty rule reads of a loan."""

    pk: int
    principal: Decimal
    cost_cap: Decimal
    disbursed_on: date | None
    penalty_daily_rate: Decimal


class _Due(NamedTuple):
    """What the penalty rule reads of a late installment."""

    pk: int
    loan_id: int
    principal: Decimal
    paid_principal: Decimal
    interest: Decimal
    paid_interest: Decimal
    penalty: Decimal


def _penalties(
    loan: _Terms, charged: Decimal, late: list[_Due], on: date
) -> dict[int, Decimal]:
    """Today's penalty per late installment, within the loan's yearly cost
    cap; `charged` is what the loan has charged so far: interest fallen
    due and penalty."""
    wanted = {
        i.pk: fen(
            (i.principal - i.paid_principal + i.interest - i.paid_interest)
            * loan.penalty_daily_rate
        )
        for i in late
    }
    days = (on - loan.disbursed_on).days + 1 if loan.disbursed_on else 1
    cap = fen(loan.principal * loan.cost_cap * days / DAYS_A_YEAR)
    room = max(ZERO, cap - charged)
    granted: dict[int, Decimal] = {}
    for installment in late:
        amount = min(wanted[installment.pk], room)
        room -= amount
        if amount:
            granted[installment.pk] = amount
    return granted


def penalty(*, on: date, chunks: Chunks = chunks_here) -> int:
    """Penalty for `on` on the overdue amounts of loans past their grace."""
    return chunks("loans.cob.penalty_chunk", on, _ranges())


def penalty_chunk(*, on: date, first: int, last: int) -> int:
    with transaction.atomic():
        loans = [
            _Terms(*row)
            for row in Loan.objects.select_for_update()
            .filter(
                pk__range=(first, last),
                state__in=[Loan.State.OVERDUE, Loan.State.BLACKLISTED],
            )
            .exclude(penalty_through__gte=on)
            .order_by("pk")
            .values_list(*_Terms._fields)
        ]
        if not loans:
            return 0
        ids = [loan.pk for loan in loans]
        # The cap grows with the days elapsed, so only interest fallen due by
        # now counts against it; a long loan's whole schedule would leave no
        # room for penalty in its early months. Summed by the database: the
        # rule reads only the late installments themselves.
        charged = dict(
            Installment.objects.filter(loan_id__in=ids)
            .values("loan_id")
            .annotate(
                charged=Sum(
                    Case(
                        When(due_date__lte=on, then=F("interest")),
                        default=Value(ZERO),
                    )
                    + F("penalty")
                )
            )
            .values_list("loan_id", "charged")
        )
        late: dict[int, list[_Due]] = defaultdict(list)
        for row in (
            Installment.objects.filter(
                loan_id__in=ids, due_date__lt=on, paid_on__isnull=True
            )
            .order_by("loan_id", "number")
            .values_list(*_Due._fields)
        ):
            late[row[1]].append(_Due(*row))
        granted: dict[int, Decimal] = {}
        entries = []
        for loan in loans:
            given = _penalties(
                loan, fen(charged.get(loan.pk) or ZERO), late[loan.pk], on
            )
            granted.update(given)
            total = sum(given.values(), ZERO)
            if total:
                entries.append(
                    ledger.Entry(
                        loan.pk,
                        JournalEntry.Kind.PENALTY,
                        on,
                        f"{loan.pk}:penalty:{on}",
                    )
                    .debit(Account.PENALTY_RECEIVABLE, total)
                    .credit(Account.PENALTY_INCOME, total)
                )
        _penalty_add(
            granted,
            {i.pk: i.penalty for rows in late.values() for i in rows},
        )
        ledger.post_many(entries)
        Loan.objects.filter(pk__in=ids).update(penalty_through=on)
    return len(entries)


def _penalty_add(granted: dict[int, Decimal], before: dict[int, Decimal]) -> None:
    """Add each installment's penalty: one statement on PostgreSQL. SQLite
    adds decimals as floats (4.2 became 4.199999999999999, which a repayment
    of 4.20 then overpaid), so there the sum is made in Python and stored."""
    if not granted:
        return
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                """
                UPDATE loans_installment AS i SET penalty = i.penalty + g.amount
                  FROM unnest(%s::bigint[], %s::numeric[]) AS g(id, amount)
                 WHERE i.id = g.id
                """,
                [list(granted), list(granted.values())],
            )
        return
    for pk, amount in granted.items():
        Installment.objects.filter(pk=pk).update(penalty=before[pk] + amount)


def report_to_credit(*, on: date) -> int:
    """Tell credit what the day's moves mean for the members' limits."""
    count = 0
    moves = LoanTransition.objects.filter(on=on, by__isnull=True).select_related(
        "loan__member"
    )
    fallen = [
        (move.loan.member, move.loan.number, move.loan.days_past_due)
        for move in moves.filter(target=Loan.State.OVERDUE)
    ]
    credit.credit_loans_overdue(overdue=fallen, on=on)
    count += len(fallen)
    # `loan.member` is as read before the loop: a member with two loans
    # crossing the threshold today is blacklisted by the first one only.
    blacklisted: set[int] = set()
    for move in moves.filter(target=Loan.State.BLACKLISTED):
        loan = move.loan
        if (
            loan.member.status == Member.Status.ACTIVE
            and loan.member_id not in blacklisted
        ):
            blacklisted.add(loan.member_id)
            credit.member_blacklist_and_zero_limit(
                member=loan.member,
                reason=_("Loan %(loan)s is %(days)d days past due.")
                % {"loan": loan.number, "days": loan.days_past_due},
                source=BlacklistEntry.Source.LOAN,
                source_reference=loan.number,
                on=on,
                by=None,
            )
        credit.credit_loan_defaulted(
            member=loan.member, loan_reference=loan.number, on=on
        )
        count += 1

    overdue = dict(
        Installment.objects.filter(
            loan__state__in=[Loan.State.OVERDUE, Loan.State.BLACKLISTED],
            due_date__lt=on,
            paid_on__isnull=True,
        )
        .values("loan__member_id")
        .annotate(amount=Sum(F("principal") - F("paid_principal")))
        .values_list("loan__member_id", "amount")
    )
    stale = set(
        Member.objects.filter(credit_profile__overdue_principal__gt=0).values_list(
            "pk", flat=True
        )
    )
    credit.credit_set_overdue_principals(
        amounts={pk: overdue.get(pk, ZERO) for pk in set(overdue) | stale}
    )
    return count

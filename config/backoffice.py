"""What the admin index shows a member of staff first: today's work.

Each list holds only what the user may see (their branches) and may act
on; a list the user has no permission to read is left out (None).
"""

from dataclasses import dataclass
from datetime import date
from typing import Generic, TypeVar

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Count, Model, Q, QuerySet

from collection.models import CollectionCase
from loans.models import Approval, BusinessDay, CloseStep, Loan
from loans.selectors import loans_visible_to
from risk.models import Alert
from risk.warnings import alerts_visible_to

SHOWN = 10
APPROVAL_LEVELS = (1, 2)

T = TypeVar("T", bound=Model)


@dataclass(frozen=True)
class Waiting(Generic[T]):
    """The first rows of a list, and how many there are in all."""

    rows: list[T]
    total: int


@dataclass(frozen=True)
class Close:
    day: BusinessDay
    steps: list[CloseStep]
    rows: int


@dataclass(frozen=True)
class Today:
    on: date
    approvals: Waiting[Loan] | None
    cases: Waiting[CollectionCase] | None
    alerts: Waiting[Alert] | None
    close: Close | None


def _first(rows: QuerySet[T]) -> Waiting[T]:
    return Waiting(rows=list(rows[:SHOWN]), total=rows.count())


def loans_awaiting_approval_by(user: User | AnonymousUser) -> QuerySet[Loan]:
    """Applications whose next level this user may sign: they hold that
    level, did not key the application and signed no earlier level."""
    levels = [
        level
        for level in APPROVAL_LEVELS
        if user.has_perm(f"loans.approve_level{level}")
    ]
    if not levels or user.pk is None:
        return Loan.objects.none()
    signed = Count(
        "approvals", filter=Q(approvals__decision=Approval.Decision.APPROVED)
    )
    return (
        loans_visible_to(user)
        .filter(state=Loan.State.APPLIED)
        .annotate(signed=signed)
        .filter(signed__in=[level - 1 for level in levels])
        .exclude(applied_by=user)
        .exclude(approvals__by=user)
        .select_related("member", "product")
        .order_by("applied_on", "pk")
    )


def cases_due_for_action(
    user: User | AnonymousUser, on: date
) -> QuerySet[CollectionCase]:
    return (
        CollectionCase.objects.filter(
            loan__in=loans_visible_to(user),
            status__in=CollectionCase.OPEN_STATUSES,
            next_action_on__lte=on,
        )
        .select_related("loan__member", "collector")
        .order_by("next_action_on", "pk")
    )


def open_alerts(user: User) -> QuerySet[Alert]:
    return (
        alerts_visible_to(user)
        .filter(status=Alert.Status.OPEN)
        .select_related("rule", "branch")
        .order_by("-raised_on", "pk")
    )


def last_close() -> Close | None:
    """The latest business day whose close began, finished or not."""
    day = BusinessDay.objects.order_by("-on").first()
    if day is None:
        return None
    steps = list(day.steps.all())
    return Close(day=day, steps=steps, rows=sum(step.rows for step in steps))


def today_for(user: User, on: date) -> Today:
    return Today(
        on=on,
        approvals=(
            _first(loans_awaiting_approval_by(user))
            if user.has_perm("loans.view_loan")
            else None
        ),
        cases=(
            _first(cases_due_for_action(user, on))
            if user.has_perm("collection.view_collectioncase")
            else None
        ),
        alerts=_first(open_alerts(user)) if user.has_perm("risk.view_alert") else None,
        close=last_close() if user.has_perm("loans.view_businessday") else None,
    )

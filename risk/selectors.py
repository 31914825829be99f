"""Reads of the portfolio that the dashboards, the API and the alerts share.

Every figure here is computed from stored rows (snapshots, month-end
positions, delinquency marks, cases) or from the loans as they stand; none
writes. Amounts are `Decimal` rounded to the fen, shares are `Decimal`
fractions with six places (0.125000 is 12.5 %).
"""

import calendar
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import (
    Count,
    DateField,
    DecimalField,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, Least
from django.utils.translation import gettext as _

from collection.models import STAGE_ORDER, Cause, CollectionCase, Stage
from loans.models import ZERO, Installment, Loan, Repayment
from loans.schedule import fen
from members.models import Branch
from risk.models import (
    BUCKET_ORDER,
    TIER_ORDER,
    DelinquencyMark,
    LoanPosition,
    Snapshot,
    Tier,
    WarningRule,
)
from risk.portfolio import SHARE, share

CLOSED = "closed"
UNCLASSIFIED = "unclassified"

# Interface shared by the portfolio figures (risk/portfolio.py), the
# dashboards (risk/views.py) and the API (risk/api.py). The bodies are
# written by the portfolio work; the dataclasses are the contract.


@dataclass(frozen=True)
class RollRates:
    """Share of principal moving from each bucket at `start` to each at `end`.

    `matrix[a][b]` is the principal in bucket `a` at `start` that sat in
    bucket `b` at `end`, over all principal in `a` at `start`. Besides the
    buckets of `risk.models.Bucket`, `b` may be "closed" (repaid, written
    off or otherwise no longer open at `end`). `principal[a]` is the
    principal in `a` at `start`. Rows with nothing in them are all zero.
    """

    start: date
    end: date
    rows: list[str]
    columns: list[str]
    matrix: dict[str, dict[str, Decimal]]
    principal: dict[str, Decimal]


@dataclass(frozen=True)
class Vintage:
    """One disbursement month: its principal and, for each month since
    disbursement (index 0 is the month of disbursement itself), the
    cumulative share of that principal whose loan had reached 30+ days past
    due by the end of that month. The curve stops at the last month ended
    by `as_of`."""

    cohort: str  # "YYYY-MM"
    loans: int
    principal: Decimal
    curve: list[Decimal]


@dataclass(frozen=True)
class BranchExposure:
    branch_id: int
    branch_name: str
    loans: int
    principal: Decimal
    share: Decimal
    par30: Decimal


@dataclass(frozen=True)
class LargeExposure:
    member_id: int
    branch_name: str
    loans: int
    principal: Decimal
    share: Decimal


@dataclass(frozen=True)
class Concentration:
    """Exposure by branch and by member on a date, and how concentrated.

    `hhi` is the Herfindahl-Hirschman index of branch shares (sum of the
    squared shares, from 1/n for an even book to 1 for a single branch).
    `limit` is the branch share the concentration rule allows (None when the
    rule is disabled); `breaches` lists the branches above it.
    """

    on: date
    principal: Decimal
    branches: list[BranchExposure]
    largest: list[LargeExposure]
    hhi: Decimal
    limit: Decimal | None
    breaches: list[BranchExposure] = field(default_factory=list)


@dataclass(frozen=True)
class Outcome:
    """Collection results of a group of cases (a stage, or a cause).

    `recovery_rate` is the share of the arrears at the cases' opening that
    was paid back since; `resolved_rate` the share of cases resolved by
    payment."""

    key: str
    label: str
    cases: int
    resolved: int
    arrears: Decimal
    recovered: Decimal
    recovery_rate: Decimal
    resolved_rate: Decimal


def snapshot_on(*, on: date, branch: Branch | None = None) -> Snapshot | None:
    """The snapshot of `on` for `branch` (or the whole book), if recorded."""
    return Snapshot.objects.filter(on=on, branch=branch).first()


def snapshot_latest_date(*, until: date | None = None) -> date | None:
    """The last business date with a portfolio snapshot, up to `until`."""
    snapshots = Snapshot.objects.filter(branch__isnull=True)
    if until is not None:
        snapshots = snapshots.filter(on__lte=until)
    latest = snapshots.order_by("-on").values_list("on", flat=True).first()
    return latest


# Portfolio analytics ------------------------------------------------------------


def portfolio_series(
    *, until: date, days: int = 180, branch: Branch | None = None
) -> list[Snapshot]:
    """The snapshots of the `days` business dates up to and including
    `until`, for `branch` or the whole book, oldest first."""
    since = until - timedelta(days=days)
    return list(
        Snapshot.objects.filter(branch=branch, on__gt=since, on__lte=until).order_by(
            "on"
        )
    )


def month_ends(*, until: date) -> list[date]:
    """The month ends up to `until` whose loan positions were recorded."""
    return list(
        LoanPosition.objects.filter(on__lte=until)
        .order_by("on")
        .values_list("on", flat=True)
        .distinct()
    )


def roll_rates(*, start: date, end: date, branch: Branch | None = None) -> RollRates:
    """Where the principal of each bucket at the month end `start` sat at the
    month end `end` (see `RollRates`). Both dates should come from
    `month_ends`: a loan with no position at `end` counts as closed. With a
    branch, the loans are those the branch held at `start`."""
    at_start = LoanPosition.objects.filter(on=start)
    if branch is not None:
        at_start = at_start.filter(branch=branch)
    later = LoanPosition.objects.filter(on=end, loan_id=OuterRef("loan_id"))
    rows = (
        at_start.annotate(moved_to=Subquery(later.values("bucket")[:1]))
        .values("bucket", "moved_to")
        .annotate(amount=Sum("principal"))
        .order_by()
    )
    columns = [*BUCKET_ORDER, CLOSED]
    moved: dict[str, dict[str, Decimal]] = {
        a: dict.fromkeys(columns, ZERO) for a in BUCKET_ORDER
    }
    for row in rows:
        moved[row["bucket"]][row["moved_to"] or CLOSED] += row["amount"] or ZERO
    principal = {a: sum(moved[a].values(), ZERO) for a in BUCKET_ORDER}
    matrix = {
        a: {b: share(moved[a][b], principal[a]) for b in columns} for a in BUCKET_ORDER
    }
    return RollRates(
        start=start,
        end=end,
        rows=list(BUCKET_ORDER),
        columns=columns,
        matrix=matrix,
        principal=principal,
    )


def _month_end(month: date) -> date:
    return month.replace(day=calendar.monthrange(month.year, month.month)[1])


def _next_month(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1)


def vintages(*, as_of: date) -> list[Vintage]:
    """Every disbursement month up to `as_of`, with its cumulative 30+ curve.

    A loan counts from the month its `DelinquencyMark` was set (the first
    close that saw it 30 or more days past due), whatever became of it
    since; marks set after `as_of` are not yet known. The principal is the
    amount disbursed.
    """
    mark = DelinquencyMark.objects.filter(
        loan_id=OuterRef("pk"), first_on__lte=as_of
    ).values("first_on")[:1]
    rows = (
        Loan.objects.filter(disbursed_on__isnull=False, disbursed_on__lte=as_of)
        .annotate(marked_on=Subquery(mark))
        .values("disbursed_on", "marked_on", "principal")
    )
    cohorts: dict[date, list[Decimal | int]] = {}
    marked: dict[date, dict[date, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for row in rows.iterator(chunk_size=5000):
        cohort = row["disbursed_on"].replace(day=1)
        totals = cohorts.setdefault(cohort, [0, ZERO])
        totals[0] += 1
        totals[1] += row["principal"]
        if row["marked_on"] is not None:
            marked[cohort][row["marked_on"].replace(day=1)] += row["principal"]

    found = []
    for cohort in sorted(cohorts):
        loans, principal = cohorts[cohort]
        curve: list[Decimal] = []
        reached = ZERO
        month = cohort
        while _month_end(month) <= as_of:
            reached += marked[cohort].get(month, ZERO)
            curve.append(share(reached, Decimal(principal)))
            month = _next_month(month)
        found.append(
            Vintage(
                cohort=f"{cohort:%Y-%m}",
                loans=int(loans),
                principal=Decimal(principal),
                curve=curve,
            )
        )
    return found


def _open_principal() -> QuerySet[Installment]:
    return Installment.objects.filter(loan__state__in=Loan.OPEN_STATES)


def concentration(*, on: date, top: int = 10) -> Concentration:
    """Branch exposure from the branch snapshots of `on`, and the largest
    exposures by member from the loans open now (members' balances are not
    kept per day, so for a past date they show today's book; their shares
    are of the principal open now)."""
    snapshots = list(
        Snapshot.objects.filter(on=on, branch__isnull=False)
        .select_related("branch")
        .order_by("-principal_outstanding", "branch__name")
    )
    total = sum((s.principal_outstanding for s in snapshots), ZERO)
    branches = [
        BranchExposure(
            branch_id=s.branch.pk,
            branch_name=s.branch.name,
            loans=s.loans_outstanding,
            principal=s.principal_outstanding,
            share=share(s.principal_outstanding, total),
            par30=s.par30,
        )
        for s in snapshots
        if s.branch is not None
    ]
    hhi = sum(
        ((s.principal_outstanding / total) ** 2 for s in snapshots if total),
        Decimal(0),
    )

    open_now = _open_principal()
    owed = F("principal") - F("paid_principal")
    book_now = open_now.aggregate(total=Sum(owed))["total"] or ZERO
    members = (
        open_now.values("loan__member_id", branch_name=F("loan__member__branch__name"))
        .annotate(loans=Count("loan_id", distinct=True), left=Sum(owed))
        .order_by("-left", "loan__member_id")[:top]
    )
    largest = [
        LargeExposure(
            member_id=row["loan__member_id"],
            branch_name=row["branch_name"],
            loans=row["loans"],
            principal=fen(row["left"] or ZERO),
            share=share(row["left"] or ZERO, book_now),
        )
        for row in members
    ]

    rule = WarningRule.objects.filter(
        kind=WarningRule.Kind.BRANCH_CONCENTRATION, enabled=True
    ).first()
    limit = rule.threshold if rule is not None else None
    return Concentration(
        on=on,
        principal=total,
        branches=branches,
        largest=largest,
        hhi=hhi.quantize(SHARE, rounding=ROUND_HALF_UP),
        limit=limit,
        breaches=[b for b in branches if limit is not None and b.share > limit],
    )


def _sum_of(queryset: QuerySet[Any], amount: Any) -> Coalesce:
    """A correlated subquery: the sum of `amount` over `queryset`."""
    summed = queryset.values("loan_id").annotate(total=Sum(amount)).values("total")
    return Coalesce(Subquery(summed), Value(ZERO), output_field=DecimalField())


def collection_outcomes(*, until: date) -> tuple[list[Outcome], list[Outcome]]:
    """Recovery of the cases opened by `until`, by the stage each reached
    and by the cause staff recorded (a blank cause is "unclassified").

    A case's *arrears* are the principal and interest of its loan's
    installments due before the case opened, less the principal and
    interest repaid with a value date before the opening (never below
    zero). What it *recovered* is the principal and interest repaid with a
    value date from the opening to the case's resolution (or to `until`
    while unresolved), at most its arrears. Penalty is left out of both: it
    keeps growing after the opening and hardship plans waive it. A case is
    *resolved* when its loan stopped being behind (`resolved_on` by
    `until`). Rates are over the group's totals, not averages of cases.
    """
    installments = Installment.objects.filter(
        loan_id=OuterRef("loan_id"), due_date__lt=OuterRef("opened_on")
    )
    repayments = Repayment.objects.filter(loan_id=OuterRef("loan_id"))
    paid = F("to_principal") + F("to_interest")
    cases = (
        CollectionCase.objects.filter(opened_on__lte=until)
        .annotate(
            window_end=Least(
                Coalesce("resolved_on", Value(until)),
                Value(until),
                output_field=DateField(),
            )
        )
        .annotate(
            due_before=_sum_of(installments, F("principal") + F("interest")),
            paid_before=_sum_of(
                repayments.filter(value_date__lt=OuterRef("opened_on")), paid
            ),
            paid_since=_sum_of(
                repayments.filter(
                    value_date__gte=OuterRef("opened_on"),
                    value_date__lte=OuterRef("window_end"),
                ),
                paid,
            ),
        )
        .values_list(
            "stage", "cause", "resolved_on", "due_before", "paid_before", "paid_since"
        )
    )
    by_stage: dict[str, list[Any]] = {}
    by_cause: dict[str, list[Any]] = {}
    for stage, cause, resolved_on, due, paid_before, paid_since in cases:
        arrears = max(ZERO, due - paid_before)
        recovered = min(arrears, paid_since)
        resolved = int(resolved_on is not None and resolved_on <= until)
        for key, groups in ((stage, by_stage), (cause or UNCLASSIFIED, by_cause)):
            totals = groups.setdefault(key, [0, 0, ZERO, ZERO])
            totals[0] += 1
            totals[1] += resolved
            totals[2] += arrears
            totals[3] += recovered

    stage_labels = dict(Stage.choices)
    cause_labels = {**dict(Cause.choices), UNCLASSIFIED: _("Unclassified")}
    return (
        _outcomes(by_stage, STAGE_ORDER, stage_labels),
        _outcomes(by_cause, [*Cause.values, UNCLASSIFIED], cause_labels),
    )


def _outcomes(
    groups: dict[str, list[Any]], order: list[str], labels: dict[str, Any]
) -> list[Outcome]:
    return [
        Outcome(
            key=key,
            label=str(labels.get(key, key)),
            cases=cases,
            resolved=resolved,
            arrears=fen(arrears),
            recovered=fen(recovered),
            recovery_rate=share(recovered, arrears),
            resolved_rate=share(Decimal(resolved), Decimal(cases)),
        )
        for key in order
        if key in groups
        for cases, resolved, arrears, recovered in [groups[key]]
    ]


# The portfolio API's figures --------------------------------------------------


def portfolio_figures(*, on: date, branch: Branch | None = None) -> dict[str, Any]:
    """The figures of `on` for `branch` (or the whole book) shaped as the
    portfolio API answers them: amounts and ratios as decimal strings.

    `by_branch` lists the branch snapshots of `on` (only `branch`'s when one
    is given), each branch's share being of the whole book. Raises
    `Snapshot.DoesNotExist` when nothing was recorded for `on` and `branch`.
    Three queries, whatever the number of branches.
    """
    wanted = Q(branch__isnull=True) | (
        Q(branch=branch) if branch is not None else Q(branch__isnull=False)
    )
    snapshots = list(
        Snapshot.objects.filter(wanted, on=on)
        .select_related("branch")
        .order_by("branch__name")
    )
    book = next((s for s in snapshots if s.branch_id is None), None)
    found = (
        book
        if branch is None
        else next((s for s in snapshots if s.branch_id == branch.pk), None)
    )
    if book is None or found is None:
        raise Snapshot.DoesNotExist
    rates = dict(Tier.objects.values_list("code", "provision_rate"))

    tiers = {}
    for code in TIER_ORDER:
        row = found.tiers.get(code, {})
        tiers[code] = {
            "count": row.get("count", 0),
            "principal": row.get("principal", str(ZERO)),
            "provision": row.get("provision", str(ZERO)),
            "provision_rate": row.get("provision_rate", str(rates.get(code, ""))),
        }
    return {
        "as_of": on,
        "branch": branch.pk if branch is not None else None,
        "loans_outstanding": found.loans_outstanding,
        "principal_outstanding": str(found.principal_outstanding),
        "par1": str(found.par1),
        "par30": str(found.par30),
        "par90": str(found.par90),
        "buckets": {
            name: found.buckets.get(name, {"count": 0, "principal": str(ZERO)})
            for name in BUCKET_ORDER
        },
        "tiers": tiers,
        "provision": str(found.provision),
        "by_branch": [
            {
                "branch": s.branch.pk,
                "branch_name": s.branch.name,
                "principal_outstanding": str(s.principal_outstanding),
                "share": str(
                    share(s.principal_outstanding, book.principal_outstanding)
                ),
                "par30": str(s.par30),
            }
            for s in snapshots
            if s.branch is not None
        ],
    }

"""Reads of the portfolio that the dashboards, the API and the alerts share.

Every figure here is computed from stored rows (snapshots, month-end
positions, delinquency marks, cases) or from the loans as they stand; none
writes. Amounts are `Decimal` rounded to the fen, shares are `Decimal`
fractions with six places (0.125000 is 12.5 %).
"""

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from members.models import Branch
from risk.models import Snapshot

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

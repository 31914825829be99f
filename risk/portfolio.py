"""The day's portfolio figures, as the close records them.

`snapshot_record` is the whole of the close's snapshot step: one snapshot
per branch with open loans and one for the whole book, the month-end
positions when the date ends a month, and the delinquency marks of loans
newly 30 or more days past due. It works on aggregates and bulk writes, so
its cost grows with the number of branches, not of loans, except for the
month-end positions, which are written in chunks.

Thresholds, stated once: a loan counts in PAR 1, PAR 30 and PAR 90 when its
days past due are *at least* 1, 30 and 90. Buckets are current (0 days),
1-30, 31-60, 61-90 and over 90, so a loan 90 days behind is in PAR 90 but
still in the 61-90 bucket. A loan is in the tier with the highest
`min_days` its days past due reach.
"""

import calendar
import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from itertools import pairwise
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Case, Count, F, IntegerField, Sum, Value, When
from django.utils.translation import gettext as _

from loans.models import ZERO, Installment, Loan
from loans.schedule import fen
from risk.models import (
    BUCKET_ORDER,
    TIER_ORDER,
    Bucket,
    DelinquencyMark,
    LoanPosition,
    Snapshot,
    Tier,
    TierCode,
)

logger = logging.getLogger(__name__)

CHUNK = 2000
SHARE = Decimal("0.000001")
PAR_DAYS = (1, 30, 90)
MARK_DAYS = 30
# The first day past due of each bucket after `current`.
BUCKET_STARTS = [(1, Bucket.DPD_1_30), (31, Bucket.DPD_31_60)]
BUCKET_STARTS += [(61, Bucket.DPD_61_90), (91, Bucket.DPD_OVER_90)]


def share(part: Decimal, whole: Decimal) -> Decimal:
    """`part / whole` with six places, rounded half up; 0 of nothing."""
    if not whole:
        return Decimal(0).quantize(SHARE)
    return (part / whole).quantize(SHARE, rounding=ROUND_HALF_UP)


def bucket_of(days: int) -> str:
    found = Bucket.CURRENT.value
    for start, bucket in BUCKET_STARTS:
        if days >= start:
            found = bucket.value
    return found


@dataclass(frozen=True)
class TierRate:
    code: str
    min_days: int
    provision_rate: Decimal


def tiers_current() -> list[TierRate]:
    """The tiers as configured, by increasing days past due."""
    return [
        TierRate(code, min_days, rate)
        for code, min_days, rate in Tier.objects.order_by("min_days").values_list(
            "code", "min_days", "provision_rate"
        )
    ]


def tier_of(days: int, tiers: list[TierRate]) -> TierRate:
    """The tier with the highest start that `days` reach."""
    reached = [tier for tier in tiers if tier.min_days <= days]
    return reached[-1] if reached else tiers[0]


def tiers_check(tiers: Iterable[TierRate]) -> None:
    """The five tiers must make sense together: the normal tier starts at
    0, each later tier starts strictly later, and rates lie between 0 and 1
    and never fall from one tier to the next."""
    by_code = {tier.code: tier for tier in tiers}
    ordered = [by_code[code] for code in TIER_ORDER if code in by_code]
    errors: dict[str, list[str]] = defaultdict(list)
    if ordered and ordered[0].code == TierCode.NORMAL and ordered[0].min_days != 0:
        errors["min_days"].append(_("The normal tier must start at 0 days past due."))
    for tier in ordered:
        if not Decimal(0) <= tier.provision_rate <= Decimal(1):
            errors["provision_rate"].append(_("A provision rate lies between 0 and 1."))
            break
    for before, after in pairwise(ordered):
        if after.min_days <= before.min_days:
            errors["min_days"].append(
                _("Each tier must start later than the tier before it.")
            )
            break
    for before, after in pairwise(ordered):
        if after.provision_rate < before.provision_rate:
            errors["provision_rate"].append(
                _("A tier's provision rate may not be lower than the tier before.")
            )
            break
    if errors:
        raise ValidationError(dict(errors))


# The day's figures -------------------------------------------------------------


@dataclass
class _Band:
    """Loans whose days past due fall in one range that no threshold cuts."""

    start: int
    loans: int = 0
    principal: Decimal = ZERO


@dataclass
class Figures:
    """The figures of one branch, or of the whole book, on one date."""

    loans: int = 0
    principal: Decimal = ZERO
    par: dict[int, Decimal] = field(
        default_factory=lambda: dict.fromkeys(PAR_DAYS, ZERO)
    )
    buckets: dict[str, list[Any]] = field(
        default_factory=lambda: {b: [0, ZERO] for b in BUCKET_ORDER}
    )
    tiers: dict[str, list[Any]] = field(default_factory=dict)

    def add(self, days: int, loans: int, principal: Decimal, tier: TierRate) -> None:
        self.loans += loans
        self.principal += principal
        for threshold in PAR_DAYS:
            if days >= threshold:
                self.par[threshold] += principal
        bucket = self.buckets[bucket_of(days)]
        bucket[0] += loans
        bucket[1] += principal
        row = self.tiers.setdefault(tier.code, [0, ZERO])
        row[0] += loans
        row[1] += principal

    def merge(self, other: "Figures") -> None:
        self.loans += other.loans
        self.principal += other.principal
        for threshold in PAR_DAYS:
            self.par[threshold] += other.par[threshold]
        for name, (count, principal) in other.buckets.items():
            self.buckets[name][0] += count
            self.buckets[name][1] += principal
        for code, (count, principal) in other.tiers.items():
            row = self.tiers.setdefault(code, [0, ZERO])
            row[0] += count
            row[1] += principal

    def snapshot(
        self, *, on: date, branch_id: int | None, tiers: list[TierRate]
    ) -> Snapshot:
        tier_json = {}
        provision = ZERO
        for tier in sorted(tiers, key=lambda t: TIER_ORDER.index(t.code)):
            count, principal = self.tiers.get(tier.code, [0, ZERO])
            amount = fen(principal * tier.provision_rate)
            provision += amount
            tier_json[tier.code] = {
                "count": count,
                "principal": str(fen(principal)),
                "provision": str(amount),
                "provision_rate": str(tier.provision_rate),
            }
        return Snapshot(
            on=on,
            branch_id=branch_id,
            loans_outstanding=self.loans,
            principal_outstanding=fen(self.principal),
            par1=share(self.par[1], self.principal),
            par30=share(self.par[30], self.principal),
            par90=share(self.par[90], self.principal),
            buckets={
                name: {"count": count, "principal": str(fen(principal))}
                for name, (count, principal) in self.buckets.items()
            },
            tiers=tier_json,
            provision=provision,
        )


def _band_starts(tiers: list[TierRate]) -> list[int]:
    """Every day count at which some figure changes, ascending."""
    starts = {0, *PAR_DAYS, MARK_DAYS, *(start for start, _b in BUCKET_STARTS)}
    starts.update(tier.min_days for tier in tiers)
    return sorted(starts)


def _band_expression(starts: list[int]) -> Case:
    """The start of the band a loan's days past due fall in."""
    return Case(
        *(
            When(loan__days_past_due__gte=start, then=Value(start))
            for start in reversed(starts)
        ),
        default=Value(0),
        output_field=IntegerField(),
    )


def figures_by_branch(*, tiers: list[TierRate]) -> dict[int, Figures]:
    """Today's figures of every branch with open loans, in one query: open
    principal grouped by branch and by band of days past due."""
    starts = _band_starts(tiers)
    rows = (
        Installment.objects.filter(loan__state__in=Loan.OPEN_STATES)
        .values(branch_id=F("loan__member__branch_id"), band=_band_expression(starts))
        .annotate(
            loans=Count("loan_id", distinct=True),
            principal=Sum(F("principal") - F("paid_principal")),
        )
        .order_by()
    )
    by_branch: dict[int, Figures] = defaultdict(Figures)
    for row in rows:
        band = row["band"]
        by_branch[row["branch_id"]].add(
            band, row["loans"], row["principal"] or ZERO, tier_of(band, tiers)
        )
    return dict(by_branch)


def _open_ids() -> Iterator[list[int]]:
    ids = list(
        Loan.objects.filter(state__in=Loan.OPEN_STATES)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def positions_record(*, on: date) -> int:
    """Each open loan's bucket and principal at the month end `on`."""
    LoanPosition.objects.filter(on=on).delete()
    written = 0
    for ids in _open_ids():
        principal = dict(
            Installment.objects.filter(loan_id__in=ids)
            .values("loan_id")
            .annotate(left=Sum(F("principal") - F("paid_principal")))
            .values_list("loan_id", "left")
            .order_by()
        )
        loans = Loan.objects.filter(pk__in=ids).values_list(
            "pk", "member__branch_id", "days_past_due"
        )
        created = LoanPosition.objects.bulk_create(
            LoanPosition(
                on=on,
                loan_id=pk,
                branch_id=branch_id,
                bucket=bucket_of(days),
                principal=fen(principal.get(pk) or ZERO),
            )
            for pk, branch_id, days in loans
        )
        written += len(created)
    return written


def marks_record(*, on: date) -> int:
    """A mark for every open loan first seen 30 or more days past due."""
    marked = DelinquencyMark.objects.values("loan_id")
    ids = list(
        Loan.objects.filter(state__in=Loan.OPEN_STATES, days_past_due__gte=MARK_DAYS)
        .exclude(pk__in=marked)
        .values_list("pk", flat=True)
    )
    for start in range(0, len(ids), CHUNK):
        DelinquencyMark.objects.bulk_create(
            DelinquencyMark(loan_id=pk, first_on=on)
            for pk in ids[start : start + CHUNK]
        )
    return len(ids)


def is_month_end(on: date) -> bool:
    return on.day == calendar.monthrange(on.year, on.month)[1]


@transaction.atomic
def snapshot_record(*, on: date) -> int:
    """Record the portfolio of `on`; run again, it rewrites the same rows.

    Returns the rows written: snapshots, month-end positions and new marks.
    """
    tiers = tiers_current()
    by_branch = figures_by_branch(tiers=tiers)
    book = Figures()
    for figures in by_branch.values():
        book.merge(figures)

    Snapshot.objects.filter(on=on).delete()
    snapshots = [book.snapshot(on=on, branch_id=None, tiers=tiers)]
    snapshots += [
        figures.snapshot(on=on, branch_id=branch_id, tiers=tiers)
        for branch_id, figures in sorted(by_branch.items())
    ]
    Snapshot.objects.bulk_create(snapshots)

    positions = positions_record(on=on) if is_month_end(on) else 0
    marks = marks_record(on=on)
    logger.info(
        "Snapshot %s: %d branches, %d loans, %d month-end positions, %d new marks",
        on,
        len(by_branch),
        book.loans,
        positions,
        marks,
    )
    return len(snapshots) + positions + marks

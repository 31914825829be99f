"""Staff dashboards: the morning view, roll rates, vintages, collection
outcomes and stress runs.

Views gather figures from `risk.selectors` and the stored rows, shape them
into tables, and hand the same figures to `risk.charts`. Every table is
also a CSV download: the page's own address with `format=csv` and the
table's name. Staff sign in through the admin and need
`risk.view_dashboard`.
"""

import csv
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required, permission_required
from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import BadRequest
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _

from loans.selectors import business_date_current
from members.selectors import branches_visible_to, sees_all_branches
from risk import charts
from risk.models import (
    BUCKET_ORDER,
    TIER_ORDER,
    Alert,
    Bucket,
    Snapshot,
    StressRun,
    Tier,
    TierCode,
)
from risk.selectors import (
    Concentration,
    Outcome,
    collection_outcomes,
    concentration,
    month_ends,
    portfolio_series,
    roll_rates,
    snapshot_latest_date,
    snapshot_on,
    vintages,
)

ZERO = Decimal("0.00")
PERCENTILES = ["50", "90", "95", "99", "99.9"]
CLOSED = "closed"
VINTAGE_LINES = 12
STRESS_RUNS_LISTED = 20
ALERTS_LISTED = 10

View = Callable[..., HttpResponse]


def staff_dashboard(view: View) -> View:
    """Signed-in staff (else the admin's sign-in) holding view_dashboard."""
    allowed = permission_required("risk.view_dashboard", raise_exception=True)(view)
    return login_required(allowed, login_url="admin:login")


# Tables: what a page shows beside a chart, and what its CSV holds.


@dataclass(frozen=True)
class Column:
    title: str
    kind: str = "text"  # text, count, money or share


@dataclass(frozen=True)
class Cell:
    value: Any
    kind: str

    @property
    def percent(self) -> str:
        return percent(self.value)

    @property
    def csv(self) -> str:
        if self.value is None:
            return ""
        if isinstance(self.value, date):
            return self.value.isoformat()
        return str(self.value)


@dataclass(frozen=True)
class Row:
    cells: list[Cell]
    highlight: bool = False
    link: str = ""


@dataclass
class Table:
    name: str
    title: str
    columns: list[Column]
    rows: list[Row] = field(default_factory=list)
    csv_url: str = ""

    def add(
        self, values: Sequence[Any], *, highlight: bool = False, link: str = ""
    ) -> None:
        cells = [
            Cell(value, column.kind)
            for value, column in zip(values, self.columns, strict=True)
        ]
        self.rows.append(Row(cells, highlight, link))


def percent(value: Decimal | None) -> str:
    """A share as people read it, to one decimal: 0.1234 is 12.3%."""
    if value is None:
        return ""
    shown = (Decimal(value) * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return f"{shown}%"


def _decimal(value: Any, default: Decimal | None = ZERO) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, TypeError, ValueError):
        return default


def _share(part: Decimal, whole: Decimal) -> Decimal:
    if not whole:
        return Decimal(0)
    return (part / whole).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)


def _tables_respond(
    request: HttpRequest,
    tables: Iterable[Table],
    *,
    stem: str,
    stamp: date | None,
) -> HttpResponse | None:
    """The CSV of the table the request names, or None to show the page
    (after giving each table its download link)."""
    by_name = {table.name: table for table in tables}
    params = {key: value for key, value in request.GET.items() if key != "table"}
    params.pop("format", None)
    for table in by_name.values():
        query = urlencode({**params, "format": "csv", "table": table.name})
        table.csv_url = f"?{query}"
    if request.GET.get("format") != "csv":
        return None

    wanted = by_name.get(request.GET.get("table", ""))
    if wanted is None:
        raise Http404(_("There is no such table on this page."))
    return _csv(wanted, filename=f"{stem}-{wanted.name}-{stamp or 'none'}.csv")


def _csv(table: Table, *, filename: str) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    # A byte-order mark lets spreadsheet programs read the Chinese headers.
    response.write("\ufeff")
    writer = csv.writer(response)
    writer.writerow([column.title for column in table.columns])
    for row in table.rows:
        writer.writerow([cell.csv for cell in row.cells])
    return response


def _date_param(request: HttpRequest, name: str) -> date | None:
    raw = request.GET.get(name, "").strip()
    if not raw:
        return None
    try:
        parsed = parse_date(raw)
    except ValueError:
        parsed = None
    if parsed is None:
        raise BadRequest(_("Give the date as YYYY-MM-DD."))
    return parsed


def _reference_day() -> date:
    """The last closed business date, which every analysis reads up to."""
    return snapshot_latest_date() or business_date_current()


def _bucket_label(code: str) -> str:
    if code == CLOSED:
        return _("Closed")
    return str(Bucket(code).label) if code in BUCKET_ORDER else code


# The morning view.


@staff_dashboard
def morning(request: HttpRequest) -> HttpResponse:
    day = _date_param(request, "date") or snapshot_latest_date()
    snapshot = snapshot_on(on=day) if day else None
    context: dict[str, Any] = {"nav": "morning", "day": day, "snapshot": snapshot}
    if day is None or snapshot is None:
        return render(request, "risk/morning.html", context)

    series = portfolio_series(until=day, days=180)
    buckets = _bucket_table(snapshot)
    tiers = _tier_table(snapshot)
    trend = _trend_table(series)
    spread = concentration(on=day)
    branches, largest = _concentration_tables(spread)

    response = _tables_respond(
        request, [trend, buckets, tiers, branches, largest], stem="risk", stamp=day
    )
    if response is not None:
        return response

    bucket_rows = buckets.rows
    context.update(
        trend=trend,
        buckets=buckets,
        tiers=tiers,
        branches=branches,
        largest=largest,
        concentration=spread,
        hhi=spread.hhi.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP),
        limit=percent(spread.limit) if spread.limit is not None else None,
        alerts=_open_alerts(request.user)[:ALERTS_LISTED],
        par_chart=charts.par_trend(
            days=[point.on for point in series],
            par1=[point.par1 for point in series],
            par30=[point.par30 for point in series],
            par90=[point.par90 for point in series],
        ),
        bucket_chart=charts.bucket_principal(
            labels=[row.cells[0].value for row in bucket_rows],
            principal=[row.cells[2].value for row in bucket_rows],
        ),
        branch_chart=charts.branch_shares(
            labels=[exposure.branch_name for exposure in spread.branches],
            shares=[exposure.share for exposure in spread.branches],
            limit=spread.limit,
        ),
        figures=[
            (_("PAR 1"), percent(snapshot.par1)),
            (_("PAR 30"), percent(snapshot.par30)),
            (_("PAR 90"), percent(snapshot.par90)),
        ],
    )
    return render(request, "risk/morning.html", context)


def _trend_table(series: Sequence[Snapshot]) -> Table:
    table = Table(
        "par-trend",
        _("Portfolio at risk, day by day"),
        [
            Column(_("Date")),
            Column(_("PAR 1"), "share"),
            Column(_("PAR 30"), "share"),
            Column(_("PAR 90"), "share"),
            Column(_("Principal outstanding"), "money"),
        ],
    )
    for point in series:
        table.add(
            [
                point.on,
                point.par1,
                point.par30,
                point.par90,
                point.principal_outstanding,
            ]
        )
    return table


def _bucket_table(snapshot: Snapshot) -> Table:
    table = Table(
        "buckets",
        _("Days past due"),
        [
            Column(_("Bucket")),
            Column(_("Loans"), "count"),
            Column(_("Principal"), "money"),
            Column(_("Share"), "share"),
        ],
    )
    for code in BUCKET_ORDER:
        figures = snapshot.buckets.get(code) or {}
        principal = _decimal(figures.get("principal", 0)) or ZERO
        table.add(
            [
                _bucket_label(code),
                int(figures.get("count", 0)),
                principal,
                _share(principal, snapshot.principal_outstanding),
            ]
        )
    return table


def _tier_table(snapshot: Snapshot) -> Table:
    rates = {tier.code: tier for tier in Tier.objects.all()}
    table = Table(
        "tiers",
        _("Five-tier classification"),
        [
            Column(_("Tier")),
            Column(_("From days past due"), "count"),
            Column(_("Loans"), "count"),
            Column(_("Principal"), "money"),
            Column(_("Provision rate"), "share"),
            Column(_("Provision"), "money"),
        ],
    )
    for code in TIER_ORDER:
        figures = snapshot.tiers.get(code) or {}
        tier = rates.get(code)
        table.add(
            [
                str(TierCode(code).label),
                tier.min_days if tier else None,
                int(figures.get("count", 0)),
                _decimal(figures.get("principal", 0)),
                tier.provision_rate if tier else None,
                _decimal(figures.get("provision", 0)),
            ]
        )
    table.add(
        [
            _("Total"),
            None,
            snapshot.loans_outstanding,
            snapshot.principal_outstanding,
            None,
            snapshot.provision,
        ],
        highlight=True,
    )
    return table


def _concentration_tables(spread: Concentration) -> tuple[Table, Table]:
    breached = {exposure.branch_id for exposure in spread.breaches}
    branches = Table(
        "branches",
        _("Exposure by branch"),
        [
            Column(_("Branch")),
            Column(_("Loans"), "count"),
            Column(_("Principal"), "money"),
            Column(_("Share"), "share"),
            Column(_("PAR 30"), "share"),
        ],
    )
    for exposure in spread.branches:
        branches.add(
            [
                exposure.branch_name,
                exposure.loans,
                exposure.principal,
                exposure.share,
                exposure.par30,
            ],
            highlight=exposure.branch_id in breached,
        )
    largest = Table(
        "largest",
        _("Largest exposures by member"),
        [
            Column(_("Member")),
            Column(_("Branch")),
            Column(_("Loans"), "count"),
            Column(_("Principal"), "money"),
            Column(_("Share"), "share"),
        ],
    )
    for member in spread.largest:
        largest.add(
            [
                f"M{member.member_id:06d}",
                member.branch_name,
                member.loans,
                member.principal,
                member.share,
            ]
        )
    return branches, largest


def _open_alerts(user: User | AnonymousUser) -> QuerySet[Alert]:
    alerts = Alert.objects.filter(
        status__in=[Alert.Status.OPEN, Alert.Status.ACKNOWLEDGED]
    ).select_related("rule", "branch")
    if not sees_all_branches(user):
        alerts = alerts.filter(branch__in=branches_visible_to(user))
    return alerts.order_by("-raised_on", "-id")


# Roll rates.


@staff_dashboard
def roll_rate_view(request: HttpRequest) -> HttpResponse:
    ends = month_ends(until=_reference_day())
    context: dict[str, Any] = {"nav": "roll_rates", "ends": ends}
    if len(ends) < 2:
        return render(request, "risk/roll_rates.html", context)

    start = _date_param(request, "start") or ends[-2]
    end = _date_param(request, "end") or ends[-1]
    if start not in ends or end not in ends or start >= end:
        raise BadRequest(_("Choose two month ends, the first before the second."))
    rates = roll_rates(start=start, end=end)

    table = Table(
        "roll-rates",
        _("Roll rates"),
        [
            Column(_("Bucket at start")),
            Column(_("Principal at start"), "money"),
            *[Column(_bucket_label(column), "share") for column in rates.columns],
        ],
    )
    heat = []
    for bucket in rates.rows:
        shares = [rates.matrix.get(bucket, {}).get(c, ZERO) for c in rates.columns]
        principal = rates.principal.get(bucket, ZERO)
        table.add([_bucket_label(bucket), principal, *shares])
        heat.append(
            {
                "label": _bucket_label(bucket),
                "principal": principal,
                "cells": [_heat_cell(share) for share in shares],
            }
        )

    response = _tables_respond(request, [table], stem="risk", stamp=end)
    if response is not None:
        return response
    context.update(
        start=start,
        end=end,
        table=table,
        heat=heat,
        columns=[_bucket_label(column) for column in rates.columns],
    )
    return render(request, "risk/roll_rates.html", context)


def _heat_cell(share: Decimal) -> dict[str, Any]:
    """A heatmap cell: the brand red at the share's strength, white text on
    the darker ones."""
    strength = min(max(float(share), 0.0), 1.0)
    return {
        "share": share,
        "text": percent(share),
        "style": f"background-color: rgba(176, 25, 30, {strength:.3f})",
        "dark": strength > 0.5,
    }


# Vintages.


@staff_dashboard
def vintage_view(request: HttpRequest) -> HttpResponse:
    as_of = _date_param(request, "date") or _reference_day()
    cohorts = vintages(as_of=as_of)
    months = max((len(cohort.curve) for cohort in cohorts), default=0)
    table = Table(
        "vintages",
        _("Cumulative share 30+ days past due, by months since disbursement"),
        [
            Column(_("Disbursed in")),
            Column(_("Loans"), "count"),
            Column(_("Principal"), "money"),
            *[Column(str(month), "share") for month in range(months)],
        ],
    )
    for cohort in cohorts:
        padding = [None] * (months - len(cohort.curve))
        table.add(
            [cohort.cohort, cohort.loans, cohort.principal, *cohort.curve, *padding]
        )

    response = _tables_respond(request, [table], stem="risk", stamp=as_of)
    if response is not None:
        return response
    context: dict[str, Any] = {"nav": "vintages", "as_of": as_of, "table": table}
    if cohorts:
        drawn = cohorts[-VINTAGE_LINES:]
        context["chart"] = charts.vintage_curves(
            cohorts={cohort.cohort: cohort.curve for cohort in drawn}
        )
        context["drawn"] = len(drawn)
    return render(request, "risk/vintages.html", context)


# Collection outcomes.


@staff_dashboard
def outcome_view(request: HttpRequest) -> HttpResponse:
    until = _date_param(request, "date") or _reference_day()
    by_stage, by_cause = collection_outcomes(until=until)
    stages = _outcome_table("by-stage", _("By the stage cases reached"), by_stage)
    causes = _outcome_table("by-cause", _("By the cause staff recorded"), by_cause)

    response = _tables_respond(
        request, [stages, causes], stem="risk-outcomes", stamp=until
    )
    if response is not None:
        return response
    context: dict[str, Any] = {
        "nav": "outcomes",
        "until": until,
        "sections": [
            (stages, _outcome_chart(stages.title, by_stage)),
            (causes, _outcome_chart(causes.title, by_cause)),
        ],
    }
    return render(request, "risk/outcomes.html", context)


def _outcome_table(name: str, title: str, outcomes: Sequence[Outcome]) -> Table:
    table = Table(
        name,
        title,
        [
            Column(_("Group")),
            Column(_("Cases"), "count"),
            Column(_("Resolved"), "count"),
            Column(_("Arrears at opening"), "money"),
            Column(_("Recovered"), "money"),
            Column(_("Recovery rate"), "share"),
            Column(_("Resolved rate"), "share"),
        ],
    )
    for outcome in outcomes:
        table.add(
            [
                outcome.label,
                outcome.cases,
                outcome.resolved,
                outcome.arrears,
                outcome.recovered,
                outcome.recovery_rate,
                outcome.resolved_rate,
            ]
        )
    return table


def _outcome_chart(title: str, outcomes: Sequence[Outcome]) -> str:
    if not outcomes:
        return ""
    return charts.outcome_rates(
        title=title,
        labels=[outcome.label for outcome in outcomes],
        recovery=[outcome.recovery_rate for outcome in outcomes],
        resolved=[outcome.resolved_rate for outcome in outcomes],
    )


# Stress tests.


def _percentiles(run: StressRun) -> dict[str, Decimal | None]:
    stored = run.results.get("percentiles") if isinstance(run.results, dict) else None
    if not isinstance(stored, Mapping):
        stored = {}
    return {key: _decimal(stored.get(key), None) for key in PERCENTILES}


def _shortfall(run: StressRun) -> Decimal:
    return max(run.stressed_loss - run.provision, ZERO)


@staff_dashboard
def stress_list(request: HttpRequest) -> HttpResponse:
    runs = list(
        StressRun.objects.select_related("scenario").order_by("-run_at", "-id")[
            :STRESS_RUNS_LISTED
        ]
    )
    table = Table(
        "runs",
        _("Latest stress runs"),
        [
            Column(_("Run")),
            Column(_("Scenario")),
            Column(_("Book as of")),
            Column(_("Simulations"), "count"),
            Column(_("Exposure"), "money"),
            Column(_("Expected loss, unstressed"), "money"),
            Column(_("Expected loss, stressed"), "money"),
            Column(_("Provision held"), "money"),
            Column(_("Shortfall"), "money"),
            Column(_("95th percentile loss"), "money"),
            Column(_("99th percentile loss"), "money"),
        ],
    )
    for run in runs:
        levels = _percentiles(run)
        table.add(
            [
                f"#{run.pk}",
                run.scenario.name,
                run.as_of,
                run.simulations,
                run.exposure,
                run.expected_loss,
                run.stressed_loss,
                run.provision,
                _shortfall(run),
                levels["95"],
                levels["99"],
            ],
            link=f"{run.pk}/",
        )

    stamp = runs[0].as_of if runs else None
    response = _tables_respond(request, [table], stem="risk-stress", stamp=stamp)
    if response is not None:
        return response
    return render(request, "risk/stress_list.html", {"nav": "stress", "table": table})


@staff_dashboard
def stress_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(StressRun.objects.select_related("scenario"), pk=pk)
    levels = _percentiles(run)
    percentiles = Table(
        "percentiles",
        _("Simulated loss percentiles"),
        [Column(_("Percentile")), Column(_("Loss"), "money")],
    )
    for key, loss in levels.items():
        percentiles.add([key, loss])

    rows = _branch_losses(run)
    branches = Table(
        "branches",
        _("Loss by branch"),
        [
            Column(_("Branch")),
            Column(_("Expected loss"), "money"),
            Column(_("Stressed loss"), "money"),
        ],
    )
    for row in rows:
        branches.add(row)

    edges, counts = _histogram(run)
    histogram = Table(
        "histogram",
        _("Simulated losses"),
        [
            Column(_("From"), "money"),
            Column(_("To"), "money"),
            Column(_("Runs"), "count"),
        ],
    )
    for low, high, count in zip(edges, edges[1:], counts, strict=False):
        histogram.add([low, high, count])

    response = _tables_respond(
        request,
        [percentiles, branches, histogram],
        stem=f"risk-stress-{run.pk}",
        stamp=run.as_of,
    )
    if response is not None:
        return response
    context: dict[str, Any] = {
        "nav": "stress",
        "run": run,
        "shortfall": _shortfall(run),
        "percentiles": percentiles,
        "branches": branches,
        "histogram": histogram,
    }
    if counts:
        context["histogram_chart"] = charts.loss_histogram(edges=edges, counts=counts)
    if rows:
        context["branch_chart"] = charts.branch_losses(
            labels=[row[0] for row in rows],
            expected=[row[1] for row in rows],
            stressed=[row[2] for row in rows],
        )
    return render(request, "risk/stress_detail.html", context)


def _branch_losses(run: StressRun) -> list[tuple[str, Decimal, Decimal]]:
    stored = run.results.get("by_branch") if isinstance(run.results, dict) else None
    rows = []
    for entry in stored if isinstance(stored, list) else []:
        if not isinstance(entry, Mapping):
            continue
        rows.append(
            (
                str(entry.get("branch_name") or entry.get("branch", "")),
                _first_decimal(entry, "expected_loss", "expected"),
                _first_decimal(entry, "stressed_loss", "stressed"),
            )
        )
    return rows


def _first_decimal(entry: Mapping[str, Any], *keys: str) -> Decimal:
    """The first of `keys` the entry holds, as a decimal (zero if none):
    the stress results have named these figures both ways."""
    for key in keys:
        if key in entry:
            return _decimal(entry[key]) or ZERO
    return ZERO


def _histogram(run: StressRun) -> tuple[list[Decimal], list[int]]:
    """The stored histogram's edges and counts, or nothing when it is
    missing or does not hold one more edge than counts."""
    stored = run.results.get("histogram") if isinstance(run.results, dict) else None
    if not isinstance(stored, Mapping):
        return [], []
    edges = [_decimal(edge, None) for edge in stored.get("edges") or []]
    try:
        counts = [int(count) for count in stored.get("counts") or []]
    except (TypeError, ValueError):
        return [], []
    if not counts or len(edges) != len(counts) + 1 or None in edges:
        return [], []
    return [edge for edge in edges if edge is not None], counts

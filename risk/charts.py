"""Charts for the risk dashboards, drawn on the server as SVG with pygal.

Each function takes plain figures and returns an SVG string ready to be
inlined in a page. Nothing here reaches the network: pygal's tooltip script
(which it would load from a CDN) is switched off, its stylesheets are the
ones it ships and inlines, and the comments it writes (naming its home
page) and its inline configuration script are removed. Amounts become
floats only to be drawn; the tables beside each chart show the exact
`Decimal` figures.
"""

import itertools
import re
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import pygal  # type: ignore[import-untyped]
from django.utils.translation import gettext as _
from pygal.style import Style  # type: ignore[import-untyped]

# The project's colours (static/css/site.css): brand red, link blue, then
# the amber, green and greys of its badges.
PALETTE = (
    "#b0191e",
    "#1d5fbf",
    "#b7791f",
    "#145a2a",
    "#6b3fa0",
    "#4a4f57",
    "#d9534f",
    "#5b9bd5",
    "#8a6d3b",
    "#3c8d5a",
)
FONTS = (
    'system-ui, -apple-system, "PingFang SC", "Noto Sans CJK SC", '
    '"Microsoft YaHei", sans-serif'
)

STYLE = Style(
    background="#ffffff",
    plot_background="#ffffff",
    foreground="#1a1a1a",
    foreground_strong="#1a1a1a",
    foreground_subtle="#8a8f98",
    opacity="0.85",
    opacity_hover="1",
    transition="none",
    colors=PALETTE,
    font_family=FONTS,
    label_font_size=13,
    major_label_font_size=13,
    legend_font_size=13,
    title_font_size=16,
    value_font_size=12,
    tooltip_font_size=12,
)

# pygal's comments name its home page, and its inline script only carries
# its configuration for the tooltip script we do not load.
_UNWANTED = re.compile(r"<!--.*?-->|<script\b.*?</script>", re.DOTALL)


def _config(**extra: Any) -> dict[str, Any]:
    return {
        "style": STYLE,
        "js": [],
        "disable_xml_declaration": True,
        "width": 720,
        "height": 360,
        "margin": 12,
        "margin_bottom": 28,
        "legend_at_bottom": True,
        "legend_at_bottom_columns": 3,
        "truncate_legend": -1,
        "truncate_label": -1,
        "print_values": False,
        "explicit_size": False,
        **extra,
    }


def _render(chart: Any) -> str:
    svg = str(chart.render(is_unicode=True))
    return _UNWANTED.sub("", svg)


def _number(value: Decimal | int | None) -> float | None:
    return None if value is None else float(value)


def _percent(value: float) -> str:
    return f"{value * 100:.1f}%"


def _amount(value: float) -> str:
    return f"¥{value:,.0f}"


def line_chart(
    *,
    title: str,
    x_labels: Sequence[str],
    series: Mapping[str, Sequence[Decimal | None]],
    shares: bool = True,
) -> str:
    """One line per entry of `series`, over `x_labels`; `shares` formats the
    y axis as percentages (0.125 is 12.5 %)."""
    chart = pygal.Line(
        **_config(
            title=title,
            show_dots=len(x_labels) <= 40,
            dots_size=2.5,
            x_label_rotation=30,
            show_minor_x_labels=False,
            x_labels_major_count=8,
            value_formatter=_percent if shares else _amount,
            min_scale=4,
            max_scale=8,
        )
    )
    chart.x_labels = list(x_labels)
    for name, values in series.items():
        chart.add(name, [_number(value) for value in values])
    return _render(chart)


def bar_chart(
    *,
    title: str,
    labels: Sequence[str],
    series: Mapping[str, Sequence[Decimal | int]],
    shares: bool = False,
    limit: Decimal | None = None,
) -> str:
    """Bars for each label, one colour per entry of `series`. With `limit`
    (one series only), bars above it are drawn in the brand red and the
    others in blue."""
    chart = pygal.Bar(
        **_config(
            title=title,
            value_formatter=_percent if shares else _amount,
            x_label_rotation=20 if len(labels) > 4 else 0,
            show_legend=len(series) > 1,
            max_scale=6,
        )
    )
    chart.x_labels = list(labels)
    for name, values in series.items():
        if limit is None:
            chart.add(name, [_number(value) for value in values])
            continue
        chart.add(
            name,
            [
                {
                    "value": float(value),
                    "color": PALETTE[0] if value > limit else PALETTE[1],
                }
                for value in values
            ],
        )
    return _render(chart)


def count_chart(*, title: str, labels: Sequence[str], counts: Sequence[int]) -> str:
    """Plain counts per label (a histogram's bins), a few labels shown."""
    chart = pygal.Bar(
        **_config(
            title=title,
            show_legend=False,
            x_label_rotation=0,
            show_minor_x_labels=False,
            x_labels_major_count=5,
            max_scale=6,
            value_formatter=lambda value: f"{value:,.0f}",
        )
    )
    chart.x_labels = list(labels)
    chart.add(title, list(counts))
    return _render(chart)


# The dashboards' charts, each from the figures its table shows.


def par_trend(
    *,
    days: Sequence[date],
    par1: Sequence[Decimal],
    par30: Sequence[Decimal],
    par90: Sequence[Decimal],
) -> str:
    return line_chart(
        title=_("Portfolio at risk"),
        x_labels=[day.isoformat() for day in days],
        series={_("PAR 1"): par1, _("PAR 30"): par30, _("PAR 90"): par90},
    )


def bucket_principal(*, labels: Sequence[str], principal: Sequence[Decimal]) -> str:
    return bar_chart(
        title=_("Principal by days past due"),
        labels=labels,
        series={_("Principal"): principal},
    )


def branch_shares(
    *, labels: Sequence[str], shares: Sequence[Decimal], limit: Decimal | None
) -> str:
    title = _("Share of principal by branch")
    if limit is not None:
        title = _("%(title)s, red above the limit of %(limit)s") % {
            "title": title,
            "limit": _percent(float(limit)),
        }
    return bar_chart(
        title=title,
        labels=labels,
        series={_("Share"): shares},
        shares=True,
        limit=limit,
    )


def vintage_curves(*, cohorts: Mapping[str, Sequence[Decimal]]) -> str:
    months = max((len(curve) for curve in cohorts.values()), default=0)
    return line_chart(
        title=_("Cumulative share 30+ days past due"),
        x_labels=[str(month) for month in range(months)],
        series=cohorts,
    )


def outcome_rates(
    *,
    title: str,
    labels: Sequence[str],
    recovery: Sequence[Decimal],
    resolved: Sequence[Decimal],
) -> str:
    return bar_chart(
        title=title,
        labels=labels,
        series={_("Recovery rate"): recovery, _("Resolved rate"): resolved},
        shares=True,
    )


def loss_histogram(*, edges: Sequence[Decimal], counts: Sequence[int]) -> str:
    """Simulated losses: bin `i` runs from `edges[i]` to `edges[i + 1]`;
    each bar is labelled with its lower edge (the table has both)."""
    labels = [_amount(float(low)) for low, _high in itertools.pairwise(edges)]
    return count_chart(
        title=_("Simulated losses"), labels=labels, counts=counts[: len(labels)]
    )


def branch_losses(
    *,
    labels: Sequence[str],
    expected: Sequence[Decimal],
    stressed: Sequence[Decimal],
) -> str:
    return bar_chart(
        title=_("Loss by branch"),
        labels=labels,
        series={_("Expected"): expected, _("Stressed"): stressed},
    )

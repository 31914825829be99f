"""Two scoring policy versions side by side, row by row.

Pure presentation: the admin's comparison view renders what this returns,
and a row whose two sides differ is highlighted there.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.contrib.admin.utils import label_for_field
from django.utils.text import capfirst
from django.utils.translation import gettext

from config.money import yuan
from credit.models import (
    INPUT_DIMENSION,
    Dimension,
    Grade,
    Input,
    PolicyBand,
    ScoringPolicy,
)

# A policy's settings, in the order the admin and the comparison show them.
POLICY_SETTINGS = (
    "review_days",
    "initial_limit",
    "graduation_step",
    "graduation_run",
    "max_single_loan",
    "guarantor_cut",
    "branch_cut",
    "income_tolerance",
)
MONEY_SETTINGS = {"initial_limit", "graduation_step", "max_single_loan"}


def plain_number(value: Decimal | str | None) -> str:
    """A stored number without its trailing zeros: 0.9500 reads 0.95."""
    if value is None:
        return gettext("no data")
    try:
        number = Decimal(value)
    except InvalidOperation:
        return str(value)
    return format(number.normalize(), "f")


@dataclass(frozen=True)
class Line:
    text: str
    changed: bool


@dataclass(frozen=True)
class Row:
    label: str
    a: tuple[Line, ...]
    b: tuple[Line, ...]

    @property
    def differs(self) -> bool:
        return [line.text for line in self.a] != [line.text for line in self.b]


@dataclass(frozen=True)
class Section:
    title: str
    rows: tuple[Row, ...]


def _row(label: str, a: list[str], b: list[str]) -> Row:
    """A row of the comparison; a line missing on the other side is marked."""
    return Row(
        label=label,
        a=tuple(Line(text, text not in b) for text in a),
        b=tuple(Line(text, text not in a) for text in b),
    )


def _setting_text(policy: ScoringPolicy, name: str) -> str:
    value = getattr(policy, name)
    return yuan(value) if name in MONEY_SETTINGS else str(value)


def _band_text(band: PolicyBand) -> str:
    values = {
        "lower": plain_number(band.lower),
        "upper": plain_number(band.upper),
        "points": band.points,
    }
    if band.when_missing:
        text = gettext("no value: %(points)d points")
    elif band.lower is not None and band.upper is not None:
        text = gettext("%(lower)s to under %(upper)s: %(points)d points")
    elif band.lower is not None:
        text = gettext("%(lower)s or more: %(points)d points")
    elif band.upper is not None:
        text = gettext("under %(upper)s: %(points)d points")
    else:
        text = gettext("any value: %(points)d points")
    return text % values


def _band_lines(bands: Iterable[PolicyBand], name: str) -> list[str]:
    mine = [band for band in bands if band.input == name]
    mine.sort(
        key=lambda band: (
            not band.when_missing,
            band.lower is not None,
            band.lower or 0,
            band.upper is None,
            band.upper or 0,
        )
    )
    return [_band_text(band) for band in mine]


def policy_comparison(a: ScoringPolicy, b: ScoringPolicy) -> list[Section]:
    """Two versions side by side: settings, each input's bands, each grade."""
    settings_rows = tuple(
        _row(
            capfirst(label_for_field(name, ScoringPolicy, return_attr=False)),
            [_setting_text(a, name)],
            [_setting_text(b, name)],
        )
        for name in POLICY_SETTINGS
    )
    sections = [Section(gettext("Settings"), settings_rows)]

    bands_a, bands_b = list(a.bands.all()), list(b.bands.all())
    for dimension in Dimension:
        names = [name for name in Input if INPUT_DIMENSION[name] == dimension]
        rows = tuple(
            _row(
                str(name.label),
                _band_lines(bands_a, name),
                _band_lines(bands_b, name),
            )
            for name in names
        )
        title = gettext("Points: %(dimension)s") % {"dimension": dimension.label}
        sections.append(Section(title, rows))

    grades_a = {cut.grade: cut for cut in a.grades.all()}
    grades_b = {cut.grade: cut for cut in b.grades.all()}
    grade_rows: list[Row] = []
    for grade in Grade.values:
        cut_a, cut_b = grades_a.get(grade), grades_b.get(grade)
        grade_rows.append(
            _row(
                gettext("Grade %(grade)s: from points") % {"grade": grade},
                [str(cut_a.min_points)] if cut_a else [],
                [str(cut_b.min_points)] if cut_b else [],
            )
        )
        grade_rows.append(
            _row(
                gettext("Grade %(grade)s: limit ceiling") % {"grade": grade},
                [yuan(cut_a.ceiling)] if cut_a else [],
                [yuan(cut_b.ceiling)] if cut_b else [],
            )
        )
    sections.append(Section(gettext("Grades"), tuple(grade_rows)))
    return sections

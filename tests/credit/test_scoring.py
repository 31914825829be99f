"""The scorecard as a pure function: bands, grade cut-offs and a whole score.

Nothing here touches the database.
"""

from decimal import Decimal
from typing import Any

import pytest

from credit.models import Dimension, Input
from credit.scoring import (
    Band,
    GradeCut,
    Scorecard,
    band_points,
    grade_for,
    score,
)

D = Decimal

# The cut-offs of the shipped policy, version 1.
SHIPPED_GRADES = (
    GradeCut("A", 450, D("10000.00")),
    GradeCut("B", 380, D("6000.00")),
    GradeCut("C", 320, D("3000.00")),
    GradeCut("D", 260, D("1000.00")),
    GradeCut("E", -1000, D("0.00")),
)


def tenure_band(**kwargs: Any) -> Band:
    return Band(input=Input.TENURE_MONTHS, points=20, **kwargs)


# Band.matches


def test_band_holds_its_lower_bound() -> None:
    band = tenure_band(lower=D("3"), upper=D("12"))

    assert band.matches(D("3"))
    assert not band.matches(D("2.9999"))


def test_band_stops_just_below_its_upper_bound() -> None:
    band = tenure_band(lower=D("3"), upper=D("12"))

    assert band.matches(D("11.9999"))
    assert not band.matches(D("12"))


def test_band_without_lower_bound_holds_any_smaller_value() -> None:
    band = tenure_band(upper=D("1"))

    assert band.matches(D("-1000000"))
    assert band.matches(D("0.9999"))
    assert not band.matches(D("1"))


def test_band_without_upper_bound_holds_any_larger_value() -> None:
    band = tenure_band(lower=D("12"))

    assert band.matches(D("1000000"))
    assert band.matches(D("12"))
    assert not band.matches(D("11.9999"))


def test_band_open_at_both_ends_holds_every_value_but_not_a_missing_one() -> None:
    band = tenure_band()

    assert band.matches(D("-5"))
    assert band.matches(D("0"))
    assert not band.matches(None)


def test_band_for_a_missing_value_holds_only_a_missing_value() -> None:
    band = tenure_band(when_missing=True)

    assert band.matches(None)
    assert not band.matches(D("0"))
    assert not band.matches(D("5"))


def test_band_for_a_missing_value_ignores_its_bounds() -> None:
    band = tenure_band(when_missing=True, lower=D("0"), upper=D("10"))

    assert band.matches(None)
    assert not band.matches(D("5"))


# band_points


def test_first_band_that_holds_the_value_gives_the_points() -> None:
    bands = [
        Band(input=Input.LOANS_REPAID, points=10, lower=D("0")),
        Band(input=Input.LOANS_REPAID, points=99, lower=D("0"), upper=D("5")),
    ]

    assert band_points(D("1"), bands) == 10


def test_value_no_band_holds_earns_no_points() -> None:
    bands = [Band(input=Input.LOANS_REPAID, points=10, lower=D("3"))]

    assert band_points(D("1"), bands) == 0
    assert band_points(None, bands) == 0
    assert band_points(D("1"), []) == 0


def test_missing_value_earns_the_points_of_its_own_band() -> None:
    bands = [
        Band(input=Input.UTILISATION, points=60, upper=D("0.5")),
        Band(input=Input.UTILISATION, points=40, when_missing=True),
    ]

    assert band_points(None, bands) == 40
    assert band_points(D("0.1"), bands) == 60


def test_negative_points_are_given_as_they_are() -> None:
    bands = [Band(input=Input.TIE_DEFAULTS, points=-40, lower=D("1"))]

    assert band_points(D("2"), bands) == -40


# grade_for


@pytest.mark.parametrize(
    ("total", "grade"),
    [
        (540, "A"),
        (450, "A"),
        (449, "B"),
        (380, "B"),
        (379, "C"),
        (320, "C"),
        (319, "D"),
        (260, "D"),
        (259, "E"),
        (-1000, "E"),
    ],
)
def test_grade_is_the_best_whose_cut_off_the_total_reaches(
    total: int, grade: str
) -> None:
    assert grade_for(total, SHIPPED_GRADES).grade == grade


def test_total_below_the_lowest_cut_off_gets_the_lowest_grade() -> None:
    cut = grade_for(-5000, SHIPPED_GRADES)

    assert cut.grade == "E"
    assert cut.ceiling == D("0.00")


def test_grade_carries_its_limit_ceiling() -> None:
    assert grade_for(450, SHIPPED_GRADES).ceiling == D("10000.00")
    assert grade_for(449, SHIPPED_GRADES).ceiling == D("6000.00")


def test_scorecard_orders_its_grades_best_first_whatever_order_they_come_in() -> None:
    shuffled = (SHIPPED_GRADES[3], SHIPPED_GRADES[0], SHIPPED_GRADES[4])
    card = Scorecard(version=1, bands=(), grades=shuffled)

    assert [cut.grade for cut in card.grades] == ["A", "D", "E"]
    assert grade_for(450, card.grades).grade == "A"
    assert grade_for(300, card.grades).grade == "D"


# score


@pytest.fixture
def card() -> Scorecard:
    bands = (
        Band(input=Input.KYC_VERIFIED, points=100, lower=D("1")),
        Band(input=Input.TENURE_MONTHS, points=20, lower=D("3"), upper=D("12")),
        Band(input=Input.TENURE_MONTHS, points=40, lower=D("12")),
        Band(input=Input.ON_TIME_SHARE, points=40, when_missing=True),
        Band(input=Input.ON_TIME_SHARE, points=80, lower=D("0.95")),
        Band(input=Input.LATE_INSTALLMENTS, points=-10, lower=D("1"), upper=D("3")),
        Band(input=Input.WORST_DAYS_PAST_DUE, points=-60, lower=D("31")),
        Band(input=Input.UTILISATION, points=60, upper=D("0.5")),
        Band(input=Input.TIE_DEFAULTS, points=-40, lower=D("1")),
        Band(input=Input.BUREAU_OVERDUE_COUNT, points=20, when_missing=True),
        Band(input=Input.INQUIRIES_90D, points=10, when_missing=True),
    )
    return Scorecard(version=7, bands=bands, grades=SHIPPED_GRADES)


@pytest.fixture
def inputs() -> dict[str, Decimal | None]:
    return {
        Input.KYC_VERIFIED: D("1"),
        Input.TENURE_MONTHS: D("14"),
        Input.ON_TIME_SHARE: D("0.9600"),
        Input.LATE_INSTALLMENTS: D("2"),
        Input.WORST_DAYS_PAST_DUE: D("45"),
        Input.LOANS_REPAID: D("0"),
        Input.UTILISATION: D("0.2500"),
        Input.BRANCH_OVERDUE_SHARE: None,
        Input.TIE_DEFAULTS: D("2"),
        Input.BUREAU_OVERDUE_COUNT: None,
        Input.DEBT_TO_INCOME: None,
        Input.INQUIRIES_90D: None,
    }


def test_score_gives_one_factor_per_dimension_in_a_fixed_order(
    card: Scorecard, inputs: dict[str, Decimal | None]
) -> None:
    result = score(inputs, card)

    assert [factor.dimension for factor in result.factors] == list(Dimension.values)


def test_score_adds_up_the_points_of_each_dimensions_inputs(
    card: Scorecard, inputs: dict[str, Decimal | None]
) -> None:
    result = score(inputs, card)

    points = {factor.dimension: factor.points for factor in result.factors}
    assert points == {
        Dimension.IDENTITY: 100 + 40,
        Dimension.REPAYMENT: 80 - 10 - 60,
        Dimension.INDEBTEDNESS: 60,
        Dimension.GROUP: -40,
        Dimension.BUREAU: 20 + 10,
    }


def test_score_total_is_the_sum_of_the_factors_and_sets_the_grade(
    card: Scorecard, inputs: dict[str, Decimal | None]
) -> None:
    result = score(inputs, card)

    assert result.total == sum(factor.points for factor in result.factors) == 200
    assert result.grade == "E"
    assert result.ceiling == D("0.00")


def test_score_shows_each_dimensions_inputs_as_text_or_none(
    card: Scorecard, inputs: dict[str, Decimal | None]
) -> None:
    result = score(inputs, card)

    by_dimension = {factor.dimension: factor.inputs for factor in result.factors}
    assert by_dimension[Dimension.IDENTITY] == {
        Input.KYC_VERIFIED: "1",
        Input.TENURE_MONTHS: "14",
    }
    assert by_dimension[Dimension.REPAYMENT] == {
        Input.ON_TIME_SHARE: "0.9600",
        Input.LATE_INSTALLMENTS: "2",
        Input.WORST_DAYS_PAST_DUE: "45",
        Input.LOANS_REPAID: "0",
    }
    assert by_dimension[Dimension.INDEBTEDNESS] == {Input.UTILISATION: "0.2500"}
    assert by_dimension[Dimension.GROUP] == {
        Input.BRANCH_OVERDUE_SHARE: None,
        Input.TIE_DEFAULTS: "2",
    }
    assert by_dimension[Dimension.BUREAU] == {
        Input.BUREAU_OVERDUE_COUNT: None,
        Input.DEBT_TO_INCOME: None,
        Input.INQUIRIES_90D: None,
    }


def test_input_left_out_is_scored_and_shown_as_missing(card: Scorecard) -> None:
    result = score({Input.KYC_VERIFIED: D("1")}, card)

    repayment = next(f for f in result.factors if f.dimension == Dimension.REPAYMENT)
    assert repayment.inputs[Input.ON_TIME_SHARE] is None
    # Only the bands for a missing value earn points: 100 + 40 + 20 + 10.
    assert result.total == 170
    assert result.grade == "E"


def test_score_with_no_bands_gives_zero_and_the_lowest_grade() -> None:
    card = Scorecard(version=1, bands=(), grades=SHIPPED_GRADES)

    result = score({Input.KYC_VERIFIED: D("1")}, card)

    assert result.total == 0
    assert all(factor.points == 0 for factor in result.factors)
    assert result.grade == "E"


def test_total_at_a_cut_off_gets_that_grade() -> None:
    card = Scorecard(
        version=1,
        bands=(Band(input=Input.KYC_VERIFIED, points=450, lower=D("1")),),
        grades=SHIPPED_GRADES,
    )

    assert score({Input.KYC_VERIFIED: D("1")}, card).grade == "A"
    assert score({Input.KYC_VERIFIED: D("0")}, card).grade == "E"


def test_factor_as_json_names_dimension_points_and_inputs(
    card: Scorecard, inputs: dict[str, Decimal | None]
) -> None:
    group = score(inputs, card).factors[3]

    assert group.as_json() == {
        "dimension": "group",
        "points": -40,
        "inputs": {"branch_overdue_share": None, "tie_defaults": "2"},
    }

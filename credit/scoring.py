"""The scorecard as a pure function: inputs and a policy in, a result out.

Nothing here touches the database, so it is easy to test and cheap to run
for many members at once. `credit.services` loads the policy once, gathers
inputs in bulk (`credit.selectors`) and stores what this returns.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from credit.models import INPUT_DIMENSION, Dimension, Input

Value = Decimal | None


@dataclass(frozen=True)
class Band:
    input: str
    points: int
    lower: Decimal | None = None
    upper: Decimal | None = None
    when_missing: bool = False

    def matches(self, value: Value) -> bool:
        if self.when_missing:
            return value is None
        if value is None:
            return False
        above = self.lower is None or value >= self.lower
        below = self.upper is None or value < self.upper
        return above and below


@dataclass(frozen=True)
class GradeCut:
    grade: str
    min_points: int
    ceiling: Decimal


@dataclass(frozen=True)
class Scorecard:
    version: int
    bands: tuple[Band, ...]
    grades: tuple[GradeCut, ...]

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.grades, key=lambda g: g.min_points, reverse=True))
        object.__setattr__(self, "grades", ordered)


@dataclass(frozen=True)
class Factor:
    dimension: str
    points: int
    inputs: dict[str, str | None] = field(default_factory=dict)

    def as_json(self) -> dict[str, object]:
        return {
            "dimension": self.dimension,
            "points": self.points,
            "inputs": self.inputs,
        }


@dataclass(frozen=True)
class Result:
    total: int
    grade: str
    ceiling: Decimal
    factors: tuple[Factor, ...]


def band_points(value: Value, bands: Iterable[Band]) -> int:
    """Points of the first band that holds the value; none holds it: 0."""
    for band in bands:
        if band.matches(value):
            return band.points
    return 0


def grade_for(total: int, grades: tuple[GradeCut, ...]) -> GradeCut:
    """The highest grade whose threshold the total reaches, else the lowest."""
    for cut in grades:
        if total >= cut.min_points:
            return cut
    return grades[-1]


def score(inputs: Mapping[str, Value], card: Scorecard) -> Result:
    """Score one member's inputs with a scorecard."""
    points_by_dimension = {dimension.value: 0 for dimension in Dimension}
    inputs_by_dimension: dict[str, dict[str, str | None]] = {
        dimension.value: {} for dimension in Dimension
    }
    for name in Input.values:
        value = inputs.get(name)
        dimension = INPUT_DIMENSION[name].value
        bands = [band for band in card.bands if band.input == name]
        points_by_dimension[dimension] += band_points(value, bands)
        inputs_by_dimension[dimension][name] = None if value is None else str(value)

    factors = tuple(
        Factor(
            dimension, points_by_dimension[dimension], inputs_by_dimension[dimension]
        )
        for dimension in Dimension.values
    )
    total = sum(factor.points for factor in factors)
    cut = grade_for(total, card.grades)
    return Result(total=total, grade=cut.grade, ceiling=cut.ceiling, factors=factors)

"""The stress test as a pure computation: a book, default probabilities and a
scenario's shocks in, the losses out.

Nothing here reads the database. `risk.book` turns the loans into the plain
data below and `risk.services.stress_test_run` stores what `stress` returns.

The model, per loan `i` with exposure at default `EAD_i`:

- its default probability `p_i` is its bucket's when it is behind, else its
  grade's, times the scenario's multiplier for that same key, capped at 1;
- a common shock: with probability `b` the whole shocked branch defaults in
  a simulation, whatever each loan's own draw;
- one round of contagion: a member defaults when any of their loans does;
  each guarantor of a defaulted member then defaults, with probability `c`
  per tie, on all their own loans. Defaults caused by contagion spread no
  further;
- a defaulted loan loses `EAD_i × LGD`.

The closed form is the exact expectation of that model: given the branch
shock (on or off) every member's loans are independent of other members',
so a loan's chance of default is `1 − (1 − p_i) × Π(1 − c × d_m)` over the
members `m` its borrower guarantees, `d_m` being `m`'s chance of a first
default. Money leaves here as `Decimal` rounded to the fen; numpy's floats
live only inside the simulation.
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from loans.schedule import fen
from risk.models import BUCKET_ORDER, Bucket

GRADES = ["A", "B", "C", "D", "E"]
BEHIND = [bucket for bucket in BUCKET_ORDER if bucket != Bucket.CURRENT]
MULTIPLIER_KEYS = [*GRADES, *BEHIND]
# A member with no grade is treated as the weakest grade.
MISSING_GRADE = "E"

# Used where the platform's history is too short to say: one-year default
# probabilities for a current loan by grade, and for a loan already behind
# by its bucket. A loan over 90 days behind has defaulted already.
FALLBACK_PD: dict[str, Decimal] = {
    "A": Decimal("0.01"),
    "B": Decimal("0.02"),
    "C": Decimal("0.04"),
    "D": Decimal("0.08"),
    "E": Decimal("0.15"),
    Bucket.DPD_1_30: Decimal("0.25"),
    Bucket.DPD_31_60: Decimal("0.50"),
    Bucket.DPD_61_90: Decimal("0.75"),
    Bucket.DPD_OVER_90: Decimal("1"),
}
HISTORY_MINIMUM = 50

PERCENTILES = ["50", "90", "95", "99", "99.9"]
HISTOGRAM_BINS = 20
# Cells of the loans × simulations matrix drawn at once, to bound memory.
BATCH_CELLS = 4_000_000

SHARE = Decimal("0.000001")


class Source:
    HISTORY = "history"
    FALLBACK = "fallback"


@dataclass(frozen=True)
class BookLoan:
    loan_id: int
    member_id: int
    branch_id: int
    branch_name: str
    principal: Decimal
    ead: Decimal
    grade: str
    bucket: str
    days_past_due: int = 0

    @property
    def pd_key(self) -> str:
        """The grade for a current loan, the bucket for one behind."""
        return self.grade if self.bucket == Bucket.CURRENT else self.bucket


@dataclass(frozen=True)
class Book:
    loans: list[BookLoan]
    # (guarantor member id, borrower member id) of each active tie.
    ties: list[tuple[int, int]] = field(default_factory=list)


@dataclass(frozen=True)
class Probability:
    """A default probability and where it came from.

    `sample` is the number of loans the history had for the key and
    `defaulted` how many of them reached 90 days past due.
    """

    pd: Decimal
    source: str
    sample: int
    defaulted: int = 0

    def as_json(self) -> dict[str, object]:
        return {
            "pd": _share(self.pd),
            "source": self.source,
            "sample": self.sample,
            "defaulted": self.defaulted,
        }


@dataclass(frozen=True)
class Shocks:
    pd_multipliers: Mapping[str, Decimal]
    lgd: Decimal
    shocked_branch_id: int | None = None
    branch_default_rate: Decimal = Decimal(0)
    contagion: Decimal = Decimal(0)
    simulations: int = 10000
    seed: int = 0


def probabilities_from_history(
    counts: Mapping[str, tuple[int, int]],
    *,
    minimum: int = HISTORY_MINIMUM,
) -> dict[str, Probability]:
    """Each key's probability: from `counts` (loans seen, loans defaulted)
    where at least `minimum` loans were seen, else the fallback table.

    Over 90 days behind is default itself, so its probability is always 1.
    """
    table: dict[str, Probability] = {}
    for key, fallback in FALLBACK_PD.items():
        seen, defaulted = counts.get(key, (0, 0))
        if key != Bucket.DPD_OVER_90 and seen >= minimum:
            share = (Decimal(defaulted) / Decimal(seen)).quantize(SHARE)
            table[key] = Probability(share, Source.HISTORY, seen, defaulted)
        else:
            table[key] = Probability(fallback, Source.FALLBACK, seen, defaulted)
    return table


class MultiplierError(ValueError):
    """A scenario's multipliers that cannot be used; `key` is the culprit
    (empty when the whole value is not a mapping)."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}" if key else problem)
        self.key = key
        self.problem = problem


def multipliers_parse(raw: object) -> dict[str, Decimal]:
    """The scenario's multipliers as decimals.

    Keys are the grades A to E or the buckets behind; values are positive
    numbers (a factor below 1 eases a probability). `MultiplierError` names
    the first key at fault.
    """
    if not isinstance(raw, dict):
        raise MultiplierError("", "not a mapping")
    parsed: dict[str, Decimal] = {}
    for key, value in raw.items():
        if key not in MULTIPLIER_KEYS:
            raise MultiplierError(str(key), "unknown key")
        try:
            number = Decimal(str(value))
        except ArithmeticError:
            raise MultiplierError(key, "not a number") from None
        if isinstance(value, bool) or not number.is_finite() or number <= 0:
            raise MultiplierError(key, "not a positive number")
        parsed[key] = number
    return parsed


@dataclass
class _Arrays:
    """The book as numpy arrays, loans sorted by member."""

    ead: npt.NDArray[np.float64]
    pd_base: npt.NDArray[np.float64]
    pd: npt.NDArray[np.float64]
    shocked: npt.NDArray[np.bool_]
    member_of_loan: npt.NDArray[np.intp]
    member_starts: npt.NDArray[np.intp]
    tie_guarantor: npt.NDArray[np.intp]
    tie_borrower: npt.NDArray[np.intp]
    guarantor_starts: npt.NDArray[np.intp]
    guarantors: npt.NDArray[np.intp]


def _arrays(
    loans: list[BookLoan],
    ties: Iterable[tuple[int, int]],
    pds: Mapping[str, Probability],
    shocks: Shocks,
) -> _Arrays:
    members = sorted({loan.member_id for loan in loans})
    index = {member: n for n, member in enumerate(members)}
    base = [float(pds[loan.pd_key].pd) for loan in loans]
    stressed = [
        min(1.0, float(pds[loan.pd_key].pd * shocks.pd_multipliers.get(loan.pd_key, 1)))
        for loan in loans
    ]
    member_of_loan = np.array([index[loan.member_id] for loan in loans], dtype=np.intp)
    starts = np.searchsorted(member_of_loan, np.arange(len(members)))
    # Only ties between two members with open loans can carry a loss, and
    # nobody is their own guarantor.
    kept = sorted(
        (index[g], index[b])
        for g, b in set(ties)
        if g in index and b in index and g != b
    )
    tie_g = np.array([g for g, _ in kept], dtype=np.intp)
    tie_b = np.array([b for _, b in kept], dtype=np.intp)
    guarantors, guarantor_starts = np.unique(tie_g, return_index=True)
    return _Arrays(
        ead=np.array([float(loan.ead) for loan in loans], dtype=np.float64),
        pd_base=np.array(base, dtype=np.float64),
        pd=np.array(stressed, dtype=np.float64),
        shocked=np.array(
            [loan.branch_id == shocks.shocked_branch_id for loan in loans], dtype=bool
        ),
        member_of_loan=member_of_loan,
        member_starts=starts.astype(np.intp),
        tie_guarantor=tie_g,
        tie_borrower=tie_b,
        guarantor_starts=guarantor_starts.astype(np.intp),
        guarantors=guarantors.astype(np.intp),
    )


def _closed_form(
    arrays: _Arrays, branch_rate: float, contagion: float
) -> npt.NDArray[np.float64]:
    """Each loan's probability of default under the shocks, exactly."""
    total = np.zeros(len(arrays.ead))
    for shock_on, weight in ((True, branch_rate), (False, 1.0 - branch_rate)):
        if weight == 0:
            continue
        own = np.where(arrays.shocked & shock_on, 1.0, arrays.pd)
        final = own
        if contagion > 0 and len(arrays.tie_guarantor):
            member_default = 1.0 - np.multiply.reduceat(1.0 - own, arrays.member_starts)
            spared = np.ones(len(arrays.member_starts))
            np.multiply.at(
                spared,
                arrays.tie_guarantor,
                1.0 - contagion * member_default[arrays.tie_borrower],
            )
            final = 1.0 - (1.0 - own) * spared[arrays.member_of_loan]
        total += weight * final
    return total


def _simulate(
    arrays: _Arrays, *, lgd: float, shocks: Shocks
) -> npt.NDArray[np.float64]:
    """The loss of each of `shocks.simulations` draws, in batches of draws."""
    rng = np.random.default_rng(shocks.seed)
    loans = len(arrays.ead)
    losses = np.zeros(shocks.simulations)
    if loans == 0:
        return losses
    branch_rate = float(shocks.branch_default_rate)
    contagion = float(shocks.contagion)
    spreads = contagion > 0 and len(arrays.tie_guarantor) > 0
    weight = arrays.ead * lgd
    batch = max(1, min(shocks.simulations, BATCH_CELLS // loans))
    done = 0
    while done < shocks.simulations:
        size = min(batch, shocks.simulations - done)
        shock = rng.random(size) < branch_rate
        defaulted = rng.random((loans, size)) < arrays.pd[:, None]
        defaulted |= arrays.shocked[:, None] & shock[None, :]
        if spreads:
            member_default = np.logical_or.reduceat(
                defaulted, arrays.member_starts, axis=0
            )
            ties = len(arrays.tie_borrower)
            hit = member_default[arrays.tie_borrower] & (
                rng.random((ties, size)) < contagion
            )
            caught = np.zeros((len(arrays.member_starts), size), dtype=bool)
            caught[arrays.guarantors] = np.logical_or.reduceat(
                hit, arrays.guarantor_starts, axis=0
            )
            defaulted |= caught[arrays.member_of_loan]
        losses[done : done + size] = weight @ defaulted
        done += size
    return losses


def _money(amount: float | Decimal) -> str:
    return str(fen(Decimal(str(amount))))


def _share(value: float | Decimal) -> str:
    return str(Decimal(str(value)).quantize(SHARE))


@dataclass(frozen=True)
class Outcome:
    """The figures a run stores in its columns, and the whole `results`."""

    exposure: Decimal
    expected_loss: Decimal
    stressed_loss: Decimal
    provision: Decimal
    loans: int
    loss_99: Decimal
    results: dict[str, object]


def stress(
    *,
    book: Book,
    probabilities: Mapping[str, Probability],
    shocks: Shocks,
    provision: Decimal,
) -> Outcome:
    """Run the scenario's shocks on `book`, closed form and Monte Carlo.

    The unstressed expected loss uses the unshocked probabilities with the
    scenario's LGD and neither the branch shock nor contagion, so the gap to
    the stressed loss is the shocks' doing alone.
    """
    loans = sorted(book.loans, key=lambda loan: (loan.member_id, loan.loan_id))
    arrays = _arrays(loans, book.ties, probabilities, shocks)
    lgd = float(shocks.lgd)
    branch_rate = float(shocks.branch_default_rate)
    contagion = float(shocks.contagion)

    expected_each = arrays.ead * arrays.pd_base * lgd
    stressed_each = arrays.ead * _closed_form(arrays, branch_rate, contagion) * lgd
    without_contagion = arrays.ead * _closed_form(arrays, branch_rate, 0.0) * lgd
    losses = _simulate(arrays, lgd=lgd, shocks=shocks)

    exposure = fen(sum((loan.ead for loan in loans), Decimal(0)))
    expected_loss = fen(Decimal(str(expected_each.sum())))
    stressed_loss = fen(Decimal(str(stressed_each.sum())))
    provision = fen(provision)
    results: dict[str, object] = {
        "loans": len(loans),
        "exposure": str(exposure),
        "lgd": _share(shocks.lgd),
        "expected_loss": str(expected_loss),
        "stressed_loss": str(stressed_loss),
        "stressed_loss_without_contagion": _money(without_contagion.sum()),
        "provision": str(provision),
        "shortfall": str(stressed_loss - provision),
        "stressed_loss_rate": _share(stressed_loss / exposure if exposure else 0),
        "by_branch": _by_branch(loans, expected_each, stressed_each),
        **_distribution(losses, shocks),
        "probabilities": {
            key: probability.as_json() for key, probability in probabilities.items()
        },
        "multipliers": {
            key: str(value) for key, value in sorted(shocks.pd_multipliers.items())
        },
        "shocked_branch": shocks.shocked_branch_id,
        "branch_default_rate": _share(shocks.branch_default_rate),
        "contagion": _share(shocks.contagion),
    }
    return Outcome(
        exposure=exposure,
        expected_loss=expected_loss,
        stressed_loss=stressed_loss,
        provision=provision,
        loans=len(loans),
        loss_99=fen(Decimal(str(np.percentile(losses, 99)))),
        results=results,
    )


def _by_branch(
    loans: list[BookLoan],
    expected_each: npt.NDArray[np.float64],
    stressed_each: npt.NDArray[np.float64],
) -> list[dict[str, object]]:
    rows: dict[int, dict[str, object]] = {}
    sums: dict[int, list[float]] = defaultdict(lambda: [0.0, 0.0])
    exposures: dict[int, Decimal] = defaultdict(Decimal)
    counts: dict[int, int] = defaultdict(int)
    for n, loan in enumerate(loans):
        rows.setdefault(loan.branch_id, {"branch_name": loan.branch_name})
        sums[loan.branch_id][0] += float(expected_each[n])
        sums[loan.branch_id][1] += float(stressed_each[n])
        exposures[loan.branch_id] += loan.ead
        counts[loan.branch_id] += 1
    table = [
        {
            "branch": branch_id,
            "branch_name": rows[branch_id]["branch_name"],
            "loans": counts[branch_id],
            "exposure": str(fen(exposures[branch_id])),
            "expected_loss": _money(sums[branch_id][0]),
            "stressed_loss": _money(sums[branch_id][1]),
        }
        for branch_id in rows
    ]
    return sorted(
        table, key=lambda row: Decimal(str(row["stressed_loss"])), reverse=True
    )


def _distribution(losses: npt.NDArray[np.float64], shocks: Shocks) -> dict[str, object]:
    levels = [float(level) for level in PERCENTILES]
    points = np.percentile(losses, levels)
    counts, edges = np.histogram(losses, bins=HISTOGRAM_BINS)
    return {
        "simulations": shocks.simulations,
        "seed": shocks.seed,
        "simulated_mean": _money(losses.mean()),
        "simulated_std": _money(losses.std(ddof=1) if len(losses) > 1 else 0.0),
        "percentiles": {
            level: _money(point)
            for level, point in zip(PERCENTILES, points, strict=True)
        },
        "histogram": {
            "edges": [_money(edge) for edge in edges],
            "counts": [int(count) for count in counts],
        },
    }

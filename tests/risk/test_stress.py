"""Stress tests: the pure engine against hand-computed books, the reads of
the book and of the history, and the service that stores a run."""

import math
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from credit.models import CreditScore
from loans.models import Loan, LoanTransition
from risk import book, services
from risk.models import Snapshot, StressRun, StressScenario
from risk.stress import (
    Book,
    BookLoan,
    MultiplierError,
    Shocks,
    Source,
    multipliers_parse,
    probabilities_from_history,
    stress,
)
from tests.credit.factories import tie
from tests.loans.factories import ON, Staff, active_loan, borrower

D = Decimal
FALLBACK = probabilities_from_history({})


def _loan(
    loan_id: int,
    member_id: int,
    branch_id: int,
    ead: str,
    grade: str = "A",
    bucket: str = "current",
) -> BookLoan:
    return BookLoan(
        loan_id=loan_id,
        member_id=member_id,
        branch_id=branch_id,
        branch_name=f"branch {branch_id}",
        principal=D(ead),
        ead=D(ead),
        grade=grade,
        bucket=bucket,
    )


# Three loans in two branches; member 10 guarantees member 12.
THREE = Book(
    loans=[
        _loan(1, 10, 1, "1000.00", grade="A"),
        _loan(2, 11, 1, "2000.00", grade="C"),
        _loan(3, 12, 2, "500.00", grade="E", bucket="31-60"),
    ],
    ties=[(10, 12)],
)


def _shocks(**kwargs: Any) -> Shocks:
    values: dict[str, Any] = {
        "pd_multipliers": {"A": D(2), "31-60": D(2)},
        "lgd": D("0.5"),
        "simulations": 2000,
        "seed": 7,
    }
    values.update(kwargs)
    return Shocks(**values)


def _run(shocks: Shocks, loans: Book = THREE, provision: str = "100.00") -> Any:
    return stress(
        book=loans, probabilities=FALLBACK, shocks=shocks, provision=D(provision)
    )


def test_closed_form_matches_the_hand_computed_three_loan_book() -> None:
    outcome = _run(_shocks(shocked_branch_id=2, branch_default_rate=D("0.1")))

    # Unstressed: 1000 × 1 % × 0.5 + 2000 × 4 % × 0.5 + 500 × 50 % × 0.5.
    assert outcome.expected_loss == D("170.00")
    # Stressed: A doubles to 2 % (10), C stays (40), 31-60 doubles to 100 %
    # (250); the branch shock cannot add to a certain default.
    assert outcome.stressed_loss == D("300.00")
    assert outcome.exposure == D("3500.00")
    assert outcome.results["shortfall"] == "200.00"
    assert outcome.results["by_branch"] == [
        {
            "branch": 2,
            "branch_name": "branch 2",
            "loans": 1,
            "exposure": "500.00",
            "expected_loss": "125.00",
            "stressed_loss": "250.00",
        },
        {
            "branch": 1,
            "branch_name": "branch 1",
            "loans": 2,
            "exposure": "3000.00",
            "expected_loss": "45.00",
            "stressed_loss": "50.00",
        },
    ]


def test_first_round_contagion_adds_the_guarantors_expected_default() -> None:
    outcome = _run(_shocks(contagion=D("0.3")))

    # Member 12 defaults surely, so their guarantor's loan defaults with
    # 1 − (1 − 2 %) × (1 − 30 %) = 31.4 %: 1000 × 0.314 × 0.5 = 157.
    assert outcome.stressed_loss == D("447.00")
    assert outcome.results["stressed_loss_without_contagion"] == "300.00"


def test_branch_shock_moves_only_the_shocked_branchs_loss() -> None:
    calm = _run(_shocks())
    shocked = _run(_shocks(shocked_branch_id=1, branch_default_rate=D("0.2")))

    # Branch 1: 1000 × (1 − 0.98 × 0.8) + 2000 × (1 − 0.96 × 0.8), × 0.5.
    rows = {row["branch"]: row for row in shocked.results["by_branch"]}
    assert rows[1]["stressed_loss"] == "340.00"
    assert rows[2]["stressed_loss"] == "250.00"
    assert shocked.stressed_loss > calm.stressed_loss


def test_a_multiplied_probability_is_capped_at_one() -> None:
    outcome = _run(_shocks(pd_multipliers={"31-60": D(5)}))

    assert outcome.results["by_branch"][0]["stressed_loss"] == "250.00"


def test_the_same_seed_gives_identical_results() -> None:
    shocks = _shocks(
        contagion=D("0.3"), shocked_branch_id=1, branch_default_rate=D("0.1")
    )

    first, again = _run(shocks), _run(shocks)
    other = _run(_shocks(contagion=D("0.3"), seed=8))

    assert first.results == again.results
    assert first.results["histogram"] != other.results["histogram"]


def test_monte_carlo_mean_is_within_its_standard_error_of_the_closed_form() -> None:
    loans = Book(
        loans=[
            _loan(n, 100 + n, 1 + n % 3, f"{500 + 37 * n}.00", grade="ABCDE"[n % 5])
            for n in range(40)
        ]
    )
    shocks = _shocks(
        pd_multipliers={"C": D(3)},
        shocked_branch_id=2,
        branch_default_rate=D("0.05"),
        simulations=20000,
    )

    outcome = _run(shocks, loans=loans)

    mean = float(outcome.results["simulated_mean"])
    error = float(outcome.results["simulated_std"]) / math.sqrt(20000)
    assert abs(mean - float(outcome.stressed_loss)) < 4 * error


def test_monte_carlo_mean_follows_contagion_too() -> None:
    outcome = _run(_shocks(contagion=D("0.3"), simulations=20000))

    error = float(outcome.results["simulated_std"]) / math.sqrt(20000)
    assert abs(float(outcome.results["simulated_mean"]) - 447) < 4 * error


def test_results_hold_percentiles_and_a_twenty_bin_histogram() -> None:
    outcome = _run(_shocks())

    assert list(outcome.results["percentiles"]) == ["50", "90", "95", "99", "99.9"]
    histogram = outcome.results["histogram"]
    assert len(histogram["counts"]) == 20
    assert len(histogram["edges"]) == 21
    assert sum(histogram["counts"]) == 2000
    # Loan 3 always defaults, so no draw loses less than its 250.
    assert histogram["edges"][0] == "250.00"


def test_an_empty_book_loses_nothing() -> None:
    outcome = _run(_shocks(), loans=Book(loans=[]))

    assert outcome.stressed_loss == D("0.00")
    assert outcome.results["percentiles"]["99.9"] == "0.00"


def test_history_is_used_only_from_fifty_loans_and_over_90_is_default() -> None:
    table = probabilities_from_history(
        {"A": (50, 2), "B": (49, 20), "1-30": (80, 20), "90+": (60, 30)}
    )

    assert (table["A"].pd, table["A"].source) == (D("0.04"), Source.HISTORY)
    assert (table["B"].pd, table["B"].source) == (D("0.02"), Source.FALLBACK)
    assert table["B"].sample == 49
    assert (table["1-30"].pd, table["1-30"].source) == (D("0.25"), Source.HISTORY)
    assert table["90+"].pd == D(1)


@pytest.mark.parametrize(
    "raw",
    [{"F": "2"}, {"A": "0"}, {"B": "-1"}, {"C": "lots"}, {"D": True}, ["A"]],
)
def test_multipliers_must_be_grades_or_buckets_with_positive_values(
    raw: object,
) -> None:
    with pytest.raises(MultiplierError):
        multipliers_parse(raw)


def test_multipliers_accept_grades_and_buckets() -> None:
    assert multipliers_parse({"C": "1.5", "31-60": 2}) == {
        "C": D("1.5"),
        "31-60": D(2),
    }


# The book and its history, read from the database.


@pytest.fixture
def staff(db: None) -> Staff:
    return Staff()


@pytest.mark.django_db
def test_the_book_reads_exposure_from_the_ledger_grade_bucket_and_ties(
    staff: Staff,
) -> None:
    guarantor = borrower()
    member = borrower(branch=guarantor.branch)
    tie(guarantor, member)
    late = active_loan(staff=staff, member=member, principal=D("1200.00"))
    current = active_loan(staff=staff, member=guarantor, principal=D("900.00"))
    Loan.objects.filter(pk=late.pk).update(days_past_due=45)
    grade = CreditScore.objects.filter(member=member).latest("id").grade

    read = book.book_read(as_of=ON)

    loans = {loan.loan_id: loan for loan in read.loans}
    assert loans[late.pk].ead == D("1200.00")
    assert loans[late.pk].bucket == "31-60"
    assert loans[late.pk].grade == grade
    assert loans[current.pk].bucket == "current"
    assert loans[current.pk].branch_id == guarantor.branch_id
    assert (guarantor.pk, member.pk) in read.ties


@pytest.mark.django_db
def test_the_book_reads_in_a_fixed_number_of_queries(
    staff: Staff, django_assert_num_queries: Any
) -> None:
    for _ in range(3):
        active_loan(staff=staff)

    with django_assert_num_queries(3):
        book.book_read(as_of=ON)


@pytest.mark.django_db
def test_default_probabilities_come_from_seasoned_history_when_enough(
    staff: Staff,
) -> None:
    member = borrower()
    loans = [
        active_loan(staff=staff, member=member, principal=D("800.00")) for _ in range(2)
    ]
    grade = CreditScore.objects.filter(member=member).latest("id").grade
    LoanTransition.objects.create(
        loan=loans[0], source="overdue", target="blacklisted", on=ON
    )
    as_of = ON + timedelta(days=90)

    table = book.default_probabilities(as_of=as_of, minimum=2)
    too_soon = book.default_probabilities(as_of=as_of - timedelta(days=1), minimum=2)

    assert table[grade].source == Source.HISTORY
    assert (table[grade].pd, table[grade].sample) == (D("0.5"), 2)
    assert too_soon[grade].source == Source.FALLBACK
    assert too_soon[grade].sample == 0


@pytest.mark.django_db
def test_provision_comes_from_the_latest_snapshot_else_the_tiers(staff: Staff) -> None:
    loan = active_loan(staff=staff, principal=D("1200.00"))
    Loan.objects.filter(pk=loan.pk).update(days_past_due=40)
    read = book.book_read(as_of=ON)

    # Substandard from 31 days: 25 % of 1,200.
    assert book.provision_held(as_of=ON, book=read) == (D("300.00"), "tiers")

    Snapshot.objects.create(
        on=ON - timedelta(days=1),
        loans_outstanding=1,
        principal_outstanding=D("1200.00"),
        par1=D(1),
        par30=D(1),
        par90=D(0),
        provision=D("280.00"),
    )
    assert book.provision_held(as_of=ON, book=read) == (
        D("280.00"),
        "snapshot 2026-01-14",
    )


@pytest.mark.django_db
def test_the_service_stores_the_run_with_its_figures(
    staff: Staff, caplog: pytest.LogCaptureFixture
) -> None:
    member = borrower()
    active_loan(staff=staff, member=member, principal=D("1000.00"))
    grade = CreditScore.objects.filter(member=member).latest("id").grade
    scenario = StressScenario.objects.create(
        name="测试",
        pd_multipliers={grade: "2"},
        lgd=D("0.5"),
        simulations=500,
        seed=11,
    )
    caplog.set_level("INFO", logger="risk.services")

    run = services.stress_test_run(scenario=scenario, by=staff.risk, as_of=ON)

    fallback = FALLBACK[grade].pd
    assert StressRun.objects.get() == run
    assert (run.seed, run.simulations, run.run_by) == (11, 500, staff.risk)
    assert run.exposure == D("1000.00")
    assert run.expected_loss == D("1000.00") * fallback * D("0.5")
    assert run.stressed_loss == D("1000.00") * fallback * 2 * D("0.5")
    assert run.results["probabilities"][grade]["source"] == "fallback"
    assert run.results["as_of"] == "2026-01-15"
    assert f"Stress run {run.pk}: scenario {scenario.pk}" in caplog.text


@pytest.mark.django_db
def test_the_service_refuses_a_scenario_with_bad_multipliers() -> None:
    scenario = StressScenario.objects.create(name="坏", pd_multipliers={"Z": "2"})

    with pytest.raises(ValidationError, match="neither a grade") as raised:
        services.stress_test_run(scenario=scenario, by=None, as_of=ON)

    assert "pd_multipliers" in raised.value.message_dict
    assert not StressRun.objects.exists()

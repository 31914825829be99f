"""Schedules are pure arithmetic: checked against the formulas, to the fen."""

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import pytest

from loans import schedule
from loans.models import RepaymentMethod

START = date(2026, 1, 15)
FEN = Decimal("0.01")

CASES = [
    # principal, annual rate, months
    (Decimal("1200.00"), Decimal("0.1200"), 3),
    (Decimal("5000.00"), Decimal("0.1800"), 12),
    (Decimal("999.99"), Decimal("0.2400"), 12),
    (Decimal("10000.00"), Decimal("0.0735"), 6),
    (Decimal("3333.33"), Decimal("0.1000"), 7),
    (Decimal("3000.00"), Decimal("0.0000"), 6),
    (Decimal("1000.00"), Decimal("0.0000"), 3),
]


def _fen(amount: Decimal) -> Decimal:
    return amount.quantize(FEN, rounding=ROUND_HALF_UP)


def _annuity(principal: Decimal, monthly: Decimal, months: int) -> Decimal:
    """P·r / (1 − (1 + r)^−n), rounded half up; P / n when r is zero."""
    if monthly == 0:
        return _fen(principal / months)
    return _fen(principal * monthly / (1 - (1 + monthly) ** -months))


def _build(
    principal: Decimal,
    rate: Decimal,
    months: int,
    method: RepaymentMethod,
    start: date = START,
) -> list[schedule.Line]:
    return schedule.build(
        principal=principal,
        annual_rate=rate,
        months=months,
        method=method,
        start=start,
    )


def test_a_three_month_equal_installment_loan_matches_the_hand_computed_schedule() -> (
    None
):
    # 1,200 at 12 % a year: r = 1 %, payment = 12 / (1 − 1.01⁻³) = 408.0265…
    lines = _build(
        Decimal("1200.00"), Decimal("0.1200"), 3, RepaymentMethod.EQUAL_INSTALLMENT
    )

    assert [(n.number, n.due_date, n.principal, n.interest) for n in lines] == [
        (1, date(2026, 2, 15), Decimal("396.03"), Decimal("12.00")),
        (2, date(2026, 3, 15), Decimal("399.99"), Decimal("8.04")),
        (3, date(2026, 4, 15), Decimal("403.98"), Decimal("4.04")),
    ]
    assert [line.payment for line in lines] == [
        Decimal("408.03"),
        Decimal("408.03"),
        Decimal("408.02"),
    ]


@pytest.mark.parametrize(("principal", "rate", "months"), CASES)
def test_equal_installments_follow_the_annuity_formula_to_the_fen(
    principal: Decimal, rate: Decimal, months: int
) -> None:
    monthly = rate / 12
    payment = _annuity(principal, monthly, months)

    lines = _build(principal, rate, months, RepaymentMethod.EQUAL_INSTALLMENT)

    assert len(lines) == months
    balance = principal
    for line in lines:
        assert line.interest == _fen(balance * monthly)
        if line.number < months:
            assert line.payment == payment
        balance -= line.principal
    assert balance == 0
    assert sum(line.principal for line in lines) == principal


@pytest.mark.parametrize(("principal", "rate", "months"), CASES)
def test_the_last_equal_installment_absorbs_the_rounding(
    principal: Decimal, rate: Decimal, months: int
) -> None:
    lines = _build(principal, rate, months, RepaymentMethod.EQUAL_INSTALLMENT)

    before_last = sum(line.principal for line in lines[:-1])
    assert lines[-1].principal == principal - before_last
    # Rounding moves the last payment by fen, never by yuan.
    payment = _annuity(principal, rate / 12, months)
    assert abs(lines[-1].payment - payment) <= FEN * months


def test_a_zero_rate_loan_charges_no_interest_and_splits_the_principal() -> None:
    lines = _build(
        Decimal("1000.00"), Decimal("0"), 3, RepaymentMethod.EQUAL_INSTALLMENT
    )

    assert [(line.principal, line.interest) for line in lines] == [
        (Decimal("333.33"), Decimal("0.00")),
        (Decimal("333.33"), Decimal("0.00")),
        (Decimal("333.34"), Decimal("0.00")),
    ]


def test_a_three_month_equal_principal_loan_matches_the_hand_computed_schedule() -> (
    None
):
    # Level principal 1000 / 3 = 333.33; interest on the declining balance.
    lines = _build(
        Decimal("1000.00"), Decimal("0.1200"), 3, RepaymentMethod.EQUAL_PRINCIPAL
    )

    assert [(n.number, n.due_date, n.principal, n.interest) for n in lines] == [
        (1, date(2026, 2, 15), Decimal("333.33"), Decimal("10.00")),
        (2, date(2026, 3, 15), Decimal("333.33"), Decimal("6.67")),
        (3, date(2026, 4, 15), Decimal("333.34"), Decimal("3.33")),
    ]


@pytest.mark.parametrize(("principal", "rate", "months"), CASES)
def test_equal_principal_is_level_with_interest_on_the_declining_balance(
    principal: Decimal, rate: Decimal, months: int
) -> None:
    level = _fen(principal / months)

    lines = _build(principal, rate, months, RepaymentMethod.EQUAL_PRINCIPAL)

    assert len(lines) == months
    assert [line.principal for line in lines[:-1]] == [level] * (months - 1)
    assert lines[-1].principal == principal - level * (months - 1)
    balance = principal
    for line in lines:
        assert line.interest == _fen(balance * rate / 12)
        balance -= line.principal
    assert sum(line.principal for line in lines) == principal


@pytest.mark.parametrize(("principal", "rate", "months"), CASES)
def test_a_bullet_loan_is_one_installment_of_principal_and_simple_interest(
    principal: Decimal, rate: Decimal, months: int
) -> None:
    lines = _build(principal, rate, months, RepaymentMethod.BULLET)

    assert len(lines) == 1
    (line,) = lines
    assert line.number == 1
    assert line.due_date == schedule.due_dates(START, months)[-1]
    assert line.principal == principal
    assert line.interest == _fen(principal * rate / 12 * months)


def test_a_bullet_loan_falls_due_at_the_end_of_the_term() -> None:
    lines = _build(Decimal("1000.00"), Decimal("0.1200"), 12, RepaymentMethod.BULLET)

    assert [(n.due_date, n.principal, n.interest) for n in lines] == [
        (date(2027, 1, 15), Decimal("1000.00"), Decimal("120.00")),
    ]


def test_due_dates_keep_the_day_of_the_month() -> None:
    assert schedule.due_dates(START, 3) == [
        date(2026, 2, 15),
        date(2026, 3, 15),
        date(2026, 4, 15),
    ]


def test_due_dates_clamp_to_the_end_of_a_short_month_and_come_back() -> None:
    assert schedule.due_dates(date(2026, 1, 31), 4) == [
        date(2026, 2, 28),
        date(2026, 3, 31),
        date(2026, 4, 30),
        date(2026, 5, 31),
    ]
    assert schedule.due_dates(date(2028, 1, 31), 2) == [
        date(2028, 2, 29),
        date(2028, 3, 31),
    ]


def test_a_schedule_built_from_a_month_end_uses_the_clamped_dates() -> None:
    lines = _build(
        Decimal("1200.00"),
        Decimal("0.1200"),
        3,
        RepaymentMethod.EQUAL_INSTALLMENT,
        start=date(2026, 1, 31),
    )

    assert [line.due_date for line in lines] == [
        date(2026, 2, 28),
        date(2026, 3, 31),
        date(2026, 4, 30),
    ]


@pytest.mark.parametrize(("principal", "rate", "months"), CASES)
def test_the_apr_of_equal_installments_is_the_nominal_rate(
    principal: Decimal, rate: Decimal, months: int
) -> None:
    lines = _build(principal, rate, months, RepaymentMethod.EQUAL_INSTALLMENT)

    assert schedule.annual_percentage_rate(principal, lines, START) == rate


@pytest.mark.parametrize("months", [3, 6, 12])
def test_the_apr_of_a_bullet_loan_is_below_its_simple_rate(months: int) -> None:
    rate = Decimal("0.1200")
    lines = _build(Decimal("1000.00"), rate, months, RepaymentMethod.BULLET)
    # One payment of P(1 + r·n) after n months: monthly (1 + r·n)^(1/n) − 1.
    growth = 1 + rate / 12 * months
    compound = (growth ** (Decimal(1) / months) - 1) * 12

    apr = schedule.annual_percentage_rate(Decimal("1000.00"), lines, START)

    assert apr < rate
    assert apr == compound.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)

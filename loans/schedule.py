"""Repayment schedules as pure functions: principal, rate, term, dates in;
installments out. Rounded half up to the fen at each installment; the last
installment absorbs the rounding so principal sums exactly to the loan."""

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from dateutil.relativedelta import relativedelta

from loans.models import RepaymentMethod

CENT = Decimal("0.01")
MONTHS_A_YEAR = 12


@dataclass(frozen=True)
class Line:
    number: int
    due_date: date
    principal: Decimal
    interest: Decimal

    @property
    def payment(self) -> Decimal:
        return self.principal + self.interest


def fen(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def due_dates(start: date, months: int) -> list[date]:
    """Same day each month; a short month takes its last day (Jan 31 → Feb 28)."""
    return [start + relativedelta(months=n) for n in range(1, months + 1)]


def annuity_payment(principal: Decimal, monthly_rate: Decimal, months: int) -> Decimal:
    if monthly_rate == 0:
        return fen(principal / months)
    growth = (1 + monthly_rate) ** months
    return fen(principal * monthly_rate * growth / (growth - 1))


def build(
    *,
    principal: Decimal,
    annual_rate: Decimal,
    months: int,
    method: str,
    start: date,
) -> list[Line]:
    principal = fen(principal)
    rate = annual_rate / MONTHS_A_YEAR
    dates = due_dates(start, months)
    if method == RepaymentMethod.BULLET:
        interest = fen(principal * rate * months)
        return [Line(1, dates[-1], principal, interest)]

    lines: list[Line] = []
    balance = principal
    payment = annuity_payment(principal, rate, months)
    level_principal = fen(principal / months)
    for number, due in enumerate(dates, start=1):
        interest = fen(balance * rate)
        if number == months:
            part = balance
        elif method == RepaymentMethod.EQUAL_INSTALLMENT:
            part = payment - interest
        else:
            part = level_principal
        lines.append(Line(number, due, part, interest))
        balance -= part
    return lines


def annual_percentage_rate(
    principal: Decimal, lines: list[Line], start: date
) -> Decimal:
    """The yearly rate that discounts the payments back to the principal.

    Found by bisection on a monthly rate (payments fall monthly), then
    multiplied by twelve, the way Chinese lenders quote an APR (年化利率).
    """
    payments = [(_months(start, line.due_date), line.payment) for line in lines]

    def present_value(monthly: Decimal) -> Decimal:
        return sum(
            (amount / (1 + monthly) ** period for period, amount in payments),
            Decimal(0),
        )

    low, high = Decimal(0), Decimal("1")
    for _ in range(60):
        middle = (low + high) / 2
        if present_value(middle) > principal:
            low = middle
        else:
            high = middle
    return (low * MONTHS_A_YEAR).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def _months(start: date, end: date) -> int:
    return (end.year - start.year) * MONTHS_A_YEAR + end.month - start.month

"""Money as people read it: ¥1,234.56, the same in every language."""

from decimal import ROUND_HALF_UP, Decimal


def yuan(amount: Decimal | int | str | None) -> str:
    if amount is None or amount == "":
        return ""
    value = Decimal(amount).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    sign = "-" if value < 0 else ""
    return f"{sign}¥{abs(value):,.2f}"

"""The risk app's steps of the daily close: the day's portfolio snapshot,
then the early-warning rules, which read it. Each takes the business date
and returns how many rows it wrote, and is safe to run again."""

from datetime import date

from risk import portfolio, services


def snapshot(*, on: date) -> int:
    """The day's portfolio snapshot (see `risk.portfolio.snapshot_record`)."""
    return portfolio.snapshot_record(on=on)


def early_warnings(*, on: date) -> int:
    """Run the early-warning rules on the day's snapshot and the book; the
    alerts raised (see `risk.services.rules_evaluate`)."""
    return services.rules_evaluate(on=on)

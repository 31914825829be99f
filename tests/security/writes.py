"""What a refused write must leave behind: nothing. A snapshot of every row
the project keeps, to compare before and after a request."""

from typing import Any

from django.apps import apps
from django.db import transaction

# Rows a request may write whoever sends it: the session of a signed-in
# client and the sign-in records of django-axes.
NOT_COUNTED = {"sessions", "axes"}


def snapshot() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every model, by model label, in primary-key order."""
    rows = {}
    for model in apps.get_models():
        if model._meta.app_label in NOT_COUNTED or model._meta.proxy:
            continue
        manager = model._base_manager
        rows[model._meta.label] = list(manager.order_by("pk").values_list())
    return rows


def changed(before: dict[str, list[tuple[Any, ...]]]) -> list[str]:
    """The models whose rows differ from `before`."""
    after = snapshot()
    return sorted(label for label in before if before[label] != after[label])


class Rollback(Exception):
    pass


def in_savepoint(attempt: Any) -> Any:
    """Run `attempt()` and undo whatever it wrote; return its result."""
    result = None
    try:
        with transaction.atomic():
            result = attempt()
            raise Rollback
    except Rollback:
        pass
    return result

"""`config.bulk.values_set`: each row its own value, in one statement on
PostgreSQL (CI) and through `bulk_update` on SQLite (`make test`)."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from config.bulk import values_set
from credit.models import CreditProfile
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def _profiles(count: int) -> list[CreditProfile]:
    return [
        CreditProfile.objects.get_or_create(member=MemberFactory())[0]
        for _ in range(count)
    ]


def test_each_row_gets_its_own_value_and_the_shared_ones() -> None:
    first, second, untouched = _profiles(3)
    at = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)

    written = values_set(
        CreditProfile,
        "overdue_principal",
        {first.pk: Decimal("12.34"), second.pk: Decimal("0.01")},
        also={"updated_at": at},
    )

    assert written == 2
    first.refresh_from_db()
    second.refresh_from_db()
    untouched_before = untouched.updated_at
    untouched.refresh_from_db()
    assert (first.overdue_principal, first.updated_at) == (Decimal("12.34"), at)
    assert (second.overdue_principal, second.updated_at) == (Decimal("0.01"), at)
    assert untouched.overdue_principal == Decimal("0.00")
    assert untouched.updated_at == untouched_before


def test_nothing_to_write_runs_no_statement() -> None:
    with CaptureQueriesContext(connection) as queries:
        assert values_set(CreditProfile, "limit", {}) == 0
    assert len(queries) == 0


@pytest.mark.postgres
def test_postgresql_writes_many_rows_in_one_statement() -> None:
    profiles = _profiles(5)
    with CaptureQueriesContext(connection) as queries:
        values_set(
            CreditProfile,
            "limit",
            {p.pk: Decimal(n) + Decimal("0.50") for n, p in enumerate(profiles)},
        )
    assert len(queries) == 1
    assert sorted(CreditProfile.objects.values_list("limit", flat=True)) == [
        Decimal(n) + Decimal("0.50") for n in range(5)
    ]

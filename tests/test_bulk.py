"""`config.bulk.values_set`: each row its own value, in one statement on
PostgreSQL (CI) and through `bulk_update` on SQLite (`make test`)."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from collection.models import Message, Purpose
from config.bulk import rows_insert, values_set
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


def test_rows_insert_writes_choices_as_values_and_can_drop_repeats() -> None:
    member = MemberFactory()
    at = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)

    def message(key: str) -> Message:
        return Message(
            member=member,
            purpose=Purpose.REMINDER_AHEAD,
            audience=Message.Audience.BORROWER,
            channel=Message.Channel.SMS,
            body="还款提醒",
            dedupe_key=key,
            scheduled_for=at,
        )

    assert rows_insert([message("a"), message("b")]) == 2
    rows_insert([message("a"), message("c")], ignore_conflicts=True)

    stored = Message.objects.order_by("dedupe_key")
    assert [m.dedupe_key for m in stored] == ["a", "b", "c"]
    first = stored[0]
    assert (first.purpose, first.audience) == ("reminder_ahead", "borrower")
    assert first.channel == "sms"
    assert first.status == Message.Status.QUEUED
    assert first.created_at is not None
    assert first.scheduled_for == at


def test_rows_insert_of_nothing_runs_no_statement() -> None:
    with CaptureQueriesContext(connection) as queries:
        assert rows_insert([]) == 0
    assert len(queries) == 0

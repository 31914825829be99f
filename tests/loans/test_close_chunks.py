"""The close in chunks: any chunk size and the Celery runner leave what the
close in one process leaves; a chunk done is not done again; one close runs
at a time."""

from datetime import date
from io import StringIO
from typing import Any

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection

from loans import cob
from loans.chunks import chunk_name, chunks_dispatched, loan_ranges
from loans.close import CLOSE_LOCK, CloseRunning, close_day, close_through
from loans.models import BusinessDay, CloseStep, Loan
from loans.tasks import loans_close_chunk
from tests.loans.factories import Staff
from tests.loans.test_close import _as_if_uninterrupted, _digest, _portfolio
from tests.workers import _database_url

pytestmark = pytest.mark.django_db

FIRST = date(2026, 2, 10)
LAST = date(2026, 3, 20)


@pytest.fixture
def staff() -> Staff:
    return Staff()


def test_a_close_in_chunks_of_one_loan_leaves_what_a_close_in_one_chunk_leaves(
    staff: Staff, monkeypatch: pytest.MonkeyPatch
) -> None:
    _portfolio(staff)
    close_through(until=FIRST)
    whole = _as_if_uninterrupted(lambda: close_through(until=LAST))
    monkeypatch.setattr(cob, "CHUNK", 1)

    close_through(until=LAST)

    assert _digest() == whole
    assert len(whole["days"]) > 30


def test_a_close_through_the_celery_runner_leaves_what_a_close_here_leaves(
    staff: Staff, monkeypatch: pytest.MonkeyPatch
) -> None:
    _portfolio(staff)
    close_through(until=FIRST)
    here = _as_if_uninterrupted(lambda: close_through(until=LAST))
    monkeypatch.setattr(cob, "CHUNK", 2)

    # Tests run Celery eagerly: each chunk is a task run on the spot.
    close_through(until=LAST, chunks=chunks_dispatched)

    assert _digest() == here
    # The chunks' own records go once their step is whole.
    assert not CloseStep.objects.filter(name__contains=":").exists()


def test_loan_ranges_cover_every_open_loan_once_in_runs_of_the_size(
    staff: Staff,
) -> None:
    _portfolio(staff)
    open_ids = sorted(
        Loan.objects.filter(state__in=Loan.OPEN_STATES).values_list("pk", flat=True)
    )

    ranges = loan_ranges(size=2)

    covered = [pk for first, last in ranges for pk in open_ids if first <= pk <= last]
    assert covered == open_ids
    assert all(
        len([pk for pk in open_ids if first <= pk <= last]) <= 2
        for first, last in ranges
    )


def test_a_chunk_recorded_done_is_not_done_again(staff: Staff) -> None:
    _portfolio(staff)
    close_through(until=date(2026, 2, 17))
    on = date(2026, 2, 18)
    BusinessDay.objects.create(on=on)
    ((first, last),) = loan_ranges(size=100)
    args: list[Any] = ["loans.cob.penalty_chunk", on.isoformat(), first, last]

    penalised = loans_close_chunk(*args)
    before = _digest()
    again = loans_close_chunk(*args)

    assert penalised > 0
    assert again == 0
    assert _digest() == before
    assert CloseStep.objects.filter(
        name=chunk_name("loans.cob.penalty_chunk", first, last)
    ).exists()


@pytest.mark.postgres
def test_a_second_close_is_refused_while_one_holds_the_lock(staff: Staff) -> None:
    _portfolio(staff)
    with psycopg.connect(_database_url(), autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", [CLOSE_LOCK])

        with pytest.raises(CloseRunning):
            close_day(on=date(2026, 2, 18))
        with pytest.raises(CloseRunning):
            close_through(until=date(2026, 2, 18))

        other.execute("SELECT pg_advisory_unlock(%s)", [CLOSE_LOCK])

    assert not BusinessDay.objects.exists()
    close_day(on=date(2026, 2, 18))
    assert BusinessDay.objects.get().closed_at is not None
    # The close let go of its lock when it finished.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [CLOSE_LOCK])
        assert cursor.fetchone() == (True,)
        cursor.execute("SELECT pg_advisory_unlock(%s)", [CLOSE_LOCK])


def test_a_failed_chunk_stops_the_dispatched_close_and_a_second_run_finishes(
    staff: Staff, monkeypatch: pytest.MonkeyPatch
) -> None:
    _portfolio(staff)
    close_through(until=FIRST)
    finished = _as_if_uninterrupted(lambda: close_through(until=LAST))
    monkeypatch.setattr(cob, "CHUNK", 2)
    penalty_chunk = cob.penalty_chunk

    def broken(**kwargs: Any) -> int:
        raise RuntimeError("worker lost its database")

    monkeypatch.setattr(cob, "penalty_chunk", broken)
    with pytest.raises(RuntimeError):
        close_through(until=LAST, chunks=chunks_dispatched)
    assert CloseStep.objects.filter(name__endswith="!").exists()

    monkeypatch.setattr(cob, "penalty_chunk", penalty_chunk)
    close_through(until=LAST, chunks=chunks_dispatched)

    assert _digest() == finished
    assert not CloseStep.objects.filter(name__contains=":").exists()


def test_the_command_closes_on_the_workers_when_asked(staff: Staff) -> None:
    _portfolio(staff)
    out = StringIO()

    call_command("close_business_day", "--date=2026-02-18", "--on-workers", stdout=out)

    assert BusinessDay.objects.get(on=date(2026, 2, 18)).closed_at is not None
    assert not CloseStep.objects.filter(name__contains=":").exists()

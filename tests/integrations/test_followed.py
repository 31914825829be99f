"""Which event kinds some endpoint follows is remembered for a few seconds,
so an event nobody follows costs no statement; an endpoint removed or
turned off elsewhere still never gets another delivery."""

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from integrations import services
from integrations.models import Delivery, Endpoint
from members.events import EventKind
from tests.factories import staff_user

pytestmark = pytest.mark.django_db

ON = date(2026, 12, 4)
REPAYMENT = EventKind.REPAYMENT_POSTED
URL = "https://partner.example/hooks"


class Clock:
    """Stands in for time.monotonic in the services, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def clock(monkeypatch: Any) -> Iterator[Clock]:
    clock = Clock()
    monkeypatch.setattr(services.time, "monotonic", clock)
    services._followed_clear()
    yield clock
    services._followed_clear()


def record() -> int:
    return services.events_record(kind=REPAYMENT, payloads=[{"loan": 1}], on=ON)


def test_an_event_nobody_follows_reads_the_endpoints_once_then_never() -> None:
    with CaptureQueriesContext(connection) as first:
        assert record() == 0
    with CaptureQueriesContext(connection) as second:
        assert record() == 0

    assert len(first) == 1
    assert len(second) == 0


def test_an_endpoint_registered_here_follows_the_very_next_event() -> None:
    record()

    hook = services.endpoint_create(
        url=URL, event_types=[REPAYMENT], owner=staff_user()
    )

    assert record() == 1
    assert Delivery.objects.get().endpoint_id == hook.pk


def test_an_endpoint_made_elsewhere_follows_once_the_memory_runs_out(
    clock: Clock,
) -> None:
    record()
    # Another process registers it: this one is not told.
    Endpoint.objects.create(
        url=URL, secret="x" * 32, event_types=[REPAYMENT], owner=staff_user()
    )

    assert record() == 0
    clock.now += services.FOLLOWED_FOR

    assert record() == 1


def test_an_endpoint_removed_or_turned_off_elsewhere_gets_nothing_more() -> None:
    owner = staff_user()
    kept = services.endpoint_create(url=URL, event_types=[REPAYMENT], owner=owner)
    off = services.endpoint_create(url=URL, event_types=[REPAYMENT], owner=owner)
    gone = services.endpoint_create(url=URL, event_types=[REPAYMENT], owner=owner)
    assert record() == 3
    # Another process, or the admin's bulk delete: this one is not told.
    Endpoint.objects.filter(pk=off.pk).update(active=False)
    Endpoint.objects.filter(pk=gone.pk).delete()

    assert record() == 1
    assert sorted(Delivery.objects.values_list("endpoint_id", flat=True)) == [
        kept.pk,
        kept.pk,
        off.pk,
    ]


def test_an_endpoint_turned_off_here_is_forgotten_at_once() -> None:
    hook = services.endpoint_create(
        url=URL, event_types=[REPAYMENT], owner=staff_user()
    )
    record()

    services.endpoint_update(
        endpoint=hook, url=URL, event_types=[REPAYMENT], active=False, description=""
    )

    with CaptureQueriesContext(connection) as queries:
        assert record() == 0
    assert len(queries) == 1

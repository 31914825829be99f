"""An SMS gateway that times out (after delivering), answers 500 or answers
something that is not HTTP: the message is tried again after a doubling
wait, always with the same reference and Idempotency-Key, and reaches the
phone once. In-process with the clock given, and through a real Celery
worker, Redis and real time."""

import logging
import time
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from collection import services, tasks
from collection.models import Message, Purpose
from members.models import Member
from tests.factories import MemberFactory
from tests.reliability.gateway import (
    DELIVER_THEN_STALL,
    GARBAGE,
    Gateway,
    running_gateway,
)
from tests.workers import worker_start, worker_stop

MORNING = datetime(2026, 3, 2, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
FIGURES = {
    "name": "成员",
    "loan": "L20260001",
    "due_date": "2026-03-02",
    "amount_due": "¥1,050.00",
    "overdue_amount": "¥1,050.00",
    "days_past_due": "0",
    "hardship_link": "http://127.0.0.1:8000/loans/1/hardship/",
}
BACKEND = "collection.channels.HttpSmsBackend"


@pytest.fixture
def member() -> Member:
    return MemberFactory(kyc=Member.KycStatus.VERIFIED)


def _queue(member: Member, at: datetime) -> Message:
    key = f"reliability:{member.pk}:reminder:{at.date()}"
    message = services.message_build(
        member=member,
        purpose=Purpose.REMINDER_DUE,
        dedupe_key=key,
        figures=FIGURES,
        at=at,
    )
    assert services.messages_save([message]) == 1
    return Message.objects.get(dedupe_key=key)


def _assert_sent_once(gateway: Gateway, message: Message, tries: int) -> None:
    assert message.status == Message.Status.SENT
    assert message.attempts == tries
    assert message.last_error == ""
    assert len(gateway.requests) == tries
    # Every try names the message the same way, so the gateway can tell a
    # repeat from a new text; the phone got it once.
    assert {r.reference for r in gateway.requests} == {message.dedupe_key}
    assert {r.idempotency_key for r in gateway.requests} == {message.dedupe_key}
    assert gateway.delivered == [message.dedupe_key]


@pytest.mark.django_db
def test_a_timeout_after_delivery_a_500_and_a_broken_answer_are_retried_and_sent_once(
    settings: Any, member: Member, caplog: pytest.LogCaptureFixture
) -> None:
    with running_gateway([DELIVER_THEN_STALL, 500, GARBAGE, 200]) as gateway:
        gateway.stall_seconds = 1.0
        settings.MESSAGE_BACKENDS = {**settings.MESSAGE_BACKENDS, "sms": BACKEND}
        settings.SMS_GATEWAY_URL = gateway.url
        settings.SMS_GATEWAY_TIMEOUT = 0.3
        message = _queue(member, MORNING)
        tried_at: list[datetime] = []

        with caplog.at_level(logging.DEBUG):
            while message.status == Message.Status.QUEUED and len(tried_at) < 10:
                tried_at.append(message.scheduled_for)
                services.message_send(message_id=message.pk, now=tried_at[-1])
                message.refresh_from_db()

    _assert_sent_once(gateway, message, tries=4)
    assert gateway.requests[0].to == member.phone
    waits = [later - earlier for earlier, later in pairwise(tried_at)]
    first = settings.MESSAGE_RETRY_FIRST
    assert waits == [first, first * 2, first * 4]
    assert message.sent_at == tried_at[-1]
    assert member.phone not in caplog.text
    assert member.phone[-8:] not in caplog.text


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_real_worker_retries_a_failing_gateway_with_backoff_and_sends_once(
    member: Member, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The test plays beat, on the worker's own queue.
    monkeypatch.setattr(services, "dispatch_soon", lambda: None)
    message = _queue(member, timezone.now())
    with running_gateway([DELIVER_THEN_STALL, 500, 200]) as gateway:
        worker, queue = worker_start(
            {
                "SMS_BACKEND": BACKEND,
                "SMS_GATEWAY_URL": gateway.url,
                "SMS_GATEWAY_TOKEN": "reliability-token",
                "SMS_GATEWAY_TIMEOUT": "0.5",
                "MESSAGE_RETRY_FIRST_SECONDS": "1",
                "LOG_LEVEL": "DEBUG",
            }
        )
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and worker.poll() is None:
                tasks.messages_dispatch.apply_async(queue=queue)
                time.sleep(0.5)
                message.refresh_from_db()
                if message.status in (Message.Status.SENT, Message.Status.FAILED):
                    break
        finally:
            output = worker_stop(worker)

    _assert_sent_once(gateway, message, tries=3)
    at = [r.at for r in gateway.requests]
    # Tried again one second after the first try, then two after the second
    # (the claim's time, a few milliseconds before the request arrives).
    assert at[1] - at[0] >= 0.9, output
    assert at[2] - at[1] >= 1.9, output
    assert member.phone not in output
    assert "attempt 1 failed" in output
    assert "attempt 2 failed" in output
    assert timezone.now() - message.sent_at < timedelta(minutes=2)

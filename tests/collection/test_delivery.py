"""Delivery of outbox messages: once and only once, never in the quiet hours,
through a real HTTP gateway with retries, through a broker outage, and
through a real Celery worker that receives the same task twice."""

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction
from django.utils import timezone

from collection import services, tasks
from collection.models import ContactConsent, Message, Purpose
from config.celery import app
from members.models import Member
from tests.collection.recording_backend import (
    PATH as RECORDING,
)
from tests.collection.recording_backend import (
    RECORD_FILE_ENV,
    RecordingBackend,
    Sent,
    recorded_in,
)
from tests.factories import MemberFactory
from tests.workers import worker_start, worker_stop

ROOT = Path(__file__).resolve().parents[2]
SHANGHAI = ZoneInfo("Asia/Shanghai")
MORNING = datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI)
NIGHT = datetime(2026, 3, 2, 23, 0, tzinfo=SHANGHAI)
NEXT_MORNING = datetime(2026, 3, 3, 8, 0, tzinfo=SHANGHAI)
FIGURES = {
    "name": "成员",
    "loan": "L20260001",
    "due_date": "2026-03-02",
    "amount_due": "¥1,050.00",
    "overdue_amount": "¥1,050.00",
    "days_past_due": "9",
    "hardship_link": "http://127.0.0.1:8000/loans/1/hardship/",
}
# Nothing listens on port 1: connecting is refused at once.
BROKER_DOWN = "redis://127.0.0.1:1/0"
GATEWAY_TIMEOUT = 0.2
STALL = 0  # a scripted gateway reply: answer nothing until the client gave up


@pytest.fixture
def recorder(settings: Any) -> list[Sent]:
    settings.MESSAGE_BACKENDS = {**settings.MESSAGE_BACKENDS, "sms": RECORDING}
    RecordingBackend.sent.clear()
    return RecordingBackend.sent


@pytest.fixture
def member() -> Member:
    return MemberFactory(kyc=Member.KycStatus.VERIFIED)


def _queue(member: Member, purpose: Purpose, at: datetime) -> Message:
    """Build and save one message the way the close does; return its row."""
    key = f"test:{member.pk}:{purpose}:{at.isoformat()}"
    message = services.message_build(
        member=member, purpose=purpose, dedupe_key=key, figures=FIGURES, at=at
    )
    assert services.messages_save([message]) == 1

    return Message.objects.get(dedupe_key=key)


def _send(message: Message, now: datetime) -> Message:
    services.message_send(message_id=message.pk, now=now)
    message.refresh_from_db()
    return message


# Once and only once -----------------------------------------------------


@pytest.mark.django_db
def test_a_queued_message_is_sent_once_and_a_second_send_does_nothing(
    recorder: list[Sent], member: Member
) -> None:
    message = _queue(member, Purpose.REMINDER_DUE, MORNING)

    first = services.message_send(message_id=message.pk, now=MORNING)
    second = services.message_send(
        message_id=message.pk, now=MORNING + timedelta(minutes=1)
    )

    assert (first, second) == (True, False)
    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert message.attempts == 1
    assert message.sent_at == MORNING
    assert recorder == [
        Sent(message.pk, message.dedupe_key, member.phone, message.body)
    ]
    assert "L20260001" in message.body


@pytest.mark.django_db
def test_saving_the_same_dedupe_key_twice_keeps_one_row(member: Member) -> None:
    _queue(member, Purpose.REMINDER_DUE, MORNING)
    again = services.message_build(
        member=member,
        purpose=Purpose.REMINDER_DUE,
        dedupe_key=f"test:{member.pk}:{Purpose.REMINDER_DUE}:{MORNING.isoformat()}",
        figures=FIGURES,
        at=MORNING,
    )

    assert services.messages_save([again]) == 0
    assert Message.objects.filter(member=member).count() == 1


# Quiet hours ------------------------------------------------------------


@pytest.mark.django_db
def test_a_collection_message_built_at_night_waits_for_eight_in_the_morning(
    recorder: list[Sent], member: Member
) -> None:
    message = _queue(member, Purpose.EARLY, NIGHT)

    assert message.scheduled_for == NEXT_MORNING
    assert _send(message, NIGHT + timedelta(minutes=30)).status == Message.Status.QUEUED
    assert recorder == []

    assert _send(message, NEXT_MORNING).status == Message.Status.SENT
    assert len(recorder) == 1


@pytest.mark.django_db
def test_a_collection_message_due_before_the_quiet_hours_is_held_if_sent_in_them(
    recorder: list[Sent], member: Member
) -> None:
    message = _queue(member, Purpose.EARLY, NIGHT - timedelta(hours=2))

    message = _send(message, NIGHT - timedelta(minutes=30))

    assert message.status == Message.Status.QUEUED
    assert message.scheduled_for == NEXT_MORNING
    assert message.attempts == 0
    assert recorder == []


@pytest.mark.django_db
def test_a_borrower_who_agreed_to_night_contact_is_messaged_at_once(
    recorder: list[Sent], member: Member
) -> None:
    services.consent_give(
        member=member,
        kind=ContactConsent.Kind.NIGHT,
        evidence="签字的同意书",
        at=NIGHT - timedelta(days=1),
    )

    message = _queue(member, Purpose.EARLY, NIGHT)

    assert message.scheduled_for == NIGHT
    assert _send(message, NIGHT + timedelta(minutes=30)).status == Message.Status.SENT
    assert len(recorder) == 1


@pytest.mark.django_db
def test_a_plain_reminder_is_not_held_back_by_the_quiet_hours(
    recorder: list[Sent], member: Member
) -> None:
    message = _queue(member, Purpose.REMINDER_DUE, NIGHT)

    assert message.scheduled_for == NIGHT
    assert _send(message, NIGHT + timedelta(minutes=30)).status == Message.Status.SENT
    assert len(recorder) == 1


# The HTTP SMS gateway ---------------------------------------------------


@dataclass
class Gateway:
    """A local SMS gateway answering each request with its next scripted
    status (200 once the script runs out); `STALL` answers nothing."""

    url: str = ""
    replies: list[int] = field(default_factory=list)
    received: list[dict[str, str]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)


def _handler(gateway: Gateway) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            gateway.received.append(json.loads(self.rfile.read(length)))
            gateway.headers.append(dict(self.headers))
            status = gateway.replies.pop(0) if gateway.replies else 200
            if status == STALL:
                time.sleep(GATEWAY_TIMEOUT * 5)
                return
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"ok": true}')

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return Handler


@pytest.fixture
def gateway(settings: Any) -> Iterator[Gateway]:
    gateway = Gateway()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(gateway))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    gateway.url = f"http://127.0.0.1:{server.server_address[1]}/sms"
    settings.MESSAGE_BACKENDS = {
        **settings.MESSAGE_BACKENDS,
        "sms": "collection.channels.HttpSmsBackend",
    }
    settings.SMS_GATEWAY_URL = gateway.url
    settings.SMS_GATEWAY_TOKEN = "gateway-test-token"
    settings.SMS_GATEWAY_TIMEOUT = GATEWAY_TIMEOUT
    yield gateway
    server.shutdown()
    server.server_close()


@pytest.mark.django_db
def test_the_gateway_receives_the_number_the_text_and_the_reference(
    gateway: Gateway, member: Member
) -> None:
    message = _send(_queue(member, Purpose.REMINDER_DUE, MORNING), MORNING)

    assert message.status == Message.Status.SENT
    assert gateway.received == [
        {"to": member.phone, "text": message.body, "reference": message.dedupe_key}
    ]
    assert gateway.headers[0]["Idempotency-Key"] == message.dedupe_key
    assert gateway.headers[0]["Authorization"] == "Bearer gateway-test-token"


@pytest.mark.parametrize(
    ("reply", "error"),
    [(500, "gateway answered 500"), (STALL, "gateway unreachable")],
    ids=["server-error", "timeout"],
)
@pytest.mark.django_db
def test_a_gateway_failure_queues_the_message_again_later(
    gateway: Gateway, member: Member, reply: int, error: str
) -> None:
    gateway.replies = [reply]

    message = _send(_queue(member, Purpose.REMINDER_DUE, MORNING), MORNING)

    assert message.status == Message.Status.QUEUED
    assert message.attempts == 1
    assert message.scheduled_for > MORNING
    assert message.sent_at is None
    assert error in message.last_error
    assert member.phone not in message.last_error
    assert member.phone[-8:] not in message.last_error
    # Nothing is sent again before the backoff is over.
    assert _send(message, MORNING + timedelta(seconds=30)).attempts == 1


@pytest.mark.django_db
def test_retries_carry_the_same_reference_so_the_gateway_can_drop_repeats(
    gateway: Gateway, member: Member
) -> None:
    gateway.replies = [500, STALL, 200]
    message = _queue(member, Purpose.REMINDER_DUE, MORNING)

    for _attempt in range(3):
        message = _send(message, message.scheduled_for)

    assert message.status == Message.Status.SENT
    assert message.attempts == 3
    assert message.last_error == ""
    assert [r["reference"] for r in gateway.received] == [message.dedupe_key] * 3


@pytest.mark.django_db
def test_a_message_fails_after_the_last_transient_failure(
    gateway: Gateway, member: Member
) -> None:
    gateway.replies = [500] * services.MAX_ATTEMPTS
    message = _queue(member, Purpose.REMINDER_DUE, MORNING)
    waits = []

    for _attempt in range(services.MAX_ATTEMPTS):
        tried_at = message.scheduled_for
        message = _send(message, tried_at)
        waits.append(message.scheduled_for - tried_at)

    assert message.status == Message.Status.FAILED
    assert message.attempts == services.MAX_ATTEMPTS
    assert waits[:-1] == sorted(waits[:-1])
    assert waits[0] < waits[-2]
    assert _send(message, message.scheduled_for).attempts == services.MAX_ATTEMPTS
    assert len(gateway.received) == services.MAX_ATTEMPTS


@pytest.mark.django_db
def test_a_refusal_by_the_gateway_fails_the_message_at_once(
    gateway: Gateway, member: Member
) -> None:
    gateway.replies = [400]

    message = _send(_queue(member, Purpose.REMINDER_DUE, MORNING), MORNING)

    assert message.status == Message.Status.FAILED
    assert message.attempts == 1
    assert message.last_error == "gateway answered 400"
    assert _send(message, MORNING + timedelta(hours=1)).attempts == 1
    assert len(gateway.received) == 1


# A broker outage --------------------------------------------------------


@pytest.fixture
def broker_down(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Point the Celery app at a closed port and stop running tasks eagerly.

    Celery reads the broker from `CELERY_BROKER_URL` in the environment
    before its settings, and keeps its connection pools; the pools are set
    aside so the next publish connects to the dead broker, and put back.
    """
    monkeypatch.setenv("CELERY_BROKER_URL", BROKER_DOWN)
    monkeypatch.setattr(app, "_pool", None)
    monkeypatch.setattr(app.amqp, "_producer_pool", None)
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    yield
    app.conf.task_always_eager = eager


@pytest.mark.django_db
def test_a_broker_outage_keeps_the_message_in_the_outbox_until_dispatch(
    broker_down: None,
    recorder: list[Sent],
    member: Member,
    caplog: pytest.LogCaptureFixture,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    now = timezone.now()
    key = f"test:{member.pk}:outage"
    message = services.message_build(
        member=member,
        purpose=Purpose.REMINDER_DUE,
        dedupe_key=key,
        figures=FIGURES,
        at=now,
    )

    with (
        caplog.at_level(logging.WARNING, logger="collection.services"),
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        transaction.atomic(),
    ):
        services.messages_save([message])

    assert len(callbacks) == 1
    assert "Outbox: broker unavailable" in caplog.text
    saved = Message.objects.get(dedupe_key=key)
    assert saved.status == Message.Status.QUEUED
    assert recorder == []

    assert tasks.messages_dispatch() == 1
    assert tasks.messages_dispatch() == 0
    saved.refresh_from_db()
    assert saved.status == Message.Status.SENT
    assert saved.attempts == 1
    assert [sent.message_id for sent in recorder] == [saved.pk]


# Stuck rows -------------------------------------------------------------


@pytest.mark.django_db
def test_a_message_stuck_in_sending_is_queued_again(member: Member) -> None:
    stuck = _queue(member, Purpose.REMINDER_DUE, MORNING)
    busy = _queue(member, Purpose.REMINDER_AHEAD, MORNING)
    now = MORNING + timedelta(hours=1)
    Message.objects.filter(pk=stuck.pk).update(
        status=Message.Status.SENDING,
        scheduled_for=now - services.SENDING_TIMEOUT - timedelta(seconds=1),
    )
    Message.objects.filter(pk=busy.pk).update(
        status=Message.Status.SENDING, scheduled_for=now - timedelta(minutes=1)
    )

    assert services.messages_due(now=now) == [stuck.pk]
    stuck.refresh_from_db()
    busy.refresh_from_db()
    assert stuck.status == Message.Status.QUEUED
    assert busy.status == Message.Status.SENDING


# A real worker ----------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_real_worker_given_the_same_task_twice_sends_the_message_once(
    member: Member, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The on-commit dispatch would go to the default queue, where no worker
    # of this test listens; the test queues the tasks itself.
    monkeypatch.setattr(services, "dispatch_soon", lambda: None)
    now = timezone.now()
    message = _queue(member, Purpose.REMINDER_DUE, now)
    # Sent last, it tells the test the worker is done with the two before.
    last = _queue(member, Purpose.REMINDER_AHEAD, now)
    record = tmp_path / "sent.jsonl"
    worker, queue = worker_start(
        {"SMS_BACKEND": RECORDING, RECORD_FILE_ENV: str(record)}
    )
    task_id = str(uuid.uuid4())
    try:
        for _delivery in range(2):
            tasks.message_send.apply_async(
                args=(message.pk,), queue=queue, task_id=task_id
            )
        tasks.message_send.apply_async(args=(last.pk,), queue=queue)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and worker.poll() is None:
            if any(sent.message_id == last.pk for sent in recorded_in(record)):
                break
            time.sleep(0.5)
    finally:
        output = worker_stop(worker)

    sends = [sent.message_id for sent in recorded_in(record)]
    assert last.pk in sends, output
    assert sends.count(message.pk) == 1, output
    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert message.attempts == 1

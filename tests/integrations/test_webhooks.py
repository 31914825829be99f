"""Webhooks: events recorded in the change's transaction, then delivered to a
real HTTP receiver, signed, in order, retried, and never twice."""

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import IntegrityError

from integrations import services
from integrations.models import Delivery, Endpoint
from loans import services as loans
from loans.close import close_day
from loans.models import Loan
from members import services as members
from members.events import EventKind
from members.models import BlacklistEntry, Member
from tests.factories import MemberFactory, staff_user
from tests.integrations.receiver import STALL, Receiver, running_receiver
from tests.loans.factories import ON, Staff, active_loan

pytestmark = pytest.mark.django_db

# Deliveries are due from the moment they are recorded, by the clock.
NOW = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=5)
SECRET = "s3cret-" + "k" * 30
ALL = list(EventKind.values)


@pytest.fixture
def receiver(settings: Any) -> Iterator[Receiver]:
    settings.WEBHOOK_TIMEOUT = 0.5
    with running_receiver() as running:
        yield running


def endpoint(url: str, event_types: list[str] = ALL) -> Endpoint:
    return services.endpoint_create(
        url=url, event_types=event_types, owner=staff_user(), secret=SECRET
    )


def deliveries(kind: EventKind) -> list[Delivery]:
    return list(Delivery.objects.filter(event_type=kind).order_by("pk"))


# Events recorded ------------------------------------------------------------


def test_each_loan_move_is_recorded_for_an_endpoint_following_it() -> None:
    hook = endpoint("https://partner.example/hooks", [EventKind.LOAN_STATE_CHANGED])

    loan = active_loan(staff=Staff())

    moves = [d.payload["data"] for d in deliveries(EventKind.LOAN_STATE_CHANGED)]
    assert [(m["from"], m["to"]) for m in moves] == [
        ("applied", "approved"),
        ("approved", "active"),
    ]
    assert {m["loan"] for m in moves} == {loan.pk}
    assert {d.endpoint_id for d in Delivery.objects.all()} == {hook.pk}
    assert not deliveries(EventKind.REPAYMENT_POSTED)


def test_nothing_is_recorded_for_an_inactive_endpoint_or_without_one() -> None:
    hook = endpoint("https://partner.example/hooks")
    hook.active = False
    hook.save()

    active_loan(staff=Staff())

    assert not Delivery.objects.exists()


def test_a_repayment_is_recorded_with_its_split_as_strings() -> None:
    staff = Staff()
    loan = active_loan(staff=staff)
    endpoint("https://partner.example/hooks", [EventKind.REPAYMENT_POSTED])

    repayment = loans.repayment_post(
        loan=loan, amount=Decimal("100.00"), reference="r1", by=staff.finance, on=ON
    )

    [delivery] = deliveries(EventKind.REPAYMENT_POSTED)
    assert delivery.payload["type"] == "repayment.posted"
    assert delivery.payload["occurred_on"] == "2026-01-15"
    data = delivery.payload["data"]
    assert data["repayment"] == repayment.pk
    assert data["amount"] == "100.00"
    assert Decimal(data["to_principal"]) + Decimal(data["to_interest"]) + Decimal(
        data["to_penalty"]
    ) == Decimal("100.00")


def test_blacklisting_and_lifting_are_recorded() -> None:
    endpoint("https://partner.example/hooks")
    member = MemberFactory(kyc=Member.KycStatus.VERIFIED)

    entry = members.member_blacklist(
        member=member,
        reason="fraud",
        source=BlacklistEntry.Source.STAFF,
        on=date(2026, 1, 1),
        by=None,
    )
    members.blacklist_lift(entry=entry, on=date(2028, 1, 1), by=None, reason="ok")

    [listed] = deliveries(EventKind.MEMBER_BLACKLISTED)
    [lifted] = deliveries(EventKind.MEMBER_BLACKLIST_LIFTED)
    assert listed.payload["data"]["member"] == member.pk
    assert lifted.payload["data"]["entry"] == entry.pk
    assert lifted.payload["occurred_on"] == "2028-01-01"


def test_the_close_records_one_event_per_loan_it_moves_and_each_new_case() -> None:
    staff = Staff()
    loans_behind = [active_loan(staff=staff) for _ in range(3)]
    endpoint(
        "https://partner.example/hooks",
        [EventKind.LOAN_STATE_CHANGED, EventKind.COLLECTION_STAGE_CHANGED],
    )
    first_due = loans_behind[0].installments.order_by("number")[0].due_date

    close_day(on=first_due + timedelta(days=5))

    moved = [d.payload["data"] for d in deliveries(EventKind.LOAN_STATE_CHANGED)]
    for loan in loans_behind:
        steps = [(m["from"], m["to"]) for m in moved if m["loan"] == loan.pk]
        assert steps == [("active", "grace"), ("grace", "overdue")]
        assert Loan.objects.get(pk=loan.pk).state == Loan.State.OVERDUE
    stages = [d.payload["data"] for d in deliveries(EventKind.COLLECTION_STAGE_CHANGED)]
    assert all(s["from"] is None for s in stages)
    assert sorted(s["loan"] for s in stages) == [loan.pk for loan in loans_behind]


def test_one_event_is_never_queued_twice_for_one_endpoint() -> None:
    hook = endpoint("https://partner.example/hooks")
    active_loan(staff=Staff())
    first = Delivery.objects.order_by("pk").first()
    assert first is not None

    with pytest.raises(IntegrityError):
        Delivery.objects.create(
            endpoint=hook,
            event_id=first.event_id,
            event_type=first.event_type,
            payload=first.payload,
            next_try=NOW,
        )


# Delivered to a real receiver -------------------------------------------------


def test_a_delivery_is_signed_over_the_timestamp_and_the_body(
    receiver: Receiver,
) -> None:
    endpoint(receiver.url, [EventKind.LOAN_STATE_CHANGED])
    active_loan(staff=Staff())

    assert services.webhooks_dispatch(now=NOW) == 2

    got = receiver.received[0]
    timestamp = got.headers["X-Timestamp"]
    expected = hmac.new(
        SECRET.encode(), f"{timestamp}.".encode() + got.body, hashlib.sha256
    ).hexdigest()
    assert got.headers["X-Signature"] == expected
    assert timestamp == str(int(NOW.timestamp()))
    assert got.headers["X-Event-Type"] == "loan.state_changed"
    assert got.headers["X-Event-Id"] == got.event["id"]
    assert got.headers["Content-Type"] == "application/json"
    assert got.event["data"]["to"] == "approved"
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sent"}


def test_a_500_is_retried_after_a_minute_and_later_events_wait_their_turn(
    receiver: Receiver,
) -> None:
    endpoint(receiver.url, [EventKind.LOAN_STATE_CHANGED])
    active_loan(staff=Staff())
    active_loan(staff=Staff())
    ids = [str(d.event_id) for d in Delivery.objects.order_by("pk")]
    receiver.script = [500]

    assert services.webhooks_dispatch(now=NOW) == 0
    head = Delivery.objects.order_by("pk").first()
    assert head is not None
    assert (head.status, head.attempts, head.last_response_code) == ("queued", 1, 500)
    assert head.next_try == NOW + timedelta(minutes=1)
    assert services.webhooks_dispatch(now=NOW + timedelta(seconds=30)) == 0

    assert services.webhooks_dispatch(now=NOW + timedelta(minutes=1)) == 4

    assert receiver.event_ids() == [ids[0], *ids]
    assert [a.response_code for a in head.history.all()] == [500, 200]


def test_a_timeout_is_retried_with_a_doubling_wait(
    receiver: Receiver, settings: Any
) -> None:
    settings.WEBHOOK_TIMEOUT = 0.2
    receiver.stall_seconds = 0.5
    endpoint(receiver.url, [EventKind.REPAYMENT_POSTED])
    staff = Staff()
    loan = active_loan(staff=staff)
    loans.repayment_post(
        loan=loan, amount=Decimal("10.00"), reference="r", by=staff.finance, on=ON
    )
    receiver.script = [STALL, 502]

    services.webhooks_dispatch(now=NOW)
    services.webhooks_dispatch(now=NOW + timedelta(minutes=1))
    delivery = Delivery.objects.get()

    assert (delivery.status, delivery.attempts) == ("queued", 2)
    assert delivery.next_try == NOW + timedelta(minutes=1 + 2)
    assert delivery.last_response_code == 502
    assert [a.response_code for a in delivery.history.all()] == [None, 502]
    assert "timed out" in delivery.history.all()[0].error


def test_a_4xx_fails_at_once_and_the_next_event_still_goes(
    receiver: Receiver,
) -> None:
    endpoint(receiver.url, [EventKind.LOAN_STATE_CHANGED])
    active_loan(staff=Staff())
    receiver.script = [410]

    assert services.webhooks_dispatch(now=NOW) == 1

    first, second = Delivery.objects.order_by("pk")
    assert (first.status, first.attempts, first.last_response_code) == (
        "failed",
        1,
        410,
    )
    assert second.status == "sent"
    assert len(receiver.received) == 2


def test_a_delivery_is_given_up_after_the_last_attempt(
    receiver: Receiver, settings: Any
) -> None:
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    endpoint(receiver.url, [EventKind.MEMBER_BLACKLISTED])
    members.member_blacklist(
        member=MemberFactory(kyc=Member.KycStatus.VERIFIED),
        reason="fraud",
        source=BlacklistEntry.Source.STAFF,
        on=date(2026, 1, 1),
        by=None,
    )
    receiver.script = [503, 503]

    services.webhooks_dispatch(now=NOW)
    services.webhooks_dispatch(now=NOW + timedelta(minutes=1))

    assert Delivery.objects.get().status == "failed"


def test_dispatching_again_sends_nothing_twice(receiver: Receiver) -> None:
    endpoint(receiver.url, [EventKind.LOAN_STATE_CHANGED])
    active_loan(staff=Staff())

    first = services.webhooks_dispatch(now=NOW)
    second = services.webhooks_dispatch(now=NOW + timedelta(hours=1))

    assert (first, second) == (2, 0)
    assert len(receiver.event_ids()) == len(set(receiver.event_ids())) == 2


def test_each_endpoint_gets_its_own_copy_with_the_same_event_id(
    receiver: Receiver,
) -> None:
    with running_receiver() as other:
        endpoint(receiver.url, [EventKind.LOAN_STATE_CHANGED])
        endpoint(other.url, [EventKind.LOAN_STATE_CHANGED])
        active_loan(staff=Staff())

        services.webhooks_dispatch(now=NOW)

        assert receiver.event_ids() == other.event_ids()
        assert len(receiver.event_ids()) == 2


def test_a_resend_posts_the_same_event_id_again(receiver: Receiver) -> None:
    endpoint(receiver.url, [EventKind.LOAN_STATE_CHANGED])
    active_loan(staff=Staff())
    services.webhooks_dispatch(now=NOW)
    delivery = Delivery.objects.order_by("pk").first()
    assert delivery is not None

    services.delivery_resend(delivery=delivery, now=NOW + timedelta(hours=1))
    services.webhooks_dispatch(now=NOW + timedelta(hours=1))

    assert receiver.event_ids().count(str(delivery.event_id)) == 2


def test_a_delivery_stuck_in_sending_is_taken_up_again(receiver: Receiver) -> None:
    endpoint(receiver.url, [EventKind.MEMBER_BLACKLISTED])
    members.member_blacklist(
        member=MemberFactory(kyc=Member.KycStatus.VERIFIED),
        reason="fraud",
        source=BlacklistEntry.Source.STAFF,
        on=date(2026, 1, 1),
        by=None,
    )
    Delivery.objects.update(status=Delivery.Status.SENDING, next_try=NOW)

    assert services.webhooks_dispatch(now=NOW + timedelta(minutes=1)) == 0
    assert services.webhooks_dispatch(now=NOW + services.SENDING_TIMEOUT) == 1


# Endpoints --------------------------------------------------------------------


def test_an_endpoint_without_a_secret_gets_a_long_random_one() -> None:
    hook = services.endpoint_create(
        url="https://partner.example/hooks",
        event_types=[EventKind.REPAYMENT_POSTED],
        owner=staff_user(),
    )

    assert len(hook.secret) == 64


@pytest.mark.parametrize(
    ("url", "types", "field"),
    [
        ("ftp://partner.example/", [EventKind.REPAYMENT_POSTED], "url"),
        ("https://partner.example/", ["loan.exploded"], "event_types"),
        ("https://partner.example/", [], "event_types"),
    ],
)
def test_an_endpoint_is_refused_naming_the_field(
    url: str, types: list[str], field: str
) -> None:
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as refused:
        services.endpoint_create(url=url, event_types=types, owner=staff_user())

    assert field in refused.value.message_dict


def test_plain_http_is_refused_outside_development(settings: Any) -> None:
    from django.core.exceptions import ValidationError

    settings.WEBHOOKS_ALLOW_PLAIN_HTTP = False

    with pytest.raises(ValidationError, match="https"):
        endpoint("http://partner.example/hooks")


# Concurrency ------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_dispatchers_at_once_deliver_each_event_once_and_in_order(
    receiver: Receiver,
) -> None:
    from django.db import connection

    endpoint(receiver.url, [EventKind.LOAN_STATE_CHANGED])
    for _ in range(3):
        active_loan(staff=Staff())
    ids = [str(d.event_id) for d in Delivery.objects.order_by("pk")]

    def dispatch() -> None:
        services.webhooks_dispatch(now=NOW)
        connection.close()

    threads = [threading.Thread(target=dispatch) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert receiver.event_ids() == ids
    assert json.loads(receiver.received[0].body)["id"] == ids[0]

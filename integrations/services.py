"""Webhooks: endpoints kept, events recorded as deliveries, deliveries sent.

Events arrive through `settings.EVENT_FOLLOWERS` (`events_record`), inside
the transaction of the change they report, so a delivery exists exactly when
the change committed. `webhooks_dispatch` sends them: per endpoint in the
order they happened, each claimed under a row lock, signed, retried with a
doubling wait on timeouts and 5xx, given up on a 4xx.
"""

import hashlib
import hmac
import json
import logging
import secrets
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from integrations.models import Attempt, Delivery, Endpoint
from members.events import EventKind, Payload

logger = logging.getLogger(__name__)

# A claim older than this was left by a worker that died while sending.
SENDING_TIMEOUT = timedelta(minutes=5)
BATCH = 1000
# Answers worth trying again: the receiver was slow or asked us to wait.
RETRY_CODES = {408, 429}


# Endpoints ------------------------------------------------------------------


def endpoint_clean(
    *, url: str, event_types: Sequence[str], secret: str = ""
) -> list[str]:
    """The event types in their canonical order, or a ValidationError naming
    the field at fault; the admin form calls it too."""
    errors: dict[str, str] = {}
    plain_allowed = settings.WEBHOOKS_ALLOW_PLAIN_HTTP
    if not url.startswith("https://") and not (
        plain_allowed and url.startswith("http://")
    ):
        errors["url"] = _("Webhook URLs must use https://.")
    unknown = sorted(set(event_types) - set(EventKind.values))
    if unknown:
        errors["event_types"] = _("Unknown event types: %(types)s.") % {
            "types": ", ".join(unknown)
        }
    elif not event_types:
        errors["event_types"] = _("Choose at least one event type.")
    if secret and len(secret) < 24:
        errors["secret"] = _("A signing secret needs at least 24 characters.")
    if errors:
        raise ValidationError(errors)
    return [kind for kind in EventKind.values if kind in event_types]


@transaction.atomic
def endpoint_create(
    *,
    url: str,
    event_types: Sequence[str],
    owner: User,
    secret: str = "",
    description: str = "",
    active: bool = True,
) -> Endpoint:
    """Register an endpoint. Without a secret, one is made; either way the
    caller shows it once, since it is never displayed again."""
    event_types = endpoint_clean(url=url, event_types=event_types, secret=secret)
    endpoint = Endpoint.objects.create(
        url=url,
        event_types=event_types,
        secret=secret or secrets.token_hex(32),
        description=description,
        active=active,
        owner=owner,
    )
    _followed_forget()
    logger.info("Webhook endpoint %s: registered by user %s", endpoint.pk, owner.pk)
    return endpoint


@transaction.atomic
def endpoint_update(
    *,
    endpoint: Endpoint,
    url: str,
    event_types: Sequence[str],
    active: bool,
    description: str,
) -> Endpoint:
    endpoint = Endpoint.objects.select_for_update().get(pk=endpoint.pk)
    endpoint.event_types = endpoint_clean(url=url, event_types=event_types)
    endpoint.url = url
    endpoint.active = active
    endpoint.description = description
    endpoint.save()
    _followed_forget()
    logger.info("Webhook endpoint %s: changed", endpoint.pk)
    return endpoint


@transaction.atomic
def endpoint_delete(*, endpoint: Endpoint) -> None:
    """Remove an endpoint with its deliveries; to keep them, deactivate it."""
    logger.info("Webhook endpoint %s: deleted", endpoint.pk)
    endpoint.delete()
    _followed_forget()


# Recording events -----------------------------------------------------------


# The event kinds some active endpoint follows, as this process last read
# them, and until when (time.monotonic) that answer is trusted. Most events
# have no follower; knowing it spares every repayment a read of the endpoints.
FOLLOWED_FOR = 10.0
_followed: tuple[float, frozenset[str]] = (0.0, frozenset())


def _active_endpoints() -> list[Endpoint]:
    """Every active endpoint; what they follow is remembered from here."""
    global _followed
    endpoints = list(Endpoint.objects.filter(active=True))
    kinds = frozenset(kind for e in endpoints for kind in e.event_types)
    _followed = (time.monotonic() + FOLLOWED_FOR, kinds)
    return endpoints


def _followed_clear() -> None:
    global _followed
    _followed = (0.0, frozenset())


def _followed_forget() -> None:
    """Read the endpoints again at the next event. Called when one is
    written, now and after the commit: a read in between, by another
    thread, may have seen the endpoints as they were."""
    _followed_clear()
    transaction.on_commit(_followed_clear)


def events_record(*, kind: EventKind, payloads: list[Payload], on: date) -> int:
    """An EVENT_FOLLOWERS function: a delivery per event per endpoint that
    follows `kind`, written in the caller's transaction.

    When no active endpoint followed `kind` at the last look (at most
    FOLLOWED_FOR seconds ago, or since this process last wrote an
    endpoint), nothing is read or written. So an endpoint registered, turned
    on or subscribed to more events through another process hears of events
    up to that many seconds later; one removed, turned off or unsubscribed
    is never sent another, since the endpoints are read again whenever some
    endpoint follows the kind.
    """
    until, kinds = _followed
    if time.monotonic() < until and kind not in kinds:
        return 0
    endpoints = [e for e in _active_endpoints() if e.follows(kind)]
    if not endpoints:
        return 0
    now = timezone.now()
    events = [
        json.loads(
            json.dumps(
                {
                    "id": str(uuid.uuid4()),
                    "type": str(kind),
                    "occurred_on": on.isoformat(),
                    "data": payload,
                },
                cls=DjangoJSONEncoder,
            )
        )
        for payload in payloads
    ]
    Delivery.objects.bulk_create(
        (
            Delivery(
                event_id=event["id"],
                endpoint=endpoint,
                event_type=kind,
                payload=event,
                next_try=now,
            )
            for event in events
            for endpoint in endpoints
        ),
        batch_size=BATCH,
    )
    transaction.on_commit(dispatch_soon)
    return len(events) * len(endpoints)


def dispatch_soon() -> None:
    """Queue the dispatch task; with the broker down, beat's run every
    minute finds the deliveries instead."""
    from integrations.tasks import webhooks_dispatch

    try:
        webhooks_dispatch.delay()
    except Exception as error:  # kombu raises several kinds when it is down
        logger.warning("Webhooks: broker unavailable, deliveries wait (%s)", error)


# Sending --------------------------------------------------------------------


def signature(*, secret: str, timestamp: str, body: bytes) -> str:
    """Hex HMAC-SHA256 of "{timestamp}.{body}" under the endpoint's secret."""
    message = timestamp.encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Answer:
    code: int | None
    error: str
    milliseconds: int

    @property
    def delivered(self) -> bool:
        return self.code is not None and 200 <= self.code < 300

    @property
    def worth_retrying(self) -> bool:
        return self.code is None or self.code >= 500 or self.code in RETRY_CODES


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A redirected POST would arrive as a GET, unsigned; treat it as refused.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def _post(endpoint: Endpoint, delivery: Delivery, now: datetime) -> Answer:
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    timestamp = str(int(now.timestamp()))
    request = urllib.request.Request(  # noqa: S310 (https, or http when allowed)
        endpoint.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "group-lending-webhooks/1",
            "X-Event-Id": str(delivery.event_id),
            "X-Event-Type": delivery.event_type,
            "X-Timestamp": timestamp,
            "X-Signature": signature(
                secret=endpoint.secret, timestamp=timestamp, body=body
            ),
        },
    )
    started = time.monotonic()
    code: int | None = None
    error = ""
    try:
        with _opener.open(request, timeout=settings.WEBHOOK_TIMEOUT) as response:
            code = response.status
    except urllib.error.HTTPError as refused:
        code, error = refused.code, str(refused.reason)
    except (urllib.error.URLError, TimeoutError, OSError) as failure:
        error = str(getattr(failure, "reason", failure)) or type(failure).__name__
    milliseconds = int((time.monotonic() - started) * 1000)
    return Answer(code=code, error=error[:200], milliseconds=milliseconds)


def _claim_head(endpoint_id: int, now: datetime) -> Delivery | None:
    """The endpoint's oldest unfinished delivery, marked sending, if it may
    go now. None while it waits for a retry or another worker sends it:
    later events never overtake an earlier one."""
    with transaction.atomic():
        head = (
            Delivery.objects.select_for_update()
            .filter(
                endpoint_id=endpoint_id,
                status__in=(Delivery.Status.QUEUED, Delivery.Status.SENDING),
            )
            .order_by("pk")
            .first()
        )
        if head is None or head.status == Delivery.Status.SENDING:
            return None
        if head.next_try > now:
            return None
        head.status = Delivery.Status.SENDING
        head.attempts += 1
        head.next_try = now
        head.save(update_fields=["status", "attempts", "next_try"])
    return head


def _record(delivery: Delivery, answer: Answer, now: datetime) -> None:
    Attempt.objects.create(
        delivery=delivery,
        at=now,
        response_code=answer.code,
        error=answer.error,
        milliseconds=answer.milliseconds,
    )
    delivery.last_response_code = answer.code
    delivery.last_error = answer.error
    if answer.delivered:
        delivery.status = Delivery.Status.SENT
        delivery.sent_at = now
        logger.info("Delivery %s: sent (%s)", delivery.pk, answer.code)
    elif answer.worth_retrying and delivery.attempts < settings.WEBHOOK_MAX_ATTEMPTS:
        delivery.status = Delivery.Status.QUEUED
        delivery.next_try = now + settings.WEBHOOK_FIRST_RETRY * 2 ** (
            delivery.attempts - 1
        )
        logger.warning(
            "Delivery %s: attempt %d failed (%s %s)",
            delivery.pk,
            delivery.attempts,
            answer.code,
            answer.error,
        )
    else:
        delivery.status = Delivery.Status.FAILED
        logger.error(
            "Delivery %s: given up after %d attempts (%s %s)",
            delivery.pk,
            delivery.attempts,
            answer.code,
            answer.error,
        )
    delivery.save(
        update_fields=[
            "status",
            "next_try",
            "sent_at",
            "last_response_code",
            "last_error",
        ]
    )


def _endpoint_drain(endpoint_id: int, now: datetime, limit: int) -> int:
    sent = 0
    for _n in range(limit):
        delivery = _claim_head(endpoint_id, now)
        if delivery is None:
            break
        answer = _post(delivery.endpoint, delivery, now)
        _record(delivery, answer, now)
        if delivery.status == Delivery.Status.SENT:
            sent += 1
        elif delivery.status == Delivery.Status.QUEUED:
            break
    return sent


def webhooks_dispatch(*, now: datetime, limit: int = 500) -> int:
    """Send what is due, endpoint by endpoint; the number sent."""
    Delivery.objects.filter(
        status=Delivery.Status.SENDING, next_try__lte=now - SENDING_TIMEOUT
    ).update(status=Delivery.Status.QUEUED)
    endpoint_ids = (
        Delivery.objects.filter(
            status=Delivery.Status.QUEUED,
            next_try__lte=now,
            endpoint__active=True,
        )
        .order_by("endpoint_id")
        .values_list("endpoint_id", flat=True)
        .distinct()
    )
    return sum(
        _endpoint_drain(endpoint_id, now, limit) for endpoint_id in list(endpoint_ids)
    )


@transaction.atomic
def delivery_resend(*, delivery: Delivery, now: datetime) -> Delivery:
    """Queue a delivery again with the same event id (staff, after the
    partner fixed their side); receivers drop it if they already had it."""
    delivery = Delivery.objects.select_for_update().get(pk=delivery.pk)
    if delivery.status in (Delivery.Status.QUEUED, Delivery.Status.SENDING):
        raise ValidationError(
            {"status": _("This delivery is already waiting to be sent.")}
        )
    delivery.status = Delivery.Status.QUEUED
    delivery.attempts = 0
    delivery.next_try = now
    delivery.save(update_fields=["status", "attempts", "next_try"])
    transaction.on_commit(dispatch_soon)
    logger.info("Delivery %s: queued again", delivery.pk)
    return delivery

"""Celery tasks of collections. They take ids and call a service."""

from celery import shared_task
from django.utils import timezone

from collection import services


@shared_task
def messages_dispatch() -> int:
    """Every minute from beat, and after each commit that queues messages:
    send what is due. Rows wait in the outbox while the broker is down."""
    now = timezone.now()
    sent = 0
    for message_id in services.messages_due(now=now):
        sent += services.message_send(message_id=message_id, now=now)
    return sent


@shared_task
def message_send(message_id: int) -> bool:
    """Send one message; a second delivery of this task sends nothing."""
    return services.message_send(message_id=message_id, now=timezone.now())

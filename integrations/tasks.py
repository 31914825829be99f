"""Celery tasks of integrations. They take ids and call a service."""

from celery import shared_task
from django.utils import timezone

from integrations import services


@shared_task
def webhooks_dispatch() -> int:
    """Every minute from beat, and after each commit that records events:
    send the webhook deliveries that are due. Safe to run twice at once."""
    return services.webhooks_dispatch(now=timezone.now())

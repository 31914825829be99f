"""Celery tasks of loans. They take plain values and call a service."""

from celery import shared_task
from django.utils import timezone

from loans.close import close_through


@shared_task
def loans_close_business_day() -> int:
    """Nightly, from beat: close every business date up to today."""
    return len(close_through(until=timezone.localdate()))

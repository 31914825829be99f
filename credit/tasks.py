"""Celery tasks of credit. They take ids and call a service, nothing more."""

from datetime import date

from celery import shared_task
from django.utils import timezone

from credit.models import CreditScore
from credit.selectors import stale_member_ids
from credit.services import credit_score_members
from members.models import Member

BATCH = 500


@shared_task
def credit_rescore_stale(batch_size: int = BATCH) -> int:
    """Nightly, from beat: queue a scoring task per batch of stale members.

    A member is stale when verified and active with no score, or with one
    older than the policy's review period.
    """
    on = timezone.localdate()
    ids = stale_member_ids(on=on)
    for start in range(0, len(ids), batch_size):
        credit_score_batch.delay(ids[start : start + batch_size], on.isoformat())
    return len(ids)


@shared_task
def credit_score_batch(member_ids: list[int], on: str) -> int:
    """Score one batch of members as of `on` (ISO date); queued by the above."""
    members = list(Member.objects.filter(pk__in=member_ids).select_related("branch"))
    scores = credit_score_members(
        members=members,
        on=date.fromisoformat(on),
        trigger=CreditScore.Trigger.SCHEDULED,
    )
    return len(scores)

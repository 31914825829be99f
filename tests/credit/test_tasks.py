"""The rescoring tasks: in-process, and once through Redis to a real worker."""

import time
from datetime import date, timedelta

import pytest
from django.utils import timezone

from credit.models import CreditProfile, CreditScore
from credit.services import credit_score_member
from credit.tasks import credit_rescore_stale, credit_score_batch
from members.models import Member
from tests.factories import MemberFactory
from tests.workers import worker_start, worker_stop


@pytest.mark.django_db
def test_rescoring_stale_members_scores_each_one_and_skips_fresh_ones() -> None:
    never_scored = MemberFactory(kyc=Member.KycStatus.VERIFIED)
    expired = MemberFactory(kyc=Member.KycStatus.VERIFIED)
    fresh = MemberFactory(kyc=Member.KycStatus.VERIFIED)
    pending = MemberFactory()
    today = timezone.localdate()
    credit_score_member(
        member=expired, on=today - timedelta(days=200), trigger="manual"
    )
    credit_score_member(member=fresh, on=today, trigger="manual")

    queued = credit_rescore_stale.delay(batch_size=1).get()

    assert queued == 2
    scheduled = CreditScore.objects.filter(trigger=CreditScore.Trigger.SCHEDULED)
    assert set(scheduled.values_list("member_id", flat=True)) == {
        never_scored.pk,
        expired.pk,
    }
    assert not CreditScore.objects.filter(member=pending).exists()
    assert CreditProfile.objects.get(member=expired).valid_until > today


@pytest.mark.django_db
def test_a_batch_scores_as_of_the_date_it_was_given() -> None:
    member = MemberFactory(kyc=Member.KycStatus.VERIFIED)

    count = credit_score_batch.delay([member.pk], "2026-06-30").get()

    assert count == 1
    score = CreditScore.objects.get(member=member)
    assert score.as_of == date(2026, 6, 30)
    assert score.trigger == CreditScore.Trigger.SCHEDULED


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_real_worker_takes_a_batch_from_redis_and_scores_it() -> None:
    member = MemberFactory(kyc=Member.KycStatus.VERIFIED)
    worker, queue = worker_start()
    try:
        credit_score_batch.apply_async(args=([member.pk], "2026-12-03"), queue=queue)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and worker.poll() is None:
            if CreditScore.objects.filter(member=member).exists():
                break
            time.sleep(0.5)
    finally:
        output = worker_stop(worker)

    score = CreditScore.objects.filter(member=member).first()
    assert score is not None, output
    assert score.trigger == CreditScore.Trigger.SCHEDULED

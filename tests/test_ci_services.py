"""The real services CI runs against. Skipped locally where a service is
absent; under `CI=true` its absence fails the run (see tests/conftest.py)."""

import uuid

import pytest
from django.db import connection

from config.celery import app as celery_app


@pytest.mark.postgres
@pytest.mark.django_db
def test_suite_runs_on_postgresql_with_the_partial_unique_index() -> None:
    assert connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(
            cursor, "members_blacklistentry"
        )
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = %s AND indexname = %s",
            ["members_blacklistentry", "members_one_open_blacklist_entry"],
        )
        (definition,) = cursor.fetchone()

    index = constraints["members_one_open_blacklist_entry"]
    assert index["unique"] is True
    assert index["columns"] == ["member_id"]
    assert "UNIQUE" in definition
    assert "WHERE (lifted_on IS NULL)" in definition


@pytest.mark.redis
def test_a_message_goes_through_the_configured_broker_and_back() -> None:
    queue_name = f"test-ci-services-{uuid.uuid4().hex}"
    payload = {"probe": queue_name}

    with celery_app.connection_for_write() as conn:
        queue = conn.SimpleQueue(queue_name)
        try:
            queue.put(payload, serializer="json")
            message = queue.get(timeout=5)
            message.ack()
            assert message.payload == payload
            with pytest.raises(queue.Empty):
                queue.get(timeout=0.5)
        finally:
            queue.queue.delete()
            queue.close()

    assert conn.transport_cls == "redis"

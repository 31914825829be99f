"""`/healthz`: the probe load balancers and the process manager poll."""

import pytest
from django.test import Client, override_settings

from config.celery import app as celery_app

pytestmark = pytest.mark.django_db

CLOSED_PORT_BROKER = "redis://127.0.0.1:1/0"


@override_settings(CELERY_BROKER_CONFIGURED=False)
def test_health_is_ok_with_the_database_up_and_no_broker_configured(
    client: Client,
) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "broker": "not configured",
    }


@override_settings(CELERY_BROKER_CONFIGURED=False)
def test_health_needs_no_sign_in(client: Client) -> None:
    response = client.get("/healthz", follow=False)

    assert response.status_code == 200


@pytest.mark.redis
def test_health_reports_the_real_broker_ok(client: Client) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json()["broker"] == "ok"
    assert response.json()["status"] == "ok"


@override_settings(CELERY_BROKER_CONFIGURED=True)
def test_health_is_down_when_the_broker_does_not_answer(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Celery reads CELERY_BROKER_URL from the environment before its settings.
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    monkeypatch.delenv("CELERY_BROKER_WRITE_URL", raising=False)
    monkeypatch.setattr(celery_app.conf, "broker_url", CLOSED_PORT_BROKER)
    with celery_app.connection_for_write() as conn:
        assert conn.port == 1  # the probe below really asks the closed port

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json() == {"status": "down", "database": "ok", "broker": "down"}

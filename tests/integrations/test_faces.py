"""Webhook endpoints through the API and the admin; deliveries in the admin."""

from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from integrations import services
from integrations.models import Delivery, Endpoint
from members.events import EventKind
from tests.factories import staff_user
from tests.loans.factories import Staff, active_loan

pytestmark = pytest.mark.django_db

URL = "/api/v1/webhook-endpoints/"


def integrator_admin(*perms: str) -> User:
    user = staff_user()
    for codename in perms or (
        "view_endpoint",
        "add_endpoint",
        "change_endpoint",
        "delete_endpoint",
        "view_delivery",
        "resend_delivery",
    ):
        user.user_permissions.add(
            Permission.objects.get(
                content_type__app_label="integrations", codename=codename
            )
        )
    return user


def client_for(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


# API ------------------------------------------------------------------------


def test_registering_an_endpoint_answers_its_secret_once() -> None:
    client = client_for(integrator_admin())

    made = client.post(
        URL,
        {"url": "https://partner.example/hooks", "event_types": ["repayment.posted"]},
    )
    read = client.get(f"{URL}{made.json()['id']}/")

    assert made.status_code == 201
    assert len(made.json()["secret"]) == 64
    assert made.json()["secret"] == Endpoint.objects.get().secret
    assert read.status_code == 200
    assert "secret" not in read.json()
    assert read.json()["event_types"] == ["repayment.posted"]


def test_a_given_secret_is_kept_and_a_short_one_refused() -> None:
    client = client_for(integrator_admin())
    body = {"url": "https://p.example/h", "event_types": ["member.blacklisted"]}

    short = client.post(URL, {**body, "secret": "too-short"})
    kept = client.post(URL, {**body, "secret": "x" * 32})

    assert short.status_code == 400
    assert list(short.json()) == ["secret"]
    assert kept.json()["secret"] == "x" * 32


def test_unknown_event_types_are_refused_naming_the_field() -> None:
    client = client_for(integrator_admin())

    answer = client.post(
        URL, {"url": "https://p.example/h", "event_types": ["loan.exploded"]}
    )

    assert answer.status_code == 400
    assert list(answer.json()) == ["event_types"]


def test_an_endpoint_is_changed_and_removed_through_the_service() -> None:
    client = client_for(integrator_admin())
    hook = services.endpoint_create(
        url="https://p.example/h",
        event_types=[EventKind.REPAYMENT_POSTED],
        owner=staff_user(),
    )

    changed = client.patch(
        f"{URL}{hook.pk}/",
        {"active": False, "event_types": ["repayment.posted", "loan.state_changed"]},
    )
    removed = client.delete(f"{URL}{hook.pk}/")

    assert changed.status_code == 200
    assert changed.json()["event_types"] == ["loan.state_changed", "repayment.posted"]
    assert changed.json()["active"] is False
    assert removed.status_code == 204
    assert not Endpoint.objects.exists()


def test_staff_without_the_permission_see_no_endpoints() -> None:
    answer = client_for(staff_user()).get(URL)
    made = client_for(integrator_admin("view_endpoint")).post(
        URL, {"url": "https://p.example/h", "event_types": ["repayment.posted"]}
    )

    assert answer.status_code == 403
    assert made.status_code == 403


# Admin ----------------------------------------------------------------------


@pytest.fixture
def admin_client() -> Client:
    client = Client()
    client.force_login(integrator_admin())
    return client


def test_the_admin_shows_the_secret_once_after_adding(admin_client: Client) -> None:
    answer = admin_client.post(
        reverse("admin:integrations_endpoint_add"),
        {
            "url": "https://p.example/h",
            "event_types": ["loan.state_changed"],
            "active": "on",
            "description": "",
            "secret": "",
        },
        follow=True,
    )
    hook = Endpoint.objects.get()
    page = admin_client.get(
        reverse("admin:integrations_endpoint_change", args=[hook.pk])
    )

    assert hook.secret in answer.content.decode()
    assert hook.secret not in page.content.decode()


def test_the_admin_refuses_an_unknown_scheme_on_the_form(admin_client: Client) -> None:
    answer = admin_client.post(
        reverse("admin:integrations_endpoint_add"),
        {"url": "ftp://p.example/h", "event_types": ["loan.state_changed"]},
    )

    assert answer.status_code == 200
    assert not Endpoint.objects.exists()


def test_a_delivery_page_shows_its_attempts_and_resend_queues_it(
    admin_client: Client, settings: Any
) -> None:
    hook = services.endpoint_create(
        url="http://127.0.0.1:1/nothing-listens",
        event_types=[EventKind.LOAN_STATE_CHANGED],
        owner=staff_user(),
    )
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    active_loan(staff=Staff())

    services.webhooks_dispatch(now=timezone.now())
    failed = Delivery.objects.filter(endpoint=hook, status="failed").first()
    assert failed is not None

    page = admin_client.get(
        reverse("admin:integrations_delivery_change", args=[failed.pk])
    )
    admin_client.post(
        reverse("admin:integrations_delivery_changelist"),
        {"action": "send_again", "_selected_action": [failed.pk]},
    )

    assert page.status_code == 200
    assert "Connection refused" in page.content.decode()
    failed.refresh_from_db()
    assert (failed.status, failed.attempts) == ("queued", 0)

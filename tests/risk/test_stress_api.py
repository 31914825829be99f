"""The stress tests API: a risk officer runs a scenario, readers list runs."""

from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient

from risk.models import StressRun, StressScenario
from tests.loans.factories import Staff, active_loan

URL = "/api/v1/risk/stress-tests/"

pytestmark = pytest.mark.django_db


@pytest.fixture
def scenario() -> StressScenario:
    return StressScenario.objects.create(
        name="温和 Mild", pd_multipliers={"A": "1.5"}, simulations=200, seed=5
    )


def test_a_risk_officer_runs_a_scenario_and_gets_its_results(
    api_client: APIClient, risk_officer: User, scenario: StressScenario
) -> None:
    active_loan(staff=Staff(), principal=Decimal("1000.00"))
    api_client.force_authenticate(risk_officer)

    response = api_client.post(URL, {"scenario": scenario.pk})

    assert response.status_code == 201, response.content
    run = StressRun.objects.get()
    assert response.data["id"] == run.pk
    assert response.data["scenario_name"] == "温和 Mild"
    assert response.data["exposure"] == "1000.00"
    assert response.data["run_by"] == risk_officer.username
    assert response.data["results"]["loans"] == 1
    assert set(response.data["results"]["percentiles"]) == {
        "50",
        "90",
        "95",
        "99",
        "99.9",
    }


def test_an_unknown_scenario_is_a_400_naming_the_field(
    api_client: APIClient, risk_officer: User
) -> None:
    api_client.force_authenticate(risk_officer)

    response = api_client.post(URL, {"scenario": 999999})

    assert response.status_code == 400
    assert "scenario" in response.data


def test_a_scenario_with_bad_multipliers_is_a_400_naming_them(
    api_client: APIClient, risk_officer: User
) -> None:
    bad = StressScenario.objects.create(name="坏", pd_multipliers={"A": "-1"})
    api_client.force_authenticate(risk_officer)

    response = api_client.post(URL, {"scenario": bad.pk})

    assert response.status_code == 400
    assert "pd_multipliers" in response.data


def test_an_auditor_may_read_runs_but_not_start_one(
    api_client: APIClient,
    auditor: User,
    risk_officer: User,
    scenario: StressScenario,
) -> None:
    api_client.force_authenticate(risk_officer)
    made = api_client.post(URL, {"scenario": scenario.pk}).data
    api_client.force_authenticate(auditor)

    refused = api_client.post(URL, {"scenario": scenario.pk})
    listed = api_client.get(URL)
    detail = api_client.get(f"{URL}{made['id']}/")

    assert refused.status_code == 403
    assert listed.status_code == 200
    assert [run["id"] for run in listed.data["results"]] == [made["id"]]
    assert detail.data["results"] == made["results"]


def test_a_branch_leader_sees_no_stress_runs(
    api_client: APIClient, leader: User
) -> None:
    api_client.force_authenticate(leader)

    assert api_client.get(URL).status_code == 403
    assert api_client.post(URL, {"scenario": 1}).status_code == 403


def test_the_schema_documents_the_stress_tests(
    api_client: APIClient, risk_officer: User
) -> None:
    api_client.force_authenticate(risk_officer)

    schema = api_client.get("/api/schema/", {"format": "json"}).json()

    paths = schema["paths"]
    assert "post" in paths["/api/v1/risk/stress-tests/"]
    assert "get" in paths["/api/v1/risk/stress-tests/{id}/"]


# The admin faces.

ADMIN = "/admin/risk/"


def _run_now(client: Client, scenario: StressScenario) -> Any:
    return client.post(
        f"{ADMIN}stressscenario/",
        {"action": "run_now", "_selected_action": [scenario.pk]},
        follow=True,
    )


def test_run_now_in_the_admin_stores_a_run(
    client: Client, risk_officer: User, scenario: StressScenario
) -> None:
    client.force_login(risk_officer)

    response = _run_now(client, scenario)

    run = StressRun.objects.get()
    assert run.run_by == risk_officer
    assert f"/admin/risk/stressrun/{run.pk}/change/" in response.content.decode()


def test_run_now_is_not_offered_without_the_permission(
    client: Client, auditor: User, scenario: StressScenario
) -> None:
    client.force_login(auditor)

    _run_now(client, scenario)

    assert not StressRun.objects.exists()


def test_the_scenario_form_names_a_bad_multiplier_key(
    client: Client, risk_officer: User
) -> None:
    client.force_login(risk_officer)

    response = client.post(
        f"{ADMIN}stressscenario/add/",
        {
            "name": "新",
            "pd_multipliers": '{"F": "2"}',
            "lgd": "0.6",
            "branch_default_rate": "0",
            "contagion": "0",
            "simulations": "1000",
            "seed": "1",
        },
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "neither a grade" in errors["pd_multipliers"][0]
    assert not StressScenario.objects.filter(name="新").exists()


def test_a_run_shows_its_tables_and_two_runs_compare_side_by_side(
    client: Client, risk_officer: User, auditor: User, scenario: StressScenario
) -> None:
    active_loan(staff=Staff(), principal=Decimal("1000.00"))
    client.force_login(risk_officer)
    _run_now(client, scenario)
    _run_now(client, scenario)
    first, second = StressRun.objects.order_by("id")
    client.force_login(auditor)

    detail = client.get(f"{ADMIN}stressrun/{first.pk}/change/").content.decode()
    compared = client.post(
        f"{ADMIN}stressrun/",
        {"action": "compare", "_selected_action": [first.pk, second.pk]},
    )
    alone = client.post(
        f"{ADMIN}stressrun/",
        {"action": "compare", "_selected_action": [first.pk]},
        follow=True,
    )

    assert "99.9" in detail
    assert "fallback" in detail
    assert compared.status_code == 200
    page = compared.content.decode()
    assert f"#{first.pk}" in page
    assert f"#{second.pk}" in page
    # Same scenario, same seed, same book: nothing differs.
    differences = [row[3] for row in compared.context["rows"][1:]]
    assert len(differences) == 15
    assert all(Decimal(value) == 0 for value in differences)
    assert "Select exactly two runs" in alone.content.decode()

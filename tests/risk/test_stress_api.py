"""The stress tests API: a risk officer runs a scenario, readers list runs."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import User
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

"""What the schemathesis run found, each pinned by a hand-written case."""

from pathlib import Path
from typing import Any

import pytest
import yaml
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient

SCHEMA: dict[str, Any] = yaml.safe_load(
    (Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml").read_text()
)
COMPONENTS = SCHEMA["components"]["schemas"]
TOO_LARGE = "125836458731141345574912"

pytestmark = pytest.mark.django_db


@pytest.fixture
def officer_client(risk_officer: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(risk_officer)
    return client


@pytest.mark.parametrize(
    ("url", "field"),
    [
        (f"/api/v1/loans/?branch={TOO_LARGE}", "branch"),
        (f"/api/v1/loans/?member={TOO_LARGE}", "member"),
        ("/api/v1/loans/?member=1.5", "member"),
        (f"/api/v1/collection-cases/?loan={TOO_LARGE}", "loan"),
        ("/api/v1/messages/?loan=-3", "loan"),
        (f"/api/v1/hardship-requests/?loan={TOO_LARGE}", "loan"),
    ],
)
def test_an_id_filter_the_database_cannot_hold_is_refused_naming_the_field(
    officer_client: APIClient, url: str, field: str
) -> None:
    response = officer_client.get(url)

    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_an_api_path_that_matches_nothing_answers_404_in_json(
    officer_client: APIClient,
) -> None:
    response = officer_client.get("/api/v1/branches/1.5/")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert set(response.json()) == {"detail"}


def test_a_body_without_a_content_type_is_refused_with_415(
    officer_client: APIClient,
) -> None:
    response = officer_client.generic(
        "POST", "/api/v1/branches/", data=b"name=x", content_type=""
    )

    assert response.status_code == 415
    assert set(response.json()) == {"detail"}


def test_a_page_that_matches_nothing_stays_an_html_404() -> None:
    response = Client().get("/no-such-page/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    ("component", "field"),
    [
        ("Transition", "by"),
        ("Case", "collector"),
        ("HardshipRequest", "decided_by"),
        ("Alert", "assignee"),
    ],
)
def test_a_person_nobody_or_the_close_stands_for_is_documented_as_null(
    component: str, field: str
) -> None:
    assert COMPONENTS[component]["properties"][field]["nullable"] is True


def test_a_write_off_not_yet_approved_is_documented_with_a_null_approver() -> None:
    asked = SCHEMA["paths"]["/api/v1/loans/{id}/write-off/"]["post"]
    answer = asked["responses"]["201"]["content"]["application/json"]["schema"]
    name = answer["$ref"].rsplit("/", 1)[-1]

    assert COMPONENTS[name]["properties"]["approved_by"]["nullable"] is True


def test_a_case_without_a_recorded_cause_is_documented_as_blank() -> None:
    cause = COMPONENTS["Case"]["properties"]["cause"]

    assert {"$ref": "#/components/schemas/BlankEnum"} in cause["oneOf"]


def test_every_operation_documents_the_refusals_it_can_answer() -> None:
    for path, operations in SCHEMA["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            assert {"401", "403"} <= codes, (method, path)
            if method != "get":
                assert "400" in codes, (method, path)
            if "{id}" in path:
                assert "404" in codes, (method, path)
            if "requestBody" in operation:
                assert "415" in codes, (method, path)

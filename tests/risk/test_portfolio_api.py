"""GET /api/v1/risk/portfolio/: the day's figures, the errors a caller can
fix, who may read it and which branches they see."""

from datetime import date
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from config.roles import StaffRole
from loans.models import Loan
from members.models import Branch
from risk.portfolio import snapshot_record
from tests.factories import BranchFactory, staff_user
from tests.loans.factories import ProductFactory, Staff, active_loan, borrower

pytestmark = pytest.mark.django_db

URL = "/api/v1/risk/portfolio/"
DAY = date(2026, 3, 10)
NEXT = date(2026, 3, 11)


def _loan(staff: Staff, branch: Branch, principal: str, days: int) -> None:
    loan = active_loan(
        staff=staff,
        member=borrower(branch=branch),
        product=ProductFactory(),
        principal=Decimal(principal),
    )
    Loan.objects.filter(pk=loan.pk).update(days_past_due=days)


@pytest.fixture
def book() -> dict[str, Branch]:
    """甲: 1,200 current, 2,000 one day and 1,000 thirty days behind;
    乙: 1,500 ninety and 800 ninety-one days behind. Recorded on DAY."""
    staff = Staff()
    a, b = BranchFactory(name="甲支部"), BranchFactory(name="乙支部")
    _loan(staff, a, "1200.00", 0)
    _loan(staff, a, "2000.00", 1)
    _loan(staff, a, "1000.00", 30)
    _loan(staff, b, "1500.00", 90)
    _loan(staff, b, "800.00", 91)
    snapshot_record(on=DAY)
    return {"a": a, "b": b}


def _as(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _dashboard_user(*branches: Branch) -> User:
    """A branch leader who may also read the dashboards, for their branches."""
    user = staff_user(StaffRole.BRANCH_LEADER, branches=branches)
    user.user_permissions.add(
        Permission.objects.get(
            content_type__app_label="risk", codename="view_dashboard"
        )
    )
    return User.objects.get(pk=user.pk)


def test_the_whole_book_is_answered_with_hand_computed_figures(
    book: dict[str, Branch], risk_officer: User
) -> None:
    response = _as(risk_officer).get(URL, {"date": "2026-03-10"})

    assert response.status_code == 200
    body = response.json()
    assert body["as_of"] == "2026-03-10"
    assert body["branch"] is None
    assert body["loans_outstanding"] == 5
    assert body["principal_outstanding"] == "6500.00"
    assert (body["par1"], body["par30"], body["par90"]) == (
        "0.815385",
        "0.507692",
        "0.353846",
    )
    assert body["buckets"]["1-30"] == {"count": 2, "principal": "3000.00"}
    assert body["buckets"]["90+"] == {"count": 1, "principal": "800.00"}
    assert body["tiers"]["doubtful"] == {
        "count": 1,
        "principal": "1500.00",
        "provision": "750.00",
        "provision_rate": "0.5000",
    }
    assert list(body["tiers"]) == [
        "normal",
        "special_mention",
        "substandard",
        "doubtful",
        "loss",
    ]
    assert body["provision"] == "1622.00"
    assert body["by_branch"] == [
        {
            "branch": book["b"].pk,
            "branch_name": "乙支部",
            "principal_outstanding": "2300.00",
            "share": "0.353846",
            "par30": "1.000000",
        },
        {
            "branch": book["a"].pk,
            "branch_name": "甲支部",
            "principal_outstanding": "4200.00",
            "share": "0.646154",
            "par30": "0.238095",
        },
    ]


def test_the_date_defaults_to_the_latest_snapshot(
    book: dict[str, Branch], auditor: User
) -> None:
    snapshot_record(on=NEXT)

    response = _as(auditor).get(URL)

    assert response.status_code == 200
    assert response.json()["as_of"] == "2026-03-11"


def test_one_branch_is_answered_with_its_share_of_the_book(
    book: dict[str, Branch], risk_officer: User
) -> None:
    response = _as(risk_officer).get(URL, {"branch": book["a"].pk})

    assert response.status_code == 200
    body = response.json()
    assert body["branch"] == book["a"].pk
    assert (body["loans_outstanding"], body["principal_outstanding"]) == (
        3,
        "4200.00",
    )
    assert body["provision"] == "72.00"  # 12.00 + 60.00
    assert [row["share"] for row in body["by_branch"]] == ["0.646154"]


def test_a_date_without_a_snapshot_is_404_with_a_message(
    book: dict[str, Branch], risk_officer: User
) -> None:
    response = _as(risk_officer).get(URL, {"date": "2026-03-09"})

    assert response.status_code == 404
    assert "2026-03-09" in response.json()["detail"]


def test_no_snapshot_ever_is_404(risk_officer: User) -> None:
    response = _as(risk_officer).get(URL)

    assert response.status_code == 404
    assert "No portfolio snapshot" in response.json()["detail"]


def test_a_branch_without_open_loans_that_day_is_404(
    book: dict[str, Branch], risk_officer: User
) -> None:
    empty = BranchFactory()

    response = _as(risk_officer).get(URL, {"branch": empty.pk, "date": "2026-03-10"})

    assert response.status_code == 404


@pytest.mark.parametrize(
    ("query", "field"),
    [({"date": "10/03/2026"}, "date"), ({"branch": "甲"}, "branch")],
)
def test_bad_input_is_400_naming_the_field(
    book: dict[str, Branch], risk_officer: User, query: dict[str, str], field: str
) -> None:
    response = _as(risk_officer).get(URL, query)

    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_staff_without_the_dashboard_permission_are_refused(
    book: dict[str, Branch],
) -> None:
    leader = staff_user(StaffRole.BRANCH_LEADER, branches=(book["a"],))

    assert _as(leader).get(URL, {"branch": book["a"].pk}).status_code == 403
    assert APIClient().get(URL).status_code in (401, 403)


def test_a_branch_the_user_does_not_work_is_404(book: dict[str, Branch]) -> None:
    user = _dashboard_user(book["a"])

    assert _as(user).get(URL, {"branch": book["b"].pk}).status_code == 404
    mine = _as(user).get(URL, {"branch": book["a"].pk})
    assert mine.status_code == 200
    assert [row["branch_name"] for row in mine.json()["by_branch"]] == ["甲支部"]


def test_the_whole_book_needs_sight_of_every_branch(book: dict[str, Branch]) -> None:
    user = _dashboard_user(book["a"])

    assert _as(user).get(URL).status_code == 403


def test_the_number_of_queries_does_not_grow_with_branches(
    book: dict[str, Branch], risk_officer: User
) -> None:
    client = _as(risk_officer)
    client.get(URL)  # permissions cached on the user from here
    with CaptureQueriesContext(connection) as few:
        assert client.get(URL, {"date": "2026-03-10"}).status_code == 200
    staff = Staff()
    for n in range(3):
        _loan(staff, BranchFactory(), "700.00", n)
    snapshot_record(on=DAY)

    with CaptureQueriesContext(connection) as many:
        response = client.get(URL, {"date": "2026-03-10"})

    assert len(response.json()["by_branch"]) == 5
    assert len(many) == len(few) <= 4


def test_the_schema_documents_the_portfolio_endpoint(api_client: APIClient) -> None:
    response = api_client.get(
        "/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json"
    )

    assert response.status_code == 200
    operation = response.json()["paths"][URL]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"date", "branch"}
    assert set(operation["responses"]) == {"200", "400", "401", "403", "404"}

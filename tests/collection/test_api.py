"""The collection API under /api/v1/: cases and contacts, the outbox, and
hardship plans asked for on a loan and decided by someone else."""

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from collection.models import (
    Cause,
    CollectionCase,
    Contact,
    HardshipRequest,
    Message,
    Stage,
)
from config.roles import StaffRole
from loans.close import close_through
from loans.models import Loan
from members.models import Branch
from tests.factories import staff_user
from tests.loans.factories import Staff, active_loan, borrower

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
FIRST_DUE = date(2026, 2, 15)
# Five days late, past the three days of grace: each loan has an open case.
CASE_DAY = FIRST_DUE + timedelta(days=5)
TRADING_DAY = CASE_DAY + timedelta(days=1)

CASES = "/api/v1/collection-cases/"
MESSAGES = "/api/v1/messages/"
HARDSHIP = "/api/v1/hardship-requests/"

CASE_FIELDS = {
    "id",
    "loan",
    "stage",
    "status",
    "collector",
    "opened_on",
    "next_action_on",
    "cause",
}
CONTACT_FIELDS = {
    "id",
    "channel",
    "party",
    "emergency_contact",
    "at",
    "by",
    "outcome",
    "note",
    "promise_date",
    "promise_amount",
    "promise",
}
MESSAGE_FIELDS = {
    "id",
    "purpose",
    "channel",
    "audience",
    "status",
    "scheduled_for",
    "sent_at",
}
HARDSHIP_FIELDS = {
    "id",
    "loan",
    "cause",
    "installments",
    "note",
    "status",
    "requested_on",
    "requested_by",
    "decided_on",
    "decided_by",
    "decision_note",
}


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI)


class Clock:
    """What `timezone.now()` answers while a test runs."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Mid-morning of the trading day, unless a test moves the clock."""
    clock = Clock(_at(TRADING_DAY, 10))
    monkeypatch.setattr("collection.api.timezone.now", clock)
    return clock


def as_user(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def overdue_loans(branch: Branch, count: int = 1) -> list[Loan]:
    """Loans of `branch` that the close has made overdue, each with a case."""
    staff = Staff()
    loans = [
        active_loan(staff=staff, member=borrower(branch=branch)) for _ in range(count)
    ]
    close_through(until=CASE_DAY)
    for loan in loans:
        loan.refresh_from_db()
        assert loan.state == Loan.State.OVERDUE
    return loans


@pytest.fixture
def loan(branch: Branch, collector: User) -> Loan:
    """Made after the collector, so the close gives them its case."""
    [loan] = overdue_loans(branch)
    return loan


@pytest.fixture
def case(loan: Loan) -> CollectionCase:
    return CollectionCase.objects.get(loan=loan)


def contacts_url(case: CollectionCase) -> str:
    return f"{CASES}{case.pk}/contacts/"


def call(**changes: Any) -> dict[str, Any]:
    return {"channel": "call", "outcome": "no_answer", "note": "", **changes}


def ids(response: Any) -> set[int]:
    return {row["id"] for row in response.json()["results"]}


# Cases


def test_a_collector_lists_the_cases_of_their_branch(
    collector: User, case: CollectionCase
) -> None:
    response = as_user(collector).get(CASES)

    assert response.status_code == 200
    [row] = response.json()["results"]
    assert set(row) == CASE_FIELDS
    assert row["id"] == case.pk
    assert row["loan"] == case.loan_id
    assert row["stage"] == Stage.EARLY
    assert row["status"] == CollectionCase.Status.OPEN
    assert row["collector"] == collector.username
    assert row["opened_on"] == CASE_DAY.isoformat()


def test_a_collector_of_another_branch_sees_no_case(
    other_branch: Branch, case: CollectionCase
) -> None:
    stranger = staff_user(StaffRole.COLLECTOR, branches=(other_branch,))
    client = as_user(stranger)

    assert client.get(CASES).json()["results"] == []
    assert client.get(f"{CASES}{case.pk}/").status_code == 404
    assert client.post(contacts_url(case), call()).status_code == 404


def test_a_risk_officer_sees_the_cases_of_every_branch(
    risk_officer: User, case: CollectionCase
) -> None:
    assert ids(as_user(risk_officer).get(CASES)) == {case.pk}


def test_cases_are_hidden_from_a_user_without_the_view_permission(
    leader: User, case: CollectionCase
) -> None:
    assert as_user(leader).get(CASES).status_code == 403


def test_the_list_filters_by_loan_stage_and_status(
    branch: Branch, collector: User
) -> None:
    first, second = overdue_loans(branch, count=2)
    promised = CollectionCase.objects.get(loan=first)
    other = CollectionCase.objects.get(loan=second)
    client = as_user(collector)
    client.post(
        contacts_url(promised),
        call(
            outcome="promised",
            promise_date=(TRADING_DAY + timedelta(days=3)).isoformat(),
            promise_amount="300.00",
        ),
    )

    assert ids(client.get(CASES, {"loan": second.pk})) == {other.pk}
    assert ids(client.get(CASES, {"status": "promised"})) == {promised.pk}
    assert ids(client.get(CASES, {"status": "open"})) == {other.pk}
    assert ids(client.get(CASES, {"stage": "early"})) == {promised.pk, other.pk}
    assert ids(client.get(CASES, {"stage": "mid"})) == set()
    assert client.get(CASES, {"stage": "nonsense"}).status_code == 400


def test_the_list_runs_the_same_queries_whatever_the_page_size(
    branch: Branch, collector: User
) -> None:
    overdue_loans(branch, count=6)
    client = as_user(collector)
    client.get(CASES, {"page_size": 1})  # Warms caches that are not per request.

    with CaptureQueriesContext(connection) as small:
        small_page = client.get(CASES, {"page_size": 2})
    with CaptureQueriesContext(connection) as large:
        large_page = client.get(CASES, {"page_size": 6})

    assert len(small_page.json()["results"]) == 2
    assert len(large_page.json()["results"]) == 6
    assert len(large) == len(small)


def test_a_case_shows_its_contacts(collector: User, case: CollectionCase) -> None:
    client = as_user(collector)
    client.post(contacts_url(case), call(note="无人接听"))

    response = client.get(f"{CASES}{case.pk}/")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == CASE_FIELDS | {"contacts"}
    [contact] = body["contacts"]
    assert set(contact) == CONTACT_FIELDS
    assert contact["note"] == "无人接听"
    assert contact["by"] == collector.username


# Contacts


def test_a_collector_records_a_promise_to_pay(
    collector: User, case: CollectionCase
) -> None:
    promised_for = TRADING_DAY + timedelta(days=3)

    response = as_user(collector).post(
        contacts_url(case),
        call(
            outcome="promised",
            note="周五前还三百",
            promise_date=promised_for.isoformat(),
            promise_amount="300.00",
        ),
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == CONTACT_FIELDS
    assert body["channel"] == Contact.Channel.CALL
    assert body["party"] == Contact.Party.BORROWER
    assert body["promise_amount"] == "300.00"
    assert body["promise"] == Contact.Promise.PENDING
    assert body["by"] == collector.username
    contact = Contact.objects.get(pk=body["id"])
    assert contact.at == _at(TRADING_DAY, 10)
    case.refresh_from_db()
    assert case.status == CollectionCase.Status.PROMISED
    assert case.next_action_on == promised_for + timedelta(days=1)


def test_a_night_call_is_refused_naming_the_quiet_hours(
    clock: Clock, collector: User, case: CollectionCase
) -> None:
    clock.at = _at(TRADING_DAY, 22, 30)

    response = as_user(collector).post(contacts_url(case), call())

    assert response.status_code == 400
    assert set(response.json()) == {"quiet_hours"}
    assert not Contact.objects.exists()


def test_the_seventh_call_of_the_day_is_refused_naming_the_call_limit(
    clock: Clock, collector: User, case: CollectionCase
) -> None:
    client = as_user(collector)
    for hour in range(9, 15):
        clock.at = _at(TRADING_DAY, hour)
        assert client.post(contacts_url(case), call()).status_code == 201

    clock.at = _at(TRADING_DAY, 16)
    response = client.post(contacts_url(case), call())

    assert response.status_code == 400
    assert set(response.json()) == {"call_limit"}
    assert Contact.objects.count() == 6


def test_an_undesignated_third_party_is_refused(
    collector: User, case: CollectionCase
) -> None:
    response = as_user(collector).post(
        contacts_url(case),
        call(party="emergency_contact", restoring_contact=True),
    )

    assert response.status_code == 400
    assert set(response.json()) == {"third_party"}


def test_a_contact_with_an_unknown_channel_names_the_field(
    collector: User, case: CollectionCase
) -> None:
    response = as_user(collector).post(contacts_url(case), call(channel="pigeon"))

    assert response.status_code == 400
    assert "channel" in response.json()


def test_an_auditor_cannot_record_a_contact(
    auditor: User, case: CollectionCase
) -> None:
    response = as_user(auditor).post(contacts_url(case), call())

    assert response.status_code == 403
    assert not Contact.objects.exists()


# Messages


def test_staff_list_a_loans_messages_without_their_text(
    collector: User, loan: Loan
) -> None:
    sent = Message.objects.filter(loan=loan)
    assert sent.exists()

    response = as_user(collector).get(MESSAGES, {"loan": loan.pk})

    assert response.status_code == 200
    rows = response.json()["results"]
    assert {row["id"] for row in rows} == set(sent.values_list("pk", flat=True))
    for row in rows:
        assert set(row) == MESSAGE_FIELDS
    assert as_user(collector).get(MESSAGES, {"loan": loan.pk + 1000}).json() == {
        "count": 0,
        "next": None,
        "previous": None,
        "results": [],
    }


def test_a_collector_of_another_branch_sees_no_message(
    other_branch: Branch, loan: Loan
) -> None:
    stranger = staff_user(StaffRole.COLLECTOR, branches=(other_branch,))

    assert as_user(stranger).get(MESSAGES).json()["results"] == []


def test_messages_are_hidden_from_a_user_without_the_view_permission(
    leader: User, loan: Loan
) -> None:
    assert as_user(leader).get(MESSAGES).status_code == 403


# Hardship plans


def ask(client: APIClient, loan: Loan, **changes: Any) -> Any:
    body = {"cause": "accident_illness", "installments": 6, "note": "住院两周"}
    return client.post(f"/api/v1/loans/{loan.pk}/hardship-requests/", body | changes)


def test_a_collector_asks_for_a_plan_and_another_officer_approves_it(
    collector: User, risk_officer: User, loan: Loan
) -> None:
    asked = ask(as_user(collector), loan)

    assert asked.status_code == 201, asked.json()
    body = asked.json()
    assert set(body) == HARDSHIP_FIELDS
    assert body["loan"] == loan.pk
    assert body["cause"] == Cause.ACCIDENT_ILLNESS
    assert body["installments"] == 6
    assert body["status"] == HardshipRequest.Status.REQUESTED
    assert body["requested_on"] == TRADING_DAY.isoformat()
    assert body["requested_by"] == collector.username

    approved = as_user(risk_officer).post(
        f"{HARDSHIP}{body['id']}/approve/", {"note": "收入证明齐全"}
    )

    assert approved.status_code == 200, approved.json()
    decided = approved.json()
    assert decided["status"] == HardshipRequest.Status.APPROVED
    assert decided["decided_by"] == risk_officer.username
    assert decided["decision_note"] == "收入证明齐全"
    loan.refresh_from_db()
    assert loan.state == Loan.State.ACTIVE
    assert loan.restructure_count == 1


def test_nobody_approves_a_plan_they_asked_for(risk_officer: User, loan: Loan) -> None:
    client = as_user(risk_officer)
    request_id = ask(client, loan).json()["id"]

    response = client.post(f"{HARDSHIP}{request_id}/approve/", {})

    assert response.status_code == 403
    assert HardshipRequest.objects.get(pk=request_id).status == "requested"
    loan.refresh_from_db()
    assert loan.state == Loan.State.OVERDUE


def test_refusing_a_plan_needs_a_reason(
    collector: User, risk_officer: User, loan: Loan
) -> None:
    request_id = ask(as_user(collector), loan).json()["id"]
    client = as_user(risk_officer)

    without = client.post(f"{HARDSHIP}{request_id}/refuse/", {})
    refused = client.post(f"{HARDSHIP}{request_id}/refuse/", {"reason": "收入证明不足"})

    assert without.status_code == 400
    assert "reason" in without.json()
    assert refused.status_code == 200
    assert refused.json()["status"] == HardshipRequest.Status.REFUSED
    assert refused.json()["decision_note"] == "收入证明不足"


def test_a_collector_cannot_decide_a_plan(collector: User, loan: Loan) -> None:
    request_id = ask(as_user(collector), loan).json()["id"]

    response = as_user(collector).post(f"{HARDSHIP}{request_id}/approve/", {})

    assert response.status_code == 403


def test_a_second_request_while_one_waits_names_the_loan(
    collector: User, loan: Loan
) -> None:
    client = as_user(collector)
    assert ask(client, loan).status_code == 201

    again = ask(client, loan, installments=12)

    assert again.status_code == 400
    assert "loan" in again.json()


def test_a_plan_of_four_installments_names_the_field(
    collector: User, loan: Loan
) -> None:
    response = ask(as_user(collector), loan, installments=4)

    assert response.status_code == 400
    assert "installments" in response.json()


def test_hardship_requests_are_listed_within_the_branches(
    collector: User, other_branch: Branch, loan: Loan
) -> None:
    request_id = ask(as_user(collector), loan).json()["id"]
    stranger = staff_user(StaffRole.COLLECTOR, branches=(other_branch,))

    assert ids(as_user(collector).get(HARDSHIP)) == {request_id}
    assert as_user(stranger).get(HARDSHIP).json()["results"] == []
    assert ask(as_user(stranger), loan).status_code == 404


# Signing in, and the schema


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", CASES),
        ("get", MESSAGES),
        ("get", HARDSHIP),
        ("post", f"{CASES}1/contacts/"),
        ("post", "/api/v1/loans/1/hardship-requests/"),
        ("post", f"{HARDSHIP}1/approve/"),
    ],
)
def test_an_anonymous_caller_is_asked_to_sign_in(
    api_client: APIClient, method: str, url: str
) -> None:
    response = getattr(api_client, method)(url)

    assert response.status_code == 401


def test_the_schema_documents_the_collection_endpoints(
    api_client: APIClient,
) -> None:
    response = api_client.get(
        "/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json"
    )

    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in (
        "/api/v1/collection-cases/",
        "/api/v1/collection-cases/{id}/",
        "/api/v1/collection-cases/{id}/contacts/",
        "/api/v1/messages/",
        "/api/v1/loans/{id}/hardship-requests/",
        "/api/v1/hardship-requests/",
        "/api/v1/hardship-requests/{id}/approve/",
        "/api/v1/hardship-requests/{id}/refuse/",
    ):
        assert path in paths, path
    components = response.json()["components"]["schemas"]
    assert set(components["Message"]["properties"]) == MESSAGE_FIELDS
    assert set(components["CaseDetail"]["properties"]) == CASE_FIELDS | {"contacts"}

"""The alerts API: a paginated, filtered list scoped to the user's branches,
and acknowledging and resolving for those who may handle alerts."""

from datetime import date
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from members.models import Branch, Member
from risk.models import Alert, Severity, WarningRule
from risk.services import alert_assign, alert_resolve
from tests.factories import BranchFactory, MemberFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/risk/alerts/"
_keys = iter(range(10**6))


def make_alert(
    kind: str = WarningRule.Kind.SCORE_DROP,
    *,
    branch: Branch | None = None,
    member: Member | None = None,
    **fields: Any,
) -> Alert:
    member = member or MemberFactory(branch=branch or BranchFactory())
    values: dict[str, Any] = {
        "rule": WarningRule.objects.get(kind=kind),
        "severity": Severity.WARNING,
        "subject": f"Member {member.pk} {member.real_name}: score fell",
        "branch": member.branch,
        "member": member,
        "evidence": {"total": 510, "drop": 80, "threshold": "80.0000"},
        "raised_on": date(2026, 6, 30),
        "dedupe_key": f"test:{next(_keys)}",
        **fields,
    }
    return Alert.objects.create(**values)


def as_user(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_the_list_answers_each_alert_in_the_documented_shape(
    risk_officer: User,
) -> None:
    alert = make_alert()
    alert_assign(alert=alert, assignee=risk_officer, by=risk_officer)

    response = as_user(risk_officer).get(URL)

    assert response.status_code == 200
    assert response.json()["count"] == 1
    assert response.json()["results"] == [
        {
            "id": alert.pk,
            "rule": "score_drop",
            "severity": "warning",
            "subject": alert.subject,
            "branch": alert.branch_id,
            "member": alert.member_id,
            "loan": None,
            "evidence": {"total": 510, "drop": 80, "threshold": "80.0000"},
            "raised_on": "2026-06-30",
            "status": "open",
            "assignee": risk_officer.username,
            "note": "",
        }
    ]


def test_one_alert_is_read_by_id(auditor: User) -> None:
    alert = make_alert()

    response = as_user(auditor).get(f"{URL}{alert.pk}/")

    assert response.status_code == 200
    assert response.json()["id"] == alert.pk


def test_the_list_filters_by_status_severity_and_rule(risk_officer: User) -> None:
    ring = make_alert(WarningRule.Kind.GUARANTOR_RING, severity=Severity.CRITICAL)
    drop = make_alert()
    done = make_alert()
    alert_resolve(alert=done, by=risk_officer, note="已处理")
    client = as_user(risk_officer)

    def ids(**query: str) -> set[int]:
        return {row["id"] for row in client.get(URL, query).json()["results"]}

    assert ids(status="open") == {ring.pk, drop.pk}
    assert ids(status="resolved") == {done.pk}
    assert ids(severity="critical") == {ring.pk}
    assert ids(rule="guarantor_ring") == {ring.pk}
    assert ids(rule="score_drop", status="open") == {drop.pk}
    assert client.get(URL, {"rule": "no_such_rule"}).status_code == 400


def test_a_branch_leader_reads_only_the_alerts_of_their_branch(
    leader: User, branch: Branch
) -> None:
    mine = make_alert(branch=branch)
    other = make_alert()
    book = make_alert(member=None, branch=None)
    Alert.objects.filter(pk=book.pk).update(branch=None, member=None)
    client = as_user(leader)

    listed = {row["id"] for row in client.get(URL).json()["results"]}

    assert listed == {mine.pk}
    assert client.get(f"{URL}{other.pk}/").status_code == 404
    assert client.get(f"{URL}{book.pk}/").status_code == 404


def test_staff_without_the_view_permission_read_nothing(collector: User) -> None:
    make_alert()

    assert as_user(collector).get(URL).status_code == 403


def test_the_list_costs_the_same_queries_for_many_alerts(risk_officer: User) -> None:
    client = as_user(risk_officer)
    make_alert()
    client.get(URL)  # the user's permissions are cached from here on
    with CaptureQueriesContext(connection) as few:
        client.get(URL)
    for _ in range(5):
        alert = make_alert(WarningRule.Kind.APPLICATION_BURST)
        alert_assign(alert=alert, assignee=risk_officer, by=risk_officer)
    with CaptureQueriesContext(connection) as many:
        response = client.get(URL)

    assert response.json()["count"] == 6
    assert len(many) == len(few)


def test_a_risk_officer_acknowledges_with_a_note(risk_officer: User) -> None:
    alert = make_alert()

    response = as_user(risk_officer).post(
        f"{URL}{alert.pk}/acknowledge/", {"note": "已安排走访"}
    )

    assert response.status_code == 200
    assert response.json()["status"] == "acknowledged"
    assert response.json()["note"] == "已安排走访"
    alert.refresh_from_db()
    assert alert.acknowledged_by == risk_officer


def test_a_risk_officer_resolves_with_a_note(risk_officer: User) -> None:
    alert = make_alert()

    response = as_user(risk_officer).post(
        f"{URL}{alert.pk}/resolve/", {"note": "成员已补充收入证明"}
    )

    assert response.status_code == 200
    assert response.json()["status"] == "resolved"
    alert.refresh_from_db()
    assert alert.resolved_by == risk_officer


@pytest.mark.parametrize("body", [{}, {"note": ""}, {"note": "   "}])
def test_resolving_without_a_note_is_a_400_naming_the_note(
    risk_officer: User, body: dict[str, str]
) -> None:
    alert = make_alert()

    response = as_user(risk_officer).post(f"{URL}{alert.pk}/resolve/", body)

    assert response.status_code == 400
    assert list(response.json()) == ["note"]
    alert.refresh_from_db()
    assert alert.status == Alert.Status.OPEN


def test_resolving_a_resolved_alert_is_a_400_naming_the_status(
    risk_officer: User,
) -> None:
    alert = make_alert()
    alert_resolve(alert=alert, by=risk_officer, note="已处理")

    response = as_user(risk_officer).post(
        f"{URL}{alert.pk}/resolve/", {"note": "再处理一次"}
    )

    assert response.status_code == 400
    assert list(response.json()) == ["status"]


@pytest.mark.parametrize("move", ["acknowledge", "resolve"])
def test_readers_may_not_handle_alerts(
    auditor: User, leader: User, branch: Branch, move: str
) -> None:
    alert = make_alert(branch=branch)

    for user in (auditor, leader):
        response = as_user(user).post(f"{URL}{alert.pk}/{move}/", {"note": "试试"})
        assert response.status_code == 403

    alert.refresh_from_db()
    assert alert.status == Alert.Status.OPEN

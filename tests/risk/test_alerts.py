"""Alerts are acknowledged, assigned and resolved with a note, through
services that refuse the moves that make no sense."""

from datetime import date

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError

from config.roles import StaffRole
from risk.models import Alert, Severity, WarningRule
from risk.services import alert_acknowledge, alert_assign, alert_resolve
from tests.factories import BranchFactory, staff_user

pytestmark = pytest.mark.django_db


def make_alert(**fields: object) -> Alert:
    rule = WarningRule.objects.get(kind=WarningRule.Kind.BRANCH_PAR30)
    branch = BranchFactory()
    values: dict[str, object] = {
        "rule": rule,
        "severity": Severity.CRITICAL,
        "subject": f"Branch {branch.name}: PAR 30 of 15.0 % is above 10.0 %",
        "branch": branch,
        "evidence": {"par30": "0.150000"},
        "raised_on": date(2026, 6, 30),
        "dedupe_key": f"test:{branch.pk}",
        **fields,
    }
    return Alert.objects.create(**values)


def test_acknowledging_an_open_alert_records_who_and_when(risk_officer: User) -> None:
    alert = alert_acknowledge(
        alert=make_alert(), by=risk_officer, note="正在核查该支部逾期名单"
    )

    alert.refresh_from_db()
    assert alert.status == Alert.Status.ACKNOWLEDGED
    assert alert.acknowledged_by == risk_officer
    assert alert.acknowledged_at is not None
    assert alert.note == "正在核查该支部逾期名单"


def test_acknowledging_twice_is_refused(risk_officer: User) -> None:
    alert = alert_acknowledge(alert=make_alert(), by=risk_officer)

    with pytest.raises(ValidationError) as refused:
        alert_acknowledge(alert=alert, by=risk_officer)

    assert "status" in refused.value.message_dict


def test_resolving_keeps_the_acknowledgement_note_and_adds_its_own(
    risk_officer: User,
) -> None:
    alert = alert_acknowledge(alert=make_alert(), by=risk_officer, note="已联系支部")

    alert = alert_resolve(alert=alert, by=risk_officer, note="  暂停放款并催收  ")

    alert.refresh_from_db()
    assert alert.status == Alert.Status.RESOLVED
    assert alert.resolved_by == risk_officer
    assert alert.resolved_at is not None
    assert alert.note == "已联系支部\n暂停放款并催收"


def test_an_open_alert_can_be_resolved_without_acknowledging_first(
    risk_officer: User,
) -> None:
    alert = alert_resolve(alert=make_alert(), by=risk_officer, note="误报")

    assert alert.status == Alert.Status.RESOLVED
    assert alert.acknowledged_by is None


@pytest.mark.parametrize("note", ["", "   "])
def test_resolving_without_a_note_is_refused_naming_the_note(
    risk_officer: User, note: str
) -> None:
    alert = make_alert()

    with pytest.raises(ValidationError) as refused:
        alert_resolve(alert=alert, by=risk_officer, note=note)

    assert list(refused.value.message_dict) == ["note"]
    alert.refresh_from_db()
    assert alert.status == Alert.Status.OPEN


def test_a_resolved_alert_cannot_be_resolved_acknowledged_or_assigned(
    risk_officer: User,
) -> None:
    alert = alert_resolve(alert=make_alert(), by=risk_officer, note="已处理")

    for attempt in (
        lambda: alert_resolve(alert=alert, by=risk_officer, note="再次处理"),
        lambda: alert_acknowledge(alert=alert, by=risk_officer),
        lambda: alert_assign(alert=alert, assignee=risk_officer, by=risk_officer),
    ):
        with pytest.raises(ValidationError) as refused:
            attempt()
        assert "status" in refused.value.message_dict
    alert.refresh_from_db()
    assert alert.note == "已处理"


def test_an_alert_is_assigned_to_someone_who_may_handle_alerts(
    risk_officer: User,
) -> None:
    colleague = staff_user(StaffRole.RISK_OFFICER)

    alert = alert_assign(alert=make_alert(), assignee=colleague, by=risk_officer)

    alert.refresh_from_db()
    assert alert.assignee == colleague


def test_assigning_to_someone_who_may_not_handle_alerts_is_refused(
    risk_officer: User, auditor: User
) -> None:
    alert = make_alert()

    with pytest.raises(ValidationError) as refused:
        alert_assign(alert=alert, assignee=auditor, by=risk_officer)

    assert list(refused.value.message_dict) == ["assignee"]


def test_log_lines_name_the_alert_and_user_ids_only(
    risk_officer: User, caplog: pytest.LogCaptureFixture
) -> None:
    alert = make_alert()
    with caplog.at_level("INFO", logger="risk.services"):
        alert_resolve(alert=alert, by=risk_officer, note="已处理")

    assert f"Alert {alert.pk}: resolved by user {risk_officer.pk}" in caplog.text
    assert risk_officer.username not in caplog.text

"""Alerts are acknowledged, assigned and resolved with a note, through
services that refuse the moves that make no sense."""

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.contrib import messages
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from config.roles import StaffRole
from members.models import Branch
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


# The back-office


def changelist() -> str:
    return reverse("admin:risk_alert_changelist")


def act(client: Client, action: str, alerts: list[Alert], **extra: str) -> Any:
    return client.post(
        changelist(),
        {"action": action, "_selected_action": [a.pk for a in alerts], **extra},
    )


def test_a_risk_officer_acknowledges_alerts_from_the_list(
    client: Client, risk_officer: User
) -> None:
    alert = make_alert()
    client.force_login(risk_officer)

    response = act(client, "acknowledge", [alert])

    assert response.status_code == 302
    alert.refresh_from_db()
    assert alert.status == Alert.Status.ACKNOWLEDGED
    assert alert.acknowledged_by == risk_officer


def test_resolving_from_the_list_asks_for_a_note_first(
    client: Client, risk_officer: User
) -> None:
    alert = make_alert()
    client.force_login(risk_officer)

    asked = act(client, "resolve", [alert])

    assert asked.status_code == 200
    assert b'name="note"' in asked.content
    alert.refresh_from_db()
    assert alert.status == Alert.Status.OPEN

    blank = act(client, "resolve", [alert], note="  ")
    assert blank.status_code == 200
    alert.refresh_from_db()
    assert alert.status == Alert.Status.OPEN

    done = act(client, "resolve", [alert], note="支部长已约谈逾期成员")
    assert done.status_code == 302
    alert.refresh_from_db()
    assert alert.status == Alert.Status.RESOLVED
    assert alert.note == "支部长已约谈逾期成员"


def test_a_refused_move_is_reported_on_its_row(
    client: Client, risk_officer: User
) -> None:
    done = alert_resolve(alert=make_alert(), by=risk_officer, note="已处理")
    client.force_login(risk_officer)

    response = client.post(
        changelist(),
        {"action": "acknowledge", "_selected_action": [done.pk]},
        follow=True,
    )

    [message] = list(response.context["messages"])
    assert message.level == messages.ERROR
    assert str(done) in message.message
    done.refresh_from_db()
    assert done.status == Alert.Status.RESOLVED


def test_assign_to_me_gives_the_alert_to_the_officer(
    client: Client, risk_officer: User
) -> None:
    alert = make_alert()
    client.force_login(risk_officer)

    act(client, "assign_to_me", [alert])

    alert.refresh_from_db()
    assert alert.assignee == risk_officer


def test_an_auditor_reads_alerts_but_cannot_handle_them(
    client: Client, auditor: User
) -> None:
    alert = make_alert()
    client.force_login(auditor)

    listing = client.get(changelist())
    assert listing.status_code == 200
    assert alert.subject in listing.content.decode()
    assert b'value="acknowledge"' not in listing.content

    act(client, "acknowledge", [alert])
    act(client, "resolve", [alert], note="审计不应能处理")

    alert.refresh_from_db()
    assert alert.status == Alert.Status.OPEN


def test_the_alert_page_shows_the_evidence_pretty_printed(
    client: Client, auditor: User
) -> None:
    alert = make_alert(evidence={"par30": "0.150000", "loans_outstanding": 6})
    client.force_login(auditor)

    page = client.get(reverse("admin:risk_alert_change", args=[alert.pk]))

    assert page.status_code == 200
    assert "<pre>{\n  &quot;loans_outstanding&quot;: 6," in page.content.decode()


def test_a_branch_leader_sees_only_the_alerts_of_their_branch(
    client: Client, leader: User, branch: Branch
) -> None:
    mine = make_alert(branch=branch, dedupe_key="mine", subject="本支部的预警")
    make_alert(subject="别的支部的预警")
    make_alert(branch=None, dedupe_key="book", subject="全行的预警")
    client.force_login(leader)

    page = client.get(changelist()).content.decode()

    assert mine.subject in page
    assert "别的支部的预警" not in page
    assert "全行的预警" not in page


def test_alerts_filter_by_status(client: Client, risk_officer: User) -> None:
    make_alert(subject="待处理预警")
    done = make_alert(subject="已解决预警")
    alert_resolve(alert=done, by=risk_officer, note="已处理")
    client.force_login(risk_officer)

    page = client.get(changelist(), {"status__exact": "open"}).content.decode()

    assert "待处理预警" in page
    assert "已解决预警" not in page


def test_a_risk_officer_edits_a_rule_and_is_recorded(
    client: Client, risk_officer: User
) -> None:
    rule = WarningRule.objects.get(kind=WarningRule.Kind.BRANCH_PAR30)
    client.force_login(risk_officer)
    url = reverse("admin:risk_warningrule_change", args=[rule.pk])

    page = client.get(url)
    assert "PAR 30 above this share" in page.content.decode()

    response = client.post(
        url,
        {
            "enabled": "on",
            "severity": "critical",
            "threshold": "0.0800",
            "window_days": "0",
            "pauses_branch": "on",
            "kind": "score_drop",
        },
    )

    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.threshold == Decimal("0.0800")
    assert rule.pauses_branch is True
    assert rule.kind == WarningRule.Kind.BRANCH_PAR30
    assert rule.updated_by == risk_officer


def test_rules_are_neither_added_nor_deleted_and_auditors_only_read(
    client: Client, risk_officer: User, auditor: User
) -> None:
    rule = WarningRule.objects.get(kind=WarningRule.Kind.SCORE_DROP)
    client.force_login(risk_officer)
    assert client.get(reverse("admin:risk_warningrule_add")).status_code == 403
    delete = reverse("admin:risk_warningrule_delete", args=[rule.pk])
    assert client.get(delete).status_code == 403

    client.force_login(auditor)
    url = reverse("admin:risk_warningrule_change", args=[rule.pk])
    assert client.get(url).status_code == 200
    client.post(url, {"enabled": "", "severity": "info", "threshold": "1"})
    rule.refresh_from_db()
    assert rule.enabled is True
    assert rule.threshold == Decimal(80)

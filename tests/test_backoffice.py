"""The admin index: today's work for the signed-in member of staff."""

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from collection.models import CollectionCase
from config.backoffice import cases_due_for_action, loans_awaiting_approval_by
from config.roles import StaffRole
from loans import services
from loans.close import close_through
from loans.models import BusinessDay, Loan
from members.models import Branch
from risk.models import Alert, Severity, WarningRule
from tests.factories import staff_user
from tests.loans.factories import ON, ProductFactory, Staff, active_loan, borrower

pytestmark = pytest.mark.django_db

INDEX = reverse("admin:index")
# Past grace and past the ladder's first case, for a loan made on ON.
LATE_DAY = date(2026, 2, 15) + timedelta(days=31)


@pytest.fixture(autouse=True)
def _english(settings: Any) -> None:
    settings.LANGUAGE_CODE = "en"


def applied(branch: Branch, principal: str = "1500.00") -> Loan:
    """An application keyed by the branch's clerk, which needs two levels."""
    clerk = staff_user(StaffRole.BRANCH_LEADER, branches=(branch,))
    return services.loan_apply(
        member=borrower(branch=branch),
        product=ProductFactory(second_approval_above=Decimal("1000.00")),
        principal=Decimal(principal),
        term_months=3,
        by=clerk,
        on=ON,
    )


def index_of(user: User) -> str:
    client = Client()
    client.force_login(user)
    response = client.get(INDEX)
    assert response.status_code == 200
    return response.content.decode()


def test_a_leader_sees_the_applications_of_their_branch_awaiting_level_one(
    branch: Branch, other_branch: Branch, leader: User
) -> None:
    mine = applied(branch)
    theirs = applied(other_branch)

    html = index_of(leader)

    assert "1 application waiting for your approval" in html
    assert mine.number in html
    assert theirs.number not in html
    assert "1 / 2" in html


def test_a_signed_level_moves_the_application_to_the_risk_officer(
    branch: Branch, leader: User, risk_officer: User
) -> None:
    loan = applied(branch)

    services.loan_approve(loan=loan, by=leader, comment="同意", on=ON)

    assert list(loans_awaiting_approval_by(leader)) == []
    assert list(loans_awaiting_approval_by(risk_officer)) == [loan]
    assert "2 / 2" in index_of(risk_officer)


def test_nobody_is_asked_to_approve_an_application_they_keyed(
    branch: Branch,
) -> None:
    loan = applied(branch)
    clerk = loan.applied_by
    assert clerk is not None

    assert list(loans_awaiting_approval_by(clerk)) == []


def test_an_auditor_reads_the_lists_but_is_asked_to_approve_nothing(
    branch: Branch, auditor: User
) -> None:
    applied(branch)

    html = index_of(auditor)

    assert "0 applications waiting for your approval" in html
    assert "Nothing is waiting for you." in html
    assert "Last close of business" in html


def test_cases_due_today_are_listed_for_the_branch_collector(
    branch: Branch, other_branch: Branch, collector: User
) -> None:
    staff = Staff()
    mine = active_loan(staff=staff, member=borrower(branch=branch))
    active_loan(staff=staff, member=borrower(branch=other_branch))
    close_through(until=LATE_DAY)
    case = CollectionCase.objects.get(loan=mine)
    on = case.next_action_on

    assert list(cases_due_for_action(collector, on)) == [case]
    assert list(cases_due_for_action(collector, on - timedelta(days=1))) == []
    html = index_of(collector)
    assert reverse("admin:collection_collectioncase_change", args=[case.pk]) in html


def test_the_last_close_shows_its_steps_and_rows(risk_officer: User) -> None:
    close_through(until=ON)
    day = BusinessDay.objects.get(on=ON)
    steps = list(day.steps.all())
    assert steps

    html = index_of(risk_officer)

    assert f"closed, {len(steps)} steps, {sum(s.rows for s in steps)} rows." in html
    for step in steps:
        assert f"<td>{step.name}</td>" in html


def test_an_unfinished_close_says_how_to_resume_it(risk_officer: User) -> None:
    BusinessDay.objects.create(on=ON)

    html = index_of(risk_officer)

    assert "not finished: 0 steps done." in html


def test_open_alerts_of_other_branches_stay_hidden_from_a_leader(
    branch: Branch, other_branch: Branch, leader: User, risk_officer: User
) -> None:
    rule = WarningRule.objects.get(kind=WarningRule.Kind.BRANCH_PAR30)
    for where in (branch, other_branch):
        Alert.objects.create(
            rule=rule,
            severity=Severity.CRITICAL,
            subject=f"PAR 30 high at {where.name}",
            branch=where,
            raised_on=ON,
            dedupe_key=f"test:{where.pk}",
        )

    leader_sees = index_of(leader)
    officer_sees = index_of(risk_officer)

    assert f"PAR 30 high at {branch.name}" in leader_sees
    assert f"PAR 30 high at {other_branch.name}" not in leader_sees
    assert "2 open alerts" in officer_sees

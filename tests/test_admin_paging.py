"""Long admin lists: counted from PostgreSQL's estimate when they show a
whole large table, exactly when filtered; filtered by branch without
reading the table; and only the user's branches in either case."""

from datetime import date
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from config import admin_paging
from config.admin_paging import EstimatedCountPaginator
from loans.close import close_through
from loans.models import Loan
from members.models import Branch
from tests.factories import BranchFactory
from tests.loans.factories import Staff, active_loan, borrower

pytestmark = pytest.mark.django_db

LOANS = reverse("admin:loans_loan_changelist")
ENTRIES = reverse("admin:loans_journalentry_changelist")


@pytest.fixture
def loans(branch: Branch, other_branch: Branch) -> list[Loan]:
    staff = Staff()
    return [
        active_loan(staff=staff, member=borrower(branch=branch)),
        active_loan(staff=staff, member=borrower(branch=branch)),
        active_loan(staff=staff, member=borrower(branch=other_branch)),
    ]


def _changelist(user: User, url: str) -> tuple[Any, list[str]]:
    client = Client()
    client.force_login(user)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return response.context["cl"], [q["sql"] for q in captured.captured_queries]


def _counts(queries: list[str], table: str) -> list[str]:
    return [sql for sql in queries if "COUNT(" in sql and f'"{table}"' in sql]


@pytest.mark.postgres
def test_an_unfiltered_long_list_is_counted_from_the_planners_estimate(
    loans: list[Loan], risk_officer: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Three rows stand for a large table: any estimate is "large" here.
    monkeypatch.setattr(admin_paging, "ESTIMATE_FROM", 1)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE loans_journalentry")
    estimate = admin_paging.table_estimate("loans_journalentry")
    assert estimate is not None
    assert estimate > 0

    changelist, queries = _changelist(risk_officer, ENTRIES)

    assert isinstance(changelist.paginator, EstimatedCountPaginator)
    assert changelist.paginator.estimate == estimate
    assert changelist.result_count == estimate
    assert _counts(queries, "loans_journalentry") == []
    assert len(changelist.result_list) == 3


@pytest.mark.postgres
def test_a_filtered_long_list_is_counted_exactly(
    loans: list[Loan], risk_officer: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(admin_paging, "ESTIMATE_FROM", 1)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE loans_loan")

    changelist, queries = _changelist(risk_officer, f"{LOANS}?state__exact=active")

    assert changelist.paginator.estimate is None
    assert changelist.result_count == 3
    assert len(_counts(queries, "loans_loan")) == 1


def test_a_list_of_some_branches_is_counted_exactly_once(
    loans: list[Loan], leader: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(admin_paging, "ESTIMATE_FROM", 1)

    changelist, queries = _changelist(leader, LOANS)

    # Only the leader's branch, counted exactly, and no second count of
    # the whole table for "N of M".
    assert changelist.paginator.estimate is None
    assert changelist.result_count == 2
    assert changelist.full_result_count is None
    assert len(_counts(queries, "loans_loan")) == 1


def test_a_page_past_the_estimate_is_read_rather_than_refused(
    loans: list[Loan], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(admin_paging, "table_estimate", lambda table: 250_000)

    paginator = EstimatedCountPaginator(Loan.objects.order_by("pk"), 2)

    assert paginator.count == 250_000
    assert [loan.pk for loan in paginator.page(2)] == [loans[2].pk]
    assert list(paginator.page(3)) == []


def test_the_branch_filter_offers_the_users_branches_and_filters_by_them(
    loans: list[Loan],
    branch: Branch,
    other_branch: Branch,
    leader: User,
    risk_officer: User,
) -> None:
    BranchFactory()  # a branch with no loans is still offered to who sees it
    param = "member__branch__id"

    def choices(user: User) -> list[str]:
        changelist, _queries = _changelist(user, LOANS)
        specs = changelist.filter_specs
        spec = next(s for s in specs if getattr(s, "parameter_name", "") == param)
        return sorted(str(value) for value, _label in spec.lookup_choices)

    assert choices(leader) == [str(branch.pk)]
    assert len(choices(risk_officer)) == Branch.objects.count()

    changelist, _queries = _changelist(risk_officer, f"{LOANS}?{param}={branch.pk}")
    assert {loan.member.branch_id for loan in changelist.result_list} == {branch.pk}
    changelist, _queries = _changelist(leader, f"{LOANS}?{param}={other_branch.pk}")
    assert list(changelist.result_list) == []


def test_installments_are_listed_by_when_they_fall_due(
    loans: list[Loan], leader: User
) -> None:
    url = reverse("admin:loans_installment_changelist")
    # Disbursed on 2026-01-15: the first installment falls due on 2026-02-15.
    close_through(until=date(2026, 2, 10))

    changelist, _queries = _changelist(leader, f"{url}?due=7")
    soon = {(i.loan_id, i.number) for i in changelist.result_list}
    changelist, _queries = _changelist(leader, f"{url}?due=late")
    late = list(changelist.result_list)
    changelist, _queries = _changelist(leader, url)

    assert soon == {(loan.pk, 1) for loan in loans[:2]}
    assert late == []
    # The leader's two loans of three installments each, not the third loan.
    assert changelist.result_count == 6

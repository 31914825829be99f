"""What one repayment posted through the API costs the database.

A payment channel's post is the platform's hottest write (docs/performance.md,
Online): its statements are counted here, one by one, so that none comes
back unnoticed."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from config.roles import StaffRole
from loans.models import BusinessDay, Loan, Repayment
from members.models import Branch
from tests.factories import staff_user
from tests.loans.factories import ON, Staff, active_loan, borrower

pytestmark = pytest.mark.django_db

# Transaction control differs between a test (savepoints) and a server.
CONTROL = re.compile(r"^(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE SAVEPOINT)\b")

# One post of part of an installment on an active loan, in order.
STATEMENTS = [
    ("SELECT", "authtoken_token"),  # the token, its user and their permissions
    ("SELECT", "loans_businessday"),  # the business date
    ("SELECT", "loans_loan"),  # the loan, if the user may see it, locked
    ("SELECT", "loans_installment"),  # its schedule, locked
    ("UPDATE", "loans_installment"),  # the installment the payment reached
    ("INSERT", "loans_repayment"),
    # the journal entry and its lines: one statement on PostgreSQL, two here
    *(
        [("WITH", "loans_journalentry")]
        if connection.vendor == "postgresql"
        else [("INSERT", "loans_journalentry"), ("INSERT", "loans_journalline")]
    ),
]


# One post of a whole installment: the same, then credit is told.
WHOLE_INSTALLMENT = [
    *STATEMENTS,
    ("SELECT", "credit_creditprofile"),  # the borrower's profile, locked
    ("UPDATE", "credit_creditprofile"),  # the principal back to the limit
    ("INSERT", "credit_repaymentevent"),  # the installment paid, once
]


TABLE = re.compile(r'(?:FROM|INTO|UPDATE)\s+"(\w+)"')


def statement(sql: str) -> tuple[str, str]:
    """The verb and the table the statement itself reads or writes, not a
    subquery's; for a WITH, the table its first part writes."""
    verb = sql.lstrip("( ").split()[0]

    def depth(at: int) -> int:
        return sql[:at].count("(") - sql[:at].count(")")

    tables = [(depth(found.start()), found.group(1)) for found in TABLE.finditer(sql)]
    if not tables:
        return verb, ""
    if verb == "WITH":
        return verb, tables[0][1]
    return verb, min(tables, key=lambda table: table[0])[1]


@pytest.fixture
def book() -> Staff:
    """Trading on the factories' date, with one person per role."""
    BusinessDay.objects.create(on=ON - timedelta(days=1), closed_at=timezone.now())
    return Staff()


@pytest.fixture
def channel(branch: Branch) -> APIClient:
    """A payment channel of the finance role, signing with an API token."""
    token = Token.objects.create(user=staff_user(StaffRole.FINANCE, branches=(branch,)))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def test_a_repayment_post_runs_seven_statements_and_no_more(
    book: Staff, branch: Branch, channel: APIClient
) -> None:
    loan = active_loan(staff=book, member=borrower(branch=branch))

    with CaptureQueriesContext(connection) as queries:
        answer = channel.post(
            f"/api/v1/loans/{loan.pk}/repayments/",
            {"amount": "5.00", "reference": "channel-1"},
            headers={"Idempotency-Key": "channel-1"},
        )

    assert answer.status_code == 201, answer.content
    ran = [
        statement(query["sql"])
        for query in queries.captured_queries
        if not CONTROL.match(query["sql"])
    ]
    assert ran == STATEMENTS
    assert Repayment.objects.get().loan_state == Loan.State.ACTIVE


def test_paying_a_whole_installment_adds_three_statements_of_credit(
    book: Staff, branch: Branch, channel: APIClient
) -> None:
    loan = active_loan(staff=book, member=borrower(branch=branch))
    first = loan.installments.order_by("number")[0]

    with CaptureQueriesContext(connection) as queries:
        answer = channel.post(
            f"/api/v1/loans/{loan.pk}/repayments/",
            {"amount": str(first.principal + first.interest), "reference": "c-3"},
            headers={"Idempotency-Key": "channel-3"},
        )

    assert answer.status_code == 201, answer.content
    ran = [
        statement(query["sql"])
        for query in queries.captured_queries
        if not CONTROL.match(query["sql"])
    ]
    assert ran == WHOLE_INSTALLMENT


def test_a_retry_answers_the_first_repayment_and_writes_nothing(
    book: Staff, branch: Branch, channel: APIClient
) -> None:
    loan = active_loan(staff=book, member=borrower(branch=branch))
    url = f"/api/v1/loans/{loan.pk}/repayments/"
    body = {"amount": "5.00", "reference": "channel-2"}
    first = channel.post(url, body, headers={"Idempotency-Key": "channel-2"})

    again = channel.post(url, body, headers={"Idempotency-Key": "channel-2"})

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert Repayment.objects.count() == 1

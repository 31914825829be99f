"""A repayment whose database connection is killed by PostgreSQL
(`pg_terminate_backend`) while its transaction is open: the client gets a
server error, nothing of the repayment is written, and the client's retry
with the same Idempotency-Key makes exactly one repayment. And the other
side: a repayment committed whose answer never reached the client (over
real HTTP, the client gives up), retried with its key, is not made twice."""

import json
import threading
import urllib.request
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection, connections, transaction
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from loans.models import JournalEntry, Loan, Repayment
from members.models import Branch
from tests.loans.factories import Staff, active_loan, borrower
from tests.reliability.conftest import (
    Pause,
    assert_book_agrees,
    book_hash,
    loan_url,
    waiting_on_a_lock,
)

KEY = "dropped-connection-1"
BODY = {"amount": "150.00", "reference": "bank-transfer-77"}

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture
def loan(book: Staff, branch: Branch) -> Loan:
    return active_loan(staff=book, member=borrower(branch=branch))


def _post(user: User, loan: Loan) -> tuple[int, bytes]:
    """One client's post; a server error comes back as the client sees it."""
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(user)
    response = client.post(
        loan_url(loan, "repayments"), BODY, headers={"Idempotency-Key": KEY}
    )
    return response.status_code, response.content


def _post_in_a_thread(user: User, loan: Loan) -> tuple[threading.Thread, list[int]]:
    statuses: list[int] = []

    def post() -> None:
        try:
            statuses.append(_post(User.objects.get(pk=user.pk), loan)[0])
        finally:
            connections.close_all()

    thread = threading.Thread(target=post)
    thread.start()
    return thread, statuses


def _terminate(pid: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        assert cursor.fetchone()[0] is True


def _waiting_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT pid FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        (pid,) = cursor.fetchone()
    return int(pid)


def _wait_for(condition: Callable[[], bool]) -> None:
    for _poll in range(300):
        if condition():
            return
        threading.Event().wait(0.1)
    raise AssertionError("the repayment never got there")


def _retry_makes_one_repayment(finance: User, loan: Loan, before: str) -> None:
    assert book_hash() == before, "the killed repayment left something behind"
    assert not Repayment.objects.exists()

    status, content = _post(finance, loan)
    again, content_again = _post(finance, loan)

    assert (status, again) == (201, 201)
    assert content_again == content
    repayment = Repayment.objects.get()
    assert repayment.amount == Decimal(BODY["amount"])
    assert repayment.idempotency_key == KEY
    assert JournalEntry.objects.filter(kind=JournalEntry.Kind.REPAYMENT).count() == 1
    assert_book_agrees()


def test_a_connection_killed_after_the_ledger_lines_then_a_retry_make_one_repayment(
    finance: User, loan: Loan, paused: Pause
) -> None:
    before = book_hash()
    thread, statuses = _post_in_a_thread(finance, loan)
    # Paused by the repayment followers: installments paid, repayment row
    # and ledger lines written, nothing committed.
    assert paused.reached.wait(timeout=30)

    _terminate(paused.backend_pids[0])
    paused.go.set()
    thread.join(timeout=60)

    assert statuses == [500]
    _retry_makes_one_repayment(finance, loan, before)


def test_a_connection_killed_while_waiting_for_the_loan_then_a_retry_make_one_repayment(
    finance: User, loan: Loan
) -> None:
    before = book_hash()
    with transaction.atomic():
        # Another writer (the close, another repayment) holds the loan.
        Loan.objects.select_for_update().get(pk=loan.pk)
        thread, statuses = _post_in_a_thread(finance, loan)
        _wait_for(lambda: waiting_on_a_lock() == 1)
        _terminate(_waiting_pid())
        thread.join(timeout=60)

    assert statuses == [500]
    _retry_makes_one_repayment(finance, loan, before)


# The answer lost after the commit ---------------------------------------

AFTER_COMMIT = threading.Event()
RELEASE = threading.Event()


def hold_the_answer(*, loan: Loan, on: Any, was: str) -> None:
    """A repayment follower: once the repayment has committed, keep its
    answer from leaving until the test releases it."""

    def hold() -> None:
        AFTER_COMMIT.set()
        RELEASE.wait(timeout=60)

    transaction.on_commit(hold)


def _http_post(url: str, token: str, timeout: float) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(  # noqa: S310 (the live test server)
        url,
        data=json.dumps(BODY).encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Token {token}",
            "Idempotency-Key": KEY,
        },
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        return response.status, json.loads(response.read())


def test_an_answer_lost_after_the_commit_then_a_retry_over_http_make_one_repayment(
    finance: User, loan: Loan, live_server: Any, settings: Any
) -> None:
    settings.REPAYMENT_FOLLOWERS = [
        *settings.REPAYMENT_FOLLOWERS,
        "tests.reliability.test_connection_dropped.hold_the_answer",
    ]
    AFTER_COMMIT.clear()
    RELEASE.clear()
    token = Token.objects.create(user=finance).key
    url = f"{live_server.url}{loan_url(loan, 'repayments')}"

    try:
        with pytest.raises(TimeoutError):
            _http_post(url, token, timeout=1.0)
        assert AFTER_COMMIT.is_set()
        # Committed, though the client never heard so.
        first = Repayment.objects.get()
    finally:
        RELEASE.set()

    status, answer = _http_post(url, token, timeout=30)

    assert status == 201
    assert answer["id"] == first.pk
    assert answer["amount"] == BODY["amount"]
    assert Repayment.objects.get().pk == first.pk
    assert JournalEntry.objects.filter(kind=JournalEntry.Kind.REPAYMENT).count() == 1
    assert_book_agrees()

"""What the concurrency and fault tests share: a book on PostgreSQL, posts
from many threads at once (each with its own connection), a pause inside a
repayment's transaction, and the checks every money test ends with."""

import hashlib
import importlib
import os
import subprocess
import sys
import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.apps import apps
from django.contrib.auth.models import User
from django.db import connection, connections
from django.db.models import Sum
from django.utils import timezone
from rest_framework.test import APIClient

from config.roles import StaffRole
from loans import ledger
from loans.models import (
    ZERO,
    Account,
    BusinessDay,
    Installment,
    JournalEntry,
    JournalLine,
    Loan,
    LoanTransition,
    Repayment,
)
from members.models import Branch
from tests.factories import staff_user
from tests.loans.factories import ON, Staff
from tests.workers import ROOT, _database_url

RECEIVABLES = (
    Account.PRINCIPAL_RECEIVABLE,
    Account.INTEREST_RECEIVABLE,
    Account.PENALTY_RECEIVABLE,
)


def loan_url(loan: Loan, action: str) -> str:
    return f"/api/v1/loans/{loan.pk}/{action}/"


@pytest.fixture
def _default_policy_shipped(db: None) -> None:
    """A transactional test's flush removes the rows data migrations ship;
    put the default scoring policy back if an earlier test flushed it."""
    migration = importlib.import_module("credit.migrations.0002_default_policy")
    migration.ship_default_policy(apps, None)


@pytest.fixture
def book(_default_policy_shipped: None) -> Staff:
    """Trading on the factories' date, with one person per role."""
    BusinessDay.objects.create(on=ON - timedelta(days=1), closed_at=timezone.now())
    return Staff()


@pytest.fixture
def finance(branch: Branch) -> User:
    return staff_user(StaffRole.FINANCE, branches=(branch,))


# Many clients at once ---------------------------------------------------


Answer = tuple[int, Any]


def post_at_once(
    user: User,
    url: str | list[str],
    bodies: list[dict[str, str]],
    keys: list[str | None],
) -> list[Answer]:
    """Post each body (to its own URL if given a list) from its own thread
    and database connection, all released together; returns each post's
    status and parsed body."""
    urls = url if isinstance(url, list) else [url] * len(bodies)
    start = threading.Barrier(len(bodies))
    answers: list[Answer] = [(0, None)] * len(bodies)

    def post(index: int) -> None:
        try:
            client = APIClient()
            client.force_authenticate(User.objects.get(pk=user.pk))
            key = keys[index]
            headers = {"Idempotency-Key": key} if key else {}
            start.wait()
            response = client.post(urls[index], bodies[index], headers=headers)
            answers[index] = (response.status_code, response.json())
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def close_worker_start() -> subprocess.Popen[bytes]:
    """A real Celery worker on the close's own queue (`close`), working
    against the test database; stop it with `tests.workers.worker_stop`."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=solo",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=WARNING",
            "-Q",
            "close",
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "DATABASE_URL": _database_url(),
            "DJANGO_MODE": "development",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


# A pause inside a repayment's transaction --------------------------------


@dataclass
class Pause:
    """Holds every repayment that reaches it (the repayment followers run
    last inside the transaction, after the ledger lines) until released,
    and tells who paused the backend process id of its connection."""

    reached: threading.Event = field(default_factory=threading.Event)
    go: threading.Event = field(default_factory=threading.Event)
    backend_pids: list[int] = field(default_factory=list)

    def __call__(self, *, loan: Loan, on: Any) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            self.backend_pids.append(cursor.fetchone()[0])
        self.reached.set()
        assert self.go.wait(timeout=60), "the test never released the repayment"


PAUSE: Pause | None = None


def pause_here(*, loan: Loan, on: Any, was: str) -> None:
    """A repayment follower (settings.REPAYMENT_FOLLOWERS) for `paused`."""
    if PAUSE is not None:
        PAUSE(loan=loan, on=on)


@pytest.fixture
def paused(settings: Any) -> Iterator[Pause]:
    global PAUSE
    PAUSE = Pause()
    settings.REPAYMENT_FOLLOWERS = [
        *settings.REPAYMENT_FOLLOWERS,
        "tests.reliability.conftest.pause_here",
    ]
    yield PAUSE
    PAUSE.go.set()
    PAUSE = None


def waiting_on_a_lock() -> int:
    """Connections of this database now waiting for a row lock."""
    with connection.cursor() as cursor:
        # Inside a transaction the statistics views keep their first answer.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        count: int = cursor.fetchone()[0]
    return count


# What every test ends with ----------------------------------------------


def owed_today(loan: Loan) -> Decimal:
    """What the ledger says the borrower owes."""
    balance = ledger.balance_of(loan)
    return sum((balance[account] for account in RECEIVABLES), ZERO)


def assert_book_agrees() -> None:
    """The whole ledger balances; each repayment's parts add up to it and
    have a repayment entry of that amount; each open loan's receivables are
    what its installments leave unpaid; each loan's installments were paid
    exactly what its repayments allocated."""
    if connection.vendor == "postgresql":
        # What COMMIT does: run the deferred balance trigger now.
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    debits, credits = ledger.totals()
    assert debits == credits, "the ledger does not balance"

    entries = dict(
        JournalLine.objects.filter(
            entry__kind=JournalEntry.Kind.REPAYMENT, account=Account.CASH
        ).values_list("entry__dedupe_key", "debit")
    )
    allocated: dict[int, dict[str, Decimal]] = defaultdict(
        lambda: dict.fromkeys(("penalty", "interest", "principal"), ZERO)
    )
    for repayment in Repayment.objects.all():
        parts = (repayment.to_penalty, repayment.to_interest, repayment.to_principal)
        assert sum(parts, ZERO) == repayment.amount, f"repayment {repayment.pk}"
        key = f"{repayment.loan_id}:repayment:{repayment.pk}"
        assert entries.pop(key) == repayment.amount, f"repayment {repayment.pk}"
        for name, part in zip(("penalty", "interest", "principal"), parts, strict=True):
            allocated[repayment.loan_id][name] += part
    assert entries == {}, "repayment entries without a repayment"

    paid = Installment.objects.values("loan_id").annotate(
        penalty=Sum("paid_penalty"),
        interest=Sum("paid_interest"),
        principal=Sum("paid_principal"),
    )
    for row in paid:
        expected = allocated[row["loan_id"]]
        actual = {name: row[name] for name in ("penalty", "interest", "principal")}
        assert actual == expected, f"loan {row['loan_id']}: installments paid"

    open_ids = list(
        Loan.objects.filter(state__in=Loan.OPEN_STATES).values_list("pk", flat=True)
    )
    balances = ledger.balances(open_ids)
    for loan_id in open_ids:
        installments = Installment.objects.filter(loan_id=loan_id)
        expected_owed = {
            Account.PRINCIPAL_RECEIVABLE: sum(
                (i.principal_due for i in installments), ZERO
            ),
            Account.INTEREST_RECEIVABLE: sum(
                (i.interest_due for i in installments if i.interest_recognised),
                ZERO,
            ),
            Account.PENALTY_RECEIVABLE: sum(
                (i.penalty_due for i in installments), ZERO
            ),
        }
        actual_owed = {account: balances[loan_id][account] for account in RECEIVABLES}
        assert actual_owed == expected_owed, f"loan {loan_id}: ledger and schedule"


def book_hash() -> str:
    """A digest of everything a close or a repayment writes about money and
    state: ledger lines, loans, installments, transitions, repayments."""
    rows = {
        "lines": JournalLine.objects.order_by("pk").values_list(
            "entry__dedupe_key", "account", "debit", "credit"
        ),
        "loans": Loan.objects.order_by("pk").values_list(
            "pk", "state", "days_past_due", "penalty_through", "closed_on"
        ),
        "installments": Installment.objects.order_by("pk").values_list(
            "pk",
            "interest",
            "penalty",
            "paid_principal",
            "paid_interest",
            "paid_penalty",
            "paid_on",
            "interest_recognised",
        ),
        "transitions": LoanTransition.objects.order_by("pk").values_list(
            "loan_id", "source", "target", "on"
        ),
        "repayments": Repayment.objects.order_by("pk").values_list(
            "pk", "amount", "to_penalty", "to_interest", "to_principal"
        ),
    }
    text = repr({name: list(query) for name, query in rows.items()})
    return hashlib.sha256(text.encode()).hexdigest()

"""Repayments that arrive while the daily close runs: none is lost, the
day's penalty is charged once, and a loan whose arrears a repayment cleared
is not put back into arrears by the close."""

import threading
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connections

from loans import cob, services
from loans.chunks import Chunks, chunks_dispatched
from loans.close import close_day, close_through
from loans.models import (
    JournalEntry,
    Loan,
    LoanTransition,
    Repayment,
)
from loans.selectors import arrears, days_past_due
from members.models import Branch
from tests.loans.factories import Staff, active_loan, borrower
from tests.reliability.conftest import (
    Pause,
    assert_book_agrees,
    book_hash,
    close_worker_start,
    loan_url,
    post_at_once,
    waiting_on_a_lock,
)
from tests.workers import worker_stop

# Closed through the day before, the loans' first installment (due on 15
# February) is eight days late on this date, which is no due date.
DAY = date(2026, 2, 23)
# The second installment's due date: its interest falls due in the close.
DUE = date(2026, 3, 15)
LOANS = 12
WAVE = 6
CURED = 4
LOANS_STEPS = ("loans.cob.interest_due", "loans.cob.age", "loans.cob.penalty")


def _overdue_book(staff: Staff, branch: Branch, count: int) -> list[Loan]:
    loans = [
        active_loan(staff=staff, member=borrower(branch=branch)) for _ in range(count)
    ]
    close_through(until=date(2026, 2, 22))
    for loan in loans:
        loan.refresh_from_db()
        assert loan.state == Loan.State.OVERDUE
    return loans


def _penalties_on(on: date) -> dict[int, int]:
    entries = JournalEntry.objects.filter(kind=JournalEntry.Kind.PENALTY, on=on)
    counts: dict[int, int] = {}
    for loan_id in entries.values_list("loan_id", flat=True):
        counts[loan_id] = counts.get(loan_id, 0) + 1
    return counts


def _assert_states_agree_with_the_schedule(on: date) -> None:
    """Each open loan's days past due are its schedule's on `on`, and its
    state says as much: active without arrears, in grace or overdue with."""
    for loan in Loan.objects.filter(state__in=Loan.OPEN_STATES):
        installments = list(loan.installments.all())
        days = days_past_due(installments, on)
        assert loan.days_past_due == days, f"loan {loan.pk}: days past due"
        if days == 0:
            assert loan.state == Loan.State.ACTIVE, f"loan {loan.pk}: {loan.state}"
        elif days <= loan.grace_days:
            assert loan.state == Loan.State.GRACE, f"loan {loan.pk}: {loan.state}"
        else:
            assert loan.state in (Loan.State.OVERDUE, Loan.State.BLACKLISTED)


# A close running while repayments are posted ------------------------------


def _close_during_waves_of_repayments(
    loans: list[Loan], finance: User, chunks: Chunks | None
) -> None:
    """Close DAY in a thread while waves of repayments are posted; then
    check that none was lost, the penalty, the states, and that a second
    close and the money steps run again change nothing."""
    late = [loan.pk for loan in loans[CURED:]]
    posted: list[tuple[int, Any]] = []
    waves: list[threading.Thread] = []
    amounts: list[Decimal] = []

    def wave(label: str) -> None:
        """Post a wave of small repayments, spread over the loans, each
        from its own thread, while the close goes on; in the first waves
        one loan each is paid all its arrears and more."""
        bodies = []
        urls = []
        for n in range(WAVE):
            amount = Decimal(3 + len(amounts) % 5)
            urls.append(loan_url(loans[len(amounts) % LOANS], "repayments"))
            amounts.append(amount)
            bodies.append({"amount": f"{amount}.00", "reference": f"{label}-{n}"})
        if len(waves) < CURED:
            cured = loans[len(waves)]
            amount = arrears(list(cured.installments.all()), DAY) + 10
            urls.append(loan_url(cured, "repayments"))
            amounts.append(amount)
            bodies.append({"amount": str(amount), "reference": f"{label}-cure"})
        keys: list[str | None] = [body["reference"] for body in bodies]
        thread = threading.Thread(
            target=lambda: posted.extend(post_at_once(finance, urls, bodies, keys))
        )
        thread.start()
        waves.append(thread)

    def after_each_step(line: str) -> None:
        wave(f"wave{len(waves)}")

    failures: list[BaseException] = []

    def close() -> None:
        try:
            close_day(on=DAY, progress=after_each_step, chunks=chunks)
        except BaseException as error:
            failures.append(error)
        finally:
            connections.close_all()

    closing = threading.Thread(target=close)
    wave("start")
    closing.start()
    closing.join()
    for thread in waves:
        thread.join()

    assert failures == []
    # No repayment lost.
    assert len(posted) == len(amounts)
    assert {status for status, _ in posted} == {201}
    repayments = Repayment.objects.all()
    assert sorted(r.pk for r in repayments) == sorted(a["id"] for _, a in posted)
    assert sorted(r.amount for r in repayments) == sorted(amounts)
    # Those after the close's last step fall on the next business day.
    assert {r.value_date for r in repayments} <= {DAY, DAY + timedelta(days=1)}
    # The day's penalty once for each loan still late, at most once for
    # those cured during the close (before or after the penalty step).
    penalties = _penalties_on(DAY)
    assert {pk: penalties[pk] for pk in late} == dict.fromkeys(late, 1)
    assert set(penalties.values()) == {1}
    for loan in Loan.objects.filter(pk__in=[loan.pk for loan in loans[:CURED]]):
        assert (loan.state, loan.days_past_due) == (Loan.State.ACTIVE, 0)
    assert_book_agrees()
    _assert_states_agree_with_the_schedule(DAY)

    # The close again, and each money step again: nothing changes.
    before = book_hash()
    close_day(on=DAY)
    for step in (cob.interest_due, cob.age, cob.penalty):
        step(on=DAY)
    assert book_hash() == before
    assert _penalties_on(DAY) == penalties


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_repayments_posted_during_a_close_are_all_kept_and_penalty_charged_once(
    book: Staff, branch: Branch, finance: User
) -> None:
    loans = _overdue_book(book, branch, LOANS)

    _close_during_waves_of_repayments(loans, finance, chunks=None)


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_repayments_during_a_close_run_by_celery_workers_are_kept_and_penalised_once(
    book: Staff, branch: Branch, finance: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    loans = _overdue_book(book, branch, LOANS)
    # Four ranges of three loans, each a task for a real worker.
    monkeypatch.setattr(cob, "CHUNK", 3)
    worker = close_worker_start()
    try:
        _close_during_waves_of_repayments(loans, finance, chunks=chunks_dispatched)
    finally:
        output = worker_stop(worker)
    assert "Traceback" not in output, output


# A repayment between the close's steps ------------------------------------


def _pay_arrears_first(
    loan: Loan, by: User, monkeypatch: pytest.MonkeyPatch
) -> list[Repayment]:
    """Make the close's ageing, once it has set days past due and before it
    moves any loan, meet a repayment of all the loan's arrears."""
    paid: list[Repayment] = []
    move_set: Callable[..., int] = cob.move_set

    def pay_then_move(*args: Any, **kwargs: Any) -> int:
        if not paid:
            owed = arrears(list(loan.installments.all()), DAY)
            paid.append(
                services.repayment_post(
                    loan=loan, amount=owed, reference="arrears", by=by, on=DAY
                )
            )
        return move_set(*args, **kwargs)

    monkeypatch.setattr(cob, "move_set", pay_then_move)
    return paid


@pytest.mark.django_db
def test_a_repayment_clearing_arrears_between_ageing_and_moves_keeps_the_loan_active(
    book: Staff, branch: Branch, finance: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    (loan,) = _overdue_book(book, branch, 1)
    paid = _pay_arrears_first(loan, finance, monkeypatch)

    close_day(on=DAY)

    assert len(paid) == 1
    loan.refresh_from_db()
    assert loan.state == Loan.State.ACTIVE
    assert loan.days_past_due == 0
    assert not LoanTransition.objects.filter(loan=loan, on=DAY, by=None).exists()
    assert _penalties_on(DAY) == {}
    assert_book_agrees()
    _assert_states_agree_with_the_schedule(DAY)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_repayment_holding_the_loan_while_the_close_ages_it_keeps_it_active(
    book: Staff, branch: Branch, finance: User, paused: Pause
) -> None:
    # The close once read the installments before locking the loans, so
    # the loan cured by this repayment was aged from the read before it and
    # moved back to overdue; the ageing now locks first.
    (loan,) = _overdue_book(book, branch, 1)
    owed = arrears(list(loan.installments.all()), DAY)
    answers: list[tuple[int, Any]] = []
    paying = threading.Thread(
        target=lambda: answers.extend(
            post_at_once(
                finance,
                loan_url(loan, "repayments"),
                [{"amount": str(owed), "reference": "arrears"}],
                ["arrears"],
            )
        )
    )
    paying.start()
    assert paused.reached.wait(timeout=30)

    def close() -> None:
        try:
            close_day(on=DAY)
        finally:
            connections.close_all()

    closing = threading.Thread(target=close)
    closing.start()
    for _poll in range(300):
        if waiting_on_a_lock():
            break
        closing.join(timeout=0.1)
    assert waiting_on_a_lock() == 1, "the close never waited for the repayment"
    paused.go.set()
    paying.join()
    closing.join()

    assert [status for status, _ in answers] == [201]
    loan.refresh_from_db()
    assert_book_agrees()
    assert (loan.state, loan.days_past_due) == (Loan.State.ACTIVE, 0)
    _assert_states_agree_with_the_schedule(DAY)


# A repayment and the close's interest on a due date --------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_repayment_holding_its_loan_when_interest_falls_due_does_not_deadlock(
    book: Staff, branch: Branch, finance: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    (loan,) = _overdue_book(book, branch, 1)
    close_through(until=DUE - timedelta(days=1))
    held = threading.Event()
    go = threading.Event()
    refuse_unless = services._refuse_unless

    def hold_then_check(allowed: bool, message: str) -> None:
        # The repayment holds its loan's row here and has not yet locked the
        # installments.
        if not held.is_set():
            held.set()
            assert go.wait(timeout=60)
        refuse_unless(allowed, message)

    monkeypatch.setattr(services, "_refuse_unless", hold_then_check)
    answers: list[tuple[int, Any]] = []
    paying = threading.Thread(
        target=lambda: answers.extend(
            post_at_once(
                finance,
                loan_url(loan, "repayments"),
                [{"amount": "5.00", "reference": "held"}],
                ["held"],
            )
        )
    )
    paying.start()
    assert held.wait(timeout=30)
    failures: list[BaseException] = []

    def close() -> None:
        try:
            close_day(on=DUE)
        except BaseException as error:
            failures.append(error)
        finally:
            connections.close_all()

    closing = threading.Thread(target=close)
    closing.start()
    for _poll in range(300):
        if waiting_on_a_lock() or not closing.is_alive():
            break
        closing.join(timeout=0.1)
    go.set()
    paying.join()
    closing.join()

    assert failures == []
    assert [status for status, _ in answers] == [201]
    assert JournalEntry.objects.filter(
        loan=loan, kind=JournalEntry.Kind.INTEREST_DUE, on=DUE
    ).exists()
    assert_book_agrees()
    _assert_states_agree_with_the_schedule(DUE)

"""The daily close: ageing, interest falling due, penalty, and the close's
own promises (each date once, resumable, the first close starts where told)."""

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from io import StringIO
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.utils.module_loading import import_string

from credit.models import CreditProfile, LimitChange, RepaymentEvent
from loans import cob, ledger, services
from loans.close import close_through
from loans.models import (
    Account,
    BusinessDay,
    CloseStep,
    Installment,
    JournalEntry,
    JournalLine,
    Loan,
    LoanTransition,
)
from loans.selectors import business_date_current
from members import services as member_services
from members.models import BlacklistEntry, Member
from tests.loans.factories import ON, ProductFactory, Staff, active_loan, borrower

pytestmark = pytest.mark.django_db

FEN = Decimal("0.01")
# The first installment of a loan disbursed on ON falls due on FIRST_DUE.
FIRST_DUE = date(2026, 2, 15)
SECOND_DUE = date(2026, 3, 15)
STEPS = list(django_settings.CLOSE_STEPS)


@pytest.fixture
def staff() -> Staff:
    return Staff()


def _reload(loan: Loan) -> Loan:
    return Loan.objects.get(pk=loan.pk)


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _fen(amount: Decimal) -> Decimal:
    return amount.quantize(FEN, rounding=ROUND_HALF_UP)


def _entries(loan: Loan, kind: JournalEntry.Kind) -> list[JournalEntry]:
    return list(JournalEntry.objects.filter(loan=loan, kind=kind).order_by("on"))


def _moves(loan: Loan) -> list[tuple[str, str, date]]:
    return list(loan.transitions.values_list("source", "target", "on"))


# Ageing -----------------------------------------------------------------------


def test_days_past_due_count_from_the_oldest_unpaid_due_date(staff: Staff) -> None:
    loan = active_loan(staff=staff)

    close_through(until=FIRST_DUE)
    assert _reload(loan).days_past_due == 0  # the due date itself
    close_through(until=FIRST_DUE + timedelta(days=1))
    assert _reload(loan).days_past_due == 1
    close_through(until=date(2026, 3, 16))
    # The second installment is a day late; the first, 29 days.
    assert _reload(loan).days_past_due == 29

    first = loan.installments.get(number=1)
    services.repayment_post(
        loan=loan,
        amount=first.total_due,
        reference="bank-1",
        by=None,
        on=business_date_current(),
    )
    close_through(until=date(2026, 3, 17))

    assert _reload(loan).days_past_due == 2


def test_a_late_loan_is_in_grace_for_the_grace_days_then_overdue_with_penalty(
    staff: Staff,
) -> None:
    loan = active_loan(staff=staff)
    seen = []

    for day in _days(FIRST_DUE, FIRST_DUE + timedelta(days=5)):
        close_through(until=day)
        aged = _reload(loan)
        penalty = aged.installments.get(number=1).penalty
        seen.append((day.day, aged.state, aged.days_past_due, penalty))

    daily = _fen(Decimal("408.03") * Decimal("0.0005"))
    assert seen == [
        (15, Loan.State.ACTIVE, 0, 0),
        (16, Loan.State.GRACE, 1, 0),
        (17, Loan.State.GRACE, 2, 0),
        (18, Loan.State.GRACE, 3, 0),
        (19, Loan.State.OVERDUE, 4, daily),
        (20, Loan.State.OVERDUE, 5, 2 * daily),
    ]
    assert _moves(loan)[-2:] == [
        ("active", "grace", date(2026, 2, 16)),
        ("grace", "overdue", date(2026, 2, 19)),
    ]
    assert all(move.by is None and move.reason for move in loan.transitions.all()[3:])


def test_a_product_without_grace_days_moves_to_overdue_in_one_close(
    staff: Staff,
) -> None:
    loan = active_loan(staff=staff, product=ProductFactory(grace_days=0))
    close_through(until=FIRST_DUE)

    close_through(until=FIRST_DUE + timedelta(days=1))

    loan = _reload(loan)
    assert (loan.state, loan.days_past_due) == (Loan.State.OVERDUE, 1)
    assert _moves(loan)[-2:] == [
        ("active", "grace", date(2026, 2, 16)),
        ("grace", "overdue", date(2026, 2, 16)),
    ]
    assert [e.on for e in _entries(loan, JournalEntry.Kind.PENALTY)] == [
        date(2026, 2, 16)
    ]


def test_a_loan_past_the_blacklist_days_blacklists_its_member_and_cuts_the_ring(
    staff: Staff,
) -> None:
    member = borrower()
    guarantor = borrower(branch=member.branch)
    neighbour = borrower(branch=member.branch)
    member_services.guarantor_tie_create(
        guarantor=guarantor,
        borrower=member,
        amount=Decimal("1000.00"),
        consented_at=datetime(2026, 1, 10, tzinfo=UTC),
        consent_evidence="担保书 2026-007",
        by=None,
    )
    loan = active_loan(
        staff=staff, member=member, product=ProductFactory(blacklist_days=10)
    )

    close_through(until=date(2026, 2, 25))
    loan = _reload(loan)
    assert (loan.state, loan.days_past_due) == (Loan.State.OVERDUE, 10)
    assert Member.objects.get(pk=member.pk).status == Member.Status.ACTIVE

    close_through(until=date(2026, 2, 26))

    loan = _reload(loan)
    assert (loan.state, loan.days_past_due) == (Loan.State.BLACKLISTED, 11)
    assert _moves(loan)[-1] == ("overdue", "blacklisted", date(2026, 2, 26))
    assert Member.objects.get(pk=member.pk).status == Member.Status.BLACKLISTED
    entry = BlacklistEntry.objects.get(member=member)
    assert (entry.source, entry.source_reference) == (
        BlacklistEntry.Source.LOAN,
        loan.number,
    )
    assert CreditProfile.objects.get(member=member).limit == 0
    cut = LimitChange.objects.get(profile__member=guarantor, on=date(2026, 2, 26))
    assert cut.cause == LimitChange.Cause.GUARANTOR_DEFAULT
    assert cut.limit_after < cut.limit_before
    assert (
        LimitChange.objects.get(profile__member=neighbour, on=date(2026, 2, 26)).cause
        == LimitChange.Cause.BRANCH_DEFAULT
    )


def test_a_member_whose_two_loans_cross_the_threshold_together_is_blacklisted_once(
    staff: Staff,
) -> None:
    member = borrower()
    CreditProfile.objects.filter(member=member).update(limit=Decimal("9000.00"))
    product = ProductFactory(blacklist_days=10)
    loans = [active_loan(staff=staff, member=member, product=product) for _ in range(2)]
    close_through(until=FIRST_DUE)

    close_through(until=date(2026, 2, 26))

    assert [_reload(loan).state for loan in loans] == [Loan.State.BLACKLISTED] * 2
    assert Member.objects.get(pk=member.pk).status == Member.Status.BLACKLISTED
    assert BlacklistEntry.objects.filter(member=member).count() == 1
    assert BusinessDay.objects.get(on=date(2026, 2, 26)).closed_at is not None


# Interest and penalty ---------------------------------------------------------


def test_interest_falls_due_on_the_due_date_exactly_once(staff: Staff) -> None:
    loan = active_loan(staff=staff)

    close_through(until=FIRST_DUE - timedelta(days=1))
    assert _entries(loan, JournalEntry.Kind.INTEREST_DUE) == []

    close_through(until=FIRST_DUE)
    (entry,) = _entries(loan, JournalEntry.Kind.INTEREST_DUE)
    assert entry.on == FIRST_DUE
    assert [(line.account, line.debit, line.credit) for line in entry.lines.all()] == [
        (Account.INTEREST_RECEIVABLE, Decimal("12.00"), Decimal("0.00")),
        (Account.INTEREST_INCOME, Decimal("0.00"), Decimal("12.00")),
    ]
    assert list(loan.installments.values_list("number", "interest_recognised")) == [
        (1, True),
        (2, False),
        (3, False),
    ]

    close_through(until=SECOND_DUE - timedelta(days=1))
    assert len(_entries(loan, JournalEntry.Kind.INTEREST_DUE)) == 1
    close_through(until=SECOND_DUE)
    assert [e.on for e in _entries(loan, JournalEntry.Kind.INTEREST_DUE)] == [
        FIRST_DUE,
        SECOND_DUE,
    ]
    assert ledger.balance_of(loan)[Account.INTEREST_RECEIVABLE] == Decimal("20.04")


def test_penalty_is_the_late_amount_times_the_daily_rate_once_per_date(
    staff: Staff,
) -> None:
    rate = Decimal("0.001000")
    loan = active_loan(staff=staff, product=ProductFactory(penalty_daily_rate=rate))
    last = date(2026, 3, 20)

    close_through(until=FIRST_DUE)
    for day in _days(FIRST_DUE + timedelta(days=1), last):
        late = [i for i in loan.installments.all() if i.due_date < day and i.total_due]
        expected = sum(
            (_fen((i.principal_due + i.interest_due) * rate) for i in late),
            Decimal(0),
        )
        close_through(until=day)
        posted = JournalEntry.objects.filter(
            loan=loan, kind=JournalEntry.Kind.PENALTY, on=day
        )
        if day < date(2026, 2, 19):  # still in grace
            assert not posted.exists()
            continue
        (entry,) = posted
        assert [(ln.account, ln.debit, ln.credit) for ln in entry.lines.all()] == [
            (Account.PENALTY_RECEIVABLE, expected, Decimal("0.00")),
            (Account.PENALTY_INCOME, Decimal("0.00"), expected),
        ]

    penalties = _entries(loan, JournalEntry.Kind.PENALTY)
    assert [e.on for e in penalties] == _days(date(2026, 2, 19), last)
    # One late installment of 408.03, then two from the day after the second
    # falls due.
    assert loan.installments.get(number=1).penalty == 30 * _fen(
        Decimal("408.03") * rate
    )
    assert loan.installments.get(number=2).penalty == 5 * _fen(Decimal("408.03") * rate)


def test_a_penalty_added_to_a_penalty_is_stored_to_the_fen(staff: Staff) -> None:
    # SQLite adds decimals in SQL as floats: 4.10 + 0.10 was stored as
    # 4.199999999999999, which a payment of the 4.20 owed then overpaid.
    loan = active_loan(staff=staff)
    first = loan.installments.get(number=1)
    Installment.objects.filter(pk=first.pk).update(penalty=Decimal("4.10"))

    cob._penalty_add({first.pk: Decimal("0.10")}, {first.pk: Decimal("4.10")})

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT penalty FROM loans_installment WHERE id = %s", [first.pk]
        )
        (stored,) = cursor.fetchone()
    assert Decimal(str(stored)) == Decimal("4.20")
    # The ledger holds what the schedule says, as after a close.
    ledger.post(
        ledger.Entry(loan.pk, JournalEntry.Kind.PENALTY, ON, f"{loan.pk}:penalty:test")
        .debit(Account.PENALTY_RECEIVABLE, Decimal("4.20"))
        .credit(Account.PENALTY_INCOME, Decimal("4.20"))
    )


def test_penalty_stops_at_the_yearly_cost_cap(staff: Staff) -> None:
    product = ProductFactory(
        annual_rate=Decimal("0.0600"),
        penalty_daily_rate=Decimal("0.010000"),
        cost_cap=Decimal("0.2000"),
    )
    loan = active_loan(staff=staff, product=product)
    first = loan.installments.get(number=1)
    uncapped = _fen((first.principal + first.interest) * product.penalty_daily_rate)
    close_through(until=FIRST_DUE)
    totals = []

    for day in _days(date(2026, 2, 19), date(2026, 3, 5)):
        close_through(until=day)
        installments = list(loan.installments.all())
        fallen_due = sum(i.interest for i in installments if i.due_date <= day)
        penalty = sum(i.penalty for i in installments)
        # Interest and penalty charged so far, as a yearly rate of principal.
        cap = _fen(loan.principal * loan.cost_cap * ((day - ON).days + 1) / 365)
        assert fallen_due + penalty <= cap, day
        totals.append((penalty, fallen_due + penalty == cap))

    daily = [b[0] - a[0] for a, b in zip([(0, False), *totals], totals, strict=False)]
    assert daily[:4] == [uncapped] * 4
    # Then the cap binds: each later day adds only what that day allows,
    # 20 % a year of 1,200, about 0.66.
    assert all(bound for _penalty, bound in totals[5:])
    assert all(Decimal("0.65") <= amount <= Decimal("0.66") for amount in daily[6:])


def test_interest_not_yet_due_leaves_room_under_the_cost_cap_for_penalty(
    staff: Staff,
) -> None:
    # 18 % a year leaves 6 % of the 24 % cap for penalty, from the first
    # overdue day, even though a year's interest is scheduled.
    member = borrower()
    CreditProfile.objects.filter(member=member).update(limit=Decimal("9000.00"))
    product = ProductFactory(annual_rate=Decimal("0.1800"))
    loan = active_loan(
        staff=staff,
        member=member,
        product=product,
        principal=Decimal("5000.00"),
        term_months=12,
    )
    first = loan.installments.get(number=1)
    close_through(until=FIRST_DUE)

    close_through(until=date(2026, 2, 19))

    assert _reload(loan).state == Loan.State.OVERDUE
    assert loan.installments.get(number=1).penalty == _fen(
        (first.principal + first.interest) * product.penalty_daily_rate
    )


# The close's own promises ------------------------------------------------------


def _rows(queryset: Any, *fields: str) -> list[tuple[Any, ...]]:
    return sorted(queryset.values_list(*fields), key=repr)


def _digest() -> dict[str, list[Any]]:
    """Everything a close writes, without row ids or clock times."""
    return {
        "loans": _rows(
            Loan.objects,
            "pk",
            "state",
            "days_past_due",
            "penalty_through",
            "closed_on",
        ),
        "installments": _rows(
            Installment.objects,
            "loan_id",
            "number",
            "interest",
            "penalty",
            "paid_penalty",
            "paid_interest",
            "paid_principal",
            "interest_recognised",
            "paid_on",
        ),
        "ledger": _rows(
            JournalLine.objects,
            "loan_id",
            "entry__kind",
            "entry__on",
            "entry__dedupe_key",
            "account",
            "debit",
            "credit",
        ),
        "transitions": _rows(
            LoanTransition.objects, "loan_id", "source", "target", "on", "reason"
        ),
        "members": _rows(Member.objects, "pk", "status"),
        "blacklist": _rows(
            BlacklistEntry.objects, "member_id", "source_reference", "blacklisted_on"
        ),
        "profiles": _rows(
            CreditProfile.objects,
            "member_id",
            "limit",
            "frozen",
            "held",
            "open_principal",
            "overdue_principal",
        ),
        # A reference may name a row ("score:41"), whose id PostgreSQL's
        # sequences do not give back on a rollback.
        "limit_changes": _rows(
            LimitChange.objects,
            "profile__member_id",
            "cause",
            "limit_before",
            "limit_after",
            "frozen_after",
            "on",
        ),
        "events": _rows(RepaymentEvent.objects, "dedupe_key", "kind", "occurred_on"),
        "days": _rows(BusinessDay.objects.filter(closed_at__isnull=False), "on"),
        "steps": _rows(CloseStep.objects, "day__on", "name"),
    }


def _portfolio(staff: Staff) -> list[Loan]:
    """Loans that the close treats differently: late, graceless, blacklisted
    (with a guarantor), and one that pays its first installment on time."""
    defaulter = borrower()
    guarantor = borrower(branch=defaulter.branch)
    member_services.guarantor_tie_create(
        guarantor=guarantor,
        borrower=defaulter,
        amount=Decimal("500.00"),
        consented_at=datetime(2026, 1, 10, tzinfo=UTC),
        consent_evidence="担保书 2026-009",
        by=None,
    )
    loans = [
        active_loan(staff=staff),
        active_loan(staff=staff, product=ProductFactory(grace_days=0)),
        active_loan(
            staff=staff, member=defaulter, product=ProductFactory(blacklist_days=10)
        ),
        active_loan(staff=staff, principal=Decimal("1000.00")),
    ]
    services.repayment_post(
        loan=loans[3],
        amount=Decimal("340.02"),
        reference="on-time",
        by=None,
        on=date(2026, 2, 10),
    )
    return loans


def _as_if_uninterrupted(close: Callable[[], object]) -> dict[str, list[Any]]:
    """The digest `close` leaves, then everything it wrote is rolled back."""
    with transaction.atomic():
        close()
        digest = _digest()
        transaction.set_rollback(True)
    return digest


def test_closing_a_date_twice_changes_nothing(staff: Staff) -> None:
    _portfolio(staff)
    close_through(until=date(2026, 2, 10))
    # The day the defaulter is blacklisted, then a day with two installments
    # late on most loans.
    for last in (date(2026, 2, 26), date(2026, 3, 20)):
        close_through(until=last)
        before = _digest()

        close_through(until=last)
        # Each step run again for its date, as a retried worker would.
        for name in STEPS:
            import_string(name)(on=last)

        assert _digest() == before
    assert len(before["days"]) == 39


class Killed(Exception):
    """The worker running the close died."""


_KILL_ON: set[date] = set()


def step_killed_once(*, on: date) -> int:
    """A close step whose worker dies the first time it runs for an armed date."""
    if on in _KILL_ON:
        _KILL_ON.discard(on)
        raise Killed(str(on))
    return 0


@pytest.fixture
def killable_close(settings: Any) -> Iterator[set[date]]:
    """The close with a step between ageing and penalty that can be killed."""
    settings.CLOSE_STEPS = [
        "loans.cob.interest_due",
        "loans.cob.age",
        f"{__name__}.step_killed_once",
        "loans.cob.penalty",
        "loans.cob.report_to_credit",
    ]
    yield _KILL_ON
    _KILL_ON.clear()


def test_a_close_killed_between_steps_resumes_where_it_stopped(
    staff: Staff, killable_close: set[date]
) -> None:
    _portfolio(staff)
    close_through(until=date(2026, 2, 10))
    last = date(2026, 3, 20)
    expected = _as_if_uninterrupted(lambda: close_through(until=last))
    killed_on = date(2026, 2, 26)  # the day the defaulter is blacklisted
    killable_close.add(killed_on)

    with pytest.raises(Killed):
        close_through(until=last)

    day = BusinessDay.objects.get(on=killed_on)
    assert day.closed_at is None
    assert list(day.steps.values_list("name", flat=True)) == [
        "loans.cob.interest_due",
        "loans.cob.age",
    ]
    assert not BusinessDay.objects.filter(on__gt=killed_on).exists()
    assert business_date_current() == killed_on

    close_through(until=last)

    assert _digest() == expected


def _per_loan(loan: Loan) -> list[Any]:
    """One loan's close results, comparable with another loan's."""
    key = f"{loan.pk}:"
    return [
        _rows(
            loan.installments,
            "number",
            "interest",
            "penalty",
            "interest_recognised",
        ),
        [
            (kind, on, dedupe.removeprefix(key), account, debit, credit)
            for kind, on, dedupe, account, debit, credit in _rows(
                JournalLine.objects.filter(loan=loan),
                "entry__kind",
                "entry__on",
                "entry__dedupe_key",
                "account",
                "debit",
                "credit",
            )
        ],
        _rows(loan.transitions, "source", "target", "on"),
        _rows(Loan.objects.filter(pk=loan.pk), "state", "days_past_due"),
    ]


def test_a_close_killed_inside_a_step_resumes_without_doing_anything_twice(
    staff: Staff, monkeypatch: pytest.MonkeyPatch
) -> None:
    product = ProductFactory()
    twins = [active_loan(staff=staff, product=product) for _ in range(2)]
    close_through(until=date(2026, 2, 10))
    last = date(2026, 3, 20)
    # One loan per chunk, so that the first chunk is done when the kill comes.
    monkeypatch.setattr(cob, "CHUNK", 1)
    expected = _as_if_uninterrupted(lambda: close_through(until=last))

    killed_on = date(2026, 3, 1)
    post_many = ledger.post_many
    penalty_chunks = []

    def post_many_then_die(entries: Sequence[ledger.Entry]) -> object:
        first = entries[0] if entries else None
        if first and first.kind == JournalEntry.Kind.PENALTY and first.on == killed_on:
            penalty_chunks.append(first.loan_id)
            if len(penalty_chunks) == 2:
                raise Killed(str(killed_on))
        return post_many(entries)

    monkeypatch.setattr(ledger, "post_many", post_many_then_die)

    with pytest.raises(Killed):
        close_through(until=last)

    penalised = set(
        JournalEntry.objects.filter(
            kind=JournalEntry.Kind.PENALTY, on=killed_on
        ).values_list("loan_id", flat=True)
    )
    assert penalised == {twins[0].pk}
    assert BusinessDay.objects.get(on=killed_on).closed_at is None

    close_through(until=last)

    assert _digest() == expected
    assert _per_loan(twins[0]) == _per_loan(twins[1])


def test_the_first_close_ever_starts_at_the_given_date(staff: Staff) -> None:
    loan = active_loan(staff=staff)

    close_through(until=date(2026, 2, 20))

    assert list(BusinessDay.objects.values_list("on", flat=True)) == [date(2026, 2, 20)]
    loan = _reload(loan)
    assert (loan.state, loan.days_past_due) == (Loan.State.OVERDUE, 5)
    assert [e.on for e in _entries(loan, JournalEntry.Kind.INTEREST_DUE)] == [
        date(2026, 2, 20)
    ]
    assert [e.on for e in _entries(loan, JournalEntry.Kind.PENALTY)] == [
        date(2026, 2, 20)
    ]


def test_the_command_closes_every_date_up_to_the_one_given() -> None:
    out = StringIO()

    call_command("close_business_day", "--date=2026-01-20", stdout=out)
    assert list(BusinessDay.objects.values_list("on", flat=True)) == [date(2026, 1, 20)]
    call_command("close_business_day", "--date", "2026-01-23", stdout=out)

    assert sorted(BusinessDay.objects.values_list("on", flat=True)) == _days(
        date(2026, 1, 20), date(2026, 1, 23)
    )
    assert not BusinessDay.objects.filter(closed_at__isnull=True).exists()
    assert CloseStep.objects.count() == 4 * len(STEPS)


def test_the_command_refuses_a_future_date() -> None:
    with pytest.raises(CommandError):
        call_command("close_business_day", "--date=2999-01-01", stdout=StringIO())

    assert not BusinessDay.objects.exists()


def test_the_business_date_is_the_day_after_the_last_closed_one() -> None:
    close_through(until=date(2026, 1, 20))
    assert business_date_current() == date(2026, 1, 21)

    close_through(until=date(2026, 1, 23))
    assert business_date_current() == date(2026, 1, 24)


@pytest.mark.parametrize(
    ("name", "sources", "target"),
    [
        ("blacklist", ["overdue"], "blacklisted"),
        ("enter_grace", ["active"], "grace"),
        ("fall_overdue", ["grace"], "overdue"),
        ("cure", ["grace", "overdue"], "active"),
        ("write_off", ["blacklisted", "overdue"], "written_off"),
    ],
)
def test_the_close_asks_the_fsm_graph_for_a_moves_sources(
    name: str, sources: list[str], target: str
) -> None:
    assert cob.transition_graph(name) == (sources, target)

"""The escalation ladder in the daily close: the default ladder's messages on
the right days, cases that climb and are resolved by payment, nothing twice."""

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from collection import cob
from collection.models import (
    CallTask,
    CollectionCase,
    ContactConsent,
    LegalReferral,
    Mediation,
    Message,
    Stage,
    StepDone,
)
from config.roles import StaffRole
from loans import services as loan_services
from loans.close import close_through
from loans.models import Loan
from loans.selectors import payable
from members.models import Member
from tests.factories import staff_user
from tests.loans.factories import ON, Staff, active_loan, borrower

pytestmark = pytest.mark.django_db

FIRST_DUE = date(2026, 2, 15)


@pytest.fixture
def staff() -> Staff:
    return Staff()


def _messages(loan: Loan) -> list[tuple[str, date]]:
    """(purpose, business date of the close that queued it) per message."""
    return [
        (m.purpose, timezone.localtime(m.scheduled_for).date() - timedelta(days=1))
        for m in Message.objects.filter(loan=loan, audience="borrower").order_by("pk")
    ]


def _close(until: date) -> None:
    close_through(until=until)


def test_a_loan_that_falls_behind_gets_the_default_ladder_on_the_right_days(
    staff: Staff,
) -> None:
    loan = active_loan(staff=staff)
    _close(FIRST_DUE - timedelta(days=5))
    _close(FIRST_DUE + timedelta(days=31))

    assert _messages(loan) == [
        ("reminder_ahead", FIRST_DUE - timedelta(days=3)),
        ("reminder_due", FIRST_DUE),
        ("grace", FIRST_DUE + timedelta(days=1)),
        ("early", FIRST_DUE + timedelta(days=4)),
        ("mid", FIRST_DUE + timedelta(days=15)),
        ("late", FIRST_DUE + timedelta(days=31)),
    ]


def test_the_case_opens_past_grace_and_climbs_to_late(staff: Staff) -> None:
    loan = active_loan(staff=staff)
    collector = staff_user(StaffRole.COLLECTOR, branches=(loan.member.branch,))
    _close(FIRST_DUE + timedelta(days=3))
    assert not CollectionCase.objects.filter(loan=loan).exists()

    _close(FIRST_DUE + timedelta(days=4))
    case = CollectionCase.objects.get(loan=loan)
    assert case.stage == Stage.EARLY
    assert case.collector == collector
    assert case.opened_on == FIRST_DUE + timedelta(days=4)
    assert CallTask.objects.filter(case=case).count() == 1

    _close(FIRST_DUE + timedelta(days=15))
    case.refresh_from_db()
    assert case.stage == Stage.MID
    assert Mediation.objects.filter(case=case).count() == 1

    _close(FIRST_DUE + timedelta(days=31))
    case.refresh_from_db()
    assert case.stage == Stage.LATE
    assert LegalReferral.objects.get(case=case).status == "prepared"


def test_paying_the_arrears_resolves_the_case_and_stops_the_ladder(
    staff: Staff,
) -> None:
    loan = active_loan(staff=staff)
    pay_on = FIRST_DUE + timedelta(days=20)
    _close(pay_on - timedelta(days=1))
    case = CollectionCase.objects.get(loan=loan)
    assert case.stage == Stage.MID

    loan.refresh_from_db()
    owed = sum(
        (
            row.total
            for row in payable(list(loan.installments.all()), pay_on)
            if row.installment.due_date < pay_on
        ),
        Decimal("0.00"),
    )
    loan_services.repayment_post(
        loan=loan, amount=owed, reference="pay", by=staff.finance, on=pay_on
    )
    case.refresh_from_db()
    assert case.status == CollectionCase.Status.RESOLVED
    assert case.resolved_on == pay_on

    before = Message.objects.filter(loan=loan).count()
    _close(FIRST_DUE + timedelta(days=31))
    late = [p for p, _on in _messages(loan) if p == "late"]
    assert late == []
    # The next installment's own reminders and grace message follow; the
    # resolved case's ladder does not.
    purposes = set(
        Message.objects.filter(loan=loan)
        .order_by("pk")[before:]
        .values_list("purpose", flat=True)
    )
    assert purposes <= {"reminder_ahead", "reminder_due", "grace"}


def test_closing_a_date_twice_takes_no_step_twice(staff: Staff) -> None:
    loan = active_loan(staff=staff)
    _close(FIRST_DUE + timedelta(days=16))
    steps = StepDone.objects.count()
    messages = Message.objects.count()

    taken = cob.ladder(on=FIRST_DUE + timedelta(days=16))

    assert taken == 0
    assert StepDone.objects.count() == steps
    assert Message.objects.count() == messages
    assert CollectionCase.objects.filter(loan=loan).count() == 1


def test_a_loan_found_far_behind_takes_every_case_step_it_skipped(
    staff: Staff,
) -> None:
    loan = active_loan(staff=staff)
    # The first close ever is 20 days past the due date: the early and mid
    # steps were never taken, and both are taken now, in order.
    _close(FIRST_DUE + timedelta(days=20))

    assert [p for p, _on in _messages(loan)] == ["early", "mid"]
    case = CollectionCase.objects.get(loan=loan)
    assert case.stage == Stage.MID


def test_the_branch_leader_is_told_only_with_the_borrowers_consent(
    staff: Staff,
) -> None:
    consenting = borrower()
    silent = borrower(branch=consenting.branch)
    leader = borrower(branch=consenting.branch)
    Member.objects.filter(pk=leader.pk).update(branch_role=Member.BranchRole.LEADER)
    ContactConsent.objects.create(
        member=consenting,
        kind=ContactConsent.Kind.LEADER,
        given_at=timezone.make_aware(datetime(2026, 1, 10)),
        evidence="签字同意书 2026-001",
    )
    told = active_loan(staff=staff, member=consenting)
    untold = active_loan(staff=staff, member=silent)

    _close(FIRST_DUE + timedelta(days=15))

    to_leader = Message.objects.filter(audience=Message.Audience.BRANCH_LEADER)
    assert list(to_leader.values_list("loan_id", "recipient_member_id")) == [
        (told.pk, leader.pk)
    ]
    assert untold.pk not in to_leader.values_list("loan_id", flat=True)
    body = to_leader.get().body
    assert "¥" not in body
    assert told.number not in body


def test_blacklisting_tells_the_guarantors_without_the_debt(staff: Staff) -> None:
    from members import services as member_services

    debtor = borrower()
    guarantor = borrower(branch=debtor.branch)
    member_services.guarantor_tie_create(
        guarantor=guarantor,
        borrower=debtor,
        amount=Decimal("1000.00"),
        consented_at=timezone.make_aware(datetime(2026, 1, 10)),
        consent_evidence="担保书 2026-007",
        by=None,
    )
    loan = active_loan(staff=staff, member=debtor)

    _close(FIRST_DUE + timedelta(days=91))

    loan.refresh_from_db()
    assert loan.state == Loan.State.BLACKLISTED
    case = CollectionCase.objects.get(loan=loan)
    assert case.stage == Stage.BLACKLISTED
    told = Message.objects.get(audience=Message.Audience.GUARANTOR)
    assert told.recipient_member == guarantor
    assert "¥" not in told.body
    assert LegalReferral.objects.filter(case=case).count() == 1


def test_collection_messages_go_out_the_next_morning(staff: Staff) -> None:
    loan = active_loan(staff=staff)
    _close(FIRST_DUE + timedelta(days=1))

    grace = Message.objects.get(loan=loan, purpose="grace")
    local = timezone.localtime(grace.scheduled_for)
    assert local.date() == FIRST_DUE + timedelta(days=2)
    assert local.hour >= 8
    assert "宽限期还剩2天" in grace.body
    assert ON < FIRST_DUE


def _ladder_statements(on: date, loans: int) -> int:
    with CaptureQueriesContext(connection) as queries:
        taken = cob.ladder(on=on)
    assert taken == loans
    return len(queries)


@pytest.mark.parametrize(
    "on",
    [FIRST_DUE - timedelta(days=3), FIRST_DUE + timedelta(days=1)],
    ids=["reminder", "grace"],
)
def test_the_ladder_runs_as_many_statements_for_five_loans_as_for_two(
    staff: Staff, on: date
) -> None:
    """Messages are built from what a range reads at once: a statement per
    loan messaged (a figure, a consent, a field read late) would show here."""
    for _ in range(2):
        active_loan(staff=staff)
    _close(on - timedelta(days=1))
    two = _ladder_statements(on, 2)

    # The same day again with three loans more, the first two's steps undone.
    Message.objects.all().delete()
    StepDone.objects.all().delete()
    for _ in range(3):
        active_loan(staff=staff)
    five = _ladder_statements(on, 5)

    assert five == two

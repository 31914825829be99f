"""The operator's commands: output, effect and exit status."""

from datetime import date, datetime, timedelta
from decimal import Decimal
from io import StringIO
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from collection import services as collection
from collection.models import Message, Purpose
from credit.models import CreditScore
from credit.services import credit_score_member
from loans.models import Account, Installment, JournalEntry, JournalLine, Loan
from members.models import Member
from tests.factories import MemberFactory
from tests.loans.factories import ON, Staff, active_loan

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
MORNING = datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI)
FIGURES = {
    "name": "成员",
    "loan": "L20260001",
    "due_date": "2026-03-02",
    "amount_due": "¥1,050.00",
    "overdue_amount": "¥1,050.00",
    "days_past_due": "9",
    "hardship_link": "http://127.0.0.1:8000/loans/1/hardship/",
}


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


# rescore_members --------------------------------------------------------


def test_rescoring_by_default_scores_only_the_stale_members_in_batches() -> None:
    stale = [MemberFactory(kyc=Member.KycStatus.VERIFIED) for _ in range(3)]
    fresh = MemberFactory(kyc=Member.KycStatus.VERIFIED)
    credit_score_member(member=fresh, on=timezone.localdate(), trigger="manual")

    output = run("rescore_members", "--batch-size=2")

    assert "2/3 members, 2 scored" in output
    assert "3/3 members, 3 scored" in output
    assert "Scored 3 of 3 members" in output
    rescored = CreditScore.objects.filter(trigger=CreditScore.Trigger.MANUAL)
    assert set(rescored.values_list("member_id", flat=True)) == {
        m.pk for m in stale
    } | {fresh.pk}
    assert CreditScore.objects.filter(member=fresh).count() == 1


def test_rescoring_all_includes_members_whose_score_is_fresh() -> None:
    fresh = MemberFactory(kyc=Member.KycStatus.VERIFIED)
    credit_score_member(member=fresh, on=timezone.localdate(), trigger="manual")

    output = run("rescore_members", "--all", "--date=2026-06-30")

    assert "Scored 1 of 1 members as of 2026-06-30." in output
    assert CreditScore.objects.filter(member=fresh).count() == 2


def test_rescoring_given_members_scores_those_only() -> None:
    chosen = MemberFactory(kyc=Member.KycStatus.VERIFIED)
    MemberFactory(kyc=Member.KycStatus.VERIFIED)

    run("rescore_members", "--member", str(chosen.pk))

    assert list(CreditScore.objects.values_list("member_id", flat=True)) == [chosen.pk]


def test_rescoring_an_unknown_member_fails_and_scores_nobody() -> None:
    with pytest.raises(CommandError, match="No member with id"):
        run("rescore_members", "--member", "999999")

    assert not CreditScore.objects.exists()


# resend_failed_messages -------------------------------------------------


def _message(member: Member, purpose: Purpose, status: Message.Status) -> Message:
    key = f"ops:{member.pk}:{purpose}"
    built = collection.message_build(
        member=member, purpose=purpose, dedupe_key=key, figures=FIGURES, at=MORNING
    )
    collection.messages_save([built])
    Message.objects.filter(dedupe_key=key).update(
        status=status, attempts=6, scheduled_for=MORNING
    )
    return Message.objects.get(dedupe_key=key)


def test_failed_and_stuck_messages_are_queued_again_and_sent_ones_left() -> None:
    member = MemberFactory(kyc=Member.KycStatus.VERIFIED)
    failed = _message(member, Purpose.REMINDER_DUE, Message.Status.FAILED)
    stuck = _message(member, Purpose.REMINDER_AHEAD, Message.Status.SENDING)
    sent = _message(member, Purpose.GRACE, Message.Status.SENT)

    output = run("resend_failed_messages")

    assert "Queued again: 1 failed, 1 stuck." in output
    for message in (failed, stuck, sent):
        message.refresh_from_db()
    assert (failed.status, failed.attempts) == (Message.Status.QUEUED, 0)
    assert stuck.status == Message.Status.QUEUED
    assert sent.status == Message.Status.SENT


def test_resending_given_messages_leaves_other_failed_ones() -> None:
    member = MemberFactory(kyc=Member.KycStatus.VERIFIED)
    chosen = _message(member, Purpose.REMINDER_DUE, Message.Status.FAILED)
    other = _message(member, Purpose.GRACE, Message.Status.FAILED)

    output = run("resend_failed_messages", "--message", str(chosen.pk))

    assert "Queued again: 1 failed, 0 stuck." in output
    other.refresh_from_db()
    assert other.status == Message.Status.FAILED


def test_resending_an_unknown_message_fails() -> None:
    with pytest.raises(CommandError, match="do not exist"):
        run("resend_failed_messages", "--message", "999999")


# ledger_check -----------------------------------------------------------


@pytest.fixture
def loan() -> Loan:
    return active_loan(staff=Staff())


def test_a_sound_ledger_passes_the_check(loan: Loan) -> None:
    output = run("ledger_check", f"--from={ON}", f"--to={ON}")

    assert "Entries from 2026-01-15 to 2026-01-15: 1 checked" in output
    assert "Whole ledger: debits 1200.00, credits 1200.00" in output
    assert "Ledger agrees: 1 entries, 1 open loans." in output


def test_an_unbalanced_entry_fails_the_check_and_is_named(loan: Loan) -> None:
    # Written around the ledger module, which would refuse it. PostgreSQL
    # refuses it at commit too, so the test balances it again before the end.
    entry = JournalEntry.objects.create(
        loan=loan, kind=JournalEntry.Kind.PENALTY, on=ON, dedupe_key="broken"
    )
    JournalLine.objects.create(
        entry=entry,
        loan=loan,
        account=Account.PENALTY_RECEIVABLE,
        debit=Decimal("5.00"),
    )
    out = StringIO()

    with pytest.raises(CommandError, match="1 unbalanced entries"):
        call_command("ledger_check", f"--from={ON}", f"--to={ON}", stdout=out)

    assert f"Entry {entry.pk}: debits 5.00 != credits 0.00" in out.getvalue()
    assert "Whole ledger unbalanced by 5.00" in out.getvalue()
    assert f"Loan {loan.pk}: penalty_receivable on the ledger 5.00" in out.getvalue()
    JournalLine.objects.create(
        entry=entry, loan=loan, account=Account.PENALTY_INCOME, credit=Decimal("5")
    )


def test_a_schedule_that_drifted_from_the_ledger_fails_the_check(
    loan: Loan,
) -> None:
    first = loan.installments.order_by("number").first()
    assert first is not None
    Installment.objects.filter(pk=first.pk).update(paid_principal=Decimal("100.00"))
    out = StringIO()

    with pytest.raises(CommandError, match="1 loans off their schedule"):
        call_command("ledger_check", stdout=out)

    assert (
        f"Loan {loan.pk}: principal_receivable on the ledger 1200.00, "
        "schedule says 1100.00"
    ) in out.getvalue()


def test_the_check_refuses_a_range_that_ends_before_it_starts() -> None:
    with pytest.raises(CommandError, match="--from must not be after --to"):
        run("ledger_check", "--from=2026-02-01", "--to=2026-01-01")


# close_business_day -----------------------------------------------------


def test_a_failing_close_step_exits_with_an_error_naming_the_cause(
    settings: Any,
) -> None:
    settings.CLOSE_STEPS = ["tests.operations.test_commands.step_that_fails"]

    with pytest.raises(CommandError, match="The close stopped: ledger locked"):
        run("close_business_day", f"--date={ON + timedelta(days=1)}")


def step_that_fails(*, on: date) -> int:
    raise RuntimeError("ledger locked")


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("close_business_day", "resumes a close that stopped"),
        ("rescore_members", "By default the stale ones"),
        ("resend_failed_messages", "stuck in sending"),
        ("ledger_check", "exits with status 1"),
    ],
)
def test_every_command_explains_itself_in_help(
    name: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        call_command(name, "--help")

    assert exit_.value.code == 0
    assert says in " ".join(capsys.readouterr().out.split())

"""Every money event, state change and admin action leaves a record naming
who did it.

The main flows run as named staff: a member registered and verified, a
loan applied for, approved at two levels and paid out, a repayment, a
hardship plan asked for and approved (a restructure), another loan written
off and a recovery on it, a member blacklisted, settled and lifted, and in
the admin a list action and an edit. Closes move the loans between. Then
every journal entry, loan transition, member event and decision is traced
to the person it names, or to the close of its business date when no
person did it.
"""

from datetime import date
from decimal import Decimal

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType

from collection import services as collection
from collection.models import Cause, CollectionCase, HardshipRequest
from config.admin_site import action_message
from config.roles import StaffRole
from credit import services as credit
from credit.models import CreditProfile
from loans import services as loans
from loans.close import close_through
from loans.models import (
    BusinessDay,
    JournalEntry,
    Loan,
    LoanTransition,
    Repayment,
    WriteOffRequest,
)
from members import services as members
from members.models import BlacklistEntry, BlacklistRule, Branch, Member, MemberEvent
from tests.factories import mobile, national_id, staff_user
from tests.loans.factories import ProductFactory

pytestmark = pytest.mark.django_db

JOINED = date(2026, 1, 5)
PAID_OUT = date(2026, 1, 15)
OVERDUE = date(2026, 3, 1)


def who_posted(entry: JournalEntry) -> User | None:
    """The person behind a journal entry, found through the record that
    caused it; None for what a close posts (interest and penalties)."""
    loan_id, _kind, *rest = entry.dedupe_key.split(":")
    transitions = LoanTransition.objects.filter(loan_id=loan_id)
    if entry.kind in (JournalEntry.Kind.INTEREST_DUE, JournalEntry.Kind.PENALTY):
        assert BusinessDay.objects.filter(on=entry.on).exists(), entry.dedupe_key
        return None
    if entry.kind in (JournalEntry.Kind.REPAYMENT, JournalEntry.Kind.RECOVERY):
        return Repayment.objects.get(pk=rest[0]).by
    target = {
        JournalEntry.Kind.DISBURSEMENT: Loan.State.ACTIVE,
        JournalEntry.Kind.RESTRUCTURE: Loan.State.ACTIVE,
        JournalEntry.Kind.WRITE_OFF: Loan.State.WRITTEN_OFF,
    }[JournalEntry.Kind(entry.kind)]
    return transitions.filter(target=target, on=entry.on).latest("pk").by


@pytest.fixture
def people(branch: Branch) -> dict[str, User]:
    return {
        "clerk": staff_user(
            StaffRole.BRANCH_LEADER, branches=(branch,), username="clerk"
        ),
        "leader": staff_user(
            StaffRole.BRANCH_LEADER, branches=(branch,), username="leader"
        ),
        "risk": staff_user(StaffRole.RISK_OFFICER, username="risk"),
        "finance": staff_user(
            StaffRole.FINANCE, branches=(branch,), username="finance"
        ),
        "collector": staff_user(
            StaffRole.COLLECTOR, branches=(branch,), username="collector"
        ),
    }


def _member(people: dict[str, User], name: str) -> Member:
    branch = Branch.objects.get(staff=people["clerk"])
    member = members.member_register(
        branch=branch,
        real_name=name,
        national_id=national_id(),
        phone=mobile(),
        joined_on=JOINED,
        by=people["clerk"],
    )
    return credit.member_verify_kyc_and_score(
        member=member, by=people["leader"], on=JOINED
    )


def _paid_out(people: dict[str, User], member: Member) -> Loan:
    product = ProductFactory(second_approval_above=Decimal("1000.00"))
    loan = loans.loan_apply(
        member=member,
        product=product,
        principal=Decimal("1200.00"),
        term_months=3,
        by=people["clerk"],
        on=PAID_OUT,
    )
    loans.loan_approve(loan=loan, by=people["leader"], comment="同意", on=PAID_OUT)
    loans.loan_approve(loan=loan, by=people["risk"], comment="同意", on=PAID_OUT)
    return loans.loan_disburse(loan=loan, by=people["finance"], on=PAID_OUT)


def test_every_money_event_state_change_and_admin_action_names_who(
    people: dict[str, User], client: object
) -> None:
    restructured = _paid_out(people, _member(people, "甲"))
    written_off = _paid_out(people, _member(people, "乙"))
    loans.repayment_post(
        loan=restructured,
        amount=Decimal("50.00"),
        reference="bank-1",
        by=people["finance"],
        on=date(2026, 2, 1),
    )
    close_through(until=OVERDUE)

    plan = collection.hardship_request(
        loan=restructured,
        cause=Cause.ACCIDENT_ILLNESS,
        installments=6,
        note="住院",
        by=people["collector"],
        on=OVERDUE,
    )
    collection.hardship_approve(request=plan, by=people["risk"], on=OVERDUE)
    collection.case_close(
        case=CollectionCase.objects.get(loan=restructured),
        review="住院后恢复还款",
        by=people["collector"],
        on=OVERDUE,
    )
    loans.loan_write_off_request(loan=written_off, by=people["risk"], reason="失联")
    loans.loan_write_off_approve(loan=written_off, by=people["finance"], on=OVERDUE)
    loans.repayment_post(
        loan=Loan.objects.get(pk=written_off.pk),
        amount=Decimal("100.00"),
        reference="bank-2",
        by=people["finance"],
        on=OVERDUE,
    )

    rule = BlacklistRule.current()
    rule.cooling_off_days = 0
    rule.save()
    fraud = _member(people, "丙")
    entry = credit.member_blacklist_and_zero_limit(
        member=fraud,
        reason="骗贷",
        source=BlacklistEntry.Source.choices[0][0],  # type: ignore[arg-type]
        on=OVERDUE,
        by=people["risk"],
    )
    members.blacklist_settle_debt(entry=entry, on=OVERDUE, by=people["finance"])
    credit.blacklist_lift_and_restart(
        entry=BlacklistEntry.objects.get(pk=entry.pk),
        on=OVERDUE,
        by=people["risk"],
        reason="已结清",
    )

    # In the admin: a list action and an edit, as the risk officer.
    client.force_login(people["risk"])  # type: ignore[attr-defined]
    profile = CreditProfile.objects.get(member=fraud)
    client.post(  # type: ignore[attr-defined]
        "/admin/credit/creditprofile/",
        {"action": "rescore", "_selected_action": [profile.pk], "index": 0},
    )
    edited = client.post(  # type: ignore[attr-defined]
        f"/admin/members/blacklistrule/{rule.pk}/change/",
        {"require_debt_settled": "on", "cooling_off_days": "30"},
    )
    assert edited.status_code == 302

    # Money: each journal entry, to the person or the close behind it.
    posted = {e.dedupe_key: who_posted(e) for e in JournalEntry.objects.all()}
    by_kind = {}
    for e in JournalEntry.objects.all():
        by_kind.setdefault(e.kind, set()).add(
            posted[e.dedupe_key].username if posted[e.dedupe_key] else "close"
        )
    assert by_kind == {
        "disbursement": {"finance"},
        "repayment": {"finance"},
        "interest_due": {"close"},
        "penalty": {"close"},
        "restructure": {"risk"},
        "write_off": {"finance"},
        "recovery": {"finance"},
    }

    # State changes of loans: a person, or the close of that day.
    for move in LoanTransition.objects.all():
        assert move.by is not None or (
            BusinessDay.objects.filter(on=move.on, closed_at__isnull=False).exists()
        ), move
    moved_by = {
        (t.source, t.target): t.by.username if t.by else "close"
        for t in LoanTransition.objects.filter(loan=restructured)
    }
    assert moved_by[("", "applied")] == "clerk"
    assert moved_by[("applied", "approved")] == "risk"
    assert moved_by[("approved", "active")] == "finance"
    assert moved_by[("grace", "overdue")] == "close"
    assert moved_by[("overdue", "active")] == "risk"

    # Decisions that carry their own names.
    assert {a.by.username for a in restructured.approvals.all()} == {"leader", "risk"}
    plan.refresh_from_db()
    assert (plan.requested_by.username, plan.decided_by.username) == (  # type: ignore[union-attr]
        "collector",
        "risk",
    )
    write_off = WriteOffRequest.objects.get(loan=written_off)
    assert (write_off.requested_by.username, write_off.approved_by.username) == (  # type: ignore[union-attr]
        "risk",
        "finance",
    )
    entry.refresh_from_db()
    assert (entry.blacklisted_by.username, entry.lifted_by.username) == (  # type: ignore[union-attr]
        "risk",
        "risk",
    )
    assert plan.status == HardshipRequest.Status.APPROVED

    # Members' state changes: each event names a person.
    events = MemberEvent.objects.filter(member__in=[fraud, restructured.member])
    assert all(event.actor is not None for event in events)
    done_to_fraud = {
        (event.kind, event.actor.username)  # type: ignore[union-attr]
        for event in events.filter(member=fraud)
    }
    assert done_to_fraud == {
        (MemberEvent.Kind.REGISTERED, "clerk"),
        (MemberEvent.Kind.KYC_VERIFIED, "leader"),
        (MemberEvent.Kind.BLACKLISTED, "risk"),
        (MemberEvent.Kind.BLACKLIST_DEBT_SETTLED, "finance"),
        (MemberEvent.Kind.BLACKLIST_LIFTED, "risk"),
    }

    # The admin: the action and the edit, each in the admin log under the
    # risk officer's name.
    logged = LogEntry.objects.filter(user=people["risk"], action_flag=CHANGE)
    profile_type = ContentType.objects.get_for_model(CreditProfile)
    assert logged.filter(
        content_type=profile_type,
        object_id=str(profile.pk),
        change_message=action_message("rescore"),
    ).exists()
    assert logged.filter(
        content_type=ContentType.objects.get_for_model(BlacklistRule),
        object_id=str(rule.pk),
    ).exists()

    # A collection case's closing names who closed it.
    case = CollectionCase.objects.get(loan=restructured)
    assert case.closed_by == people["collector"]

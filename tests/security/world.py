"""One small book with something of every kind, and a person in every role.

The borrower's branch holds two borrowers, each with a loan; the first loan
is closed into overdue, so it has a collection case, messages, a hardship
request and a write-off request. Staff are made per role: those tied to a
branch work the borrower's branch, except the leader of another branch.
"""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import FieldError
from django.db.models import Model
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)
from rest_framework.authtoken.models import Token

from collection import services as collection
from collection.models import (
    Cause,
    CollectionCase,
    Contact,
    ContactConsent,
    HardshipRequest,
    Message,
)
from config.roles import StaffRole
from credit import services as credit
from integrations import services as integrations
from loans import services as loans
from loans.close import close_through
from loans.models import Loan, Repayment
from members import services as members
from members.events import EventKind
from members.models import (
    BlacklistEntry,
    BlacklistRule,
    Branch,
    EmergencyContact,
    Member,
)
from risk import services as risk
from risk.models import StressScenario
from tests.factories import BranchFactory, staff_user
from tests.loans.factories import Staff, active_loan, borrower

# Past the mid-stage (mediation offered) and the late stage (legal referral).
OVERDUE_ON = date(2026, 3, 20)
AT = datetime(2026, 3, 20, 10, 0, tzinfo=UTC)

ANON = "anon"
BORROWER = "borrower"
PEER = "peer"
LEADER = "leader"
LEADER_ELSEWHERE = "leader2"
COLLECTOR = "collector"
FINANCE = "finance"
AUDITOR = "auditor"
RISK = "risk"
ROLES = [
    ANON,
    BORROWER,
    PEER,
    LEADER,
    LEADER_ELSEWHERE,
    COLLECTOR,
    FINANCE,
    AUDITOR,
    RISK,
]


@dataclass
class World:
    branch: Branch
    other_branch: Branch
    member: Member
    peer: Member
    loan: Loan
    peer_loan: Loan
    case: CollectionCase
    repayment: Repayment
    message: Message
    hardship: HardshipRequest
    users: dict[str, User | AnonymousUser] = field(default_factory=dict)
    # The row each admin change page opens, by model label ("loans.loan").
    rows: dict[str, Model] = field(default_factory=dict)


def build_world() -> World:
    staff = Staff()
    # Registered first, so the events below leave deliveries behind.
    integrations.endpoint_create(
        url="https://partner.example.com/hooks",
        event_types=EventKind.values,
        owner=staff.risk,
    )
    branch = BranchFactory()
    other_branch = BranchFactory()
    member = borrower(branch=branch)
    peer = borrower(branch=branch)
    loan = active_loan(staff=staff, member=member)
    peer_loan = active_loan(staff=staff, member=peer)
    loans.repayment_post(
        loan=loan,
        amount=Decimal("100.00"),
        reference="world-1",
        by=staff.finance,
        on=date(2026, 2, 1),
    )
    members.guarantor_tie_create(
        guarantor=peer,
        borrower=member,
        amount=Decimal("500.00"),
        consented_at=AT,
        consent_evidence="签字的担保书",
        by=None,
    )
    members.emergency_contact_add(
        member=member,
        name="王芳",
        relationship=EmergencyContact.Relationship.SPOUSE,
        phone="13900001111",
        consented_at=AT,
        consent_evidence="签字的同意书",
    )
    collection.consent_give(
        member=member,
        kind=ContactConsent.Kind.choices[0][0],
        evidence="签字的同意书",
        at=AT,
    )
    close_through(until=OVERDUE_ON)
    loan.refresh_from_db()
    case = CollectionCase.objects.get(loan=loan)
    collection.contact_record(
        case=case,
        channel=Contact.Channel.choices[0][0],
        outcome=Contact.Outcome.choices[0][0],
        by=staff.risk,
        at=AT,
        emergency_contact=None,
    )
    hardship = collection.hardship_request(
        loan=loan,
        cause=Cause.ACCIDENT_ILLNESS,
        installments=6,
        note="住院两周，收入中断。",
        by=member.user,
        on=OVERDUE_ON,
    )
    # The outbox is sent on commit, which a test's transaction never reaches;
    # the close schedules it for the next morning.
    morning = datetime(2026, 3, 21, 2, 0, tzinfo=UTC)
    for message_id in collection.messages_due(now=morning):
        collection.message_send(message_id=message_id, now=morning)
    loans.loan_write_off_request(loan=loan, by=staff.risk, reason="失联")
    credit.bureau_report_receive(
        member=member,
        source="人行征信",
        reported_on=OVERDUE_ON,
        reported_name="别的名字",
        reported_national_id=member.national_id,
        monthly_income=Decimal("3000.00"),
        external_overdue_count=0,
        external_debt=Decimal("0.00"),
        inquiries_90d=1,
        raw={},
        by=staff.risk,
        on=OVERDUE_ON,
    )
    credit.member_blacklist_and_zero_limit(
        member=borrower(branch=branch),
        reason="骗贷",
        source=BlacklistEntry.Source.choices[0][0],
        on=OVERDUE_ON,
        by=staff.risk,
    )
    BlacklistRule.current()
    _beat_and_lockout_rows()
    scenario = StressScenario.objects.create(name="冲击", lgd=Decimal("0.6"))
    risk.stress_test_run(scenario=scenario, by=staff.risk, as_of=OVERDUE_ON)
    world = World(
        branch=branch,
        other_branch=other_branch,
        member=member,
        peer=peer,
        loan=loan,
        peer_loan=peer_loan,
        case=case,
        repayment=Repayment.objects.filter(loan=loan).earliest("pk"),
        message=Message.objects.filter(
            member=member,
            audience=Message.Audience.BORROWER,
            status=Message.Status.SENT,
        ).earliest("pk"),
        hardship=hardship,
    )
    world.users = {
        ANON: AnonymousUser(),
        BORROWER: member.user,
        PEER: peer.user,
        LEADER: staff_user(StaffRole.BRANCH_LEADER, branches=(branch,)),
        LEADER_ELSEWHERE: staff_user(StaffRole.BRANCH_LEADER, branches=(other_branch,)),
        COLLECTOR: staff_user(StaffRole.COLLECTOR, branches=(branch,)),
        FINANCE: staff_user(StaffRole.FINANCE, branches=(branch,)),
        AUDITOR: staff_user(StaffRole.AUDITOR),
        RISK: staff_user(StaffRole.RISK_OFFICER),
    }
    Token.objects.create(user=staff.risk)
    return world


def _beat_and_lockout_rows() -> None:
    """A scheduled task with one schedule of each kind, and sign-in records."""
    every = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.HOURS)
    PeriodicTask.objects.create(name="world", task="world.task", interval=every)
    CrontabSchedule.objects.create(minute="0", hour="2")
    ClockedSchedule.objects.create(clocked_time=AT)
    SolarSchedule.objects.create(event="sunrise", latitude=39.9, longitude=116.4)
    AccessAttempt.objects.create(
        username="13900000000", ip_address="10.0.0.1", failures_since_start=1
    )
    AccessFailureLog.objects.create(username="13900000000", ip_address="10.0.0.1")
    AccessLog.objects.create(username="13900000000", ip_address="10.0.0.1")


def row_for(world: World, model: type[Model]) -> Any:
    """The row of `model` an admin page opens: the borrower's where it has one."""
    label = model._meta.label_lower
    if label in world.rows:
        return world.rows[label]
    mine = {
        "members.member": world.member,
        "members.branch": world.branch,
        "loans.loan": world.loan,
        "collection.collectioncase": world.case,
        "loans.repayment": world.repayment,
        "collection.message": world.message,
        "collection.hardshiprequest": world.hardship,
    }
    if label in mine:
        return mine[label]
    for path in ("member", "loan__member", "case__loan__member", "borrower"):
        try:
            found = model._default_manager.filter(**{path: world.member}).first()
        except FieldError:  # the model has no such path to a member
            continue
        if found is not None:
            return found
    return model._default_manager.order_by("pk").first()

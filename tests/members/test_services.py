"""Business rules of branches and members, through `members.services`."""

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.formats import date_format

from config.roles import StaffRole
from members import services
from members.models import (
    BlacklistEntry,
    BlacklistRule,
    Branch,
    EmergencyContact,
    GuarantorTie,
    Member,
    MemberEvent,
)
from tests.factories import (
    BranchFactory,
    MemberFactory,
    mobile,
    national_id,
    national_id_ending_in_x,
    staff_user,
)

pytestmark = pytest.mark.django_db

JOINED = date(2026, 2, 1)
ON = date(2026, 3, 1)
AT = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
PASSWORD = "borrower-pass-2026"
VERIFIED = Member.KycStatus.VERIFIED


def refusal(call: Callable[..., Any], /, *args: Any, **kwargs: Any) -> ValidationError:
    """The `ValidationError` that `call(*args, **kwargs)` raises."""
    with pytest.raises(ValidationError) as caught:
        call(*args, **kwargs)
    return caught.value


def field_codes(error: ValidationError) -> dict[str, list[str | None]]:
    return {
        field: [item.code for item in items]
        for field, items in error.error_dict.items()
    }


def codes(error: ValidationError) -> list[str | None]:
    """The codes of an error not tied to a field."""
    return [item.code for item in error.error_list]


def register(**overrides: Any) -> Member:
    values: dict[str, Any] = {
        "branch": overrides.pop("branch", None) or BranchFactory(),
        "real_name": "王小明",
        "national_id": national_id(),
        "phone": mobile(),
        "joined_on": JOINED,
        "by": None,
        "password": PASSWORD,
    }
    values.update(overrides)
    return services.member_register(**values)


def events(member: Member, kind: MemberEvent.Kind) -> list[MemberEvent]:
    return list(member.events.filter(kind=kind).order_by("id"))


@pytest.fixture
def officer() -> User:
    return staff_user(StaffRole.RISK_OFFICER)


# Branches


def test_branch_is_created_with_trimmed_name_and_active_status() -> None:
    branch = services.branch_create(name="  幸福里支部 ", region="上海", created_on=ON)
    assert branch.name == "幸福里支部"
    assert branch.status == Branch.Status.ACTIVE
    assert branch.created_on == ON


def test_duplicate_branch_name_is_refused_on_the_name_field() -> None:
    services.branch_create(name="幸福里支部", region="上海", created_on=ON)
    error = refusal(
        services.branch_create, name=" 幸福里支部", region="北京", created_on=ON
    )
    assert set(error.error_dict) == {"name"}
    assert Branch.objects.filter(name="幸福里支部").count() == 1


@pytest.mark.parametrize(
    ("name", "region", "field"), [("  ", "上海", "name"), ("幸福里", "", "region")]
)
def test_branch_without_name_or_region_is_refused_on_that_field(
    name: str, region: str, field: str
) -> None:
    error = refusal(services.branch_create, name=name, region=region, created_on=ON)
    assert set(error.error_dict) == {field}
    assert not Branch.objects.exists()


def test_pausing_a_branch_requires_a_reason() -> None:
    branch = BranchFactory()
    error = refusal(services.branch_pause, branch=branch, reason="   ")
    assert set(error.error_dict) == {"reason"}
    branch.refresh_from_db()
    assert branch.status == Branch.Status.ACTIVE


def test_paused_branch_keeps_the_reason_and_resuming_clears_it() -> None:
    branch = services.branch_pause(branch=BranchFactory(), reason=" 逾期率过高 ")
    branch.refresh_from_db()
    assert branch.status == Branch.Status.PAUSED
    assert branch.paused_reason == "逾期率过高"

    services.branch_resume(branch=branch)
    branch.refresh_from_db()
    assert branch.status == Branch.Status.ACTIVE
    assert branch.paused_reason == ""


# Registration


def test_registered_member_can_sign_in_with_their_phone_and_password() -> None:
    phone = mobile()
    member = register(phone=phone)
    assert authenticate(None, username=phone, password=PASSWORD) == member.user


def test_registered_member_can_sign_in_with_the_phone_typed_with_a_prefix() -> None:
    phone = mobile()
    member = register(phone=phone)
    typed = f"+86 {phone[:3]} {phone[3:7]} {phone[7:]}"
    assert authenticate(None, username=typed, password=PASSWORD) == member.user


def test_sign_in_with_a_wrong_password_fails() -> None:
    phone = mobile()
    register(phone=phone)
    assert authenticate(None, username=phone, password="not-the-password") is None


def test_member_registered_without_a_password_cannot_sign_in() -> None:
    phone = mobile()
    member = register(phone=phone, password=None)
    assert not member.user.has_usable_password()
    assert authenticate(None, username=phone, password="") is None
    assert authenticate(None, username=phone, password=PASSWORD) is None


def test_registration_normalises_national_id_phone_and_name() -> None:
    number = national_id_ending_in_x()
    phone = mobile()
    member = register(
        national_id=f" {number.lower()} ", phone=f"0086-{phone}", real_name=" 李雷 "
    )
    member.refresh_from_db()
    assert member.national_id == number
    assert member.phone == phone
    assert member.real_name == "李雷"
    assert member.phone_masked == f"{phone[:3]}****{phone[-4:]}"


def test_new_member_is_active_pending_kyc_and_an_ordinary_member() -> None:
    member = register()
    assert member.status == Member.Status.ACTIVE
    assert member.kyc_status == Member.KycStatus.PENDING
    assert member.branch_role == Member.BranchRole.MEMBER


def test_registration_writes_a_registered_event_with_the_actor(officer: User) -> None:
    member = register(by=officer)
    (event,) = member.events.all()
    assert event.kind == MemberEvent.Kind.REGISTERED
    assert event.actor == officer
    assert event.to_value == Member.KycStatus.PENDING


def test_registration_by_an_anonymous_user_records_no_actor() -> None:
    member = register(by=AnonymousUser())
    (event,) = member.events.all()
    assert event.actor is None


@pytest.mark.parametrize(
    "retype",
    [
        lambda number: number.lower(),
        lambda number: f"  {number}  ",
        lambda number: f"\t{number.lower()}\n",
    ],
    ids=["lowercase-x", "spaces", "spaces-and-lowercase-x"],
)
def test_duplicate_national_id_is_refused_on_the_national_id_field(
    retype: Callable[[str], str],
) -> None:
    number = national_id_ending_in_x()
    register(national_id=number)
    users_before = get_user_model().objects.count()

    error = refusal(register, national_id=retype(number))

    assert field_codes(error) == {"national_id": ["duplicate"]}
    assert Member.objects.count() == 1
    assert get_user_model().objects.count() == users_before


def test_duplicate_national_id_typed_in_groups_is_refused_on_that_field() -> None:
    number = national_id_ending_in_x()
    register(national_id=number)
    grouped = f"{number[:6]} {number[6:14]} {number[14:].lower()}"

    error = refusal(register, national_id=grouped)

    assert set(error.error_dict) == {"national_id"}
    assert Member.objects.count() == 1


def test_duplicate_phone_with_a_country_prefix_is_refused_on_the_phone_field() -> None:
    phone = mobile()
    register(phone=phone)
    error = refusal(register, phone=f"+86{phone}")
    assert field_codes(error) == {"phone": ["duplicate"]}


def test_duplicate_national_id_and_phone_are_reported_together() -> None:
    first = register()
    error = refusal(register, national_id=first.national_id, phone=f"86{first.phone}")
    assert field_codes(error) == {
        "national_id": ["duplicate"],
        "phone": ["duplicate"],
    }


def test_malformed_national_id_and_phone_are_reported_together() -> None:
    error = refusal(register, national_id="12345", phone="010-12345678")
    assert field_codes(error) == {"national_id": ["shape"], "phone": ["mobile"]}


def test_national_id_born_after_the_joining_date_is_refused() -> None:
    number = national_id(born=JOINED + timedelta(days=1))
    error = refusal(register, national_id=number, joined_on=JOINED)
    assert field_codes(error) == {"national_id": ["birth_date"]}


def test_blank_real_name_is_refused_and_nothing_is_created() -> None:
    users_before = get_user_model().objects.count()
    error = refusal(register, real_name="   ")
    assert set(error.error_dict) == {"real_name"}
    assert not Member.objects.exists()
    assert get_user_model().objects.count() == users_before


# KYC


def test_verifying_kyc_records_reviewer_time_and_event(officer: User) -> None:
    member = register()
    member = services.member_verify_kyc(member=member, by=officer, note="面签通过")

    member.refresh_from_db()
    assert member.kyc_status == Member.KycStatus.VERIFIED
    assert member.kyc_reviewed_by == officer
    assert member.kyc_reviewed_at is not None
    (event,) = events(member, MemberEvent.Kind.KYC_VERIFIED)
    assert (event.from_value, event.to_value) == ("pending", "verified")
    assert event.actor == officer
    assert event.note == "面签通过"


def test_verifying_an_already_verified_member_is_refused(officer: User) -> None:
    member = MemberFactory(kyc=VERIFIED)
    error = refusal(services.member_verify_kyc, member=member, by=officer)
    assert codes(error) == ["invalid_state"]
    assert len(events(member, MemberEvent.Kind.KYC_VERIFIED)) == 1


def test_rejecting_kyc_requires_a_reason(officer: User) -> None:
    member = register()
    error = refusal(services.member_reject_kyc, member=member, by=officer, reason=" ")
    assert set(error.error_dict) == {"reason"}
    member.refresh_from_db()
    assert member.kyc_status == Member.KycStatus.PENDING
    assert not events(member, MemberEvent.Kind.KYC_REJECTED)


def test_rejecting_kyc_keeps_the_reason_and_records_the_event(officer: User) -> None:
    member = services.member_reject_kyc(
        member=register(), by=officer, reason="证件照片模糊"
    )
    member.refresh_from_db()
    assert member.kyc_status == Member.KycStatus.REJECTED
    assert member.kyc_rejection_reason == "证件照片模糊"
    assert member.kyc_reviewed_by == officer
    (event,) = events(member, MemberEvent.Kind.KYC_REJECTED)
    assert (event.from_value, event.to_value) == ("pending", "rejected")
    assert event.actor == officer
    assert event.note == "证件照片模糊"


@pytest.mark.parametrize("kyc", [Member.KycStatus.VERIFIED, Member.KycStatus.REJECTED])
def test_only_pending_kyc_can_be_rejected(kyc: Member.KycStatus) -> None:
    member = MemberFactory(kyc=kyc)
    error = refusal(services.member_reject_kyc, member=member, by=None, reason="再查")
    assert codes(error) == ["invalid_state"]


def test_rejected_kyc_cannot_be_verified_without_resubmission() -> None:
    member = MemberFactory(kyc=Member.KycStatus.REJECTED)
    error = refusal(services.member_verify_kyc, member=member, by=None)
    assert codes(error) == ["invalid_state"]
    member.refresh_from_db()
    assert member.kyc_status == Member.KycStatus.REJECTED


def test_resubmitted_kyc_is_pending_again_and_can_then_be_verified(
    officer: User,
) -> None:
    member = MemberFactory(kyc=Member.KycStatus.REJECTED)
    applicant = member.user

    member = services.member_resubmit_kyc(member=member, by=applicant)
    member.refresh_from_db()
    assert member.kyc_status == Member.KycStatus.PENDING
    assert member.kyc_rejection_reason == ""
    (event,) = events(member, MemberEvent.Kind.KYC_RESUBMITTED)
    assert (event.from_value, event.to_value) == ("rejected", "pending")
    assert event.actor == applicant

    member = services.member_verify_kyc(member=member, by=officer)
    assert member.kyc_status == Member.KycStatus.VERIFIED


@pytest.mark.parametrize("kyc", [Member.KycStatus.PENDING, Member.KycStatus.VERIFIED])
def test_only_rejected_kyc_can_be_resubmitted(kyc: Member.KycStatus) -> None:
    member = MemberFactory(kyc=kyc)
    error = refusal(services.member_resubmit_kyc, member=member, by=None)
    assert codes(error) == ["invalid_state"]


# Roles in the branch


def test_verified_member_becomes_leader_with_an_event(officer: User) -> None:
    member = MemberFactory(kyc=VERIFIED)
    services.member_set_branch_role(
        member=member, role=Member.BranchRole.LEADER, by=officer
    )
    member.refresh_from_db()
    assert member.branch_role == Member.BranchRole.LEADER
    assert member.branch.leader == member
    (event,) = events(member, MemberEvent.Kind.ROLE_CHANGED)
    assert (event.from_value, event.to_value) == ("member", "leader")
    assert event.actor == officer


def test_new_leader_demotes_the_old_leader(officer: User) -> None:
    branch = BranchFactory()
    old = MemberFactory(branch=branch, kyc=VERIFIED)
    new = MemberFactory(branch=branch, kyc=VERIFIED)
    services.member_set_branch_role(member=old, role=Member.BranchRole.LEADER, by=None)

    services.member_set_branch_role(
        member=new, role=Member.BranchRole.LEADER, by=officer
    )

    old.refresh_from_db()
    assert old.branch_role == Member.BranchRole.MEMBER
    assert branch.leader == new
    stepped_down = events(old, MemberEvent.Kind.ROLE_CHANGED)[-1]
    assert (stepped_down.from_value, stepped_down.to_value) == ("leader", "member")
    assert stepped_down.actor == officer


def test_new_leader_leaves_other_branches_leaders_in_place() -> None:
    elsewhere = MemberFactory(kyc=VERIFIED)
    services.member_set_branch_role(
        member=elsewhere, role=Member.BranchRole.LEADER, by=None
    )
    services.member_set_branch_role(
        member=MemberFactory(kyc=VERIFIED), role=Member.BranchRole.LEADER, by=None
    )
    elsewhere.refresh_from_db()
    assert elsewhere.branch_role == Member.BranchRole.LEADER


def test_reappointing_the_current_leader_keeps_them_leader() -> None:
    leader = MemberFactory(kyc=VERIFIED)
    for _ in range(2):
        services.member_set_branch_role(
            member=leader, role=Member.BranchRole.LEADER, by=None
        )
    leader.refresh_from_db()
    assert leader.branch_role == Member.BranchRole.LEADER


@pytest.mark.parametrize("kyc", [Member.KycStatus.PENDING, Member.KycStatus.REJECTED])
def test_only_a_verified_member_can_lead_a_branch(kyc: Member.KycStatus) -> None:
    member = MemberFactory(kyc=kyc)
    error = refusal(
        services.member_set_branch_role,
        member=member,
        role=Member.BranchRole.LEADER,
        by=None,
    )
    assert set(error.error_dict) == {"role"}
    member.refresh_from_db()
    assert member.branch_role == Member.BranchRole.MEMBER


def test_unverified_member_can_be_made_deputy() -> None:
    member = services.member_set_branch_role(
        member=MemberFactory(), role=Member.BranchRole.DEPUTY, by=None
    )
    assert member.branch_role == Member.BranchRole.DEPUTY


def test_database_allows_only_one_leader_per_branch() -> None:
    branch = BranchFactory()
    first = MemberFactory(branch=branch, kyc=VERIFIED)
    second = MemberFactory(branch=branch, kyc=VERIFIED)
    Member.objects.filter(pk=first.pk).update(branch_role=Member.BranchRole.LEADER)

    with pytest.raises(IntegrityError), transaction.atomic():
        Member.objects.filter(pk=second.pk).update(branch_role=Member.BranchRole.LEADER)


# Blacklist


def blacklist(
    member: Member,
    source: BlacklistEntry.Source = BlacklistEntry.Source.LOAN,
    on: date = ON,
    by: User | None = None,
) -> BlacklistEntry:
    return services.member_blacklist(
        member=member,
        reason="逾期超过90天",
        source=source,
        on=on,
        by=by,
        source_reference="L-0001",
    )


def set_rule(*, require_debt_settled: bool, cooling_off_days: int) -> None:
    rule = BlacklistRule.current()
    rule.require_debt_settled = require_debt_settled
    rule.cooling_off_days = cooling_off_days
    rule.save()


def lift(entry: BlacklistEntry, on: date, by: User | None = None) -> BlacklistEntry:
    return services.blacklist_lift(entry=entry, on=on, by=by, reason="已结清并观察期满")


def test_blacklisting_changes_status_and_writes_entry_and_event(
    officer: User,
) -> None:
    member = MemberFactory(kyc=VERIFIED)
    entry = blacklist(member, by=officer)

    member.refresh_from_db()
    assert member.status == Member.Status.BLACKLISTED
    assert entry.is_open
    assert entry.blacklisted_on == ON
    assert entry.blacklisted_by == officer
    assert entry.source_reference == "L-0001"
    (event,) = events(member, MemberEvent.Kind.BLACKLISTED)
    assert (event.from_value, event.to_value) == ("active", "blacklisted")
    assert event.actor == officer
    assert event.note == "逾期超过90天"


def test_entry_caused_by_a_loan_starts_with_its_debt_unsettled() -> None:
    entry = blacklist(MemberFactory(), source=BlacklistEntry.Source.LOAN)
    assert entry.debt_settled_on is None


@pytest.mark.parametrize(
    "source",
    [
        BlacklistEntry.Source.STAFF,
        BlacklistEntry.Source.FRAUD,
        BlacklistEntry.Source.BUREAU,
    ],
)
def test_entry_not_caused_by_a_loan_starts_settled_on_the_blacklisting_day(
    source: BlacklistEntry.Source,
) -> None:
    entry = blacklist(MemberFactory(), source=source, on=ON)
    assert entry.debt_settled_on == ON


def test_blacklisting_requires_a_reason() -> None:
    member = MemberFactory()
    error = refusal(
        services.member_blacklist,
        member=member,
        reason="",
        source=BlacklistEntry.Source.STAFF,
        on=ON,
        by=None,
    )
    assert set(error.error_dict) == {"reason"}
    member.refresh_from_db()
    assert member.status == Member.Status.ACTIVE


def test_blacklisted_member_cannot_be_blacklisted_again() -> None:
    member = MemberFactory()
    blacklist(member)
    error = refusal(blacklist, member)
    assert codes(error) == ["invalid_state"]
    assert member.blacklist_entries.count() == 1


def test_exited_member_cannot_be_blacklisted() -> None:
    member = MemberFactory()
    Member.objects.filter(pk=member.pk).update(status=Member.Status.EXITED)
    error = refusal(blacklist, member)
    assert codes(error) == ["invalid_state"]
    assert not BlacklistEntry.objects.exists()


def test_database_allows_only_one_open_entry_per_member() -> None:
    member = MemberFactory()
    blacklist(member)
    with pytest.raises(IntegrityError), transaction.atomic():
        BlacklistEntry.objects.create(
            member=member,
            reason="重复",
            source=BlacklistEntry.Source.STAFF,
            blacklisted_on=ON,
        )


def test_database_refuses_a_lifting_day_before_the_blacklisting_day() -> None:
    entry = blacklist(MemberFactory())
    with pytest.raises(IntegrityError), transaction.atomic():
        BlacklistEntry.objects.filter(pk=entry.pk).update(
            lifted_on=ON - timedelta(days=1)
        )


def test_lifting_is_refused_while_the_debt_is_unsettled() -> None:
    member = MemberFactory()
    entry = blacklist(member, source=BlacklistEntry.Source.LOAN)

    error = refusal(lift, entry, on=ON + timedelta(days=1000))

    assert codes(error) == ["lift_refused"]
    assert len(error.messages) == 1
    member.refresh_from_db()
    assert member.status == Member.Status.BLACKLISTED
    entry.refresh_from_db()
    assert entry.is_open


def test_lifting_before_cooling_off_ends_is_refused_naming_the_end_date() -> None:
    entry = blacklist(MemberFactory(), source=BlacklistEntry.Source.LOAN)
    settled = ON + timedelta(days=10)
    services.blacklist_settle_debt(entry=entry, on=settled, by=None)
    ends = settled + timedelta(days=BlacklistRule.current().cooling_off_days)

    error = refusal(lift, entry, on=ends - timedelta(days=1))

    assert codes(error) == ["lift_refused"]
    assert date_format(ends, "DATE_FORMAT") in error.messages[0]


def test_cooling_off_counts_from_the_day_the_debt_was_settled() -> None:
    set_rule(require_debt_settled=True, cooling_off_days=180)
    member = MemberFactory()
    entry = blacklist(member, source=BlacklistEntry.Source.LOAN, on=ON)
    settled = ON + timedelta(days=30)
    services.blacklist_settle_debt(entry=entry, on=settled, by=None)

    # 180 days after blacklisting is not enough: settlement came later.
    refusal(lift, entry, on=ON + timedelta(days=180))
    refusal(lift, entry, on=settled + timedelta(days=179))
    entry = lift(entry, on=settled + timedelta(days=180))

    assert entry.lifted_on == settled + timedelta(days=180)


def test_staff_entry_can_be_lifted_once_cooling_off_from_blacklisting_passes() -> None:
    set_rule(require_debt_settled=True, cooling_off_days=30)
    entry = blacklist(MemberFactory(), source=BlacklistEntry.Source.STAFF, on=ON)

    refusal(lift, entry, on=ON + timedelta(days=29))
    entry = lift(entry, on=ON + timedelta(days=30))

    assert not entry.is_open


def test_rule_without_debt_or_cooling_off_allows_an_immediate_lift() -> None:
    set_rule(require_debt_settled=False, cooling_off_days=0)
    member = MemberFactory()
    entry = blacklist(member, source=BlacklistEntry.Source.LOAN, on=ON)

    entry = lift(entry, on=ON)

    assert entry.lifted_on == ON
    assert entry.debt_settled_on is None
    member.refresh_from_db()
    assert member.status == Member.Status.ACTIVE


def test_rule_without_debt_condition_counts_cooling_off_from_blacklisting() -> None:
    set_rule(require_debt_settled=False, cooling_off_days=60)
    entry = blacklist(MemberFactory(), source=BlacklistEntry.Source.LOAN, on=ON)

    refusal(lift, entry, on=ON + timedelta(days=59))
    assert lift(entry, on=ON + timedelta(days=60)).lifted_on == ON + timedelta(days=60)


def test_lifting_restores_the_member_and_records_who_and_why(officer: User) -> None:
    set_rule(require_debt_settled=True, cooling_off_days=0)
    member = MemberFactory(kyc=VERIFIED)
    entry = blacklist(member, source=BlacklistEntry.Source.STAFF)

    entry = lift(entry, on=ON, by=officer)

    entry.refresh_from_db()
    member.refresh_from_db()
    assert member.status == Member.Status.ACTIVE
    assert entry.lifted_by == officer
    assert entry.lift_reason == "已结清并观察期满"
    (event,) = events(member, MemberEvent.Kind.BLACKLIST_LIFTED)
    assert (event.from_value, event.to_value) == ("blacklisted", "active")
    assert event.actor == officer
    assert event.note == "已结清并观察期满"


def test_lifting_requires_a_reason() -> None:
    set_rule(require_debt_settled=False, cooling_off_days=0)
    entry = blacklist(MemberFactory())
    error = refusal(services.blacklist_lift, entry=entry, on=ON, by=None, reason="")
    assert set(error.error_dict) == {"reason"}


def test_an_entry_cannot_be_lifted_twice() -> None:
    set_rule(require_debt_settled=False, cooling_off_days=0)
    member = MemberFactory()
    entry = lift(blacklist(member), on=ON)

    error = refusal(lift, entry, on=ON + timedelta(days=1))

    assert codes(error) == ["lift_refused"]
    entry.refresh_from_db()
    assert entry.lifted_on == ON
    assert len(events(member, MemberEvent.Kind.BLACKLIST_LIFTED)) == 1


def test_lifted_member_can_be_blacklisted_again_with_a_new_entry() -> None:
    set_rule(require_debt_settled=False, cooling_off_days=0)
    member = MemberFactory()
    lift(blacklist(member), on=ON)

    second = blacklist(member, on=ON + timedelta(days=5))

    assert second.is_open
    assert member.blacklist_entries.count() == 2


def test_settling_the_debt_records_the_day_and_an_event(officer: User) -> None:
    member = MemberFactory()
    entry = blacklist(member, source=BlacklistEntry.Source.LOAN)

    entry = services.blacklist_settle_debt(entry=entry, on=ON, by=officer)

    assert entry.debt_settled_on == ON
    (event,) = events(member, MemberEvent.Kind.BLACKLIST_DEBT_SETTLED)
    assert event.actor == officer


def test_debt_cannot_be_settled_before_the_member_was_blacklisted() -> None:
    entry = blacklist(MemberFactory(), source=BlacklistEntry.Source.LOAN, on=ON)
    error = refusal(
        services.blacklist_settle_debt,
        entry=entry,
        on=ON - timedelta(days=1),
        by=None,
    )
    assert set(error.error_dict) == {"on"}
    entry.refresh_from_db()
    assert entry.debt_settled_on is None


def test_debt_cannot_be_settled_twice() -> None:
    entry = blacklist(MemberFactory(), source=BlacklistEntry.Source.STAFF, on=ON)
    later = ON + timedelta(days=3)
    error = refusal(services.blacklist_settle_debt, entry=entry, on=later, by=None)
    assert not hasattr(error, "error_dict")
    assert error.messages
    entry.refresh_from_db()
    assert entry.debt_settled_on == ON


def test_debt_of_a_lifted_entry_cannot_be_settled() -> None:
    set_rule(require_debt_settled=False, cooling_off_days=0)
    entry = lift(blacklist(MemberFactory(), source=BlacklistEntry.Source.LOAN), ON)
    refusal(services.blacklist_settle_debt, entry=entry, on=ON, by=None)
    entry.refresh_from_db()
    assert entry.debt_settled_on is None


# Guarantor ties


def tie(
    guarantor: Member,
    borrower: Member,
    amount: Decimal = Decimal("5000"),
    consent_evidence: str = "担保同意书 G-001",
    by: User | None = None,
) -> GuarantorTie:
    return services.guarantor_tie_create(
        guarantor=guarantor,
        borrower=borrower,
        amount=amount,
        consented_at=AT,
        consent_evidence=consent_evidence,
        by=by,
    )


@pytest.fixture
def pair() -> tuple[Member, Member]:
    branch = BranchFactory()
    return (
        MemberFactory(branch=branch, kyc=VERIFIED),
        MemberFactory(branch=branch, kyc=VERIFIED),
    )


def test_guarantee_is_recorded_active_with_amount_in_fen(
    pair: tuple[Member, Member], officer: User
) -> None:
    guarantor, borrower = pair
    created = tie(guarantor, borrower, amount=Decimal("5000"), by=officer)
    created.refresh_from_db()
    assert created.status == GuarantorTie.Status.ACTIVE
    assert created.amount == Decimal("5000.00")
    assert created.created_by == officer
    assert created.consented_at == AT


def test_guaranteed_amount_is_rounded_half_up_to_the_fen(
    pair: tuple[Member, Member],
) -> None:
    created = tie(*pair, amount=Decimal("100.005"))
    created.refresh_from_db()
    assert created.amount == Decimal("100.01")


def test_member_cannot_guarantee_themselves(pair: tuple[Member, Member]) -> None:
    member, _other = pair
    error = refusal(tie, member, member)
    assert set(error.error_dict) == {"guarantor"}


def test_guarantor_from_another_branch_is_refused(
    pair: tuple[Member, Member],
) -> None:
    _guarantor, borrower = pair
    outsider = MemberFactory(kyc=VERIFIED)
    error = refusal(tie, outsider, borrower)
    assert set(error.error_dict) == {"guarantor"}


@pytest.mark.parametrize("kyc", [Member.KycStatus.PENDING, Member.KycStatus.REJECTED])
def test_guarantor_with_unverified_kyc_is_refused(
    pair: tuple[Member, Member], kyc: Member.KycStatus
) -> None:
    _guarantor, borrower = pair
    unverified = MemberFactory(branch=borrower.branch, kyc=kyc)
    error = refusal(tie, unverified, borrower)
    assert set(error.error_dict) == {"guarantor"}


def test_blacklisted_guarantor_is_refused(pair: tuple[Member, Member]) -> None:
    guarantor, borrower = pair
    blacklist(guarantor)
    guarantor.refresh_from_db()
    error = refusal(tie, guarantor, borrower)
    assert set(error.error_dict) == {"guarantor"}


@pytest.mark.parametrize("amount", ["0", "-100", "0.00", "0.004"])
def test_guarantee_of_no_positive_amount_is_refused_on_the_amount_field(
    pair: tuple[Member, Member], amount: str
) -> None:
    error = refusal(tie, *pair, amount=Decimal(amount))
    assert set(error.error_dict) == {"amount"}
    assert not GuarantorTie.objects.exists()


def test_bad_guarantor_and_bad_amount_are_reported_together(
    pair: tuple[Member, Member],
) -> None:
    member, _other = pair
    error = refusal(tie, member, member, amount=Decimal("0"))
    assert set(error.error_dict) == {"guarantor", "amount"}


def test_guarantee_without_consent_evidence_is_refused(
    pair: tuple[Member, Member],
) -> None:
    error = refusal(tie, *pair, consent_evidence="  ")
    assert set(error.error_dict) == {"consent_evidence"}


def test_second_active_guarantee_for_the_same_pair_is_refused(
    pair: tuple[Member, Member],
) -> None:
    tie(*pair)
    error = refusal(tie, *pair, amount=Decimal("100"))
    assert set(error.error_dict) == {"guarantor"}
    assert GuarantorTie.objects.count() == 1


def test_released_guarantee_makes_room_for_a_new_one(
    pair: tuple[Member, Member],
) -> None:
    first = tie(*pair)
    released = services.guarantor_tie_release(tie=first, at=AT)
    assert released.status == GuarantorTie.Status.RELEASED
    assert released.released_at == AT

    second = tie(*pair, amount=Decimal("2000"))

    assert second.status == GuarantorTie.Status.ACTIVE
    assert GuarantorTie.objects.filter(status="active").get() == second


def test_guarantee_cannot_be_released_twice(pair: tuple[Member, Member]) -> None:
    released = services.guarantor_tie_release(tie=tie(*pair), at=AT)
    refusal(services.guarantor_tie_release, tie=released, at=AT + timedelta(hours=1))
    released.refresh_from_db()
    assert released.released_at == AT


def test_database_refuses_a_second_active_tie_for_a_pair(
    pair: tuple[Member, Member],
) -> None:
    guarantor, borrower = pair
    tie(guarantor, borrower)
    with pytest.raises(IntegrityError), transaction.atomic():
        GuarantorTie.objects.create(
            guarantor=guarantor,
            borrower=borrower,
            amount=Decimal("1.00"),
            consented_at=AT,
            consent_evidence="绕过服务",
        )


# Emergency contacts


def add_contact(member: Member, **overrides: Any) -> EmergencyContact:
    values: dict[str, Any] = {
        "member": member,
        "name": "韩梅梅",
        "relationship": EmergencyContact.Relationship.SPOUSE,
        "phone": mobile(),
        "consented_at": AT,
        "consent_evidence": "紧急联系人授权书 E-001",
    }
    values.update(overrides)
    return services.emergency_contact_add(**values)


def test_emergency_contact_is_stored_with_a_normalised_phone() -> None:
    phone = mobile()
    contact = add_contact(MemberFactory(), phone=f"+86 {phone}")
    contact.refresh_from_db()
    assert contact.phone == phone
    assert contact.phone_masked == f"{phone[:3]}****{phone[-4:]}"
    assert contact.withdrawn_at is None


@pytest.mark.parametrize(
    "retype",
    [lambda phone: phone, lambda phone: f"0086 {phone}"],
    ids=["as-is", "0086"],
)
def test_members_own_number_is_refused_as_emergency_contact(
    retype: Callable[[str], str],
) -> None:
    member = MemberFactory()
    error = refusal(add_contact, member, phone=retype(member.phone))
    assert set(error.error_dict) == {"phone"}
    assert not EmergencyContact.objects.exists()


def test_another_members_number_may_be_an_emergency_contact() -> None:
    member, spouse = MemberFactory(), MemberFactory()
    contact = add_contact(member, phone=spouse.phone)
    assert contact.phone == spouse.phone


@pytest.mark.parametrize("phone", ["010-12345678", "1391234567", "12345678901", ""])
def test_bad_emergency_contact_number_is_refused_on_the_phone_field(
    phone: str,
) -> None:
    error = refusal(add_contact, MemberFactory(), phone=phone)
    assert set(error.error_dict) == {"phone"}
    assert not EmergencyContact.objects.exists()


def test_emergency_contact_requires_consent_evidence() -> None:
    error = refusal(add_contact, MemberFactory(), consent_evidence=" ")
    assert set(error.error_dict) == {"consent_evidence"}
    assert not EmergencyContact.objects.exists()


def test_emergency_contact_requires_a_name() -> None:
    error = refusal(add_contact, MemberFactory(), name="")
    assert set(error.error_dict) == {"name"}


def test_withdrawn_consent_is_recorded_on_the_contact() -> None:
    contact = add_contact(MemberFactory())
    services.emergency_contact_withdraw(contact=contact, at=AT)
    contact.refresh_from_db()
    assert contact.withdrawn_at == AT

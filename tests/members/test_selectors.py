"""Who sees which branches and members, and why a member may not borrow."""

from datetime import date

import pytest
from django.contrib.auth.models import AnonymousUser, Permission, User
from django.db import connection
from django.utils.translation import gettext as _

from config.roles import StaffRole
from members import selectors, services
from members.models import BlacklistEntry, Branch, Member
from tests.factories import BranchFactory, MemberFactory, mobile, staff_user

pytestmark = pytest.mark.django_db

VERIFIED = Member.KycStatus.VERIFIED


@pytest.fixture
def branches() -> tuple[Branch, Branch, Branch]:
    return BranchFactory(), BranchFactory(), BranchFactory()


@pytest.fixture
def members(branches: tuple[Branch, Branch, Branch]) -> dict[Branch, Member]:
    return {branch: MemberFactory(branch=branch) for branch in branches}


@pytest.mark.parametrize("role", [StaffRole.RISK_OFFICER, StaffRole.AUDITOR])
def test_risk_officer_and_auditor_see_every_branch_and_member(
    role: StaffRole,
    branches: tuple[Branch, Branch, Branch],
    members: dict[Branch, Member],
) -> None:
    user = staff_user(role)  # works no branch at all

    assert user.has_perm("members.view_all_branches")
    assert set(selectors.branches_visible_to(user)) == set(branches)
    assert set(selectors.members_visible_to(user)) == set(members.values())


@pytest.mark.parametrize(
    "role", [StaffRole.BRANCH_LEADER, StaffRole.COLLECTOR, StaffRole.FINANCE]
)
def test_branch_bound_roles_see_only_the_branches_they_work(
    role: StaffRole,
    branches: tuple[Branch, Branch, Branch],
    members: dict[Branch, Member],
) -> None:
    first, second, _third = branches
    user = staff_user(role, branches=(first, second))

    assert not user.has_perm("members.view_all_branches")
    assert set(selectors.branches_visible_to(user)) == {first, second}
    assert set(selectors.members_visible_to(user)) == {
        members[first],
        members[second],
    }


@pytest.mark.parametrize(
    "role", [StaffRole.BRANCH_LEADER, StaffRole.COLLECTOR, StaffRole.FINANCE]
)
def test_branch_bound_role_working_no_branch_sees_nothing(
    role: StaffRole, members: dict[Branch, Member]
) -> None:
    user = staff_user(role)
    assert not selectors.branches_visible_to(user).exists()
    assert not selectors.members_visible_to(user).exists()


def test_staff_working_a_branch_see_it_once_even_with_several_colleagues(
    branches: tuple[Branch, Branch, Branch],
) -> None:
    first, _second, _third = branches
    user = staff_user(StaffRole.COLLECTOR, branches=(first,))
    staff_user(StaffRole.BRANCH_LEADER, branches=(first,))
    assert list(selectors.branches_visible_to(user)) == [first]


def test_staff_user_without_a_group_sees_nothing(
    members: dict[Branch, Member],
) -> None:
    user = staff_user(None)
    assert not selectors.branches_visible_to(user).exists()
    assert not selectors.members_visible_to(user).exists()


def test_anonymous_user_sees_nothing(members: dict[Branch, Member]) -> None:
    anonymous = AnonymousUser()
    assert not selectors.branches_visible_to(anonymous).exists()
    assert not selectors.members_visible_to(anonymous).exists()


def test_superuser_sees_every_branch_and_member(
    branches: tuple[Branch, Branch, Branch],
    members: dict[Branch, Member],
) -> None:
    root = User.objects.create_superuser("root", password="root-pass-2026")
    assert set(selectors.branches_visible_to(root)) == set(branches)
    assert set(selectors.members_visible_to(root)) == set(members.values())


def test_deactivated_risk_officer_sees_nothing(
    branches: tuple[Branch, Branch, Branch],
    members: dict[Branch, Member],
) -> None:
    user = staff_user(StaffRole.RISK_OFFICER, branches=branches)
    user.is_active = False
    user.save()
    assert not selectors.branches_visible_to(user).exists()
    assert not selectors.members_visible_to(user).exists()


def test_permission_granted_by_hand_also_opens_every_branch(
    branches: tuple[Branch, Branch, Branch],
) -> None:
    user = staff_user(StaffRole.COLLECTOR)
    user.user_permissions.add(
        Permission.objects.get(
            content_type__app_label="members", codename="view_all_branches"
        )
    )
    user = User.objects.get(pk=user.pk)  # drop the cached permissions
    assert set(selectors.branches_visible_to(user)) == set(branches)


def test_member_account_sees_no_branch_through_staff_selectors() -> None:
    member = MemberFactory()
    assert not selectors.branches_visible_to(member.user).exists()
    assert not selectors.members_visible_to(member.user).exists()


# Borrowing blockers


def test_verified_active_member_of_an_active_branch_has_no_blockers() -> None:
    member = MemberFactory(kyc=VERIFIED)
    assert selectors.member_borrowing_blockers(member) == []


def test_blacklisted_member_is_blocked() -> None:
    member = MemberFactory(kyc=VERIFIED)
    services.member_blacklist(
        member=member,
        reason="欺诈",
        source=BlacklistEntry.Source.FRAUD,
        on=date(2026, 3, 1),
        by=None,
    )
    member.refresh_from_db()
    assert selectors.member_borrowing_blockers(member) == [
        _("The member is blacklisted.")
    ]


def test_exited_member_is_blocked() -> None:
    member = MemberFactory(kyc=VERIFIED)
    Member.objects.filter(pk=member.pk).update(status=Member.Status.EXITED)
    member.refresh_from_db()
    assert selectors.member_borrowing_blockers(member) == [
        _("The member has left the branch.")
    ]


@pytest.mark.parametrize("kyc", [Member.KycStatus.PENDING, Member.KycStatus.REJECTED])
def test_member_without_verified_kyc_is_blocked(kyc: Member.KycStatus) -> None:
    member = MemberFactory(kyc=kyc)
    assert selectors.member_borrowing_blockers(member) == [
        _("The member's real-name verification is not complete.")
    ]


def test_member_of_a_paused_branch_is_blocked() -> None:
    member = MemberFactory(kyc=VERIFIED)
    services.branch_pause(branch=member.branch, reason="风险预警")
    member = Member.objects.select_related("branch").get(pk=member.pk)
    assert selectors.member_borrowing_blockers(member) == [
        _("Lending in the member's branch is paused.")
    ]


def test_every_blocker_is_listed_at_once() -> None:
    member = MemberFactory()
    services.member_blacklist(
        member=member,
        reason="员工决定",
        source=BlacklistEntry.Source.STAFF,
        on=date(2026, 3, 1),
        by=None,
    )
    services.branch_pause(branch=member.branch, reason="风险预警")
    member = Member.objects.select_related("branch").get(pk=member.pk)
    assert len(selectors.member_borrowing_blockers(member)) == 3


# Look-ups by keyed hash


def test_member_is_found_by_a_normalised_phone_number() -> None:
    phone = mobile()
    member = MemberFactory(phone=f"+86 {phone}")
    found = selectors.member_by_phone(phone)
    assert found == member
    assert found is not None
    assert found.user == member.user


def test_unknown_phone_number_finds_no_member() -> None:
    MemberFactory()
    assert selectors.member_by_phone(mobile()) is None


def test_member_is_found_by_a_normalised_national_id() -> None:
    member = MemberFactory()
    assert selectors.member_by_national_id(member.national_id) == member


def _branch_ids_by_sql(user: User | AnonymousUser) -> set[int] | None:
    written = selectors.branches_visible_sql(user)
    if written is None:
        return None
    sql, params = written
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {row[0] for row in cursor.fetchall()}


@pytest.mark.parametrize(
    "who",
    [
        "risk officer",
        "finance of two branches",
        "finance of none",
        "staff without a group",
        "deactivated risk officer",
        "member account",
        "anonymous",
        "superuser",
    ],
)
def test_the_written_out_rule_sees_what_the_queryset_sees(
    who: str, branches: tuple[Branch, Branch, Branch]
) -> None:
    first, second, _third = branches
    staff_user(StaffRole.COLLECTOR, branches=branches)  # a colleague everywhere
    user: User | AnonymousUser
    if who == "risk officer":
        user = staff_user(StaffRole.RISK_OFFICER)
    elif who == "finance of two branches":
        user = staff_user(StaffRole.FINANCE, branches=(first, second))
    elif who == "finance of none":
        user = staff_user(StaffRole.FINANCE)
    elif who == "staff without a group":
        user = staff_user(None, branches=(first,))
    elif who == "deactivated risk officer":
        user = staff_user(StaffRole.RISK_OFFICER, branches=(first,))
        user.is_active = False
        user.save()
    elif who == "member account":
        user = MemberFactory(branch=first).user
    elif who == "anonymous":
        user = AnonymousUser()
    else:
        user = User.objects.create_superuser("root", password="root-pass-2026")

    seen = {branch.pk for branch in selectors.branches_visible_to(user)}
    by_sql = _branch_ids_by_sql(user)

    # None stands for every branch, without a clause.
    assert (
        set(Branch.objects.values_list("pk", flat=True)) if by_sql is None else by_sql
    ) == seen
    assert (by_sql is None) == selectors.sees_all_branches(user)

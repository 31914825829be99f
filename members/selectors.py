"""Reads about branches and members that several callers need."""

from datetime import date
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.models import User as AuthUser
from django.db.models import QuerySet
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from members import pii
from members.models import BlacklistEntry, BlacklistRule, Branch, Member

User = AuthUser | AnonymousUser


def sees_all_branches(user: User) -> bool:
    return bool(user.is_active and user.has_perm("members.view_all_branches"))


def branches_visible_to(user: User) -> QuerySet[Branch]:
    """Branches a staff user may see: all, or only those they work."""
    if not user.is_authenticated or not user.is_active:
        return Branch.objects.none()
    if sees_all_branches(user):
        return Branch.objects.all()
    return Branch.objects.filter(staff=user)


def branches_visible_sql(user: User) -> tuple[str, list[Any]] | None:
    """`branches_visible_to` as a written-out subquery of branch ids, with
    its parameters, for a statement run on every request (a repayment's
    locked loan); None when the user sees every branch. The same rule in
    SQL: tests/members/test_selectors.py holds the two together."""
    if not user.is_authenticated or not user.is_active:
        return f"SELECT id FROM {_BRANCH} WHERE 1 = 0", []  # noqa: S608
    if sees_all_branches(user):
        return None
    return f"SELECT branch_id FROM {_BRANCH_STAFF} WHERE user_id = %s", [user.pk]  # noqa: S608


_BRANCH = f'"{Branch._meta.db_table}"'
_BRANCH_STAFF = f'"{Branch.staff.through._meta.db_table}"'


def members_visible_to(user: User) -> QuerySet[Member]:
    if sees_all_branches(user):
        return Member.objects.all()
    return Member.objects.filter(branch__in=branches_visible_to(user))


def member_by_phone(phone: str) -> Member | None:
    return (
        Member.objects.select_related("user", "branch")
        .filter(phone_digest=pii.digest("phone", phone))
        .first()
    )


def member_by_national_id(national_id: str) -> Member | None:
    return Member.objects.filter(
        national_id_digest=pii.digest("national_id", national_id)
    ).first()


def member_borrowing_blockers(member: Member) -> list[str]:
    """Why the member may not apply for credit now; empty when they may."""
    blockers = []
    if member.status == Member.Status.BLACKLISTED:
        blockers.append(_("The member is blacklisted."))
    elif member.status == Member.Status.EXITED:
        blockers.append(_("The member has left the branch."))
    if member.kyc_status != Member.KycStatus.VERIFIED:
        blockers.append(_("The member's real-name verification is not complete."))
    if member.branch.status == Branch.Status.PAUSED:
        blockers.append(_("Lending in the member's branch is paused."))
    return blockers


def blacklist_lift_blockers(
    *, entry: BlacklistEntry, rule: BlacklistRule, on: date
) -> list[str]:
    """Why the lifting rule refuses to lift `entry` on `on`; empty if it allows."""
    if not entry.is_open:
        return [_("This blacklist entry has already been lifted.")]
    if rule.require_debt_settled and entry.debt_settled_on is None:
        return [_("The debt behind this blacklisting has not been settled.")]
    ends = rule.cooling_off_ends(entry)
    if ends is not None and on < ends:
        return [
            _("The cooling-off period runs until %(date)s.")
            % {"date": date_format(ends, "DATE_FORMAT")}
        ]
    return []

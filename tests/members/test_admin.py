"""The back-office for branches and members (Django admin)."""

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.contrib import messages
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User
from django.contrib.messages import get_messages
from django.http import HttpResponse
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from config.exports import EXPORT_ACTIONS
from config.roles import ROLE_PERMISSIONS, StaffRole
from members import services
from members.models import (
    BlacklistEntry,
    BlacklistRule,
    Branch,
    EmergencyContact,
    Member,
)
from tests.factories import (
    BranchFactory,
    MemberFactory,
    mobile,
    national_id,
    staff_user,
)

pytestmark = pytest.mark.django_db

MEMBERS = reverse("admin:members_member_changelist")
MEMBER_ADD = reverse("admin:members_member_add")

# Model admins of the members app, by model name as used in permission codes.
ADMIN_MODELS = [
    "branch",
    "member",
    "blacklistentry",
    "blacklistrule",
    "guarantortie",
    "emergencycontact",
]


def member_change_url(member: Member) -> str:
    return reverse("admin:members_member_change", args=[member.pk])


def changelist_members(response: HttpResponse) -> set[int]:
    return {member.pk for member in response.context["cl"].result_list}


def levels(response: HttpResponse) -> list[int]:
    return [message.level for message in get_messages(response.wsgi_request)]


def run_action(
    client: Client, action: str, members: list[Member], reason: str = ""
) -> HttpResponse:
    return client.post(
        MEMBERS,
        {
            "action": action,
            "_selected_action": [member.pk for member in members],
            "reason": reason,
            "index": "0",
        },
    )


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def populated(branch: Branch) -> dict[str, Any]:
    """One of everything the members admin lists, in `branch`."""
    guarantor = MemberFactory(branch=branch, kyc=Member.KycStatus.VERIFIED)
    borrower = MemberFactory(branch=branch, kyc=Member.KycStatus.VERIFIED)
    services.guarantor_tie_create(
        guarantor=guarantor,
        borrower=borrower,
        amount=Decimal("3000.00"),
        consented_at=timezone.make_aware(datetime(2026, 2, 2, 10, 0)),
        consent_evidence="担保书 No.7",
        by=None,
    )
    services.emergency_contact_add(
        member=borrower,
        name="王五",
        relationship=EmergencyContact.Relationship.SPOUSE,
        phone=mobile(),
        consented_at=timezone.make_aware(datetime(2026, 2, 2, 10, 0)),
        consent_evidence="签字表 No.3",
    )
    listed = MemberFactory(branch=branch)
    services.member_blacklist(
        member=listed,
        reason="伪造材料",
        source=BlacklistEntry.Source.FRAUD,
        on=date(2026, 3, 1),
        by=None,
    )
    BlacklistRule.current()
    return {"guarantor": guarantor, "borrower": borrower, "listed": listed}


# Who sees what


@pytest.mark.parametrize("model", ADMIN_MODELS)
def test_superuser_loads_every_changelist(
    admin_client: Client, populated: dict[str, Any], model: str
) -> None:
    response = admin_client.get(reverse(f"admin:members_{model}_changelist"))

    assert response.status_code == 200


@pytest.mark.parametrize("role", list(StaffRole))
@pytest.mark.parametrize("model", ADMIN_MODELS)
def test_staff_role_loads_exactly_the_changelists_it_may_view(
    branch: Branch, populated: dict[str, Any], role: StaffRole, model: str
) -> None:
    client = signed_in(staff_user(role, branches=(branch,)))
    granted = {perm.split(".")[1] for perm in ROLE_PERMISSIONS[role]}
    may_view = f"view_{model}" in granted or f"change_{model}" in granted

    response = client.get(reverse(f"admin:members_{model}_changelist"))

    assert response.status_code == (200 if may_view else 403)


@pytest.mark.parametrize("role", list(StaffRole))
def test_staff_role_loads_the_admin_index(branch: Branch, role: StaffRole) -> None:
    client = signed_in(staff_user(role, branches=(branch,)))

    response = client.get(reverse("admin:index"))

    assert response.status_code == 200


def test_branch_leader_lists_only_members_of_their_branch(
    leader: User, branch: Branch, other_branch: Branch
) -> None:
    mine = MemberFactory(branch=branch)
    theirs = MemberFactory(branch=other_branch)
    client = signed_in(leader)

    listed = client.get(MEMBERS)
    opened = client.get(member_change_url(theirs))

    assert changelist_members(listed) == {mine.pk}
    assert theirs.real_name not in listed.content.decode()
    assert opened.status_code == 302  # "does not exist", back to the index


def test_branch_filter_offers_only_the_leaders_branches(
    branch: Branch, other_branch: Branch
) -> None:
    second = BranchFactory()
    leader = staff_user(StaffRole.BRANCH_LEADER, branches=(branch, second))
    for each in (branch, second, other_branch):
        MemberFactory(branch=each)

    response = signed_in(leader).get(MEMBERS)

    (branch_filter,) = [
        spec
        for spec in response.context["cl"].filter_specs
        if getattr(spec, "field_path", "") == "branch"
    ]
    assert {pk for pk, _name in branch_filter.lookup_choices} == {
        branch.pk,
        second.pk,
    }
    assert other_branch.name not in response.content.decode()


def test_branch_leader_lists_only_their_branches(
    leader: User, branch: Branch, other_branch: Branch
) -> None:
    response = signed_in(leader).get(reverse("admin:members_branch_changelist"))

    assert {b.pk for b in response.context["cl"].result_list} == {branch.pk}


# Search


def test_search_finds_a_member_by_the_last_four_of_the_national_id(
    admin_client: Client, branch: Branch
) -> None:
    target = MemberFactory(branch=branch)
    other = MemberFactory(branch=branch)
    fragment = target.national_id[-4:]
    assert fragment not in other.national_id_masked
    assert fragment not in other.phone_masked

    response = admin_client.get(MEMBERS, {"q": fragment})

    assert changelist_members(response) == {target.pk}


def test_search_finds_a_member_by_the_full_national_id(
    admin_client: Client, branch: Branch
) -> None:
    target = MemberFactory(branch=branch)
    MemberFactory(branch=branch)

    response = admin_client.get(MEMBERS, {"q": target.national_id})

    assert changelist_members(response) == {target.pk}


def test_search_finds_a_member_by_the_full_phone_number(
    admin_client: Client, branch: Branch
) -> None:
    target = MemberFactory(branch=branch)
    MemberFactory(branch=branch)

    plain = admin_client.get(MEMBERS, {"q": target.phone})
    with_prefix = admin_client.get(MEMBERS, {"q": f"+86 {target.phone}"})

    assert changelist_members(plain) == {target.pk}
    assert changelist_members(with_prefix) == {target.pk}


def test_search_cannot_find_members_by_the_hidden_birth_date(
    admin_client: Client, branch: Branch
) -> None:
    target = MemberFactory(branch=branch, national_id=national_id(date(1988, 7, 9)))

    response = admin_client.get(MEMBERS, {"q": "19880709"})

    assert target.pk not in changelist_members(response)


def test_search_by_full_number_stays_inside_the_leaders_branches(
    leader: User, other_branch: Branch
) -> None:
    theirs = MemberFactory(branch=other_branch)

    response = signed_in(leader).get(MEMBERS, {"q": theirs.national_id})

    assert changelist_members(response) == set()


# Personal data


def test_admin_pages_never_show_the_plain_national_id_or_phone(
    admin_client: Client, branch: Branch
) -> None:
    member = MemberFactory(branch=branch, kyc=Member.KycStatus.VERIFIED)
    contact = services.emergency_contact_add(
        member=member,
        name="王五",
        relationship=EmergencyContact.Relationship.SPOUSE,
        phone=mobile(),
        consented_at=timezone.now(),
        consent_evidence="签字表 No.3",
    )
    secrets = [member.national_id, member.phone, contact.phone]

    changelist = admin_client.get(MEMBERS)
    change_page = admin_client.get(member_change_url(member))
    branch_page = admin_client.get(
        reverse("admin:members_branch_change", args=[branch.pk])
    )

    for page in (changelist, change_page, branch_page):
        assert page.status_code == 200
        html = page.content.decode()
        assert member.real_name in html
        for secret in secrets:
            assert secret not in html
    for page in (changelist, change_page):
        assert member.national_id_masked in page.content.decode()
        assert member.phone_masked in page.content.decode()
    assert contact.phone_masked in change_page.content.decode()


# Actions


def test_verify_kyc_action_verifies_the_selected_members(
    admin_client: Client, branch: Branch
) -> None:
    first, second = MemberFactory.create_batch(2, branch=branch)
    untouched = MemberFactory(branch=branch)

    response = run_action(admin_client, "verify_kyc", [first, second])

    assert response.status_code == 302
    statuses = dict(Member.objects.values_list("pk", "kyc_status"))
    assert statuses == {
        first.pk: Member.KycStatus.VERIFIED,
        second.pk: Member.KycStatus.VERIFIED,
        untouched.pk: Member.KycStatus.PENDING,
    }
    assert levels(response) == [messages.SUCCESS]


def test_verify_kyc_action_reports_members_it_could_not_verify(
    admin_client: Client, branch: Branch
) -> None:
    pending = MemberFactory(branch=branch)
    already = MemberFactory(branch=branch, kyc=Member.KycStatus.VERIFIED)

    response = run_action(admin_client, "verify_kyc", [pending, already])

    assert sorted(levels(response)) == sorted([messages.ERROR, messages.SUCCESS])
    pending.refresh_from_db()
    assert pending.kyc_status == Member.KycStatus.VERIFIED


def test_reject_kyc_action_records_the_reason_from_the_action_bar(
    admin_client: Client, branch: Branch
) -> None:
    member = MemberFactory(branch=branch)

    response = run_action(admin_client, "reject_kyc", [member], reason="照片模糊")

    member.refresh_from_db()
    assert member.kyc_status == Member.KycStatus.REJECTED
    assert member.kyc_rejection_reason == "照片模糊"
    assert levels(response) == [messages.SUCCESS]


def test_reject_kyc_action_without_a_reason_changes_nothing(
    admin_client: Client, branch: Branch
) -> None:
    member = MemberFactory(branch=branch)

    response = run_action(admin_client, "reject_kyc", [member], reason="  ")

    assert levels(response) == [messages.ERROR]
    member.refresh_from_db()
    assert member.kyc_status == Member.KycStatus.PENDING
    assert member.kyc_rejection_reason == ""


def test_blacklist_action_blacklists_as_a_staff_decision(
    admin_client: Client, branch: Branch
) -> None:
    member = MemberFactory(branch=branch)

    response = run_action(admin_client, "blacklist", [member], reason="多次失联")

    assert levels(response) == [messages.SUCCESS]
    member.refresh_from_db()
    assert member.status == Member.Status.BLACKLISTED
    entry = BlacklistEntry.objects.get(member=member)
    assert (entry.source, entry.reason) == (BlacklistEntry.Source.STAFF, "多次失联")


def test_blacklist_action_without_a_reason_changes_nothing(
    admin_client: Client, branch: Branch
) -> None:
    member = MemberFactory(branch=branch)

    response = run_action(admin_client, "blacklist", [member])

    assert levels(response) == [messages.ERROR]
    assert not BlacklistEntry.objects.exists()


def blacklisted_member(branch: Branch) -> Member:
    member = MemberFactory(branch=branch)
    services.member_blacklist(
        member=member,
        reason="多次失联",
        source=BlacklistEntry.Source.STAFF,
        on=timezone.localdate(),
        by=None,
    )
    return member


def test_lift_blacklist_action_lifts_when_the_rule_allows(
    admin_client: Client, branch: Branch
) -> None:
    rule = BlacklistRule.current()
    rule.cooling_off_days = 0
    rule.save()
    member = blacklisted_member(branch)

    response = run_action(admin_client, "lift_blacklist", [member], reason="已联系上")

    assert levels(response) == [messages.SUCCESS]
    member.refresh_from_db()
    assert member.status == Member.Status.ACTIVE
    assert BlacklistEntry.objects.get(member=member).lift_reason == "已联系上"


def test_lift_blacklist_action_reports_the_rule_refusal(
    admin_client: Client, branch: Branch
) -> None:
    member = blacklisted_member(branch)

    response = run_action(admin_client, "lift_blacklist", [member], reason="已联系上")

    assert levels(response) == [messages.ERROR]
    member.refresh_from_db()
    assert member.status == Member.Status.BLACKLISTED


def test_actions_offered_follow_the_role(
    leader: User, risk_officer: User, branch: Branch
) -> None:
    MemberFactory(branch=branch)

    def offered(user: User) -> set[str]:
        form = signed_in(user).get(MEMBERS).context["action_form"]
        return {name for name, _label in form.fields["action"].choices if name}

    kyc = {"verify_kyc", "reject_kyc"}
    blacklisting = {"blacklist", "lift_blacklist"}
    assert kyc <= offered(leader)
    assert not blacklisting & offered(leader)
    assert kyc | blacklisting <= offered(risk_officer)


def test_make_leader_action_makes_one_verified_member_the_leader(
    admin_client: Client, branch: Branch
) -> None:
    first, second = MemberFactory.create_batch(
        2, branch=branch, kyc=Member.KycStatus.VERIFIED
    )

    both = run_action(admin_client, "make_leader", [first, second])
    assert levels(both) == [messages.ERROR]
    assert branch.leader is None

    run_action(admin_client, "make_leader", [second])
    assert branch.leader == second


def test_leader_cannot_run_the_blacklist_action(leader: User, branch: Branch) -> None:
    member = MemberFactory(branch=branch)

    run_action(signed_in(leader), "blacklist", [member], reason="多次失联")

    member.refresh_from_db()
    assert member.status == Member.Status.ACTIVE


# The auditor


def test_auditor_is_offered_only_exports_and_cannot_run_another_action(
    auditor: User, branch: Branch
) -> None:
    member = MemberFactory(branch=branch)
    client = signed_in(auditor)

    listed = client.get(MEMBERS)
    run_action(client, "verify_kyc", [member])

    assert listed.status_code == 200
    offered = listed.context["action_form"].fields["action"].choices
    assert {name for name, _label in offered if name} == set(EXPORT_ACTIONS)
    member.refresh_from_db()
    assert member.kyc_status == Member.KycStatus.PENDING


def test_auditor_sees_a_read_only_member_page_and_cannot_save(
    auditor: User, branch: Branch
) -> None:
    member = MemberFactory(branch=branch)
    client = signed_in(auditor)

    page = client.get(member_change_url(member))
    saved = client.post(
        member_change_url(member),
        {"real_name": "改名", "_save": "1"},
    )

    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert saved.status_code == 403
    member.refresh_from_db()
    assert member.real_name != "改名"


def test_auditor_cannot_add_members_or_change_the_lifting_rule(
    auditor: User,
) -> None:
    rule = BlacklistRule.current()
    client = signed_in(auditor)
    rule_url = reverse("admin:members_blacklistrule_change", args=[rule.pk])

    add_page = client.get(MEMBER_ADD)
    rule_page = client.get(rule_url)
    rule_saved = client.post(rule_url, {"cooling_off_days": "1", "_save": "1"})

    assert add_page.status_code == 403
    assert rule_page.status_code == 200
    assert 'name="_save"' not in rule_page.content.decode()
    assert rule_saved.status_code == 403
    rule.refresh_from_db()
    assert rule.cooling_off_days == 180


# Adding members


def add_form(branch: Branch, **overrides: str) -> dict[str, Any]:
    data = {
        "branch": str(branch.pk),
        "real_name": "李四",
        "joined_on": "2026-03-02",
        "national_id": national_id(),
        "phone": mobile(),
        "_save": "1",
    }
    return {**data, **overrides}


def form_errors(response: HttpResponse) -> dict[str, Any]:
    return dict(response.context["adminform"].form.errors)


def test_add_form_shows_a_bad_national_id_as_a_form_error(
    admin_client: Client, branch: Branch
) -> None:
    good = national_id()
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")

    response = admin_client.post(MEMBER_ADD, add_form(branch, national_id=bad))

    assert response.status_code == 200
    assert "national_id" in form_errors(response)
    assert 'class="errorlist' in response.content.decode()
    assert not Member.objects.exists()


def test_add_form_shows_a_duplicate_national_id_as_a_form_error(
    admin_client: Client, branch: Branch
) -> None:
    taken = national_id()
    MemberFactory(branch=branch, national_id=taken)

    response = admin_client.post(MEMBER_ADD, add_form(branch, national_id=taken))

    assert response.status_code == 200
    assert "national_id" in form_errors(response)
    assert Member.objects.count() == 1


def test_add_form_shows_a_bad_phone_as_a_form_error(
    admin_client: Client, branch: Branch
) -> None:
    response = admin_client.post(MEMBER_ADD, add_form(branch, phone="0101234567"))

    assert response.status_code == 200
    assert "phone" in form_errors(response)
    assert not Member.objects.exists()


def test_add_form_registers_the_member_through_the_service(
    admin_client: Client, branch: Branch
) -> None:
    data = add_form(branch)

    response = admin_client.post(MEMBER_ADD, data)

    assert response.status_code == 302
    member = Member.objects.get()
    assert member.branch == branch
    assert member.joined_on == date(2026, 3, 2)
    assert member.national_id == data["national_id"]
    assert member.national_id_masked == (
        data["national_id"][:6] + "*" * 8 + data["national_id"][-4:]
    )
    assert member.phone_masked == data["phone"][:3] + "****" + data["phone"][-4:]
    assert member.kyc_status == Member.KycStatus.PENDING
    assert member.events.filter(kind="registered").exists()
    history = LogEntry.objects.get(object_id=str(member.pk))
    assert history.object_repr == str(member)
    assert member.national_id_masked in history.object_repr


def test_add_form_offers_only_the_leaders_branches(
    leader: User, branch: Branch, other_branch: Branch
) -> None:
    client = signed_in(leader)

    page = client.get(MEMBER_ADD)
    posted = client.post(MEMBER_ADD, add_form(other_branch))

    choices = page.context["adminform"].form.fields["branch"].queryset
    assert set(choices) == {branch}
    assert "branch" in form_errors(posted)
    assert not Member.objects.exists()


# Branches and the lifting rule


def test_branch_page_shows_its_members_inline(
    admin_client: Client, branch: Branch, other_branch: Branch
) -> None:
    here = MemberFactory.create_batch(2, branch=branch)
    elsewhere = MemberFactory(branch=other_branch)

    response = admin_client.get(
        reverse("admin:members_branch_change", args=[branch.pk])
    )

    assert response.status_code == 200
    (inline,) = response.context["inline_admin_formsets"]
    shown = {form.original.pk for form in inline}
    assert shown == {member.pk for member in here}
    html = response.content.decode()
    assert all(member.real_name in html for member in here)
    assert elsewhere.real_name not in html


def test_risk_officer_edits_the_blacklist_lifting_rule(risk_officer: User) -> None:
    rule = BlacklistRule.current()
    url = reverse("admin:members_blacklistrule_change", args=[rule.pk])

    response = signed_in(risk_officer).post(
        url, {"require_debt_settled": "", "cooling_off_days": "90", "_save": "1"}
    )

    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.cooling_off_days == 90
    assert rule.require_debt_settled is False
    assert rule.updated_by == risk_officer

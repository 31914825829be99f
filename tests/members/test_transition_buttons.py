"""Buttons on a member's admin page for the moves the member may make next.

A button leads to a confirmation page (GET, changes nothing); only that
page's POST runs the step, so nothing acts on the first press, with or
without JavaScript."""

from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from credit.models import CreditProfile
from members.models import BlacklistRule, Branch, Member
from tests.factories import MemberFactory
from tests.loans.factories import borrower

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english(settings: Any) -> None:
    settings.LANGUAGE_CODE = "en"


def page_of(user: User, member: Member) -> Any:
    client = Client()
    client.force_login(user)
    return client.get(reverse("admin:members_member_change", args=[member.pk]))


def confirm_url(member: Member, action: str) -> str:
    return reverse("admin:members_member_transition", args=[member.pk, action])


def ask(user: User, member: Member, action: str) -> Any:
    """Follow the button: the confirmation page."""
    client = Client()
    client.force_login(user)
    return client.get(confirm_url(member, action))


def press(user: User, member: Member, action: str, reason: str = "") -> Any:
    """Send the confirmation page."""
    client = Client()
    client.force_login(user)
    return client.post(confirm_url(member, action), {"reason": reason})


def reload(member: Member) -> Member:
    return Member.objects.get(pk=member.pk)


def test_a_pending_member_offers_the_leader_to_verify_or_reject_kyc(
    branch: Branch, leader: User
) -> None:
    member = MemberFactory(branch=branch)

    page = page_of(leader, member)

    assert page.context["transition_buttons"] == [
        ("verify_kyc", "Verify KYC"),
        ("reject_kyc", "Reject KYC"),
    ]
    html = page.content.decode()
    # Links to the confirmation pages, not forms that act when pressed.
    assert f'href="{confirm_url(member, "verify_kyc")}"' in html
    assert f'href="{confirm_url(member, "reject_kyc")}"' in html
    buttons = html.split('id="transition-buttons"')[1].split("</div>")[0]
    assert "<form" not in buttons
    assert "<button" not in buttons


def test_following_a_button_only_asks_and_changes_nothing(
    branch: Branch, leader: User
) -> None:
    member = MemberFactory(branch=branch)

    page = ask(leader, member, "verify_kyc")

    assert page.status_code == 200
    html = page.content.decode()
    assert "Accept the member&#x27;s identity documents." in html
    assert str(member) in html
    assert "Pending" in html
    assert 'name="reason"' not in html
    assert reload(member).kyc_status == Member.KycStatus.PENDING
    assert not CreditProfile.objects.filter(member=member).exists()


def test_a_step_that_records_a_reason_asks_for_it_and_refuses_to_run_without(
    branch: Branch, leader: User
) -> None:
    member = MemberFactory(branch=branch)
    assert 'name="reason"' in ask(leader, member, "reject_kyc").content.decode()

    response = press(leader, member, "reject_kyc", reason="  ")

    assert response.status_code == 200
    assert response.context["form"].errors["reason"]
    assert reload(member).kyc_status == Member.KycStatus.PENDING

    response = press(leader, member, "reject_kyc", reason="证件照片模糊")

    assert response.status_code == 302
    assert reload(member).kyc_status == Member.KycStatus.REJECTED
    assert reload(member).kyc_rejection_reason == "证件照片模糊"


def test_a_step_no_longer_possible_is_refused_with_a_message(
    branch: Branch, leader: User
) -> None:
    member = MemberFactory(branch=branch)
    press(leader, member, "verify_kyc")

    client = Client()
    client.force_login(leader)
    response = client.post(
        confirm_url(member, "reject_kyc"), {"reason": "太迟"}, follow=True
    )

    assert response.redirect_chain[-1][0] == reverse(
        "admin:members_member_change", args=[member.pk]
    )
    assert "can no longer take this step" in response.content.decode()
    assert reload(member).kyc_status == Member.KycStatus.VERIFIED


def test_verifying_from_the_page_scores_the_member_as_the_list_would(
    branch: Branch, leader: User
) -> None:
    member = MemberFactory(branch=branch)

    response = press(leader, member, "verify_kyc")

    assert response.status_code == 302
    assert response["Location"] == reverse(
        "admin:members_member_change", args=[member.pk]
    )
    assert reload(member).kyc_status == Member.KycStatus.VERIFIED
    # The credit app's action runs: the first limit comes with verifying.
    assert CreditProfile.objects.get(member=member).limit == Decimal("2000.00")
    assert page_of(leader, member).context["transition_buttons"] == []


def test_a_risk_officer_may_blacklist_a_verified_member_and_a_leader_may_not(
    branch: Branch, leader: User, risk_officer: User
) -> None:
    member = borrower(branch=branch)

    assert page_of(leader, member).context["transition_buttons"] == []
    assert ask(leader, member, "blacklist").status_code == 403
    assert press(leader, member, "blacklist", "失联").status_code == 403
    assert page_of(risk_officer, member).context["transition_buttons"] == [
        ("blacklist", "Blacklist")
    ]

    press(risk_officer, member, "blacklist", "恶意拖欠")

    assert reload(member).status == Member.Status.BLACKLISTED
    assert CreditProfile.objects.get(member=member).limit == Decimal("0.00")


def test_lifting_is_offered_only_once_the_lifting_rule_allows_it(
    branch: Branch, risk_officer: User
) -> None:
    member = borrower(branch=branch)
    press(risk_officer, member, "blacklist", "恶意拖欠")
    assert page_of(risk_officer, member).context["transition_buttons"] == []

    rule = BlacklistRule.current()
    rule.require_debt_settled = False
    rule.cooling_off_days = 0
    rule.save()

    assert page_of(risk_officer, member).context["transition_buttons"] == [
        ("lift_blacklist", "Lift off the blacklist")
    ]


def test_an_auditor_sees_no_buttons_and_cannot_press_one(
    branch: Branch, auditor: User
) -> None:
    member = MemberFactory(branch=branch)

    page = page_of(auditor, member)

    assert page.context["transition_buttons"] == []
    assert "Next step" not in page.content.decode()
    assert ask(auditor, member, "verify_kyc").status_code == 403
    assert press(auditor, member, "verify_kyc").status_code == 403
    assert reload(member).kyc_status == Member.KycStatus.PENDING


def test_a_member_of_another_branch_cannot_be_moved_from_its_address(
    other_branch: Branch, leader: User
) -> None:
    member = MemberFactory(branch=other_branch)

    assert ask(leader, member, "verify_kyc").status_code == 404
    assert press(leader, member, "verify_kyc").status_code == 404
    assert reload(member).kyc_status == Member.KycStatus.PENDING


def test_only_transition_buttons_run_from_their_address(
    branch: Branch, leader: User
) -> None:
    member = borrower(branch=branch)

    # A list action that is not a button (changing the role) is refused.
    assert press(leader, member, "make_leader").status_code == 403
    assert reload(member).branch_role == Member.BranchRole.MEMBER

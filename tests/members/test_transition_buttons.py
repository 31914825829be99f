"""Buttons on a member's admin page for the moves the member may make next."""

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


def press(user: User, member: Member, action: str, reason: str = "") -> Any:
    client = Client()
    client.force_login(user)
    url = reverse("admin:members_member_transition", args=[member.pk])
    return client.post(url, {"action": action, "reason": reason})


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
    assert f'data-confirm="Verify KYC: {member}. Go ahead?"' in html
    assert "admin/backoffice/confirm.js" in html


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
    assert press(auditor, member, "verify_kyc").status_code == 403
    assert reload(member).kyc_status == Member.KycStatus.PENDING


def test_a_member_of_another_branch_cannot_be_moved_from_its_address(
    other_branch: Branch, leader: User
) -> None:
    member = MemberFactory(branch=other_branch)

    assert press(leader, member, "verify_kyc").status_code == 404
    assert reload(member).kyc_status == Member.KycStatus.PENDING

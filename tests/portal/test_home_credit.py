"""The borrower's home page shows their credit in plain words."""

from datetime import date
from decimal import Decimal

import pytest
from django.test import Client

from config.templatetags.money import yuan
from credit import services
from credit.models import CreditScore
from members.models import Member
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

ON = date(2026, 12, 3)


def _signed_in(client: Client, member: Member) -> None:
    assert client.login(username=member.phone, password="borrower-pass-2026")


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        (Decimal("1234.5"), "¥1,234.50"),
        (Decimal("0"), "¥0.00"),
        (Decimal("1000000.005"), "¥1,000,000.01"),
        (Decimal("-20.10"), "-¥20.10"),
        (None, ""),
    ],
)
def test_amounts_are_shown_as_yuan_with_grouping_and_two_places(
    amount: Decimal | None, shown: str
) -> None:
    assert yuan(amount) == shown


def test_home_shows_limit_available_and_grade_of_a_scored_member(
    client: Client,
) -> None:
    member = MemberFactory()
    services.member_verify_kyc_and_score(member=member, by=None, on=ON)
    services.credit_hold(member=member, amount=Decimal("500.00"))
    _signed_in(client, member)

    page = client.get("/").content.decode()

    assert "¥2,000.00" in page
    assert "¥1,500.00" in page
    assert "<strong>C</strong>" in page


def test_home_tells_why_in_plain_words(client: Client) -> None:
    member = MemberFactory(kyc=Member.KycStatus.VERIFIED)
    for number in (1, 2):
        services.credit_installment_paid(
            member=member,
            loan_reference="L-1",
            number=number,
            due_on=date(2026, 9, 1),
            paid_on=date(2026, 9, 10),
        )
    services.credit_score_member(
        member=member, on=ON, trigger=CreditScore.Trigger.MANUAL
    )
    _signed_in(client, member)

    page = client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "2 installments paid late this year." in page
    assert "Your longest delay this year was 9 days." in page


def test_home_of_a_frozen_member_says_borrowing_is_frozen(client: Client) -> None:
    member = MemberFactory()
    services.member_verify_kyc_and_score(member=member, by=None, on=ON)
    services.credit_loan_overdue(
        member=member, loan_reference="L-7", on=ON, days_past_due=4
    )
    _signed_in(client, member)

    page = client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "Borrowing is frozen" in page
    assert "L-7" in page


def test_a_verified_member_not_yet_scored_is_told_the_limit_is_being_assessed(
    client: Client,
) -> None:
    member = MemberFactory(kyc=Member.KycStatus.VERIFIED)
    _signed_in(client, member)

    page = client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "Your credit limit is being assessed." in page

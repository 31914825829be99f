"""The borrower's collection pages: the messages inbox, asking for a
hardship plan and following its decision, and contact preferences."""

import itertools
import re
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext

from collection import rules
from collection import services as collection
from collection.models import (
    Cause,
    ContactConsent,
    HardshipRequest,
    Message,
    Purpose,
)
from loans import services as loans
from loans.close import close_through
from loans.models import Loan
from loans.selectors import business_date_current
from members.models import Member
from tests.loans.factories import Staff, active_loan, borrower

pytestmark = pytest.mark.django_db

PASSWORD = "borrower-pass-2026"
INBOX = reverse("pages:messages")
HOME = reverse("pages:home")
PREFERENCES = reverse("pages:contact_preferences")
FIRST_DUE = date(2026, 2, 15)  # of a loan disbursed on 2026-01-15
OVERDUE_DAY = FIRST_DUE + timedelta(days=10)
BLACKLIST_DAY = FIRST_DUE + timedelta(days=91)

_keys = itertools.count(1)


@pytest.fixture
def staff() -> Staff:
    return Staff()


@pytest.fixture
def member() -> Member:
    return borrower()


@pytest.fixture
def signed_in(client: Client, member: Member) -> Client:
    assert client.login(username=member.phone, password=PASSWORD)
    return client


@pytest.fixture
def overdue(member: Member, staff: Staff) -> Loan:
    loan = active_loan(staff=staff, member=member)
    close_through(until=OVERDUE_DAY)
    loan.refresh_from_db()
    assert loan.state == Loan.State.OVERDUE
    return loan


def _at(day: date, hour: int = 10) -> datetime:
    return timezone.make_aware(datetime(day.year, day.month, day.day, hour))


def _sent(
    member: Member,
    body: str,
    *,
    at: datetime,
    status: Message.Status = Message.Status.SENT,
    audience: Message.Audience = Message.Audience.BORROWER,
) -> Message:
    """An outbox row as the sending task leaves it."""
    return Message.objects.create(
        member=member,
        purpose=Purpose.REMINDER_DUE,
        audience=audience,
        channel=Message.Channel.INBOX,
        body=body,
        dedupe_key=f"test:{next(_keys)}",
        scheduled_for=at,
        status=status,
        sent_at=at if status == Message.Status.SENT else None,
    )


def _hardship(loan: Loan) -> str:
    return reverse("pages:loan_hardship", args=[loan.pk])


def _loan_page(loan: Loan) -> str:
    return reverse("pages:loan", args=[loan.pk])


def _error_container(html: str, field: str) -> str:
    match = re.search(
        rf'<div class="error" id="id_{field}_errors" role="alert">(.*?)</div>',
        html,
        re.S,
    )
    assert match, f"no error container for {field}"
    return match.group(1)


def _plan(**extra: str) -> dict[str, str]:
    """What the hardship form sends; `extra` changes or blanks a field."""
    data = {"cause": Cause.ACCIDENT_ILLNESS, "installments": "6", "note": "住院两周"}
    data.update(extra)
    return data


# The inbox


def test_inbox_lists_only_the_members_own_sent_messages_newest_first(
    signed_in: Client, member: Member
) -> None:
    older = _sent(member, "较早的提醒", at=_at(date(2026, 2, 12)))
    newer = _sent(member, "今天到期的提醒", at=_at(date(2026, 2, 15)))
    _sent(member, "尚未发出", at=_at(date(2026, 2, 16)), status=Message.Status.QUEUED)
    _sent(
        member,
        "发给担保人的",
        at=_at(date(2026, 2, 16)),
        audience=Message.Audience.GUARANTOR,
    )
    _sent(borrower(), "别人的消息", at=_at(date(2026, 2, 16)))

    response = signed_in.get(INBOX)

    html = response.content.decode()
    assert list(response.context["inbox"]) == [newer, older]
    assert html.index("今天到期的提醒") < html.index("较早的提醒")
    for hidden in ("尚未发出", "发给担保人的", "别人的消息"):
        assert hidden not in html
    assert reverse("pages:message", args=[newer.pk]) in html


def test_inbox_marks_the_messages_not_yet_read(
    signed_in: Client, member: Member
) -> None:
    read = _sent(member, "已读的", at=_at(date(2026, 2, 12)))
    read.read_at = _at(date(2026, 2, 12), hour=11)
    read.save()
    _sent(member, "未读的", at=_at(date(2026, 2, 15)))

    html = signed_in.get(INBOX, HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert html.count('class="inbox-item unread"') == 1
    assert re.search(r'class="inbox-item unread">.*?未读的', html, re.S)
    assert html.count(">New</span>") == 1


def test_opening_a_message_shows_its_text_and_marks_it_read(
    signed_in: Client, member: Member
) -> None:
    message = _sent(member, "您的还款已逾期。\n请尽快还款。", at=_at(date(2026, 2, 16)))

    response = signed_in.get(reverse("pages:message", args=[message.pk]))

    message.refresh_from_db()
    assert response.status_code == 200
    assert "您的还款已逾期。<br>请尽快还款。" in response.content.decode()
    assert message.read_at is not None
    assert 'class="inbox-item unread"' not in signed_in.get(INBOX).content.decode()


def test_another_members_message_is_not_found_and_stays_unread(
    signed_in: Client, member: Member
) -> None:
    others = _sent(borrower(), "别人的消息", at=_at(date(2026, 2, 16)))
    queued = _sent(
        member, "尚未发出", at=_at(date(2026, 2, 16)), status=Message.Status.QUEUED
    )

    for message in (others, queued):
        response = signed_in.get(reverse("pages:message", args=[message.pk]))
        assert response.status_code == 404
        message.refresh_from_db()
        assert message.read_at is None


def test_home_links_the_inbox_and_counts_the_unread(
    signed_in: Client, member: Member
) -> None:
    _sent(member, "一", at=_at(date(2026, 2, 12)))
    _sent(member, "二", at=_at(date(2026, 2, 13)))

    html = signed_in.get(HOME, HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert f'href="{INBOX}"' in html
    assert "2 unread messages" in html


def test_the_ladders_messages_reach_the_inbox_with_a_link_to_ask_for_a_plan(
    signed_in: Client, member: Member, staff: Staff
) -> None:
    loan = active_loan(staff=staff, member=member)
    # The first close starts on its own date; the second closes every day
    # from there to just past the grace days.
    close_through(until=FIRST_DUE - timedelta(days=5))
    close_through(until=FIRST_DUE + timedelta(days=4))
    now = _at(FIRST_DUE + timedelta(days=5))
    for message_id in collection.messages_due(now=now):
        collection.message_send(message_id=message_id, now=now)
    early = Message.objects.get(loan=loan, purpose=Purpose.EARLY)

    inbox = signed_in.get(INBOX).content.decode()
    page = signed_in.get(reverse("pages:message", args=[early.pk])).content.decode()

    assert inbox.count('class="inbox-item unread"') == 4  # ahead, due, grace, early
    assert f'href="{_hardship(loan)}"' in page
    assert f'href="{_loan_page(loan)}"' in page


# Asking for a hardship plan


def test_the_hardship_form_is_in_chinese_by_default(
    signed_in: Client, overdue: Loan
) -> None:
    response = signed_in.get(_hardship(overdue))

    html = response.content.decode()
    assert response.status_code == 200
    assert '<html lang="zh-hans">' in html
    assert "2026年2月15日" in html  # late since the first due date
    assert 'name="cause"' in html
    assert 'name="note"' in html
    for count in ("3", "6", "12"):
        assert f'<option value="{count}"' in html
    assert f'<option value="{Cause.ACCIDENT_ILLNESS}"' in html
    # A borrower is not asked to call themselves unwilling to pay.
    assert f'value="{Cause.UNWILLING}"' not in html


def test_a_missing_cause_is_shown_beside_the_cause_in_the_users_language(
    signed_in: Client, overdue: Loan
) -> None:
    data = _plan(cause="")

    chinese = signed_in.post(_hardship(overdue), data)
    english = signed_in.post(_hardship(overdue), data, HTTP_ACCEPT_LANGUAGE="en")

    with translation.override("zh-hans"):
        expected = gettext("Choose what happened.")
    assert expected in _error_container(chinese.content.decode(), "cause")
    assert "Choose what happened." in _error_container(
        english.content.decode(), "cause"
    )
    assert 'aria-invalid="true"' in english.content.decode()
    assert not HardshipRequest.objects.exists()


def test_a_valid_request_is_sent_and_the_loan_page_shows_it_waiting(
    signed_in: Client, member: Member, overdue: Loan
) -> None:
    response = signed_in.post(
        _hardship(overdue), _plan(), follow=True, HTTP_ACCEPT_LANGUAGE="en"
    )

    request = HardshipRequest.objects.get(loan=overdue)
    assert request.status == HardshipRequest.Status.REQUESTED
    assert request.cause == Cause.ACCIDENT_ILLNESS
    assert request.installments == 6
    assert request.note == "住院两周"
    assert request.requested_by == member.user
    assert request.requested_on == business_date_current()
    assert response.redirect_chain == [(_loan_page(overdue), 302)]
    html = response.content.decode()
    assert "Your request has been sent." in html
    assert "Waiting for a decision" in html
    assert "Asked on" in html
    assert f'href="{_hardship(overdue)}"' not in html


def test_a_second_request_while_one_waits_shows_why_and_no_form(
    signed_in: Client, overdue: Loan
) -> None:
    signed_in.post(_hardship(overdue), _plan())

    response = signed_in.post(_hardship(overdue), _plan(), HTTP_ACCEPT_LANGUAGE="en")

    html = response.content.decode()
    assert "A request for this loan is waiting for a decision." in html
    assert 'name="cause"' not in html
    assert HardshipRequest.objects.filter(loan=overdue).count() == 1


def test_a_refused_request_shows_the_decision_note_and_the_link_again(
    signed_in: Client, staff: Staff, overdue: Loan
) -> None:
    signed_in.post(_hardship(overdue), _plan())
    collection.hardship_refuse(
        request=HardshipRequest.objects.get(loan=overdue),
        by=staff.risk,
        on=business_date_current(),
        reason="请先提供收入证明",
    )

    html = signed_in.get(
        _loan_page(overdue), HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()

    assert "Refused" in html
    assert '<dd id="decision-note">请先提供收入证明</dd>' in html
    assert f'href="{_hardship(overdue)}"' in html


def test_an_approved_plan_shows_the_replaced_installments(
    signed_in: Client, staff: Staff, overdue: Loan
) -> None:
    signed_in.post(_hardship(overdue), _plan(installments="3"))
    collection.hardship_approve(
        request=HardshipRequest.objects.get(loan=overdue),
        by=staff.risk,
        on=business_date_current(),
    )

    html = signed_in.get(
        _loan_page(overdue), HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()

    assert 'class="badge good">Approved</span>' in html
    assert "Replaced by the plan" in html
    assert html.count('class="installment superseded"') == 3
    assert f'href="{_hardship(overdue)}"' not in html  # the policy allows one


def test_the_loan_page_of_an_overdue_loan_offers_a_plan(
    signed_in: Client, overdue: Loan
) -> None:
    html = signed_in.get(
        _loan_page(overdue), HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()

    assert f'href="{_hardship(overdue)}"' in html
    assert "Ask for a repayment plan" in html


def test_a_blacklisted_loan_shows_why_and_no_form(
    signed_in: Client, member: Member, staff: Staff
) -> None:
    loan = active_loan(staff=staff, member=member)
    close_through(until=BLACKLIST_DAY)
    loan.refresh_from_db()
    assert loan.state == Loan.State.BLACKLISTED

    page = signed_in.get(_hardship(loan), HTTP_ACCEPT_LANGUAGE="en")
    posted = signed_in.post(_hardship(loan), _plan(), HTTP_ACCEPT_LANGUAGE="en")

    html = page.content.decode()
    assert "A plan can only be asked for on a loan being repaid." in html
    assert 'name="cause"' not in html
    assert posted.status_code == 200
    assert not HardshipRequest.objects.exists()
    loan_page = signed_in.get(_loan_page(loan)).content.decode()
    assert f'href="{_hardship(loan)}"' not in loan_page


def test_a_repaid_loan_shows_why_and_no_form(
    signed_in: Client, member: Member, staff: Staff
) -> None:
    loan = active_loan(staff=staff, member=member)
    close_through(until=date(2026, 1, 20))
    on = business_date_current()
    installments = list(loan.installments.order_by("number"))
    # Paid off early: the later months' interest is not owed.
    owed = sum((i.principal for i in installments), Decimal(0)) + (
        installments[0].interest
    )
    loans.repayment_post(loan=loan, amount=owed, reference="x", by=None, on=on)
    loan.refresh_from_db()
    assert loan.state == Loan.State.REPAID

    html = signed_in.get(_hardship(loan), HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "A plan can only be asked for on a loan being repaid." in html
    assert 'name="cause"' not in html
    loan_page = signed_in.get(_loan_page(loan)).content.decode()
    assert 'id="repayment-plan"' not in loan_page


def test_another_members_loan_has_no_hardship_page(
    signed_in: Client, staff: Staff
) -> None:
    others = active_loan(staff=staff)
    close_through(until=OVERDUE_DAY)

    assert signed_in.get(_hardship(others)).status_code == 404
    response = signed_in.post(_hardship(others), _plan())
    assert response.status_code == 404
    assert not HardshipRequest.objects.exists()


def test_anonymous_visitor_of_the_new_pages_is_sent_to_sign_in(
    client: Client, staff: Staff
) -> None:
    loan = active_loan(staff=staff)

    for url in (INBOX, _hardship(loan), PREFERENCES):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("pages:login"))


# Contact preferences


def test_the_borrower_agrees_to_night_contact_and_withdraws_it(
    signed_in: Client, member: Member
) -> None:
    change = reverse("pages:contact_preferences_change")
    night = ContactConsent.Kind.NIGHT

    agreed = signed_in.post(
        change, {"kind": night, "agree": "1"}, follow=True, HTTP_ACCEPT_LANGUAGE="en"
    )

    consent = ContactConsent.objects.get(member=member, kind=night)
    assert rules.has_consent(member, night, timezone.now())
    assert not rules.has_consent(member, ContactConsent.Kind.LEADER, timezone.now())
    assert consent.evidence
    assert agreed.redirect_chain == [(PREFERENCES, 302)]
    assert re.search(
        r'id="consent-night".*?You agreed.*?id="consent-leader".*?Not agreed',
        agreed.content.decode(),
        re.S,
    )

    signed_in.post(change, {"kind": night, "agree": "0"})

    consent.refresh_from_db()
    assert consent.withdrawn_at is not None
    assert not rules.has_consent(member, night, timezone.now())


def test_agreeing_twice_records_one_consent(signed_in: Client, member: Member) -> None:
    change = reverse("pages:contact_preferences_change")
    leader = ContactConsent.Kind.LEADER

    signed_in.post(change, {"kind": leader, "agree": "1"})
    signed_in.post(change, {"kind": leader, "agree": "1"})

    assert ContactConsent.objects.filter(member=member, kind=leader).count() == 1


def test_preferences_are_changed_only_by_post(signed_in: Client) -> None:
    response = signed_in.get(reverse("pages:contact_preferences_change"))

    assert response.status_code == 405


# Phones


def test_the_new_pages_fit_phones_and_reference_no_external_assets(
    signed_in: Client, member: Member, overdue: Loan
) -> None:
    message = _sent(member, "提醒", at=_at(date(2026, 2, 16)))

    pages = [
        signed_in.get(INBOX),
        signed_in.get(reverse("pages:message", args=[message.pk])),
        signed_in.get(_hardship(overdue)),
        signed_in.get(PREFERENCES),
    ]

    for page in pages:
        html = page.content.decode()
        assert page.status_code == 200
        assert '<meta name="viewport" content="width=device-width' in html
        references = re.findall(r"""\b(?:src|href|action)\s*=\s*["']([^"']*)""", html)
        assert [r for r in references if re.match(r"(?i)(https?:)?//", r)] == []
        assert "<script" not in html

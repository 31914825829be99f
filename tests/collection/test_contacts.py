"""Contacts and the rules that keep them lawful; promises to pay."""

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from collection import services
from collection.models import CollectionCase, Contact, ContactConsent
from loans import services as loan_services
from loans.close import close_through
from members import services as member_services
from members.models import EmergencyContact, Member
from tests.loans.factories import Staff, active_loan, borrower

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
FIRST_DUE = date(2026, 2, 15)
CASE_DAY = FIRST_DUE + timedelta(days=5)


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI)


@pytest.fixture
def staff() -> Staff:
    return Staff()


@pytest.fixture
def case(staff: Staff) -> CollectionCase:
    loan = active_loan(staff=staff)
    close_through(until=CASE_DAY)
    return CollectionCase.objects.get(loan=loan)


def _call(case: CollectionCase, at: datetime, **kwargs: object) -> Contact:
    return services.contact_record(
        case=case,
        channel=Contact.Channel.CALL,
        outcome=Contact.Outcome.NO_ANSWER,
        by=None,
        at=at,
        **kwargs,  # type: ignore[arg-type]
    )


def test_a_call_in_the_day_is_recorded(case: CollectionCase) -> None:
    contact = _call(case, _at(CASE_DAY + timedelta(days=1), 10))

    assert contact.party == Contact.Party.BORROWER
    assert contact.number_digest == case.loan.member.phone_digest


def test_a_night_call_is_refused_naming_the_quiet_hours(case: CollectionCase) -> None:
    with pytest.raises(ValidationError) as refused:
        _call(case, _at(CASE_DAY + timedelta(days=1), 22, 30))

    assert "quiet_hours" in refused.value.message_dict
    assert not Contact.objects.exists()


def test_an_early_morning_visit_is_refused_too(case: CollectionCase) -> None:
    with pytest.raises(ValidationError) as refused:
        services.contact_record(
            case=case,
            channel=Contact.Channel.VISIT,
            outcome=Contact.Outcome.REACHED,
            by=None,
            at=_at(CASE_DAY + timedelta(days=1), 7, 59),
        )

    assert "quiet_hours" in refused.value.message_dict


def test_a_borrower_who_consented_may_be_called_at_night(case: CollectionCase) -> None:
    services.consent_give(
        member=case.loan.member,
        kind=ContactConsent.Kind.NIGHT,
        evidence="电话录音 0219",
        at=_at(CASE_DAY, 9),
    )

    contact = _call(case, _at(CASE_DAY + timedelta(days=1), 23))

    assert contact.pk is not None


def test_the_seventh_call_of_a_day_to_one_number_is_refused(
    case: CollectionCase,
) -> None:
    day = CASE_DAY + timedelta(days=1)
    for hour in range(9, 15):
        _call(case, _at(day, hour))

    with pytest.raises(ValidationError) as refused:
        _call(case, _at(day, 16))

    assert "call_limit" in refused.value.message_dict
    assert _call(case, _at(day + timedelta(days=1), 9)).pk is not None


def test_an_undesignated_third_party_is_refused(case: CollectionCase) -> None:
    with pytest.raises(ValidationError) as refused:
        _call(
            case,
            _at(CASE_DAY + timedelta(days=1), 10),
            party=Contact.Party.EMERGENCY_CONTACT,
            restoring_contact=True,
        )

    assert "third_party" in refused.value.message_dict


def test_a_designated_contact_may_be_asked_only_to_restore_contact(
    case: CollectionCase,
) -> None:
    member = case.loan.member
    contact = member_services.emergency_contact_add(
        member=member,
        name="王芳",
        relationship=EmergencyContact.Relationship.SPOUSE,
        phone="13911112222",
        consented_at=_at(CASE_DAY, 9),
        consent_evidence="登记表 2026-03",
    )
    at = _at(CASE_DAY + timedelta(days=1), 10)

    with pytest.raises(ValidationError) as refused:
        _call(
            case, at, party=Contact.Party.EMERGENCY_CONTACT, emergency_contact=contact
        )
    assert "third_party" in refused.value.message_dict

    logged = _call(
        case,
        at,
        party=Contact.Party.EMERGENCY_CONTACT,
        emergency_contact=contact,
        restoring_contact=True,
    )
    assert logged.number_digest == contact.phone_digest


def test_the_branch_leader_needs_the_borrowers_consent(
    case: CollectionCase,
) -> None:
    member = case.loan.member
    leader = borrower(branch=member.branch)
    Member.objects.filter(pk=leader.pk).update(branch_role=Member.BranchRole.LEADER)
    at = _at(CASE_DAY + timedelta(days=1), 10)

    def through_leader() -> Contact:
        return services.contact_record(
            case=case,
            channel=Contact.Channel.BRANCH_LEADER,
            outcome=Contact.Outcome.MESSAGE_LEFT,
            by=None,
            at=at,
            restoring_contact=True,
        )

    with pytest.raises(ValidationError) as refused:
        through_leader()
    assert "third_party" in refused.value.message_dict

    services.consent_give(
        member=member, kind=ContactConsent.Kind.LEADER, evidence="同意书", at=at
    )
    assert through_leader().party == Contact.Party.BRANCH_LEADER


def test_a_promise_marks_the_case_promised_until_the_day_after(
    case: CollectionCase,
) -> None:
    promise_day = CASE_DAY + timedelta(days=3)
    services.contact_record(
        case=case,
        channel=Contact.Channel.CALL,
        outcome=Contact.Outcome.PROMISED,
        by=None,
        at=_at(CASE_DAY + timedelta(days=1), 10),
        promise_date=promise_day,
        promise_amount=Decimal("300.00"),
    )

    case.refresh_from_db()
    assert case.status == CollectionCase.Status.PROMISED
    assert case.next_action_on == promise_day + timedelta(days=1)


def test_a_broken_promise_brings_the_next_action_to_the_next_morning(
    case: CollectionCase,
) -> None:
    promise_day = CASE_DAY + timedelta(days=2)
    services.contact_record(
        case=case,
        channel=Contact.Channel.CALL,
        outcome=Contact.Outcome.PROMISED,
        by=None,
        at=_at(CASE_DAY + timedelta(days=1), 10),
        promise_date=promise_day,
        promise_amount=Decimal("300.00"),
    )

    close_through(until=promise_day + timedelta(days=1))

    case.refresh_from_db()
    contact = Contact.objects.get(case=case)
    assert contact.promise == Contact.Promise.BROKEN
    assert case.status == CollectionCase.Status.OPEN
    assert case.next_action_on == promise_day + timedelta(days=2)


def test_a_promise_paid_by_its_date_is_kept(staff: Staff, case: CollectionCase) -> None:
    call_day = CASE_DAY + timedelta(days=1)
    promise_day = call_day + timedelta(days=1)
    services.contact_record(
        case=case,
        channel=Contact.Channel.CALL,
        outcome=Contact.Outcome.PROMISED,
        by=None,
        at=_at(call_day, 10),
        promise_date=promise_day,
        promise_amount=Decimal("100.00"),
    )
    close_through(until=call_day)
    loan_services.repayment_post(
        loan=case.loan,
        amount=Decimal("100.00"),
        reference="承诺还款",
        by=staff.finance,
        on=promise_day,
    )

    close_through(until=promise_day + timedelta(days=1))

    assert Contact.objects.get(case=case).promise == Contact.Promise.KEPT


def test_a_promise_needs_a_date_and_an_amount(case: CollectionCase) -> None:
    with pytest.raises(ValidationError) as refused:
        services.contact_record(
            case=case,
            channel=Contact.Channel.CALL,
            outcome=Contact.Outcome.PROMISED,
            by=None,
            at=_at(CASE_DAY + timedelta(days=1), 10),
            promise_amount=Decimal("-5"),
        )

    assert set(refused.value.message_dict) == {"promise_date", "promise_amount"}


def test_a_closed_case_takes_no_contact(case: CollectionCase) -> None:
    CollectionCase.objects.filter(pk=case.pk).update(status="resolved")
    case.refresh_from_db()
    services.case_close(
        case=case, review="短期周转困难，已结清。", by=None, on=CASE_DAY
    )

    with pytest.raises(ValidationError) as refused:
        _call(case, _at(CASE_DAY + timedelta(days=1), 10))

    assert "case" in refused.value.message_dict
    assert timezone.is_aware(_at(CASE_DAY, 1))

"""Hardship plans: asked for by the borrower or staff, decided by someone
else, approval restructures the loan back to active within the policy cap."""

from datetime import date, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from collection import services
from collection.models import (
    Cause,
    CollectionCase,
    EscalationPolicy,
    HardshipRequest,
    Message,
)
from loans.close import close_through
from loans.models import Loan
from tests.loans.factories import Staff, active_loan

pytestmark = pytest.mark.django_db

FIRST_DUE = date(2026, 2, 15)
OVERDUE_DAY = FIRST_DUE + timedelta(days=10)


@pytest.fixture
def staff() -> Staff:
    return Staff()


@pytest.fixture
def overdue(staff: Staff) -> Loan:
    loan = active_loan(staff=staff)
    close_through(until=OVERDUE_DAY)
    loan.refresh_from_db()
    assert loan.state == Loan.State.OVERDUE
    return loan


def _ask(loan: Loan, by: object = None, installments: int = 6) -> HardshipRequest:
    return services.hardship_request(
        loan=loan,
        cause=Cause.ACCIDENT_ILLNESS,
        installments=installments,
        note="住院两周，收入中断。",
        by=by,  # type: ignore[arg-type]
        on=OVERDUE_DAY,
    )


def test_an_approved_plan_restructures_the_loan_back_to_active(
    staff: Staff, overdue: Loan
) -> None:
    request = _ask(overdue, by=overdue.member.user)

    services.hardship_approve(request=request, by=staff.risk, on=OVERDUE_DAY)

    overdue.refresh_from_db()
    request.refresh_from_db()
    assert request.status == HardshipRequest.Status.APPROVED
    assert request.decided_by == staff.risk
    assert overdue.state == Loan.State.ACTIVE
    assert overdue.restructure_count == 1
    assert overdue.transitions.filter(target=Loan.State.ACTIVE).last() is not None
    assert (
        overdue.installments.filter(superseded=False, paid_on__isnull=True).count() == 6
    )
    case = CollectionCase.objects.get(loan=overdue)
    assert case.status == CollectionCase.Status.RESOLVED
    decision = Message.objects.get(loan=overdue, purpose="hardship_decision")
    assert decision.channel == Message.Channel.INBOX


def test_the_close_after_a_plan_does_not_age_the_loan(
    staff: Staff, overdue: Loan
) -> None:
    services.hardship_approve(request=_ask(overdue), by=staff.risk, on=OVERDUE_DAY)

    close_through(until=OVERDUE_DAY + timedelta(days=5))

    overdue.refresh_from_db()
    assert overdue.state == Loan.State.ACTIVE
    assert overdue.days_past_due == 0


def test_nobody_decides_a_request_they_made(staff: Staff, overdue: Loan) -> None:
    request = _ask(overdue, by=staff.risk)

    with pytest.raises(PermissionDenied):
        services.hardship_approve(request=request, by=staff.risk, on=OVERDUE_DAY)
    with pytest.raises(PermissionDenied):
        services.hardship_refuse(
            request=request, by=staff.risk, on=OVERDUE_DAY, reason="不符合条件"
        )


def test_refusing_needs_a_reason_and_tells_the_borrower(
    staff: Staff, overdue: Loan
) -> None:
    request = _ask(overdue)

    with pytest.raises(ValidationError) as refused:
        services.hardship_refuse(
            request=request, by=staff.risk, on=OVERDUE_DAY, reason=" "
        )
    assert "reason" in refused.value.message_dict

    services.hardship_refuse(
        request=request, by=staff.risk, on=OVERDUE_DAY, reason="收入证明不足"
    )
    request.refresh_from_db()
    assert request.status == HardshipRequest.Status.REFUSED
    overdue.refresh_from_db()
    assert overdue.state == Loan.State.OVERDUE
    assert Message.objects.filter(loan=overdue, purpose="hardship_decision").exists()


def test_a_decided_request_cannot_be_decided_again(staff: Staff, overdue: Loan) -> None:
    request = _ask(overdue)
    services.hardship_refuse(
        request=request, by=staff.risk, on=OVERDUE_DAY, reason="否"
    )

    with pytest.raises(ValidationError) as refused:
        services.hardship_approve(request=request, by=staff.risk, on=OVERDUE_DAY)

    assert "status" in refused.value.message_dict


def test_only_three_six_or_twelve_installments_and_a_known_cause(
    overdue: Loan,
) -> None:
    with pytest.raises(ValidationError) as refused:
        services.hardship_request(
            loan=overdue,
            cause="bored",
            installments=4,
            note="",
            by=None,
            on=OVERDUE_DAY,
        )

    assert set(refused.value.message_dict) == {"cause", "installments"}


def test_one_pending_request_per_loan(overdue: Loan) -> None:
    _ask(overdue)

    with pytest.raises(ValidationError) as refused:
        _ask(overdue)

    assert "loan" in refused.value.message_dict


def test_the_policy_caps_restructures_per_loan(staff: Staff, overdue: Loan) -> None:
    policy = EscalationPolicy.current()
    assert policy.max_restructures == 1
    services.hardship_approve(request=_ask(overdue), by=staff.risk, on=OVERDUE_DAY)
    overdue.refresh_from_db()

    with pytest.raises(ValidationError) as refused:
        _ask(overdue)

    assert list(refused.value.message_dict) == ["loan"]


def test_a_blacklisted_loan_cannot_be_restructured(staff: Staff) -> None:
    loan = active_loan(staff=staff)
    close_through(until=FIRST_DUE + timedelta(days=91))
    loan.refresh_from_db()

    with pytest.raises(ValidationError) as refused:
        _ask(loan)

    assert "loan" in refused.value.message_dict

import logging
from datetime import date
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from config.logging import RedactPersonalData, redact
from loans import services
from loans.close import close_through
from tests.factories import national_id
from tests.loans.factories import Staff, active_loan, borrower


def test_a_national_id_in_a_log_line_is_masked() -> None:
    value = national_id()

    assert redact(f"GET /admin/?q={value}") == (
        f"GET /admin/?q={value[:6]}********{value[-4:]}"
    )


def test_a_mobile_number_in_a_log_line_is_masked() -> None:
    assert redact("q=+8613912345678&x=1") == "q=+86139****5678&x=1"


def test_ids_and_amounts_that_are_not_personal_numbers_pass_unchanged() -> None:
    line = "Member 1234: loan 20261203 of 5000.00 posted, trace 123456789012345"

    assert redact(line) == line


def test_the_filter_masks_numbers_passed_as_arguments(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = logging.getLogger("tests.redaction")
    logger.addFilter(RedactPersonalData())

    with caplog.at_level(logging.INFO, logger="tests.redaction"):
        logger.info("search for %s", "13912345678")

    assert caplog.messages == ["search for 139****5678"]


@pytest.mark.django_db
def test_the_main_flows_never_log_a_national_id_or_phone_number(
    caplog: pytest.LogCaptureFixture, client: Client
) -> None:
    """Records are read before any handler's redaction: the code itself
    must never put the numbers in a log line."""
    with caplog.at_level(logging.DEBUG):
        staff = Staff()
        member = borrower()
        numbers = [member.national_id, member.phone]
        client.post(
            reverse("pages:login"), {"username": member.phone, "password": "nope"}
        )
        client.post(
            reverse("pages:login"),
            {"username": member.phone, "password": "borrower-pass-2026"},
        )
        client.get(reverse("pages:home"))
        loan = active_loan(staff=staff, member=member)
        close_through(until=date(2026, 3, 20))
        loan.refresh_from_db()
        services.repayment_post(
            loan=loan,
            amount=Decimal("50.00"),
            reference="pay-1",
            by=None,
            on=date(2026, 3, 21),
        )
        close_through(until=date(2026, 6, 30))
        loan.refresh_from_db()
        services.loan_write_off_request(loan=loan, by=staff.risk, reason="gone")
        services.loan_write_off_approve(
            loan=loan, by=staff.finance, on=date(2026, 7, 1)
        )

    assert len(caplog.records) > 50
    text = "\n".join(
        f"{record.getMessage()} {record.args!r}" for record in caplog.records
    )
    for number in numbers:
        assert number not in text
        assert number[-8:] not in text

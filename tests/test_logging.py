import logging

import pytest

from config.logging import RedactPersonalData, redact
from tests.factories import national_id


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

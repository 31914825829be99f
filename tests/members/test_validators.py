"""National ID numbers (GB 11643) and mainland mobile numbers."""

from datetime import date

import pytest
from django.core.exceptions import ValidationError

from members.validators import (
    national_id_birth_date,
    national_id_check_character,
    normalise_mobile,
    validate_national_id,
)

TODAY = date(2026, 3, 1)


def _with_check(first_17: str) -> str:
    return first_17 + national_id_check_character(first_17)


def _national_id_error(value: str, *, today: date = TODAY) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        validate_national_id(value, today=today)
    return caught.value


def _mobile_error(value: str) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        normalise_mobile(value)
    return caught.value


# Examples published with GB 11643-1999 and repeated in every reference.
def test_published_national_id_ending_in_x_is_accepted_unchanged() -> None:
    assert validate_national_id("11010519491231002X", today=TODAY) == (
        "11010519491231002X"
    )


def test_valid_national_id_ending_in_a_digit_is_accepted_unchanged() -> None:
    value = _with_check("44030419851231005")
    assert value[-1].isdigit()
    assert validate_national_id(value, today=TODAY) == value


def test_published_example_born_in_1880_is_refused_for_its_birth_year() -> None:
    # 440524188001010014 has a correct check digit; only its year is refused.
    assert national_id_check_character("44052418800101001") == "4"
    assert _national_id_error("440524188001010014").code == "birth_date"


def test_check_character_follows_the_gb_11643_weights() -> None:
    assert national_id_check_character("11010519491231002") == "X"
    assert national_id_check_character("44052418800101001") == "4"


def test_lowercase_x_is_normalised_to_uppercase() -> None:
    assert validate_national_id("11010519491231002x", today=TODAY) == (
        "11010519491231002X"
    )


def test_surrounding_whitespace_is_removed() -> None:
    assert validate_national_id(" 11010519491231002x\n", today=TODAY) == (
        "11010519491231002X"
    )


@pytest.mark.parametrize(
    "value",
    [
        "110105194912310020",  # X replaced by 0
        "110105194912310029",
        "440304198512310027",  # correct check character is X
        "110105199005170012",  # correct check character is 1
    ],
)
def test_wrong_check_digit_is_refused_with_the_checksum_code(value: str) -> None:
    assert _national_id_error(value).code == "checksum"


def test_a_single_changed_digit_breaks_the_checksum() -> None:
    # Swapping the sequence digits keeps the shape and date but not the sum.
    assert _national_id_error("11010519491231020X").code == "checksum"


@pytest.mark.parametrize(
    "value",
    [
        "",
        "11010519491231002",  # 17 characters
        "11010519491231002X1",  # 19 characters
        "1101051949123100XX",  # X before the last place
        "11010519491231002Y",
        "A1010519491231002X",
        "11010519491231٠٠2X",  # Arabic-Indic digits
    ],
)
def test_anything_but_17_digits_and_a_digit_or_x_is_refused_by_shape(
    value: str,
) -> None:
    assert _national_id_error(value).code == "shape"


@pytest.mark.parametrize("region", ["00", "10", "19", "20", "99", "72", "80"])
def test_unknown_province_code_is_refused_with_the_region_code(region: str) -> None:
    value = _with_check(f"{region}010519900517001")
    assert _national_id_error(value).code == "region"


@pytest.mark.parametrize("region", ["11", "44", "65", "71", "81", "82", "91"])
def test_every_kind_of_listed_province_code_is_accepted(region: str) -> None:
    value = _with_check(f"{region}010519900517001")
    assert validate_national_id(value, today=TODAY) == value


@pytest.mark.parametrize(
    "birth",
    [
        "19900230",  # 30 February
        "19900431",  # 31 April
        "19901301",  # month 13
        "19900001",  # month 0
        "19900100",  # day 0
        "20230229",  # not a leap year
    ],
)
def test_impossible_birth_date_is_refused_with_the_birth_date_code(
    birth: str,
) -> None:
    value = _with_check(f"110105{birth}001")
    assert national_id_birth_date(value) is None
    assert _national_id_error(value).code == "birth_date"


def test_leap_day_birth_date_is_accepted() -> None:
    value = _with_check("11010520000229001")
    assert validate_national_id(value, today=TODAY) == value
    assert national_id_birth_date(value) == date(2000, 2, 29)


def test_birth_date_after_the_given_today_is_refused() -> None:
    value = _with_check("11010520260302001")
    assert _national_id_error(value, today=date(2026, 3, 1)).code == "birth_date"


def test_birth_date_is_judged_against_the_today_argument_not_the_clock() -> None:
    value = _with_check("11010520260302001")
    assert validate_national_id(value, today=date(2026, 3, 2)) == value
    assert _national_id_error(value, today=date(2026, 3, 1)).code == "birth_date"


def test_birth_year_before_1900_is_refused() -> None:
    value = _with_check("11010518991231001")
    assert _national_id_error(value).code == "birth_date"


def test_birth_in_1900_is_accepted() -> None:
    value = _with_check("11010519000101001")
    assert validate_national_id(value, today=TODAY) == value


@pytest.mark.parametrize(
    ("typed", "normalised"),
    [
        ("13912345678", "13912345678"),
        ("+8613912345678", "13912345678"),
        ("+86 139 1234 5678", "13912345678"),
        ("008613912345678", "13912345678"),
        ("0086-139-1234-5678", "13912345678"),
        ("8613912345678", "13912345678"),
        ("139-1234-5678", "13912345678"),
        (" 139 1234 5678 ", "13912345678"),
        ("(+86) 139 1234 5678", "13912345678"),
        ("19912345678", "19912345678"),
    ],
)
def test_mobile_number_is_normalised_to_11_digits(typed: str, normalised: str) -> None:
    assert normalise_mobile(typed) == normalised


@pytest.mark.parametrize(
    "value",
    [
        "010-12345678",  # Beijing landline
        "01012345678",
        "0755-88888888",  # Shenzhen landline
        "+86 10 1234 5678",
        "88888888",
    ],
)
def test_landline_numbers_are_refused(value: str) -> None:
    assert _mobile_error(value).code == "mobile"


@pytest.mark.parametrize(
    "value",
    [
        "1391234567",  # 10 digits
        "139123456789",  # 12 digits
        "+86 139123456789",
        "86139123456",  # 11 digits starting 86 is not a prefixed number
    ],
)
def test_numbers_of_the_wrong_length_are_refused(value: str) -> None:
    assert _mobile_error(value).code == "mobile"


@pytest.mark.parametrize("value", ["12345678901", "+86 120 1234 5678", "11012345678"])
def test_numbers_starting_10_11_or_12_are_refused(value: str) -> None:
    assert _mobile_error(value).code == "mobile"


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "139abcd5678",
        "139.1234.5678",
    ],
)
def test_empty_or_non_digit_mobile_input_is_refused(value: str) -> None:
    assert _mobile_error(value).code == "mobile"


@pytest.mark.parametrize(
    "typed",
    [
        "110105 19491231 002X",  # grouped with spaces
        "１１０１０５１９４９１２３１００２Ｘ",  # full-width, as Chinese IMEs type
        "110105\u300019491231002x",  # ideographic space, lowercase x
    ],
)
def test_national_id_typed_with_spaces_or_full_width_is_normalised(typed: str) -> None:
    assert validate_national_id(typed, today=TODAY) == "11010519491231002X"


def test_full_width_mobile_digits_are_normalised() -> None:
    assert normalise_mobile("＋８６ １３９１２３４５６７８") == "13912345678"

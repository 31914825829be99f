"""Checks of the identity data members give us, with messages they can act on.

Each check returns the normalised value or raises `ValidationError`. Callers
attach the error to the field it concerns.
"""

import re
import unicodedata
from datetime import date

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

# GB 11643-1999: weights of the first 17 digits, and the check character for
# each remainder of the weighted sum modulo 11.
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARACTERS = "10X98765432"

# Province-level codes that open a resident identity number.
_PROVINCES = frozenset(
    {
        *("11", "12", "13", "14", "15"),
        *("21", "22", "23"),
        *("31", "32", "33", "34", "35", "36", "37"),
        *("41", "42", "43", "44", "45", "46"),
        *("50", "51", "52", "53", "54"),
        *("61", "62", "63", "64", "65"),
        *("71", "81", "82", "83", "91"),
    }
)

# ASCII only: `\d` alone also matches full-width and other Unicode digits,
# which would be stored as typed and slip past the duplicate checks.
_NATIONAL_ID_SHAPE = re.compile(r"^\d{17}[\dX]$", re.ASCII)
_MOBILE_SHAPE = re.compile(r"^1[3-9]\d{9}$", re.ASCII)
_OLDEST_BIRTH_YEAR = 1900


def national_id_check_character(first_17: str) -> str:
    total = sum(
        int(digit) * weight for digit, weight in zip(first_17, _WEIGHTS, strict=True)
    )
    return _CHECK_CHARACTERS[total % 11]


def national_id_birth_date(value: str) -> date | None:
    try:
        return date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return None


def _typed(value: str) -> str:
    """What the user meant: full-width characters from Chinese input methods
    become ASCII, and spaces typed to group the digits are dropped."""
    return re.sub(r"\s", "", unicodedata.normalize("NFKC", value))


def validate_national_id(value: str, *, today: date) -> str:
    """Normalise and check an 18-character resident identity number."""
    normalised = _typed(value).upper()
    if not _NATIONAL_ID_SHAPE.match(normalised):
        raise ValidationError(
            _("A national ID number has 18 characters: 17 digits, then a digit or X."),
            code="shape",
        )
    if normalised[:2] not in _PROVINCES:
        raise ValidationError(
            _("This national ID number does not start with a valid region code."),
            code="region",
        )
    born = national_id_birth_date(normalised)
    if born is None or born.year < _OLDEST_BIRTH_YEAR or born > today:
        raise ValidationError(
            _("This national ID number does not contain a real date of birth."),
            code="birth_date",
        )
    if national_id_check_character(normalised[:17]) != normalised[17]:
        raise ValidationError(
            _("This national ID number's check digit is wrong; please re-check it."),
            code="checksum",
        )
    return normalised


def normalise_mobile(value: str) -> str:
    """Normalise and check a mainland China mobile number (11 digits)."""
    digits = re.sub(r"[\-()]", "", _typed(value))
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    elif len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    if not _MOBILE_SHAPE.match(digits):
        raise ValidationError(
            _("Enter a mainland China mobile number of 11 digits starting with 1."),
            code="mobile",
        )
    return digits

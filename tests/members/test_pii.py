"""Encryption, keyed hashes and masks of national ID and phone numbers."""

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.db import connection
from django.test import override_settings

from members import pii, services
from members.models import EmergencyContact, Member
from tests.factories import MemberFactory, mobile, national_id

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()


@pytest.fixture(autouse=True)
def _fresh_fernet() -> Iterator[None]:
    """`_fernet` is cached; every key change here must start and end clean."""
    pii._fernet.cache_clear()
    yield
    pii._fernet.cache_clear()


def test_national_id_mask_shows_the_first_6_and_last_4_characters() -> None:
    assert pii.mask_national_id("11010519491231002X") == "110105********002X"


def test_national_id_mask_keeps_the_length_of_the_number() -> None:
    masked = pii.mask_national_id("11010519491231002X")
    assert len(masked) == 18
    assert "19491231" not in masked


def test_phone_mask_shows_the_first_3_and_last_4_digits() -> None:
    assert pii.mask_phone("13912345678") == "139****5678"


def test_encrypt_then_decrypt_gives_back_the_value() -> None:
    token = pii.encrypt("11010519491231002X")
    assert pii.decrypt(token) == "11010519491231002X"


def test_ciphertext_does_not_contain_the_plain_value() -> None:
    for value in ("11010519491231002X", "13912345678"):
        token = pii.encrypt(value)
        assert value not in token


def test_encrypting_the_same_value_twice_gives_different_tokens() -> None:
    # Fernet is randomised: equal ciphertexts would leak equal numbers.
    assert pii.encrypt("13912345678") != pii.encrypt("13912345678")


def test_digest_is_stable_for_the_same_kind_and_value() -> None:
    assert pii.digest("phone", "13912345678") == pii.digest("phone", "13912345678")


def test_digest_separates_kinds_of_value() -> None:
    assert pii.digest("phone", "13912345678") != pii.digest(
        "national_id", "13912345678"
    )


def test_digest_is_not_a_plain_hash_of_the_value() -> None:
    plain = hashlib.sha256(b"phone:13912345678").hexdigest()
    assert pii.digest("phone", "13912345678") != plain


def test_digest_changes_when_the_hash_key_changes() -> None:
    with override_settings(PII_HASH_KEY="first-key"):
        first = pii.digest("phone", "13912345678")
    with override_settings(PII_HASH_KEY="second-key"):
        second = pii.digest("phone", "13912345678")
    assert first != second


def test_token_from_another_key_cannot_be_decrypted() -> None:
    with override_settings(PII_ENCRYPTION_KEYS=[OLD_KEY]):
        token = pii.encrypt("13912345678")
    pii._fernet.cache_clear()
    with override_settings(PII_ENCRYPTION_KEYS=[NEW_KEY]), pytest.raises(InvalidToken):
        pii.decrypt(token)


def test_rotated_keys_still_decrypt_values_written_with_the_old_key() -> None:
    with override_settings(PII_ENCRYPTION_KEYS=[OLD_KEY]):
        old_token = pii.encrypt("11010519491231002X")
    pii._fernet.cache_clear()
    with override_settings(PII_ENCRYPTION_KEYS=[NEW_KEY, OLD_KEY]):
        assert pii.decrypt(old_token) == "11010519491231002X"
        new_token = pii.encrypt("11010519491231002X")
    # New values are written with the first key: the old key alone fails.
    pii._fernet.cache_clear()
    with override_settings(PII_ENCRYPTION_KEYS=[OLD_KEY]), pytest.raises(InvalidToken):
        pii.decrypt(new_token)


@pytest.mark.django_db
def test_members_registered_under_the_old_key_are_readable_after_rotation() -> None:
    with override_settings(PII_ENCRYPTION_KEYS=[OLD_KEY]):
        number, phone = national_id(), mobile()
        member = MemberFactory(national_id=number, phone=phone)
    pii._fernet.cache_clear()
    with override_settings(PII_ENCRYPTION_KEYS=[NEW_KEY, OLD_KEY]):
        stored = Member.objects.get(pk=member.pk)
        assert stored.national_id == number
        assert stored.phone == phone


@pytest.mark.django_db
def test_member_row_never_holds_the_plain_national_id_or_phone() -> None:
    number, phone = "11010519491231002X", "13912345678"
    member = MemberFactory(national_id=number.lower(), phone=f"+86 {phone}")

    row = Member.objects.filter(pk=member.pk).values().get()
    for column, value in row.items():
        assert number not in str(value), column
        assert number.lower() not in str(value), column
        assert phone not in str(value), column
    assert row["national_id_masked"] == "110105********002X"
    assert row["phone_masked"] == "139****5678"
    assert row["national_id_digest"] == pii.digest("national_id", number)
    assert row["phone_digest"] == pii.digest("phone", phone)


@pytest.mark.django_db
def test_raw_member_table_holds_no_plain_number_in_any_column() -> None:
    number, phone = "11010519491231002X", "13912345678"
    member = MemberFactory(national_id=number, phone=phone)

    table = connection.ops.quote_name(Member._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT * FROM {table} WHERE id = %s",  # noqa: S608
            [member.pk],
        )
        row = cursor.fetchone()
    assert row is not None
    assert not [cell for cell in row if number in str(cell) or phone in str(cell)]


@pytest.mark.django_db
def test_member_reads_its_numbers_back_decrypted() -> None:
    member = MemberFactory(national_id="11010519491231002x", phone="0086 13912345678")
    stored = Member.objects.get(pk=member.pk)
    assert stored.national_id == "11010519491231002X"
    assert stored.phone == "13912345678"


@pytest.mark.django_db
def test_emergency_contact_row_never_holds_the_plain_phone() -> None:
    member = MemberFactory()
    contact = services.emergency_contact_add(
        member=member,
        name="张三",
        relationship=EmergencyContact.Relationship.SPOUSE,
        phone="13800001111",
        consented_at=datetime(2026, 2, 1, 9, 0, tzinfo=UTC),
        consent_evidence="签字表 2026-001",
    )

    row = EmergencyContact.objects.filter(pk=contact.pk).values().get()
    assert not [key for key, value in row.items() if "13800001111" in str(value)]
    assert row["phone_masked"] == "138****1111"
    assert EmergencyContact.objects.get(pk=contact.pk).phone == "13800001111"

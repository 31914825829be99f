"""Protection of personal data: encryption, keyed hashes and masks.

National ID numbers and phone numbers are stored three ways: encrypted (to
read them back when the law or the member needs it), as a keyed hash (to
find duplicates and look members up without decrypting), and masked (to show
and search on screens). The plain value is never stored and never logged.
"""

import hashlib
import hmac
from functools import cache

from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings


@cache
def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(key) for key in settings.PII_ENCRYPTION_KEYS])


def encrypt(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    return _fernet().decrypt(token.encode()).decode()


def digest(kind: str, value: str) -> str:
    """A keyed hash of a normalised value; `kind` keeps namespaces apart."""
    message = f"{kind}:{value}".encode()
    key = settings.PII_HASH_KEY.encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def mask_national_id(value: str) -> str:
    """First 6 and last 4 characters visible: 110105********123X."""
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def mask_phone(value: str) -> str:
    """First 3 and last 4 digits visible: 138****5678."""
    return value[:3] + "****" + value[-4:]

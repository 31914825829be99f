"""Fixtures for every risk test."""

from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import translation


@pytest.fixture(autouse=True)
def _english(settings: Any) -> Iterator[None]:
    """Pages, errors and subjects in English, so assertions read the source
    strings; the Chinese catalogue is checked by tests/test_translations.py."""
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield

"""The committed OpenAPI schema is the one the code generates."""

from io import StringIO
from pathlib import Path

from django.conf import settings
from django.core.management import call_command

COMMITTED = Path(settings.BASE_DIR) / "docs" / "openapi.yaml"


def test_the_committed_schema_matches_the_code() -> None:
    generated = StringIO()

    call_command("spectacular", "--lang", "en", "--validate", stdout=generated)

    assert COMMITTED.read_text() == generated.getvalue(), (
        "docs/openapi.yaml is out of date: run `make schema` and commit it."
    )

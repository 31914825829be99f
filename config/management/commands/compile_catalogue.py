"""Compiles the translation catalogues (.po to .mo) without GNU gettext.

Django's own `compilemessages` needs the `msgfmt` program, which a fresh
machine may lack; polib does the same job in Python.
"""

from pathlib import Path
from typing import Any

import polib
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Compile every locale/*/LC_MESSAGES/*.po file into its .mo file."

    def handle(self, *args: Any, **options: Any) -> None:
        catalogues = [
            po
            for locale_dir in settings.LOCALE_PATHS
            for po in sorted(Path(locale_dir).glob("*/LC_MESSAGES/*.po"))
        ]
        if not catalogues:
            raise CommandError("No translation catalogues found in LOCALE_PATHS.")
        for po_path in catalogues:
            catalogue = polib.pofile(str(po_path))
            catalogue.save_as_mofile(str(po_path.with_suffix(".mo")))
            self.stdout.write(
                f"{po_path}: {catalogue.percent_translated()}% translated"
            )

from pathlib import Path

import polib
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext

CATALOGUE = Path(settings.BASE_DIR) / "locale/zh_Hans/LC_MESSAGES/django.po"


def test_every_string_of_the_chinese_catalogue_is_translated() -> None:
    catalogue = polib.pofile(str(CATALOGUE))

    untranslated = [entry.msgid for entry in catalogue.untranslated_entries()]
    fuzzy = [entry.msgid for entry in catalogue.fuzzy_entries()]

    assert untranslated == []
    assert fuzzy == []


def test_the_compiled_catalogue_is_what_django_serves() -> None:
    with translation.override("zh-hans"):
        assert gettext("Sign in") == "登录"
    with translation.override("en"):
        assert gettext("Sign in") == "Sign in"

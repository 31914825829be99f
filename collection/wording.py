"""The words of messages: which placeholders each purpose may use, the
checks a template passes before it is saved, and rendering.

Templates use `${name}` placeholders (`string.Template`), so staff-edited
text can reach nothing but the figures offered here.
"""

import re
from string import Template

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from collection.models import COLLECTION_PURPOSES, THIRD_PARTY_PURPOSES, Purpose

# Figures of the debt, which a third party is never told.
DEBT_FIELDS = {"amount_due", "overdue_amount", "days_past_due", "due_date", "loan"}
BORROWER_FIELDS = {
    "name",
    "branch",
    "loan",
    "due_date",
    "amount_due",
    "overdue_amount",
    "days_past_due",
    "grace_days_left",
    "hardship_link",
    "hotline",
}
THIRD_PARTY_FIELDS = {"name", "branch", "hotline"}
DECISION_FIELDS = {"name", "loan", "decision", "hotline"}

# Words a collection message may never use: threats, and authorities that
# play no part in civil debt collection. Courts may be named only in the
# formal notice, where a legal referral is a real next step.
FORBIDDEN = [
    "公安",
    "警察",
    "派出所",
    "拘留",
    "坐牢",
    "判刑",
    "犯罪",
    "曝光",
    "通讯录",
    "police",
    "arrest",
    "jail",
    "prison",
    "criminal",
    "expose",
]
COURT_WORDS = ["法院", "起诉", "court", "sue"]
COURT_ALLOWED = {Purpose.LATE}

_PLACEHOLDER = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")


def fields_for(purpose: str) -> set[str]:
    if purpose in THIRD_PARTY_PURPOSES:
        return THIRD_PARTY_FIELDS
    if purpose == Purpose.HARDSHIP_DECISION:
        return DECISION_FIELDS
    return BORROWER_FIELDS


def template_check(*, purpose: str, body: str) -> None:
    """Refuse a template that uses unknown figures, tells a third party the
    debt, or threatens."""
    used = set(_PLACEHOLDER.findall(body))
    unknown = used - fields_for(purpose)
    if purpose in THIRD_PARTY_PURPOSES and used & DEBT_FIELDS:
        raise ValidationError(
            {"body": _("A message to a third party may not state the debt.")}
        )
    if unknown:
        raise ValidationError(
            {
                "body": _("Unknown placeholders: %(names)s. Allowed: %(allowed)s.")
                % {
                    "names": ", ".join(sorted(unknown)),
                    "allowed": ", ".join(sorted(fields_for(purpose))),
                }
            }
        )
    if purpose not in COLLECTION_PURPOSES:
        return
    lowered = body.lower()
    words = FORBIDDEN + ([] if purpose in COURT_ALLOWED else COURT_WORDS)
    found = [word for word in words if word in lowered]
    if found:
        raise ValidationError(
            {
                "body": _("A collection message may not say: %(words)s.")
                % {"words": ", ".join(found)}
            }
        )


def render(body: str, figures: dict[str, str]) -> str:
    return Template(body).safe_substitute(figures)

"""Business events other systems may follow, and the one way to emit them.

Services of every app call `events_emit` inside the transaction of the change
they report. It hands the events to the functions named in
`settings.EVENT_FOLLOWERS` (the integrations app records webhook deliveries
there), so a higher app hears of a lower one's changes without the lower app
importing it. It lives here, in the lowest app, so every app can call it.
"""

from collections.abc import Sequence
from datetime import date
from typing import Any

from django.conf import settings
from django.db import models
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _

Payload = dict[str, Any]


class EventKind(models.TextChoices):
    LOAN_STATE_CHANGED = "loan.state_changed", _("Loan state changed")
    REPAYMENT_POSTED = "repayment.posted", _("Repayment posted")
    COLLECTION_STAGE_CHANGED = (
        "collection.stage_changed",
        _("Collection stage changed"),
    )
    MEMBER_BLACKLISTED = "member.blacklisted", _("Member blacklisted")
    MEMBER_BLACKLIST_LIFTED = "member.blacklist_lifted", _("Member's blacklist lifted")


def events_emit(*, kind: EventKind, payloads: Sequence[Payload], on: date) -> None:
    """Report events of one kind, one payload each, on business date `on`.

    Payloads hold ids, states, amounts as strings and ISO dates: what a
    partner may see, never a national ID or a phone number.
    """
    if not payloads:
        return
    for follower in settings.EVENT_FOLLOWERS:
        import_string(follower)(kind=kind, payloads=list(payloads), on=on)


def event_emit(*, kind: EventKind, payload: Payload, on: date) -> None:
    events_emit(kind=kind, payloads=[payload], on=on)

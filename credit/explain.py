"""A score's main reasons in plain words, for the borrower and for staff.

Each rule reads the inputs stored with a score and, where they say
something worth telling, gives one sentence and whether it helps or hurts.
Hurting reasons come first; the borrower sees the first few.
"""

from dataclasses import dataclass
from decimal import Decimal

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from credit.models import CreditScore, Input


@dataclass(frozen=True)
class Reason:
    text: str
    helps: bool


def _inputs(credit_score: CreditScore) -> dict[str, Decimal | None]:
    values: dict[str, Decimal | None] = {}
    for factor in credit_score.factors:
        for name, value in factor["inputs"].items():
            values[name] = None if value is None else Decimal(value)
    return values


def _percent(ratio: Decimal) -> int:
    return int((ratio * 100).to_integral_value())


def score_reasons(credit_score: CreditScore, *, most: int = 3) -> list[Reason]:
    values = _inputs(credit_score)
    reasons: list[Reason] = []

    def say(text: str, *, helps: bool) -> None:
        reasons.append(Reason(text, helps))

    late = values.get(Input.LATE_INSTALLMENTS)
    if late:
        count = int(late)
        say(
            ngettext(
                "%(count)d installment paid late this year.",
                "%(count)d installments paid late this year.",
                count,
            )
            % {"count": count},
            helps=False,
        )
    worst = values.get(Input.WORST_DAYS_PAST_DUE)
    if worst and worst >= 8:
        say(
            _("Your longest delay this year was %(days)d days.") % {"days": int(worst)},
            helps=False,
        )
    outside = values.get(Input.BUREAU_OVERDUE_COUNT)
    if outside:
        count = int(outside)
        say(
            ngettext(
                "Other lenders report %(count)d overdue debt.",
                "Other lenders report %(count)d overdue debts.",
                count,
            )
            % {"count": count},
            helps=False,
        )
    if values.get(Input.TIE_DEFAULTS):
        say(_("A member tied to you by a guarantee has defaulted."), helps=False)
    branch = values.get(Input.BRANCH_OVERDUE_SHARE)
    if branch is not None and branch >= Decimal("0.05"):
        say(_("Overdue loans in your branch lower everyone's score."), helps=False)
    use = values.get(Input.UTILISATION)
    if use is not None and use >= Decimal("0.5"):
        say(
            _("You are using %(percent)d%% of your limit.")
            % {"percent": _percent(use)},
            helps=False,
        )
    inquiries = values.get(Input.INQUIRIES_90D)
    if inquiries is not None and inquiries >= 3:
        say(
            _("%(count)d credit inquiries in the last 90 days.")
            % {"count": int(inquiries)},
            helps=False,
        )
    tenure = values.get(Input.TENURE_MONTHS)
    if tenure is not None and tenure < 12:
        say(
            _("You joined your branch %(months)d months ago; a year counts more.")
            % {"months": int(tenure)},
            helps=False,
        )
    repaid = values.get(Input.LOANS_REPAID)
    if repaid:
        count = int(repaid)
        say(
            ngettext(
                "You have repaid %(count)d loan.",
                "You have repaid %(count)d loans.",
                count,
            )
            % {"count": count},
            helps=True,
        )
    on_time = values.get(Input.ON_TIME_SHARE)
    if on_time is None:
        say(_("You have no repayment record with us yet."), helps=True)
    elif on_time >= Decimal("0.95"):
        say(_("You pay your installments on time."), helps=True)
    if outside == 0:
        say(_("Other lenders report no overdue debts."), helps=True)

    reasons.sort(key=lambda reason: reason.helps)
    return reasons[:most]

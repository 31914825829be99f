"""What a borrower's loan means on a business date, in plain words.

The loan's installments and approvals are expected prefetched: the list page
shows every loan of the member from one query per relation.
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from loans.models import Approval, Installment, Loan
from loans.selectors import arrears, days_past_due
from portal.formats import local_date, percent

# The colour of a state's badge: how the borrower should feel about it.
TONES = {
    Loan.State.APPLIED: "waiting",
    Loan.State.APPROVED: "waiting",
    Loan.State.ACTIVE: "good",
    Loan.State.GRACE: "warning",
    Loan.State.OVERDUE: "bad",
    Loan.State.BLACKLISTED: "bad",
    Loan.State.WRITTEN_OFF: "bad",
    Loan.State.REPAID: "good",
    Loan.State.REJECTED: "closed",
    Loan.State.CANCELLED: "closed",
}


@dataclass(frozen=True)
class ScheduleRow:
    installment: Installment
    status: str
    label: str

    @property
    def amount(self) -> Decimal:
        i = self.installment
        return i.principal + i.interest + i.penalty

    @property
    def paid(self) -> Decimal:
        i = self.installment
        return i.paid_principal + i.paid_interest + i.paid_penalty


@dataclass(frozen=True)
class LoanStatus:
    loan: Loan
    words: str
    tone: str
    next_due: Installment | None
    late: Decimal
    late_since: date | None
    schedule: list[ScheduleRow]


def schedule_row(installment: Installment, on: date) -> ScheduleRow:
    if installment.total_due == 0:
        return ScheduleRow(installment, "paid", _("Paid"))
    if installment.due_date < on:
        return ScheduleRow(installment, "late", _("Late"))
    if installment.due_date == on:
        return ScheduleRow(installment, "due", _("Due today"))
    if installment.paid_principal or installment.paid_interest:
        return ScheduleRow(installment, "part", _("Partly paid"))
    return ScheduleRow(installment, "upcoming", _("Upcoming"))


def loan_status(loan: Loan, *, on: date) -> LoanStatus:
    installments = sorted(loan.installments.all(), key=lambda i: i.number)
    unpaid = [i for i in installments if i.total_due > 0]
    late_ones = [i for i in unpaid if i.due_date < on]
    coming = [i for i in unpaid if i.due_date >= on]
    late_since = late_ones[0].due_date if late_ones else None
    return LoanStatus(
        loan=loan,
        words=_words(loan, installments, late_since, on),
        tone=TONES.get(Loan.State(loan.state), "closed"),
        next_due=coming[0] if coming else None,
        late=arrears(installments, on),
        late_since=late_since,
        schedule=[schedule_row(i, on) for i in installments],
    )


def _words(
    loan: Loan, installments: list[Installment], late_since: date | None, on: date
) -> str:
    state = loan.state
    if state == Loan.State.APPLIED:
        signed = sum(
            1 for a in loan.approvals.all() if a.decision == Approval.Decision.APPROVED
        )
        return _("Waiting for approval (level %(level)d of %(levels)d).") % {
            "level": min(signed + 1, loan.approvals_required),
            "levels": loan.approvals_required,
        }
    if state == Loan.State.APPROVED:
        return _("Approved. The money will be paid out to you soon.")
    if state in (Loan.State.ACTIVE, Loan.State.GRACE) and late_since is not None:
        # An installment that fell due yesterday is late today, though the
        # night's close has not yet moved the loan into grace.
        return ngettext(
            "Your payment due on %(date)s is late; no penalty during the "
            "%(days)d grace day.",
            "Your payment due on %(date)s is late; no penalty during the "
            "%(days)d grace days.",
            loan.grace_days,
        ) % {"date": local_date(late_since), "days": loan.grace_days}
    if state in (Loan.State.ACTIVE, Loan.State.GRACE):
        return _("On track: nothing is late.")
    if state == Loan.State.OVERDUE:
        days = max(days_past_due(installments, on), loan.days_past_due)
        return ngettext(
            "%(days)d day late; a penalty of %(rate)s a day is added.",
            "%(days)d days late; a penalty of %(rate)s a day is added.",
            days,
        ) % {"days": days, "rate": percent(loan.penalty_daily_rate)}
    if state == Loan.State.BLACKLISTED:
        days = max(days_past_due(installments, on), loan.days_past_due)
        return ngettext(
            "%(days)d day late. The loan is in default and you have been "
            "blacklisted; please repay it in full and talk to your branch.",
            "%(days)d days late. The loan is in default and you have been "
            "blacklisted; please repay it in full and talk to your branch.",
            days,
        ) % {"days": days}
    if state == Loan.State.REPAID:
        return _("Repaid in full on %(date)s. Thank you!") % {
            "date": local_date(loan.closed_on)
        }
    if state == Loan.State.WRITTEN_OFF:
        return _(
            "Written off on %(date)s after a long default. The debt is still "
            "owed; please talk to your branch."
        ) % {"date": local_date(loan.closed_on)}
    if state == Loan.State.REJECTED:
        return _("The application was not approved.")
    return _("The application was cancelled.")

"""Business operations on loans: the only writers of loans' tables.

Keyword-only and atomic. A rule the user can fix raises `ValidationError`
keyed by field; a person not allowed to act (maker-checker) raises
`PermissionDenied`. Money moves post one balanced journal entry each.
"""

import hashlib
import logging
from datetime import date
from decimal import ROUND_DOWN, Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from django_fsm import can_proceed

from config.money import yuan
from config.rows import Columns, row_insert, row_update
from credit import services as credit
from credit.models import CreditProfile
from credit.selectors import open_flags
from loans import ledger, schedule
from loans.models import (
    ZERO,
    Account,
    Approval,
    Installment,
    JournalEntry,
    Loan,
    LoanTransition,
    Product,
    Repayment,
    RepaymentMethod,
    WriteOffRequest,
)
from loans.selectors import arrears, payable
from members.events import EventKind, Payload, event_emit
from members.models import Member
from members.selectors import branches_visible_sql, member_borrowing_blockers

logger = logging.getLogger(__name__)

Actor = User | AnonymousUser | None


class IdempotencyConflict(Exception):
    """The key was used before for a different request."""


def _user(by: Actor) -> User | None:
    return by if isinstance(by, User) else None


def _locked(loan: Loan) -> Loan:
    return Loan.objects.select_for_update().select_related("member").get(pk=loan.pk)


def _move(
    loan: Loan, transition: str, *, on: date, by: Actor, reason: str = ""
) -> None:
    """Run a transition method, save, and record who moved the loan and why."""
    source = loan.state
    getattr(loan, transition)()
    loan.save()
    LoanTransition.objects.create(
        loan=loan, source=source, target=loan.state, on=on, by=_user(by), reason=reason
    )
    event_emit(
        kind=EventKind.LOAN_STATE_CHANGED,
        payload=loan_moved_payload(loan.pk, loan.member_id, source, loan.state),
        on=on,
    )
    logger.info("Loan %s: %s -> %s", loan.pk, source, loan.state)


def loan_moved_payload(
    loan_id: int, member_id: int, source: str, target: str
) -> Payload:
    """What partners are told of a loan's move (loans.cob sends the same)."""
    return {"loan": loan_id, "member": member_id, "from": source, "to": target}


def _refuse_unless(allowed: bool, message: str) -> None:
    if not allowed:
        raise ValidationError(message, code="invalid_state")


# Application and approval ---------------------------------------------------


@transaction.atomic
def loan_apply(
    *,
    member: Member,
    product: Product,
    principal: Decimal,
    term_months: int,
    by: Actor,
    on: date,
) -> Loan:
    """Apply for a loan: checks the product, the member and the limit, and
    holds the amount against the member's available limit."""
    errors: dict[str, str] = {}
    if schedule.fen(principal) != principal:
        errors["principal"] = _("Enter an amount with at most two decimals.")
    if not product.active:
        errors["product"] = _("This product is no longer offered.")
    elif not product.min_amount <= principal <= product.max_amount:
        errors["principal"] = _("Borrow between %(low)s and %(high)s.") % {
            "low": yuan(product.min_amount),
            "high": yuan(product.max_amount),
        }
    if term_months not in product.terms:
        errors["term_months"] = _(
            "Choose one of the terms offered: %(terms)s months."
        ) % {"terms": ", ".join(str(t) for t in sorted(product.terms))}
    if errors:
        raise ValidationError(errors)
    if open_flags(member):
        raise ValidationError(
            _("A bureau check needs a risk officer's review before you can apply."),
            code="open_flag",
        )
    try:
        credit.credit_hold(member=member, amount=principal)
    except ValidationError as error:
        if hasattr(error, "error_dict") and "amount" in error.error_dict:
            raise ValidationError({"principal": error.error_dict["amount"]}) from None
        raise

    loan = Loan.objects.create(
        member=member,
        product=product,
        principal=principal,
        term_months=term_months,
        annual_rate=product.annual_rate,
        repayment_method=product.repayment_method,
        grace_days=product.grace_days,
        penalty_daily_rate=product.penalty_daily_rate,
        blacklist_days=product.blacklist_days,
        cost_cap=product.cost_cap,
        approvals_required=2 if principal > product.second_approval_above else 1,
        applied_on=on,
        applied_by=_user(by),
    )
    LoanTransition.objects.create(
        loan=loan, source="", target=loan.state, on=on, by=_user(by)
    )
    logger.info("Loan %s: applied for by member %s", loan.pk, member.pk)
    return loan


def _check_not_maker(loan: Loan, user: User) -> None:
    if user.pk in (loan.applied_by_id, loan.member.user_id):
        raise PermissionDenied(
            _("Nobody approves a loan they applied for or keyed in.")
        )


def _check_still_eligible(loan: Loan) -> None:
    """What stopped an application stops its approval and its payout too:
    the member may have been blacklisted, frozen or flagged since, or the
    branch paused."""
    member = Member.objects.select_related("branch").get(pk=loan.member_id)
    reasons = member_borrowing_blockers(member)
    profile = CreditProfile.objects.filter(member=member).first()
    if profile is not None and profile.frozen:
        reasons.append(
            _("Borrowing is frozen: %(reason)s") % {"reason": profile.frozen_reason}
        )
    if open_flags(member):
        reasons.append(_("A bureau check needs a risk officer's review."))
    if reasons:
        raise ValidationError(
            [ValidationError(reason, code="cannot_borrow") for reason in reasons]
        )


@transaction.atomic
def loan_approve(*, loan: Loan, by: User, comment: str, on: date) -> Loan:
    """Sign the next approval level; the last level approves the loan."""
    loan = _locked(loan)
    _refuse_unless(
        loan.state == Loan.State.APPLIED, _("Only an application can be approved.")
    )
    _check_not_maker(loan, by)
    _check_still_eligible(loan)
    signed = list(loan.approvals.filter(decision=Approval.Decision.APPROVED))
    if any(approval.by_id == by.pk for approval in signed):
        raise PermissionDenied(_("Each approval level needs a different person."))
    level = len(signed) + 1
    if not by.has_perm(f"loans.approve_level{level}"):
        raise PermissionDenied(
            _("You may not approve at level %(level)d.") % {"level": level}
        )

    Approval.objects.create(
        loan=loan,
        level=level,
        decision=Approval.Decision.APPROVED,
        by=by,
        comment=comment,
    )
    if level >= loan.approvals_required:
        _move(loan, "approve", on=on, by=by, reason=comment)
    logger.info("Loan %s: level %d approved", loan.pk, level)
    return loan


@transaction.atomic
def loan_reject(*, loan: Loan, by: User, reason: str, on: date) -> Loan:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Give the reason for rejecting.")})
    loan = _locked(loan)
    _refuse_unless(
        loan.state == Loan.State.APPLIED, _("Only an application can be rejected.")
    )
    _check_not_maker(loan, by)
    level = loan.approvals.filter(decision=Approval.Decision.APPROVED).count() + 1
    if not by.has_perm(f"loans.approve_level{level}"):
        raise PermissionDenied(
            _("You may not decide at level %(level)d.") % {"level": level}
        )

    Approval.objects.create(
        loan=loan,
        level=level,
        decision=Approval.Decision.REJECTED,
        by=by,
        comment=reason,
    )
    _move(loan, "reject", on=on, by=by, reason=reason)
    credit.credit_release(member=loan.member, amount=loan.principal)
    return loan


@transaction.atomic
def loan_cancel(*, loan: Loan, by: Actor, reason: str, on: date) -> Loan:
    loan = _locked(loan)
    _refuse_unless(
        loan.state in (Loan.State.APPLIED, Loan.State.APPROVED),
        _("Only a loan not yet disbursed can be cancelled."),
    )
    _move(loan, "cancel", on=on, by=by, reason=reason)
    credit.credit_release(member=loan.member, amount=loan.principal)
    return loan


@transaction.atomic
def loan_disburse(*, loan: Loan, by: Actor, on: date) -> Loan:
    """Pay the loan out: the schedule is fixed from today and the ledger posted."""
    loan = _locked(loan)
    _refuse_unless(
        loan.state == Loan.State.APPROVED, _("Only an approved loan can be disbursed.")
    )
    _check_still_eligible(loan)

    lines = schedule.build(
        principal=loan.principal,
        annual_rate=loan.annual_rate,
        months=loan.term_months,
        method=loan.repayment_method,
        start=on,
    )
    Installment.objects.bulk_create(
        Installment(
            loan=loan,
            number=line.number,
            due_date=line.due_date,
            principal=line.principal,
            interest=line.interest,
        )
        for line in lines
    )
    ledger.post(
        ledger.Entry(
            loan.pk, JournalEntry.Kind.DISBURSEMENT, on, f"{loan.pk}:disbursement"
        )
        .debit(Account.PRINCIPAL_RECEIVABLE, loan.principal)
        .credit(Account.CASH, loan.principal)
    )
    loan.disbursed_on = on
    _move(loan, "disburse", on=on, by=by)
    credit.credit_draw(member=loan.member, amount=loan.principal)
    return loan


# Repayment -------------------------------------------------------------------


def _fingerprint(loan: Loan, amount: Decimal, reference: str) -> str:
    # The amount as sent, not rounded: 100.001 is another request than 100.00.
    text = f"{loan.pk}|{amount.normalize()}|{reference}"
    return hashlib.sha256(text.encode()).hexdigest()


def _replay(key: str, fingerprint: str) -> Repayment | None:
    earlier = Repayment.objects.filter(idempotency_key=key).first()
    if earlier is None:
        return None
    if earlier.request_fingerprint != fingerprint:
        raise IdempotencyConflict(key)
    return earlier


PAID_FIELDS = ["paid_penalty", "paid_interest", "paid_principal", "interest", "paid_on"]


def _paid_state(installment: Installment) -> tuple[object, ...]:
    return tuple(getattr(installment, name) for name in PAID_FIELDS)


def repayment_post(
    *,
    loan: Loan,
    amount: Decimal,
    reference: str,
    by: Actor,
    on: date,
    idempotency_key: str | None = None,
    visible_to: User | AnonymousUser | None = None,
) -> Repayment:
    """Apply a payment: penalty, then interest, then principal, oldest
    installment first. The same idempotency key and request return the
    first repayment; the same key with another request is refused.

    With `visible_to` (the API's user), the loan is read among the loans
    of the branches that user may see as it is locked, and one outside
    them raises `Loan.DoesNotExist`.
    """
    fingerprint = _fingerprint(loan, amount, reference)
    try:
        return _repayment_post(
            loan=loan,
            amount=amount,
            reference=reference,
            by=by,
            on=on,
            idempotency_key=idempotency_key,
            fingerprint=fingerprint,
            visible_to=visible_to,
        )
    except (IntegrityError, ValidationError):
        # A key is looked up only when the post fails: storing its second
        # repayment breaks the key's unique constraint (a retry, or a
        # concurrent post that won the race), and a retry may meet a loan
        # that its first post changed (repaid, less owed). Either way the
        # first repayment is the answer, or a conflict when the request
        # differs; a first post pays no lookup.
        earlier = _replay(idempotency_key, fingerprint) if idempotency_key else None
        if earlier is None:
            raise
        return earlier


@transaction.atomic
def _repayment_post(
    *,
    loan: Loan,
    amount: Decimal,
    reference: str,
    by: Actor,
    on: date,
    idempotency_key: str | None,
    fingerprint: str,
    visible_to: User | AnonymousUser | None,
) -> Repayment:
    loan = _loan_locked_for_repayment(loan.pk, visible_to)
    if amount <= 0 or schedule.fen(amount) != amount:
        raise ValidationError(
            {"amount": _("Enter an amount above zero with at most two decimals.")}
        )
    if loan.state == Loan.State.WRITTEN_OFF:
        return _recovery_post(
            loan, amount, reference, by, on, idempotency_key, fingerprint
        )
    _refuse_unless(loan.state in Loan.OPEN_STATES, _("This loan takes no repayments."))

    installments = _installments_locked(loan)
    before = {installment.pk: _paid_state(installment) for installment in installments}
    rows = payable(installments, on)
    owed = sum((row.total for row in rows), ZERO)
    if amount > owed:
        raise ValidationError(
            {"amount": _("At most %(owed)s is owed today.") % {"owed": yuan(owed)}}
        )

    left = amount
    to = {
        "penalty": ZERO,
        "interest_receivable": ZERO,
        "interest_now": ZERO,
        "principal": ZERO,
    }
    fully_paid: list[Installment] = []
    for row in rows:
        if not left:
            break
        installment = row.installment
        part = min(left, row.penalty)
        installment.paid_penalty += part
        to["penalty"] += part
        left -= part
        part = min(left, row.interest)
        installment.paid_interest += part
        to[
            "interest_receivable" if installment.interest_recognised else "interest_now"
        ] += part
        left -= part
        part = min(left, row.principal)
        installment.paid_principal += part
        to["principal"] += part
        left -= part
        if installment.total_due == 0 and installment.paid_on is None:
            installment.paid_on = on
            fully_paid.append(installment)

    principal_left = sum((i.principal_due for i in installments), ZERO)
    if principal_left == 0:
        # Repaid early: interest of periods not yet begun is not owed.
        for installment in installments:
            if not installment.interest_recognised and installment.interest_due:
                installment.interest = installment.paid_interest
            if installment.paid_on is None and installment.total_due == 0:
                installment.paid_on = on
                fully_paid.append(installment)
    # A payment mostly settles part of one installment: write the rows it
    # changed, not the whole schedule (a twelve-row CASE costs more than the
    # rest of the repayment's statements together).
    changed = [i for i in installments if _paid_state(i) != before[i.pk]]
    if len(changed) == 1:
        row_update(changed[0], PAID_FIELDS)
    elif changed:
        Installment.objects.bulk_update(changed, PAID_FIELDS)

    allocated = sum(to.values(), ZERO)
    if allocated != amount:  # The refusal above makes this impossible.
        raise AssertionError(f"Loan {loan.pk}: allocated {allocated} of {amount}")
    repayment = Repayment(
        loan=loan,
        amount=amount,
        reference=reference,
        value_date=on,
        to_penalty=to["penalty"],
        to_interest=to["interest_receivable"] + to["interest_now"],
        to_principal=to["principal"],
        idempotency_key=idempotency_key or None,
        request_fingerprint=fingerprint,
        by=_user(by),
        # Mostly the state stays; a move below updates it.
        loan_state=loan.state,
    )
    row_insert(repayment)
    ledger.post(
        ledger.Entry(
            loan.pk,
            JournalEntry.Kind.REPAYMENT,
            on,
            f"{loan.pk}:repayment:{repayment.pk}",
        )
        .debit(Account.CASH, amount)
        .credit(Account.PENALTY_RECEIVABLE, to["penalty"])
        .credit(Account.INTEREST_RECEIVABLE, to["interest_receivable"])
        .credit(Account.INTEREST_INCOME, to["interest_now"])
        .credit(Account.PRINCIPAL_RECEIVABLE, to["principal"])
    )
    _after_repayment(loan, installments, fully_paid, to["principal"], by, on)
    # Higher apps react in the same transaction (collections resolves the
    # case when the arrears are gone) without this app importing them; `was`
    # is the loan's state before the payment (the row keeps it until now).
    for follower in settings.REPAYMENT_FOLLOWERS:
        import_string(follower)(loan=loan, on=on, was=repayment.loan_state)
    if repayment.loan_state != loan.state:
        repayment.loan_state = loan.state
        repayment.save(update_fields=["loan_state"])
    event_emit(
        kind=EventKind.REPAYMENT_POSTED,
        payload={
            "repayment": repayment.pk,
            "loan": loan.pk,
            "member": loan.member_id,
            "amount": str(repayment.amount),
            "to_principal": str(repayment.to_principal),
            "to_interest": str(repayment.to_interest),
            "to_penalty": str(repayment.to_penalty),
            "value_date": repayment.value_date.isoformat(),
            "reference": repayment.reference,
            "loan_state": loan.state,
        },
        on=on,
    )
    logger.info("Loan %s: repayment %s posted", loan.pk, repayment.pk)
    return repayment


# The repayment's reads, written out (config/rows.py says why).
_LOAN = Columns(Loan, "l")
_MEMBER = Columns(Member, "m")
_INSTALLMENT = Columns(Installment, "i")


def _loan_locked_for_repayment(
    pk: int, visible_to: User | AnonymousUser | None
) -> Loan:
    """The loan with its member, its row locked; only the loan's row, so two
    loans of one borrower take payments at once (a payment that moves the
    loan locks the member then, in _after_repayment)."""
    sql = f"SELECT {_LOAN.select}, {_MEMBER.select} FROM {_LOAN.table} "  # noqa: S608
    sql += f"JOIN {_MEMBER.table} ON m.id = l.member_id WHERE l.id = %s"
    params: list[Any] = [pk]
    branches = branches_visible_sql(visible_to) if visible_to is not None else None
    if branches is not None:
        sql += f" AND m.branch_id IN ({branches[0]})"
        params += branches[1]
    if connection.features.has_select_for_update:
        sql += " FOR UPDATE OF l"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        raise Loan.DoesNotExist(f"Loan {pk} is not among the caller's")
    loan = _LOAN.build(row[: len(_LOAN)])
    loan.member = _MEMBER.build(row[len(_LOAN) :])
    return loan


def _installments_locked(loan: Loan) -> list[Installment]:
    sql = f"SELECT {_INSTALLMENT.select} FROM {_INSTALLMENT.table} "  # noqa: S608
    sql += "WHERE i.loan_id = %s ORDER BY i.number"
    if connection.features.has_select_for_update:
        sql += " FOR UPDATE"
    with connection.cursor() as cursor:
        cursor.execute(sql, [loan.pk])
        found = _INSTALLMENT.build_all(cursor.fetchall())
    for installment in found:
        installment.loan = loan
    return found


def _after_repayment(
    loan: Loan,
    installments: list[Installment],
    fully_paid: list[Installment],
    principal: Decimal,
    by: Actor,
    on: date,
) -> None:
    """Tell credit, and move the loan: cured when arrears are gone, repaid
    when nothing is left."""
    repaid = all(installment.total_due == 0 for installment in installments)
    cured = (
        not repaid
        and loan.state in (Loan.State.GRACE, Loan.State.OVERDUE)
        and not arrears(installments, on)
    )
    member = loan.member
    if repaid or cured:
        # A move may unfreeze the member once none of their loans is late,
        # and credit counts their loans repaid: both read the member's other
        # loans, so payments on two of them take turns from here. The
        # member before credit's profile, in the blacklisting's order.
        member = loan.member = _member_locked(member)
    if principal:
        credit.credit_restore(member=member, principal=principal)
    for installment in fully_paid:
        credit.credit_installment_paid(
            member=member,
            loan_reference=loan.number,
            number=installment.number,
            due_on=installment.due_date,
            paid_on=on,
        )

    if repaid:
        on_time = not loan.transitions.filter(target=Loan.State.GRACE).exists()
        was_late = loan.state != Loan.State.ACTIVE
        loan.closed_on = on
        _move(loan, "repay", on=on, by=by)
        credit.credit_loan_repaid(
            member=member, loan_reference=loan.number, on=on, on_time=on_time
        )
        if was_late:
            _unfreeze_if_nothing_overdue(member, on, loan)
    elif cured:
        _move(loan, "cure", on=on, by=by, reason=_("Arrears paid."))
        _unfreeze_if_nothing_overdue(member, on, loan)


def _member_locked(member: Member) -> Member:
    return Member.objects.select_for_update().get(pk=member.pk)


def _unfreeze_if_nothing_overdue(member: Member, on: date, loan: Loan) -> None:
    still_late = Loan.objects.filter(
        member=member, state__in=[Loan.State.OVERDUE, Loan.State.BLACKLISTED]
    ).exists()
    if not still_late and member.status != Member.Status.BLACKLISTED:
        credit.credit_unfreeze(member=member, on=on, reference=loan.number)


def _recovery_post(
    loan: Loan,
    amount: Decimal,
    reference: str,
    by: Actor,
    on: date,
    idempotency_key: str | None,
    fingerprint: str,
) -> Repayment:
    """Money received on a written-off loan reduces the write-off expense."""
    balance = ledger.balance_of(loan)[Account.WRITE_OFF_EXPENSE]
    if amount > balance:
        raise ValidationError(
            {"amount": _("At most %(owed)s is still owed.") % {"owed": yuan(balance)}}
        )
    repayment = Repayment.objects.create(
        loan=loan,
        amount=amount,
        reference=reference,
        value_date=on,
        to_principal=amount,
        idempotency_key=idempotency_key or None,
        request_fingerprint=fingerprint,
        loan_state=loan.state,
        by=_user(by),
    )
    ledger.post(
        ledger.Entry(
            loan.pk,
            JournalEntry.Kind.RECOVERY,
            on,
            f"{loan.pk}:recovery:{repayment.pk}",
        )
        .debit(Account.CASH, amount)
        .credit(Account.WRITE_OFF_EXPENSE, amount)
    )
    return repayment


# Restructure -----------------------------------------------------------------

RESTRUCTURE_TERMS = (3, 6, 12)


def _shares(total: Decimal, count: int) -> list[Decimal]:
    """`total` in `count` even parts, the last absorbing the rounding.

    Rounded down, so the last part is never below the others (rounded half
    up, 0.10 in twelve would leave the last one at -0.01).
    """
    part = (total / count).quantize(schedule.CENT, rounding=ROUND_DOWN)
    return [part] * (count - 1) + [total - part * (count - 1)]


@transaction.atomic
def loan_restructure(
    *,
    loan: Loan,
    installments: int,
    penalty_waiver: Decimal,
    by: Actor,
    on: date,
    reason: str,
) -> Loan:
    """Replace what is unpaid by a new schedule of equal installments from
    `on`: unpaid principal at the loan's rate, plus the interest already
    fallen due and the penalty not waived, spread evenly. Interest of
    periods not yet due is dropped: the new schedule charges its own from
    `on`. The loan is current again."""
    loan = _locked(loan)
    errors: dict[str, ValidationError] = {}
    if not can_proceed(loan.restructure):
        errors["state"] = ValidationError(
            _("Only an active loan, or one in grace or overdue, can be restructured."),
            code="invalid_state",
        )
    if installments not in RESTRUCTURE_TERMS:
        errors["installments"] = ValidationError(
            _("Choose one of %(terms)s installments.")
            % {"terms": ", ".join(str(t) for t in RESTRUCTURE_TERMS)}
        )
    if not (penalty_waiver.is_finite() and 0 <= penalty_waiver <= 1):
        errors["penalty_waiver"] = ValidationError(
            _("Waive a share of the penalty between 0 and 1.")
        )
    if errors:
        raise ValidationError(errors)

    rows = list(loan.installments.select_for_update().order_by("number"))
    unpaid = [i for i in rows if i.paid_on is None]
    principal = sum((i.principal_due for i in unpaid), ZERO)
    recognised = sum((i.interest_due for i in unpaid if i.interest_recognised), ZERO)
    penalty = sum((i.penalty_due for i in unpaid), ZERO)
    waived = schedule.fen(penalty * penalty_waiver)
    for installment in unpaid:
        installment.principal = installment.paid_principal
        installment.interest = installment.paid_interest
        installment.penalty = installment.paid_penalty
        installment.paid_on = on
        installment.superseded = True
    Installment.objects.bulk_update(
        unpaid, ["principal", "interest", "penalty", "paid_on", "superseded"]
    )

    # Recognised interest carried onto the new installments leaves
    # receivable: the close recognises it again as each one falls due.
    entry = (
        ledger.Entry(
            loan.pk,
            JournalEntry.Kind.RESTRUCTURE,
            on,
            f"{loan.pk}:restructure:{loan.restructure_count + 1}",
        )
        .debit(Account.INTEREST_INCOME, recognised)
        .credit(Account.INTEREST_RECEIVABLE, recognised)
        .debit(Account.PENALTY_INCOME, waived)
        .credit(Account.PENALTY_RECEIVABLE, waived)
    )
    if entry.lines:
        ledger.post(entry)

    lines = schedule.build(
        principal=principal,
        annual_rate=loan.annual_rate,
        months=installments,
        method=RepaymentMethod.EQUAL_INSTALLMENT,
        start=on,
    )
    last = max((i.number for i in rows), default=0)
    Installment.objects.bulk_create(
        Installment(
            loan=loan,
            number=last + line.number,
            due_date=line.due_date,
            principal=line.principal,
            interest=line.interest + carried,
            penalty=penalty_share,
        )
        for line, carried, penalty_share in zip(
            lines,
            _shares(recognised, installments),
            _shares(penalty - waived, installments),
            strict=True,
        )
    )

    loan.restructure_count += 1
    _move(loan, "restructure", on=on, by=by, reason=reason)
    _unfreeze_if_nothing_overdue(loan.member, on, loan)
    logger.info("Loan %s: restructured into %d installments", loan.pk, installments)
    return loan


# Write-off -------------------------------------------------------------------


@transaction.atomic
def loan_write_off_request(*, loan: Loan, by: User, reason: str) -> WriteOffRequest:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Give the reason for writing off.")})
    loan = _locked(loan)
    _refuse_unless(
        loan.state in (Loan.State.OVERDUE, Loan.State.BLACKLISTED),
        _("Only an overdue or blacklisted loan can be written off."),
    )
    request, created = WriteOffRequest.objects.get_or_create(
        loan=loan, defaults={"reason": reason, "requested_by": by}
    )
    if not created:
        raise ValidationError(_("A write-off of this loan has already been requested."))
    return request


@transaction.atomic
def loan_write_off_approve(*, loan: Loan, by: User, on: date) -> Loan:
    """A second person approves: receivables move to write-off expense."""
    loan = _locked(loan)
    request = WriteOffRequest.objects.select_for_update().filter(loan=loan).first()
    if request is None or request.approved_by_id is not None:
        raise ValidationError(_("There is no write-off request waiting for approval."))
    if request.requested_by_id == by.pk:
        raise PermissionDenied(_("A write-off needs a second person to approve it."))
    _refuse_unless(
        loan.state in (Loan.State.OVERDUE, Loan.State.BLACKLISTED),
        _("Only an overdue or blacklisted loan can be written off."),
    )

    balance = ledger.balance_of(loan)
    receivables = [
        Account.PRINCIPAL_RECEIVABLE,
        Account.INTEREST_RECEIVABLE,
        Account.PENALTY_RECEIVABLE,
    ]
    entry = ledger.Entry(
        loan.pk, JournalEntry.Kind.WRITE_OFF, on, f"{loan.pk}:write_off"
    )
    entry.debit(Account.WRITE_OFF_EXPENSE, sum((balance[a] for a in receivables), ZERO))
    for account in receivables:
        entry.credit(account, balance[account])
    ledger.post(entry)

    request.approved_by = by
    request.approved_at = timezone.now()
    request.save(update_fields=["approved_by", "approved_at"])
    loan.closed_on = on
    _move(loan, "write_off", on=on, by=by, reason=request.reason)
    credit.credit_loan_defaulted(member=loan.member, loan_reference=loan.number, on=on)
    return loan

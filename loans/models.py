"""Loans: products, applications and approvals, schedules, repayments, the
double-entry ledger, the loan state machine and the business day.

`Loan.state` is a protected django-fsm field. The transition methods below
are the one statement of which moves are legal; they hold guards and field
changes only, and `loans.services` and the daily close call them (the close
asks the graph for legal sources and moves loans in sets).
"""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMField, FSMModelMixin, transition

from members.models import Member

ZERO = Decimal("0.00")


class RepaymentMethod(models.TextChoices):
    EQUAL_INSTALLMENT = "equal_installment", _("Equal installments (等额本息)")
    EQUAL_PRINCIPAL = "equal_principal", _("Equal principal (等额本金)")
    BULLET = "bullet", _("Bullet (一次性还本付息)")


class Product(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    min_amount = models.DecimalField(
        _("smallest amount"),
        max_digits=14,
        decimal_places=2,
        validators=[MinValueValidator(1)],
    )
    max_amount = models.DecimalField(
        _("largest amount"), max_digits=14, decimal_places=2
    )
    terms = models.JSONField(
        _("terms offered (months)"),
        default=list,
        help_text=_("The numbers of months offered, e.g. [3, 6, 12]."),
    )
    annual_rate = models.DecimalField(
        _("annual interest rate"),
        max_digits=6,
        decimal_places=4,
        help_text=_("As a fraction: 0.1200 is 12 % a year."),
    )
    repayment_method = models.CharField(
        _("repayment method"), max_length=24, choices=RepaymentMethod.choices
    )
    grace_days = models.PositiveIntegerField(_("grace days"), default=3)
    penalty_daily_rate = models.DecimalField(
        _("daily penalty rate"),
        max_digits=7,
        decimal_places=6,
        default=Decimal("0.000500"),
        help_text=_("On overdue principal and interest, per day: 0.0005 is 0.05 %."),
    )
    blacklist_days = models.PositiveIntegerField(
        _("days past due that blacklist"), default=90
    )
    second_approval_above = models.DecimalField(
        _("second approval above"),
        max_digits=14,
        decimal_places=2,
        default=Decimal("5000.00"),
        help_text=_("Loans above this amount also need a risk officer's approval."),
    )
    cost_cap = models.DecimalField(
        _("yearly cost cap"),
        max_digits=5,
        decimal_places=4,
        default=Decimal("0.2400"),
        help_text=_("Interest plus penalty a year, as a fraction of principal."),
    )
    active = models.BooleanField(_("offered"), default=True)

    class Meta:
        verbose_name = _("loan product")
        verbose_name_plural = _("loan products")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(max_amount__gte=F("min_amount")),
                name="loans_product_amount_range",
            ),
            models.CheckConstraint(
                condition=Q(annual_rate__gte=0) & Q(penalty_daily_rate__gte=0),
                name="loans_product_rates_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Loan(FSMModelMixin, models.Model):
    class State(models.TextChoices):
        APPLIED = "applied", _("Applied")
        APPROVED = "approved", _("Approved")
        ACTIVE = "active", _("Active")
        GRACE = "grace", _("In grace")
        OVERDUE = "overdue", _("Overdue")
        BLACKLISTED = "blacklisted", _("Blacklisted")
        REPAID = "repaid", _("Repaid")
        WRITTEN_OFF = "written_off", _("Written off")
        REJECTED = "rejected", _("Rejected")
        CANCELLED = "cancelled", _("Cancelled")

    OPEN_STATES = (State.ACTIVE, State.GRACE, State.OVERDUE, State.BLACKLISTED)

    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="loans", verbose_name=_("member")
    )
    product = models.ForeignKey(
        Product,
        on_delete=models.PROTECT,
        related_name="loans",
        verbose_name=_("product"),
    )
    principal = models.DecimalField(_("principal"), max_digits=14, decimal_places=2)
    term_months = models.PositiveIntegerField(_("term (months)"))
    # The product's terms as they were on application: later edits of the
    # product never change a loan already made.
    annual_rate = models.DecimalField(
        _("annual interest rate"), max_digits=6, decimal_places=4
    )
    repayment_method = models.CharField(
        _("repayment method"), max_length=24, choices=RepaymentMethod.choices
    )
    grace_days = models.PositiveIntegerField(_("grace days"))
    penalty_daily_rate = models.DecimalField(
        _("daily penalty rate"), max_digits=7, decimal_places=6
    )
    blacklist_days = models.PositiveIntegerField(_("days past due that blacklist"))
    cost_cap = models.DecimalField(_("yearly cost cap"), max_digits=5, decimal_places=4)
    approvals_required = models.PositiveSmallIntegerField(
        _("approval levels required"), default=1
    )

    state = FSMField(
        _("state"),
        max_length=16,
        choices=State.choices,
        default=State.APPLIED,
        protected=True,
        db_index=True,
    )
    applied_on = models.DateField(_("applied on"))
    applied_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("keyed in by"),
    )
    disbursed_on = models.DateField(_("disbursed on"), null=True, blank=True)
    closed_on = models.DateField(_("closed on"), null=True, blank=True)
    days_past_due = models.PositiveIntegerField(_("days past due"), default=0)
    penalty_through = models.DateField(
        _("penalty accrued through"), null=True, blank=True, editable=False
    )
    restructure_count = models.PositiveSmallIntegerField(
        _("times restructured"), default=0, editable=False
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("loan")
        verbose_name_plural = _("loans")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["state", "days_past_due"]),
            models.Index(fields=["member", "state"]),
            # The admin's days-past-due filter, whatever the state: only
            # the loans behind, a small part of the book.
            models.Index(
                fields=["days_past_due"],
                condition=Q(days_past_due__gt=0),
                name="loans_loan_late_dpd_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(principal__gt=0), name="loans_principal_positive"
            ),
        ]
        permissions = [
            ("approve_level1", _("Can approve loans at level 1 (branch)")),
            ("approve_level2", _("Can approve loans at level 2 (risk)")),
            ("disburse_loan", _("Can disburse loans")),
            ("write_off_loan", _("Can request and approve write-offs")),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def number(self) -> str:
        return f"L{self.pk:08d}" if self.pk else "L(new)"

    @transition(field=state, source=State.APPLIED, target=State.APPROVED)
    def approve(self) -> None:
        pass

    @transition(field=state, source=State.APPLIED, target=State.REJECTED)
    def reject(self) -> None:
        pass

    @transition(
        field=state, source=[State.APPLIED, State.APPROVED], target=State.CANCELLED
    )
    def cancel(self) -> None:
        pass

    @transition(field=state, source=State.APPROVED, target=State.ACTIVE)
    def disburse(self) -> None:
        pass

    @transition(field=state, source=State.ACTIVE, target=State.GRACE)
    def enter_grace(self) -> None:
        pass

    @transition(field=state, source=State.GRACE, target=State.OVERDUE)
    def fall_overdue(self) -> None:
        pass

    @transition(field=state, source=State.OVERDUE, target=State.BLACKLISTED)
    def blacklist(self) -> None:
        pass

    @transition(field=state, source=[State.GRACE, State.OVERDUE], target=State.ACTIVE)
    def cure(self) -> None:
        self.days_past_due = 0

    # Not from BLACKLISTED: a blacklisted loan is never restructured.
    @transition(
        field=state,
        source=[State.ACTIVE, State.GRACE, State.OVERDUE],
        target=State.ACTIVE,
    )
    def restructure(self) -> None:
        self.days_past_due = 0

    @transition(
        field=state,
        source=[State.ACTIVE, State.GRACE, State.OVERDUE, State.BLACKLISTED],
        target=State.REPAID,
    )
    def repay(self) -> None:
        self.days_past_due = 0

    @transition(
        field=state, source=[State.OVERDUE, State.BLACKLISTED], target=State.WRITTEN_OFF
    )
    def write_off(self) -> None:
        pass


class LoanTransition(models.Model):
    """One move of a loan's state: who or which close, from, to, when, why."""

    loan = models.ForeignKey(
        Loan,
        on_delete=models.PROTECT,
        related_name="transitions",
        verbose_name=_("loan"),
    )
    source = models.CharField(_("from"), max_length=16, blank=True)
    target = models.CharField(_("to"), max_length=16)
    on = models.DateField(_("business date"))
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
    )
    reason = models.CharField(_("why"), max_length=200, blank=True)
    at = models.DateTimeField(_("at"), auto_now_add=True)

    class Meta:
        verbose_name = _("state change")
        verbose_name_plural = _("state changes")
        ordering = ["id"]
        indexes = [models.Index(fields=["on", "target"])]

    def __str__(self) -> str:
        return f"{self.source or '∅'} → {self.target}"


class Approval(models.Model):
    class Decision(models.TextChoices):
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")

    loan = models.ForeignKey(
        Loan, on_delete=models.PROTECT, related_name="approvals", verbose_name=_("loan")
    )
    level = models.PositiveSmallIntegerField(_("level"))
    decision = models.CharField(_("decision"), max_length=8, choices=Decision.choices)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("by"),
    )
    comment = models.CharField(_("comment"), max_length=200, blank=True)
    at = models.DateTimeField(_("at"), auto_now_add=True)

    class Meta:
        verbose_name = _("approval")
        verbose_name_plural = _("approvals")
        ordering = ["level", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["loan", "level"],
                condition=Q(decision="approved"),
                name="loans_one_approval_per_level",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.loan} L{self.level} {self.decision}"


class Installment(models.Model):
    loan = models.ForeignKey(
        Loan,
        on_delete=models.PROTECT,
        related_name="installments",
        verbose_name=_("loan"),
    )
    number = models.PositiveSmallIntegerField(_("number"))
    due_date = models.DateField(_("due date"))
    principal = models.DecimalField(_("principal"), max_digits=14, decimal_places=2)
    interest = models.DecimalField(_("interest"), max_digits=14, decimal_places=2)
    penalty = models.DecimalField(
        _("penalty"), max_digits=14, decimal_places=2, default=ZERO
    )
    paid_principal = models.DecimalField(
        _("principal paid"), max_digits=14, decimal_places=2, default=ZERO
    )
    paid_interest = models.DecimalField(
        _("interest paid"), max_digits=14, decimal_places=2, default=ZERO
    )
    paid_penalty = models.DecimalField(
        _("penalty paid"), max_digits=14, decimal_places=2, default=ZERO
    )
    interest_recognised = models.BooleanField(
        _("interest fallen due"),
        default=False,
        help_text=_("Set when the close posts the interest as receivable."),
    )
    paid_on = models.DateField(_("fully paid on"), null=True, blank=True)
    superseded = models.BooleanField(_("replaced by a restructure"), default=False)

    class Meta:
        verbose_name = _("installment")
        verbose_name_plural = _("installments")
        ordering = ["loan_id", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["loan", "number"], name="loans_one_installment_per_number"
            ),
            models.CheckConstraint(
                condition=Q(paid_principal__lte=F("principal"))
                & Q(paid_interest__lte=F("interest"))
                & Q(paid_penalty__lte=F("penalty")),
                name="loans_installment_not_overpaid",
            ),
        ]
        indexes = [
            models.Index(fields=["due_date", "paid_on"]),
            # The close's interest step reads, a range of loans at a time,
            # only the installments whose interest is not yet income: a
            # part of the book that shrinks as the loans age.
            models.Index(
                fields=["loan", "due_date"],
                condition=Q(interest_recognised=False),
                name="loans_inst_interest_todo_idx",
            ),
            # Ageing and the ladder look for a range's oldest unpaid due
            # date: the unpaid installments only, by loan.
            models.Index(
                fields=["loan", "due_date"],
                condition=Q(paid_on__isnull=True),
                name="loans_inst_unpaid_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.loan} #{self.number}"

    @property
    def principal_due(self) -> Decimal:
        return self.principal - self.paid_principal

    @property
    def interest_due(self) -> Decimal:
        return self.interest - self.paid_interest

    @property
    def penalty_due(self) -> Decimal:
        return self.penalty - self.paid_penalty

    @property
    def total_due(self) -> Decimal:
        return self.principal_due + self.interest_due + self.penalty_due


class Repayment(models.Model):
    loan = models.ForeignKey(
        Loan,
        on_delete=models.PROTECT,
        related_name="repayments",
        verbose_name=_("loan"),
    )
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)
    reference = models.CharField(_("payment reference"), max_length=64, blank=True)
    value_date = models.DateField(_("value date"))
    to_penalty = models.DecimalField(
        _("to penalty"), max_digits=14, decimal_places=2, default=ZERO
    )
    to_interest = models.DecimalField(
        _("to interest"), max_digits=14, decimal_places=2, default=ZERO
    )
    to_principal = models.DecimalField(
        _("to principal"), max_digits=14, decimal_places=2, default=ZERO
    )
    idempotency_key = models.CharField(
        max_length=100, unique=True, null=True, blank=True, editable=False
    )
    request_fingerprint = models.CharField(max_length=64, blank=True, editable=False)
    # The loan's state right after this repayment, so that a replay of the
    # same idempotent request answers exactly as the first post did.
    loan_state = models.CharField(
        _("loan state after"),
        max_length=16,
        choices=Loan.State.choices,
        blank=True,
        editable=False,
    )
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("posted by"),
    )
    at = models.DateTimeField(_("posted at"), auto_now_add=True)

    class Meta:
        verbose_name = _("repayment")
        verbose_name_plural = _("repayments")
        ordering = ["-id"]
        # The admin list's dates (first, last, and each year or month).
        indexes = [
            models.Index(fields=["value_date"], name="loans_repay_value_date_idx")
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gt=0), name="loans_repayment_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.loan} {self.amount}"


class WriteOffRequest(models.Model):
    """A write-off needs two people: one asks, another approves."""

    loan = models.OneToOneField(
        Loan,
        on_delete=models.PROTECT,
        related_name="write_off_request",
        verbose_name=_("loan"),
    )
    reason = models.CharField(_("reason"), max_length=200)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("requested by"),
    )
    requested_at = models.DateTimeField(_("requested at"), auto_now_add=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("approved by"),
    )
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)

    class Meta:
        verbose_name = _("write-off request")
        verbose_name_plural = _("write-off requests")

    def __str__(self) -> str:
        return f"{self.loan}"


class Account(models.TextChoices):
    CASH = "cash", _("Cash")
    PRINCIPAL_RECEIVABLE = "principal_receivable", _("Principal receivable")
    INTEREST_RECEIVABLE = "interest_receivable", _("Interest receivable")
    PENALTY_RECEIVABLE = "penalty_receivable", _("Penalty receivable")
    INTEREST_INCOME = "interest_income", _("Interest income")
    PENALTY_INCOME = "penalty_income", _("Penalty income")
    WRITE_OFF_EXPENSE = "write_off_expense", _("Write-off expense")


class JournalEntry(models.Model):
    """One balanced money event. Never edited; corrections are reversals."""

    class Kind(models.TextChoices):
        DISBURSEMENT = "disbursement", _("Disbursement")
        INTEREST_DUE = "interest_due", _("Interest fallen due")
        PENALTY = "penalty", _("Penalty accrual")
        REPAYMENT = "repayment", _("Repayment")
        WRITE_OFF = "write_off", _("Write-off")
        RECOVERY = "recovery", _("Recovery after write-off")
        REVERSAL = "reversal", _("Reversal")
        RESTRUCTURE = "restructure", _("Restructure")

    loan = models.ForeignKey(
        Loan, on_delete=models.PROTECT, related_name="journal", verbose_name=_("loan")
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    on = models.DateField(_("business date"))
    memo = models.CharField(_("memo"), max_length=200, blank=True)
    dedupe_key = models.CharField(max_length=100, unique=True, editable=False)
    at = models.DateTimeField(_("posted at"), auto_now_add=True)

    class Meta:
        verbose_name = _("journal entry")
        verbose_name_plural = _("journal entries")
        ordering = ["id"]
        indexes = [models.Index(fields=["on", "kind"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.on}"


class JournalLine(models.Model):
    entry = models.ForeignKey(
        JournalEntry,
        on_delete=models.PROTECT,
        related_name="lines",
        verbose_name=_("entry"),
    )
    # Repeated from the entry so a loan's balances are one indexed sum.
    loan = models.ForeignKey(
        Loan, on_delete=models.PROTECT, related_name="+", verbose_name=_("loan")
    )
    account = models.CharField(_("account"), max_length=24, choices=Account.choices)
    debit = models.DecimalField(
        _("debit"), max_digits=14, decimal_places=2, default=ZERO
    )
    credit = models.DecimalField(
        _("credit"), max_digits=14, decimal_places=2, default=ZERO
    )

    class Meta:
        verbose_name = _("journal line")
        verbose_name_plural = _("journal lines")
        ordering = ["id"]
        indexes = [models.Index(fields=["loan", "account"])]
        constraints = [
            models.CheckConstraint(
                condition=(Q(debit__gt=0) & Q(credit=0))
                | (Q(debit=0) & Q(credit__gt=0)),
                name="loans_line_one_side_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account} {self.debit}/{self.credit}"


class BusinessDay(models.Model):
    """A business date and how far its close has got."""

    on = models.DateField(_("business date"), unique=True)
    started_at = models.DateTimeField(_("close started"), auto_now_add=True)
    closed_at = models.DateTimeField(_("close finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("business day")
        verbose_name_plural = _("business days")
        ordering = ["-on"]

    def __str__(self) -> str:
        return str(self.on)


class CloseStep(models.Model):
    day = models.ForeignKey(
        BusinessDay,
        on_delete=models.CASCADE,
        related_name="steps",
        verbose_name=_("day"),
    )
    name = models.CharField(_("step"), max_length=100)
    rows = models.PositiveIntegerField(_("rows"), default=0)
    seconds = models.DecimalField(_("seconds"), max_digits=10, decimal_places=3)
    finished_at = models.DateTimeField(_("finished at"), auto_now_add=True)

    class Meta:
        verbose_name = _("close step")
        verbose_name_plural = _("close steps")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["day", "name"], name="loans_step_once_per_day"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.name}"

"""Credit: scoring policies (versioned), scores, profiles, limits, bureau data.

A scoring policy is a scorecard: for each input a table of bands, each band
worth some points; the points add up to a total, and grade bands turn the
total into a grade and the limit ceiling that grade earns. Risk officers
edit drafts in the admin; approving one puts it in force and retires the
previous version, which stays readable.
"""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from members import pii
from members.models import Member

ZERO = Decimal("0.00")


class Dimension(models.TextChoices):
    IDENTITY = "identity", _("Identity")
    REPAYMENT = "repayment", _("Repayment record")
    INDEBTEDNESS = "indebtedness", _("Current indebtedness")
    GROUP = "group", _("Group record")
    BUREAU = "bureau", _("Bureau data")


class Input(models.TextChoices):
    """What the platform measures about a member; each feeds one dimension."""

    KYC_VERIFIED = "kyc_verified", _("KYC verified (1 yes, 0 no)")
    TENURE_MONTHS = "tenure_months", _("Months in the branch")
    ON_TIME_SHARE = "on_time_share", _("Share of installments paid on time")
    LATE_INSTALLMENTS = "late_installments", _("Installments paid late, 12 months")
    WORST_DAYS_PAST_DUE = "worst_days_past_due", _("Worst days past due, 12 months")
    LOANS_REPAID = "loans_repaid", _("Loans repaid")
    UTILISATION = "utilisation", _("Outstanding principal against limit")
    BRANCH_OVERDUE_SHARE = (
        "branch_overdue_share",
        _("Branch's share of overdue principal"),
    )
    TIE_DEFAULTS = "tie_defaults", _("Defaults among guarantors and guaranteed")
    BUREAU_OVERDUE_COUNT = "bureau_overdue_count", _("Outside overdue debts")
    DEBT_TO_INCOME = "debt_to_income", _("Outside debt against declared yearly income")
    INQUIRIES_90D = "inquiries_90d", _("Bureau inquiries, 90 days")


INPUT_DIMENSION: dict[str, Dimension] = {
    Input.KYC_VERIFIED: Dimension.IDENTITY,
    Input.TENURE_MONTHS: Dimension.IDENTITY,
    Input.ON_TIME_SHARE: Dimension.REPAYMENT,
    Input.LATE_INSTALLMENTS: Dimension.REPAYMENT,
    Input.WORST_DAYS_PAST_DUE: Dimension.REPAYMENT,
    Input.LOANS_REPAID: Dimension.REPAYMENT,
    Input.UTILISATION: Dimension.INDEBTEDNESS,
    Input.BRANCH_OVERDUE_SHARE: Dimension.GROUP,
    Input.TIE_DEFAULTS: Dimension.GROUP,
    Input.BUREAU_OVERDUE_COUNT: Dimension.BUREAU,
    Input.DEBT_TO_INCOME: Dimension.BUREAU,
    Input.INQUIRIES_90D: Dimension.BUREAU,
}


class Grade(models.TextChoices):
    A = "A", "A"
    B = "B", "B"
    C = "C", "C"
    D = "D", "D"
    E = "E", "E"


class ScoringPolicy(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        IN_FORCE = "in_force", _("In force")
        RETIRED = "retired", _("Retired")

    version = models.PositiveIntegerField(_("version"), unique=True, editable=False)
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=Status.choices,
        default=Status.DRAFT,
        editable=False,
    )
    notes = models.TextField(_("what changed and why"), blank=True)
    effective_from = models.DateField(
        _("effective from"), null=True, blank=True, editable=False
    )
    review_days = models.PositiveIntegerField(
        _("review period (days)"),
        default=90,
        help_text=_("A score older than this is stale and is recomputed."),
    )
    initial_limit = models.DecimalField(
        _("first limit"),
        max_digits=12,
        decimal_places=2,
        default=Decimal("2000.00"),
        help_text=_("A new member's first limit, capped by the grade's ceiling."),
    )
    graduation_step = models.DecimalField(
        _("graduation step"),
        max_digits=12,
        decimal_places=2,
        default=Decimal("1000.00"),
        help_text=_("How much a run of on-time loans raises the limit."),
    )
    graduation_run = models.PositiveIntegerField(
        _("on-time loans per step"),
        default=2,
        validators=[MinValueValidator(1)],
        help_text=_("Loans repaid on time in a row that earn one step."),
    )
    max_single_loan = models.DecimalField(
        _("largest single loan"),
        max_digits=12,
        decimal_places=2,
        default=Decimal("10000.00"),
    )
    guarantor_cut = models.DecimalField(
        _("guarantor limit factor on default"),
        max_digits=4,
        decimal_places=2,
        default=Decimal("0.50"),
        validators=[MinValueValidator(ZERO), MaxValueValidator(Decimal("1"))],
        help_text=_("A defaulter's guarantors keep this share of their limit."),
    )
    branch_cut = models.DecimalField(
        _("branch limit factor on default"),
        max_digits=4,
        decimal_places=2,
        default=Decimal("0.90"),
        validators=[MinValueValidator(ZERO), MaxValueValidator(Decimal("1"))],
        help_text=_("The defaulter's branch keeps this share of its limits."),
    )
    income_tolerance = models.DecimalField(
        _("income mismatch tolerance"),
        max_digits=4,
        decimal_places=2,
        default=Decimal("0.30"),
        validators=[MinValueValidator(ZERO)],
        help_text=_("Declared and reported income may differ by this share."),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        editable=False,
        related_name="+",
        verbose_name=_("drafted by"),
    )
    created_at = models.DateTimeField(_("drafted at"), auto_now_add=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        editable=False,
        related_name="+",
        verbose_name=_("approved by"),
    )
    approved_at = models.DateTimeField(_("approved at"), null=True, editable=False)

    class Meta:
        verbose_name = _("scoring policy")
        verbose_name_plural = _("scoring policies")
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["status"],
                condition=Q(status="in_force"),
                name="credit_one_policy_in_force",
            ),
        ]
        permissions = [("approve_scoringpolicy", _("Can approve a scoring policy"))]

    def __str__(self) -> str:
        return f"v{self.version} ({self.get_status_display()})"


class PolicyBand(models.Model):
    """Points an input earns when its value lies in [lower, upper).

    An empty bound is open. A band marked `when missing` applies when the
    platform has no value (no loans yet, no bureau report).
    """

    policy = models.ForeignKey(
        ScoringPolicy,
        on_delete=models.CASCADE,
        related_name="bands",
        verbose_name=_("policy"),
    )
    input = models.CharField(_("input"), max_length=32, choices=Input.choices)
    when_missing = models.BooleanField(_("when missing"), default=False)
    lower = models.DecimalField(
        _("from (inclusive)"), max_digits=12, decimal_places=4, null=True, blank=True
    )
    upper = models.DecimalField(
        _("below"), max_digits=12, decimal_places=4, null=True, blank=True
    )
    points = models.IntegerField(_("points"))

    class Meta:
        verbose_name = _("point band")
        verbose_name_plural = _("point bands")
        ordering = ["policy", "input", "when_missing", "lower"]

    def __str__(self) -> str:
        return f"{self.get_input_display()}: {self.points}"


class GradeBand(models.Model):
    policy = models.ForeignKey(
        ScoringPolicy,
        on_delete=models.CASCADE,
        related_name="grades",
        verbose_name=_("policy"),
    )
    grade = models.CharField(_("grade"), max_length=1, choices=Grade.choices)
    min_points = models.IntegerField(_("from points"))
    ceiling = models.DecimalField(
        _("limit ceiling"), max_digits=12, decimal_places=2, default=ZERO
    )

    class Meta:
        verbose_name = _("grade band")
        verbose_name_plural = _("grade bands")
        ordering = ["policy", "-min_points"]
        constraints = [
            models.UniqueConstraint(
                fields=["policy", "grade"], name="credit_one_band_per_grade"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.grade} ≥ {self.min_points}"


class CreditScore(models.Model):
    """A stored result: total, grade, ceiling, and why, factor by factor."""

    class Trigger(models.TextChoices):
        VERIFIED = "verified", _("KYC verified")
        BUREAU_REPORT = "bureau_report", _("Bureau report arrived")
        LOAN_REPAID = "loan_repaid", _("Loan repaid")
        LOAN_OVERDUE = "loan_overdue", _("Loan overdue")
        SCHEDULED = "scheduled", _("Scheduled review")
        MANUAL = "manual", _("Requested by staff")

    member = models.ForeignKey(
        Member,
        on_delete=models.PROTECT,
        related_name="credit_scores",
        verbose_name=_("member"),
    )
    policy = models.ForeignKey(
        ScoringPolicy,
        on_delete=models.PROTECT,
        related_name="scores",
        verbose_name=_("policy"),
    )
    total = models.IntegerField(_("score"))
    grade = models.CharField(_("grade"), max_length=1, choices=Grade.choices)
    ceiling = models.DecimalField(_("grade ceiling"), max_digits=12, decimal_places=2)
    factors = models.JSONField(
        _("factors"),
        help_text=_("Each dimension's points and the inputs that produced them."),
    )
    as_of = models.DateField(_("as of"))
    trigger = models.CharField(_("trigger"), max_length=16, choices=Trigger.choices)
    scored_at = models.DateTimeField(_("scored at"), auto_now_add=True)

    class Meta:
        verbose_name = _("credit score")
        verbose_name_plural = _("credit scores")
        ordering = ["-scored_at", "-id"]
        indexes = [models.Index(fields=["member", "-scored_at"])]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.total} {self.grade}"


class CreditProfile(models.Model):
    """A member's limit and what of it is in use.

    Available = limit − open principal − amounts held for applications, and
    nothing while frozen. The loans app moves amounts between held and open
    through `credit.services`.
    """

    member = models.OneToOneField(
        Member,
        on_delete=models.PROTECT,
        related_name="credit_profile",
        verbose_name=_("member"),
    )
    limit = models.DecimalField(
        _("limit"), max_digits=12, decimal_places=2, default=ZERO
    )
    open_principal = models.DecimalField(
        _("open principal"), max_digits=12, decimal_places=2, default=ZERO
    )
    held = models.DecimalField(
        _("held for applications"), max_digits=12, decimal_places=2, default=ZERO
    )
    overdue_principal = models.DecimalField(
        _("overdue principal"), max_digits=12, decimal_places=2, default=ZERO
    )
    frozen = models.BooleanField(_("frozen"), default=False)
    frozen_reason = models.CharField(_("why frozen"), max_length=200, blank=True)
    valid_until = models.DateField(_("valid until"), null=True, blank=True)
    limit_started_on = models.DateField(
        _("limit started on"),
        null=True,
        blank=True,
        help_text=_(
            "Empty until the first score, and again after a blacklisting ends."
        ),
    )
    declared_monthly_income = models.DecimalField(
        _("declared monthly income"),
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
    )
    latest_score = models.ForeignKey(
        CreditScore,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("latest score"),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("credit profile")
        verbose_name_plural = _("credit profiles")
        constraints = [
            models.CheckConstraint(
                condition=Q(limit__gte=0) & Q(open_principal__gte=0) & Q(held__gte=0),
                name="credit_profile_amounts_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return str(self.member)

    @property
    def available(self) -> Decimal:
        if self.frozen:
            return ZERO
        return max(ZERO, self.limit - self.open_principal - self.held)


class LimitChange(models.Model):
    class Cause(models.TextChoices):
        FIRST_SCORE = "first_score", _("First score")
        SCORE_CEILING = "score_ceiling", _("Lowered to the grade's ceiling")
        GRADUATION = "graduation", _("Loans repaid on time")
        GUARANTOR_DEFAULT = "guarantor_default", _("Default of a guaranteed member")
        BRANCH_DEFAULT = "branch_default", _("Default in the branch")
        BLACKLISTED = "blacklisted", _("Member blacklisted")
        BLACKLIST_LIFTED = "blacklist_lifted", _("Blacklisting lifted")
        FROZEN = "frozen", _("Frozen")
        UNFROZEN = "unfrozen", _("Unfrozen")
        STAFF = "staff", _("Staff decision")

    profile = models.ForeignKey(
        CreditProfile,
        on_delete=models.PROTECT,
        related_name="changes",
        verbose_name=_("credit profile"),
    )
    cause = models.CharField(_("cause"), max_length=24, choices=Cause.choices)
    limit_before = models.DecimalField(
        _("limit before"), max_digits=12, decimal_places=2
    )
    limit_after = models.DecimalField(_("limit after"), max_digits=12, decimal_places=2)
    frozen_after = models.BooleanField(_("frozen after"))
    reference = models.CharField(
        _("reference"),
        max_length=64,
        blank=True,
        help_text=_("What caused it: a score, a loan, a member."),
    )
    note = models.CharField(_("note"), max_length=200, blank=True)
    on = models.DateField(_("business date"))
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
    )
    at = models.DateTimeField(_("at"), auto_now_add=True)

    class Meta:
        verbose_name = _("limit change")
        verbose_name_plural = _("limit changes")
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_cause_display()}: {self.limit_before} → {self.limit_after}"


class RepaymentEvent(models.Model):
    """What the loans app reports of a member's repayment behaviour.

    Credit keeps its own record so scoring never reads the loans app, which
    depends on credit and not the other way round.
    """

    class Kind(models.TextChoices):
        INSTALLMENT_ON_TIME = "installment_on_time", _("Installment paid on time")
        INSTALLMENT_LATE = "installment_late", _("Installment paid late")
        LOAN_OVERDUE = "loan_overdue", _("Loan fell overdue")
        LOAN_REPAID = "loan_repaid", _("Loan repaid")
        LOAN_DEFAULTED = "loan_defaulted", _("Loan defaulted")

    member = models.ForeignKey(
        Member,
        on_delete=models.PROTECT,
        related_name="repayment_events",
        verbose_name=_("member"),
    )
    kind = models.CharField(_("kind"), max_length=24, choices=Kind.choices)
    occurred_on = models.DateField(_("occurred on"))
    days_past_due = models.PositiveIntegerField(_("days past due"), default=0)
    on_time = models.BooleanField(
        _("whole loan repaid on time"),
        default=True,
        help_text=_("For a repaid loan: no installment was ever late."),
    )
    loan_reference = models.CharField(_("loan"), max_length=64)
    dedupe_key = models.CharField(max_length=128, unique=True, editable=False)

    class Meta:
        verbose_name = _("repayment event")
        verbose_name_plural = _("repayment events")
        ordering = ["-occurred_on", "-id"]
        indexes = [models.Index(fields=["member", "kind", "occurred_on"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} · {self.loan_reference}"


class BureauReport(models.Model):
    member = models.ForeignKey(
        Member,
        on_delete=models.PROTECT,
        related_name="bureau_reports",
        verbose_name=_("member"),
    )
    source = models.CharField(_("source"), max_length=64)
    reported_on = models.DateField(_("reported on"))
    reported_name = models.CharField(_("reported name"), max_length=50)
    reported_national_id_encrypted = models.TextField(editable=False)
    reported_national_id_masked = models.CharField(
        _("reported national ID"), max_length=18, editable=False
    )
    monthly_income = models.DecimalField(
        _("reported monthly income"), max_digits=12, decimal_places=2
    )
    external_overdue_count = models.PositiveIntegerField(_("outside overdue debts"))
    external_debt = models.DecimalField(
        _("outside debt"), max_digits=14, decimal_places=2
    )
    inquiries_90d = models.PositiveIntegerField(_("inquiries in 90 days"))
    raw_encrypted = models.TextField(editable=False)
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)
    received_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("received from"),
    )

    class Meta:
        verbose_name = _("bureau report")
        verbose_name_plural = _("bureau reports")
        ordering = ["-reported_on", "-id"]
        indexes = [models.Index(fields=["member", "-reported_on", "-id"])]

    def __str__(self) -> str:
        return f"{self.source} · {self.reported_on}"

    @property
    def reported_national_id(self) -> str:
        return pii.decrypt(self.reported_national_id_encrypted)

    @property
    def raw(self) -> str:
        return pii.decrypt(self.raw_encrypted)


class CreditFlag(models.Model):
    """A mismatch that blocks automatic approval until a risk officer clears it."""

    class Kind(models.TextChoices):
        NAME_MISMATCH = "name_mismatch", _("Name differs from the member's")
        NATIONAL_ID_MISMATCH = (
            "national_id_mismatch",
            _("National ID differs from the member's"),
        )
        INCOME_MISMATCH = "income_mismatch", _("Income differs from the declared")
        EXTERNAL_OVERDUE = "external_overdue", _("Overdue debts elsewhere")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        CLEARED = "cleared", _("Cleared")

    member = models.ForeignKey(
        Member,
        on_delete=models.PROTECT,
        related_name="credit_flags",
        verbose_name=_("member"),
    )
    report = models.ForeignKey(
        BureauReport,
        on_delete=models.PROTECT,
        related_name="flags",
        verbose_name=_("bureau report"),
    )
    kind = models.CharField(_("kind"), max_length=24, choices=Kind.choices)
    detail = models.CharField(_("detail"), max_length=200)
    status = models.CharField(
        _("status"), max_length=8, choices=Status.choices, default=Status.OPEN
    )
    cleared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("cleared by"),
    )
    cleared_at = models.DateTimeField(_("cleared at"), null=True, blank=True)
    clear_note = models.TextField(_("why cleared"), blank=True)

    class Meta:
        verbose_name = _("credit flag")
        verbose_name_plural = _("credit flags")
        ordering = ["-id"]
        indexes = [models.Index(fields=["member", "status"])]
        permissions = [("clear_creditflag", _("Can clear a credit flag"))]

    def __str__(self) -> str:
        return self.get_kind_display()

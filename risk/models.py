"""Risk: what the daily close records about the portfolio, the early-warning
rules and their alerts, and stress scenarios with their stored runs.

A `Snapshot` per business date and branch (and one for the whole book, with
no branch) keeps the figures staff read every morning. `LoanPosition` rows
keep each open loan's bucket at a month end, for roll rates, and
`DelinquencyMark` the first day a loan reached 30 days past due, for
vintages. Tiers, rules and scenarios are data that risk officers edit.
"""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from loans.models import Loan
from members.models import Branch, Member

ZERO = Decimal("0.00")
RATE = [MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(1))]


class Bucket(models.TextChoices):
    """Days-past-due buckets, in order of increasing delinquency."""

    CURRENT = "current", _("Current")
    DPD_1_30 = "1-30", _("1-30 days")
    DPD_31_60 = "31-60", _("31-60 days")
    DPD_61_90 = "61-90", _("61-90 days")
    DPD_OVER_90 = "90+", _("Over 90 days")


BUCKET_ORDER = [choice.value for choice in Bucket]


class TierCode(models.TextChoices):
    """The five-tier loan classification (五级分类)."""

    NORMAL = "normal", _("Normal (正常)")
    SPECIAL_MENTION = "special_mention", _("Special mention (关注)")
    SUBSTANDARD = "substandard", _("Substandard (次级)")
    DOUBTFUL = "doubtful", _("Doubtful (可疑)")
    LOSS = "loss", _("Loss (损失)")


TIER_ORDER = [choice.value for choice in TierCode]


class Tier(models.Model):
    """A tier of the classification: the days past due it starts at and its
    provision rate. A loan belongs to the tier with the highest start its
    days past due reach."""

    code = models.CharField(
        _("tier"), max_length=16, choices=TierCode.choices, unique=True
    )
    min_days = models.PositiveIntegerField(
        _("from days past due"),
        unique=True,
        help_text=_("A loan this many days past due or more is in this tier."),
    )
    provision_rate = models.DecimalField(
        _("provision rate"),
        max_digits=5,
        decimal_places=4,
        validators=RATE,
        help_text=_("Share of the tier's principal set aside, e.g. 0.2500."),
    )

    class Meta:
        verbose_name = _("classification tier")
        verbose_name_plural = _("classification tiers")
        ordering = ["min_days"]

    def __str__(self) -> str:
        return self.get_code_display()


class Snapshot(models.Model):
    """The portfolio as the close of one business date left it, for one
    branch or (with no branch) the whole book.

    `buckets` maps each `Bucket` to `{"count", "principal"}` and `tiers` each
    `TierCode` to `{"count", "principal", "provision"}`; amounts are decimal
    strings so nothing is lost to floats.
    """

    on = models.DateField(_("business date"))
    branch = models.ForeignKey(
        Branch,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="risk_snapshots",
        verbose_name=_("branch"),
    )
    loans_outstanding = models.PositiveIntegerField(_("loans outstanding"))
    principal_outstanding = models.DecimalField(
        _("principal outstanding"), max_digits=16, decimal_places=2
    )
    par1 = models.DecimalField(_("PAR 1"), max_digits=7, decimal_places=6)
    par30 = models.DecimalField(_("PAR 30"), max_digits=7, decimal_places=6)
    par90 = models.DecimalField(_("PAR 90"), max_digits=7, decimal_places=6)
    buckets = models.JSONField(_("by days-past-due bucket"), default=dict)
    tiers = models.JSONField(_("by classification tier"), default=dict)
    provision = models.DecimalField(_("provision"), max_digits=16, decimal_places=2)
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("portfolio snapshot")
        verbose_name_plural = _("portfolio snapshots")
        ordering = ["-on", "branch__name"]
        constraints = [
            models.UniqueConstraint(
                fields=["on", "branch"], name="risk_one_snapshot_per_branch_and_day"
            ),
            models.UniqueConstraint(
                fields=["on"],
                condition=Q(branch__isnull=True),
                name="risk_one_portfolio_snapshot_per_day",
            ),
        ]
        permissions = [("view_dashboard", _("Can see the risk dashboards"))]

    def __str__(self) -> str:
        return f"{self.on} {self.branch or _('portfolio')}"


class LoanPosition(models.Model):
    """An open loan at a month end: its bucket and principal outstanding."""

    on = models.DateField(_("month end"))
    loan = models.ForeignKey(
        Loan, on_delete=models.PROTECT, related_name="+", verbose_name=_("loan")
    )
    branch = models.ForeignKey(
        Branch, on_delete=models.PROTECT, related_name="+", verbose_name=_("branch")
    )
    bucket = models.CharField(_("bucket"), max_length=8, choices=Bucket.choices)
    principal = models.DecimalField(
        _("principal outstanding"), max_digits=14, decimal_places=2
    )

    class Meta:
        verbose_name = _("month-end loan position")
        verbose_name_plural = _("month-end loan positions")
        constraints = [
            models.UniqueConstraint(
                fields=["on", "loan"], name="risk_one_position_per_month"
            )
        ]

    def __str__(self) -> str:
        return f"{self.on} {self.loan_id} {self.bucket}"


class DelinquencyMark(models.Model):
    """The first business date a loan was 30 or more days past due."""

    loan = models.OneToOneField(
        Loan, on_delete=models.PROTECT, related_name="+", verbose_name=_("loan")
    )
    first_on = models.DateField(_("first 30+ days past due on"))

    class Meta:
        verbose_name = _("delinquency mark")
        verbose_name_plural = _("delinquency marks")

    def __str__(self) -> str:
        return f"{self.loan_id} {self.first_on}"


class Severity(models.TextChoices):
    INFO = "info", _("Information")
    WARNING = "warning", _("Warning")
    CRITICAL = "critical", _("Critical")


class WarningRule(models.Model):
    """An early-warning rule, evaluated by the close; its figures are data."""

    class Kind(models.TextChoices):
        FIRST_INSTALLMENT_MISSED = (
            "first_installment_missed",
            _("First installment missed"),
        )
        BRANCH_PAR30 = "branch_par30", _("Branch PAR 30 above a threshold")
        SCORE_DROP = "score_drop", _("Member's score dropped sharply")
        BUREAU_OVERDUE = (
            "bureau_overdue",
            _("New outside overdue debt in a bureau report"),
        )
        APPLICATION_BURST = (
            "application_burst",
            _("Several applications in a short time"),
        )
        GUARANTOR_RING = (
            "guarantor_ring",
            _("Members guaranteeing each other in a loop"),
        )
        BRANCH_CONCENTRATION = (
            "branch_concentration",
            _("Branch share of exposure above the policy limit"),
        )

    kind = models.CharField(_("rule"), max_length=32, choices=Kind.choices, unique=True)
    enabled = models.BooleanField(_("enabled"), default=True)
    severity = models.CharField(
        _("severity"), max_length=16, choices=Severity.choices, default=Severity.WARNING
    )
    threshold = models.DecimalField(
        _("threshold"),
        max_digits=12,
        decimal_places=4,
        default=Decimal(0),
        help_text=_(
            "The figure the rule compares against: a share for PAR 30 and "
            "concentration (0.1000 is 10 %), points for a score drop, a count "
            "for applications."
        ),
    )
    window_days = models.PositiveIntegerField(
        _("window (days)"),
        default=0,
        help_text=_("How far back the rule looks, where it looks back at all."),
    )
    pauses_branch = models.BooleanField(
        _("pauses lending in the branch"),
        default=False,
        help_text=_("Only for branch rules: a raised alert pauses new lending."),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("updated by"),
    )

    class Meta:
        verbose_name = _("early-warning rule")
        verbose_name_plural = _("early-warning rules")
        ordering = ["kind"]

    def __str__(self) -> str:
        return self.get_kind_display()


class Alert(models.Model):
    """What a rule found: its subject, the evidence, and who deals with it."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        ACKNOWLEDGED = "acknowledged", _("Acknowledged")
        RESOLVED = "resolved", _("Resolved")

    rule = models.ForeignKey(
        WarningRule,
        on_delete=models.PROTECT,
        related_name="alerts",
        verbose_name=_("rule"),
    )
    severity = models.CharField(_("severity"), max_length=16, choices=Severity.choices)
    subject = models.CharField(_("subject"), max_length=200)
    branch = models.ForeignKey(
        Branch,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="risk_alerts",
        verbose_name=_("branch"),
    )
    member = models.ForeignKey(
        Member,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="risk_alerts",
        verbose_name=_("member"),
    )
    loan = models.ForeignKey(
        Loan,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="risk_alerts",
        verbose_name=_("loan"),
    )
    evidence = models.JSONField(pgettext_lazy("alert", "evidence"), default=dict)
    raised_on = models.DateField(_("raised on"))
    dedupe_key = models.CharField(max_length=120, unique=True, editable=False)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.OPEN
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="risk_alerts",
        verbose_name=_("assignee"),
    )
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("acknowledged by"),
    )
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("resolved by"),
    )
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    note = models.TextField(_("note"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("alert")
        verbose_name_plural = _("alerts")
        ordering = ["-raised_on", "-id"]
        indexes = [models.Index(fields=["status", "-raised_on"])]
        permissions = [("handle_alert", _("Can acknowledge and resolve alerts"))]

    def __str__(self) -> str:
        return f"A{self.pk:06d} {self.subject}" if self.pk else self.subject


class StressScenario(models.Model):
    """A named set of shocks applied to the current book.

    `pd_multipliers` maps a credit grade (A to E) or a bucket to a factor on
    its default probability, e.g. `{"C": "1.5", "31-60": "2"}`.
    """

    name = models.CharField(_("name"), max_length=100, unique=True)
    description = models.TextField(_("description"), blank=True)
    pd_multipliers = models.JSONField(
        _("default probability multipliers"),
        default=dict,
        blank=True,
        help_text=_('By grade or bucket, e.g. {"C": "1.5", "31-60": "2"}.'),
    )
    lgd = models.DecimalField(
        _("loss given default"),
        max_digits=5,
        decimal_places=4,
        default=Decimal("0.6500"),
        validators=RATE,
    )
    shocked_branch = models.ForeignKey(
        Branch,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("branch shocked"),
        help_text=_("A branch whose members default together."),
    )
    branch_default_rate = models.DecimalField(
        _("default probability in the shocked branch"),
        max_digits=5,
        decimal_places=4,
        default=Decimal(0),
        validators=RATE,
    )
    contagion = models.DecimalField(
        _("contagion along guarantor ties"),
        max_digits=5,
        decimal_places=4,
        default=Decimal(0),
        validators=RATE,
        help_text=_("Chance that a guarantor defaults when the member they back does."),
    )
    simulations = models.PositiveIntegerField(
        _("simulations"),
        default=10000,
        validators=[MinValueValidator(100), MaxValueValidator(200000)],
    )
    seed = models.PositiveIntegerField(_("random seed"), default=20261204)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("stress scenario")
        verbose_name_plural = _("stress scenarios")
        ordering = ["name"]
        permissions = [("run_stress_test", _("Can run stress tests"))]

    def __str__(self) -> str:
        return self.name


class StressRun(models.Model):
    """A scenario run against the book of one date, its results stored whole."""

    scenario = models.ForeignKey(
        StressScenario,
        on_delete=models.PROTECT,
        related_name="runs",
        verbose_name=_("scenario"),
    )
    as_of = models.DateField(_("book as of"))
    seed = models.PositiveIntegerField(_("random seed"))
    simulations = models.PositiveIntegerField(_("simulations"))
    exposure = models.DecimalField(_("exposure"), max_digits=16, decimal_places=2)
    expected_loss = models.DecimalField(
        _("expected loss, unstressed"), max_digits=16, decimal_places=2
    )
    stressed_loss = models.DecimalField(
        _("expected loss, stressed"), max_digits=16, decimal_places=2
    )
    provision = models.DecimalField(
        _("provision held"), max_digits=16, decimal_places=2
    )
    results = models.JSONField(_("results"), default=dict)
    run_at = models.DateTimeField(_("run at"), auto_now_add=True)
    run_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("run by"),
    )

    class Meta:
        verbose_name = _("stress run")
        verbose_name_plural = _("stress runs")
        ordering = ["-run_at", "-id"]

    def __str__(self) -> str:
        return f"{self.scenario} · {self.as_of}"

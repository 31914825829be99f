"""Collections: the escalation ladder, cases and contacts, hardship plans,
mediation and legal referral, and the outbox every message goes through.

The ladder is data (`EscalationPolicy` and its `LadderStep`s), edited by
risk officers; `collection.cob` walks it in the daily close. Messages are
outbox rows written in the same transaction as their cause and sent by a
Celery task through the channel backends of `settings.MESSAGE_BACKENDS`.
"""

from datetime import time
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from loans.models import Loan
from members.models import EmergencyContact, Member

ZERO = Decimal("0.00")


class Stage(models.TextChoices):
    REMINDER = "reminder", _("Reminder")
    GRACE = "grace", _("Grace")
    EARLY = "early", _("Early")
    MID = "mid", _("Mid")
    LATE = "late", _("Late")
    BLACKLISTED = "blacklisted", _("Blacklisted")


# The order in which a case climbs the ladder.
STAGE_ORDER = [choice.value for choice in Stage]


class Cause(models.TextChoices):
    CASH_SHORTAGE = "cash_shortage", _("Short-term cash shortage")
    ACCIDENT_ILLNESS = "accident_illness", _("Accident or illness")
    UNWILLING = "unwilling", _("Unwilling to pay")
    OTHER = "other", _("Other")


class Purpose(models.TextChoices):
    """Why a message is sent; each purpose has one template per language."""

    REMINDER_AHEAD = "reminder_ahead", _("Reminder before the due date")
    REMINDER_DUE = "reminder_due", _("Reminder on the due date")
    GRACE = "grace", _("Grace days left")
    EARLY = "early", _("Overdue, with the hardship plan link")
    MID = "mid", _("Mediation offered")
    LATE = "late", _("Formal notice")
    LEADER = "leader", _("Branch leader asked to help restore contact")
    GUARANTOR = "guarantor", _("Guarantor told")
    CONTACT_RESTORE = "contact_restore", _("Emergency contact asked to pass a message")
    HARDSHIP_DECISION = "hardship_decision", _("Hardship plan decision")


# Messages to someone other than the borrower: they never state the debt.
THIRD_PARTY_PURPOSES = {Purpose.LEADER, Purpose.GUARANTOR, Purpose.CONTACT_RESTORE}
# Messages that are collection contact, held back during the quiet hours.
COLLECTION_PURPOSES = {
    Purpose.GRACE,
    Purpose.EARLY,
    Purpose.MID,
    Purpose.LATE,
    *THIRD_PARTY_PURPOSES,
}


class EscalationPolicy(models.Model):
    """The collection policy: contact rules and hardship limits. One row."""

    quiet_from = models.TimeField(
        _("quiet hours start"),
        default=time(22, 0),
        help_text=_("No collection contact from this time, borrower's time."),
    )
    quiet_until = models.TimeField(
        _("quiet hours end"),
        default=time(8, 0),
        help_text=_("Queued messages wait until this time."),
    )
    calls_per_day = models.PositiveSmallIntegerField(
        _("call attempts a day to one number"), default=6
    )
    max_restructures = models.PositiveSmallIntegerField(
        _("restructures allowed per loan"), default=1
    )
    penalty_waiver = models.DecimalField(
        _("penalty waived by a hardship plan"),
        max_digits=5,
        decimal_places=4,
        default=Decimal("0.5000"),
        validators=[MinValueValidator(0), MaxValueValidator(1)],
        help_text=_("As a fraction: 0.5 waives half of the unpaid penalty."),
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
        verbose_name = _("escalation policy")
        verbose_name_plural = _("escalation policy")

    def __str__(self) -> str:
        return str(_("Escalation policy"))

    @classmethod
    def current(cls) -> "EscalationPolicy":
        policy, _created = cls.objects.get_or_create(pk=1)
        return policy


class LadderStep(models.Model):
    """A rung of the ladder: when it is reached and what it does.

    The day is counted from the oldest unpaid due date (negative before it),
    from the end of the loan's grace days, or from its blacklisting
    threshold, so one ladder fits products with different terms.
    """

    class Anchor(models.TextChoices):
        DUE_DATE = "due_date", _("days from the oldest unpaid due date")
        GRACE_END = "grace_end", _("days past the grace days")
        BLACKLIST = "blacklist", _("days past the blacklisting threshold")

    policy = models.ForeignKey(
        EscalationPolicy,
        on_delete=models.CASCADE,
        related_name="steps",
        verbose_name=_("escalation policy"),
    )
    stage = models.CharField(_("stage"), max_length=16, choices=Stage.choices)
    anchor = models.CharField(
        _("counted"), max_length=16, choices=Anchor.choices, default=Anchor.DUE_DATE
    )
    day = models.SmallIntegerField(_("on day"))
    message = models.CharField(
        _("message to the borrower"),
        max_length=24,
        choices=[(p.value, p.label) for p in Purpose if p not in THIRD_PARTY_PURPOSES],
        blank=True,
    )
    open_case = models.BooleanField(_("open a case and assign a collector"))
    call_task = models.BooleanField(_("plan a call"), default=False)
    tell_leader = models.BooleanField(
        _("tell the branch leader (with the borrower's consent)"), default=False
    )
    offer_mediation = models.BooleanField(_("offer mediation"), default=False)
    prepare_legal = models.BooleanField(_("prepare a legal referral"), default=False)
    tell_guarantors = models.BooleanField(_("tell the guarantors"), default=False)

    class Meta:
        verbose_name = _("ladder step")
        verbose_name_plural = _("ladder steps")
        ordering = ["policy", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["policy", "anchor", "day"], name="collection_one_step_a_day"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_stage_display()} ({self.get_anchor_display()} {self.day})"

    def reached_at(self, *, grace_days: int, blacklist_days: int) -> int:
        """The days past due at which a loan with these terms reaches it."""
        if self.anchor == self.Anchor.GRACE_END:
            return grace_days + self.day
        if self.anchor == self.Anchor.BLACKLIST:
            return blacklist_days + self.day
        return self.day

    @property
    def starts_case_work(self) -> bool:
        """Steps from the first case onwards belong to the case's episode."""
        return STAGE_ORDER.index(self.stage) >= STAGE_ORDER.index(Stage.EARLY)


class MessageTemplate(models.Model):
    """The words of one purpose in one language, edited by risk staff.

    Placeholders are `${name}`; `collection.templates` lists the names each
    purpose may use and checks the words before a template is saved.
    """

    class Language(models.TextChoices):
        ZH_HANS = "zh-hans", _("Simplified Chinese")
        EN = "en", _("English")

    purpose = models.CharField(_("purpose"), max_length=24, choices=Purpose.choices)
    language = models.CharField(
        _("language"), max_length=8, choices=Language.choices, default=Language.ZH_HANS
    )
    body = models.TextField(_("text"))
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("message template")
        verbose_name_plural = _("message templates")
        ordering = ["purpose", "language"]
        constraints = [
            models.UniqueConstraint(
                fields=["purpose", "language"], name="collection_one_template_each"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_purpose_display()} ({self.language})"


class ContactConsent(models.Model):
    """What a borrower agreed to: contact at night, or their branch leader told."""

    class Kind(models.TextChoices):
        NIGHT = "night", _("Contact during the quiet hours")
        LEADER = "leader", _("Branch leader may be told")

    member = models.ForeignKey(
        Member,
        on_delete=models.PROTECT,
        related_name="contact_consents",
        verbose_name=_("member"),
    )
    kind = models.CharField(_("consent to"), max_length=8, choices=Kind.choices)
    given_at = models.DateTimeField(_("given at"))
    evidence = models.CharField(_("evidence"), max_length=200)
    withdrawn_at = models.DateTimeField(_("withdrawn at"), null=True, blank=True)

    class Meta:
        verbose_name = _("contact consent")
        verbose_name_plural = _("contact consents")
        ordering = ["member", "kind", "-given_at"]

    def __str__(self) -> str:
        return f"{self.member_id} {self.get_kind_display()}"


class CollectionCase(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        PROMISED = "promised", _("Promised to pay")
        RESOLVED = "resolved", _("Resolved")
        LEGAL = "legal", _("Referred to legal")
        CLOSED = "closed", _("Closed")

    OPEN_STATUSES = (Status.OPEN, Status.PROMISED, Status.LEGAL)

    loan = models.ForeignKey(
        Loan,
        on_delete=models.PROTECT,
        related_name="collection_cases",
        verbose_name=_("loan"),
    )
    stage = models.CharField(_("stage"), max_length=16, choices=Stage.choices)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.OPEN
    )
    collector = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="collection_cases",
        verbose_name=_("collector"),
    )
    opened_on = models.DateField(_("opened on"))
    next_action_on = models.DateField(_("next action on"))
    cause = models.CharField(
        _("cause of the delinquency"), max_length=24, choices=Cause.choices, blank=True
    )
    resolved_on = models.DateField(_("resolved on"), null=True, blank=True)
    closed_on = models.DateField(_("closed on"), null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("closed by"),
    )
    review = models.TextField(
        _("closing review"),
        blank=True,
        help_text=_("What was learnt from this case."),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("collection case")
        verbose_name_plural = _("collection cases")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["loan"],
                condition=Q(status__in=["open", "promised", "legal"]),
                name="collection_one_open_case_per_loan",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_action_on"]),
            models.Index(fields=["stage", "status"]),
        ]
        permissions = [
            ("work_case", _("Can record contacts and classify cases")),
            ("decide_hardship", _("Can approve or refuse hardship plans")),
        ]

    def __str__(self) -> str:
        return f"C{self.pk:07d}" if self.pk else "C(new)"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES


class StepDone(models.Model):
    """A ladder step taken for a loan, so it is never taken twice.

    Reminder and grace steps belong to the unpaid installment they speak of
    (`due_date`); steps from the first case on belong to that case.
    """

    loan = models.ForeignKey(Loan, on_delete=models.PROTECT, related_name="+")
    step = models.ForeignKey(LadderStep, on_delete=models.PROTECT, related_name="+")
    due_date = models.DateField(null=True, blank=True)
    case = models.ForeignKey(
        CollectionCase,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="steps_done",
    )
    on = models.DateField(_("business date"))

    class Meta:
        verbose_name = _("ladder step taken")
        verbose_name_plural = _("ladder steps taken")
        constraints = [
            models.UniqueConstraint(
                fields=["loan", "step", "due_date"],
                condition=Q(case__isnull=True),
                name="collection_step_once_per_installment",
            ),
            models.UniqueConstraint(
                fields=["case", "step"],
                condition=Q(case__isnull=False),
                name="collection_step_once_per_case",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.loan_id} {self.step_id} {self.on}"


class Contact(models.Model):
    class Channel(models.TextChoices):
        SMS = "sms", _("SMS")
        CALL = "call", _("Call")
        VISIT = "visit", _("Visit")
        LETTER = "letter", _("Letter")
        BRANCH_LEADER = "branch_leader", _("Through the branch leader")

    class Party(models.TextChoices):
        BORROWER = "borrower", _("Borrower")
        EMERGENCY_CONTACT = "emergency_contact", _("Designated emergency contact")
        BRANCH_LEADER = "branch_leader", _("Branch leader")

    class Outcome(models.TextChoices):
        REACHED = "reached", _("Reached")
        NO_ANSWER = "no_answer", _("No answer")
        PROMISED = "promised", _("Promised to pay")
        REFUSED = "refused", _("Refused to pay")
        HARDSHIP = "hardship", _("Reported hardship")
        WRONG_NUMBER = "wrong_number", _("Wrong number")
        MESSAGE_LEFT = "message_left", _("Message left")

    class Promise(models.TextChoices):
        NONE = "", _("No promise")
        PENDING = "pending", _("Awaiting its date")
        KEPT = "kept", _("Kept")
        BROKEN = "broken", _("Broken")

    case = models.ForeignKey(
        CollectionCase,
        on_delete=models.PROTECT,
        related_name="contacts",
        verbose_name=_("case"),
    )
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    party = models.CharField(
        _("contacted"), max_length=24, choices=Party.choices, default=Party.BORROWER
    )
    emergency_contact = models.ForeignKey(
        EmergencyContact,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("emergency contact"),
    )
    # The keyed hash of the number dialled, so attempts per number are
    # counted without keeping the number itself.
    number_digest = models.CharField(max_length=64, blank=True, editable=False)
    at = models.DateTimeField(_("at"))
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("by"),
    )
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices)
    note = models.TextField(_("note"), blank=True)
    promise_date = models.DateField(_("promised for"), null=True, blank=True)
    promise_amount = models.DecimalField(
        _("amount promised"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    promise = models.CharField(
        _("promise"), max_length=8, choices=Promise.choices, default="", blank=True
    )

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["number_digest", "at"]),
            models.Index(fields=["promise", "promise_date"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} {self.at:%Y-%m-%d %H:%M}"


class CallTask(models.Model):
    """A call a collector should make, planned by the ladder."""

    case = models.ForeignKey(
        CollectionCase,
        on_delete=models.CASCADE,
        related_name="call_tasks",
        verbose_name=_("case"),
    )
    due_on = models.DateField(_("due on"))
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)

    class Meta:
        verbose_name = _("call task")
        verbose_name_plural = _("call tasks")
        ordering = ["due_on", "id"]

    def __str__(self) -> str:
        return f"{self.case} {self.due_on}"


class Mediation(models.Model):
    class Status(models.TextChoices):
        OFFERED = "offered", _("Offered")
        SCHEDULED = "scheduled", _("Scheduled")
        AGREED = "agreed", _("Agreement reached")
        FAILED = "failed", _("No agreement")
        DECLINED = "declined", _("Declined by the borrower")

    case = models.ForeignKey(
        CollectionCase,
        on_delete=models.PROTECT,
        related_name="mediations",
        verbose_name=_("case"),
    )
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.OFFERED
    )
    offered_on = models.DateField(_("offered on"))
    mediator = models.CharField(_("mediator"), max_length=100, blank=True)
    held_on = models.DateField(_("held on"), null=True, blank=True)
    outcome = models.TextField(_("outcome"), blank=True)
    document = models.FileField(
        _("document"), upload_to="collection/mediation/", blank=True
    )

    class Meta:
        verbose_name = _("mediation")
        verbose_name_plural = _("mediations")
        ordering = ["-offered_on", "-id"]

    def __str__(self) -> str:
        return f"{self.case} {self.get_status_display()}"


class LegalReferral(models.Model):
    class Status(models.TextChoices):
        PREPARED = "prepared", _("Prepared, waiting for review")
        APPROVED = "approved", _("Approved for referral")
        FILED = "filed", _("Filed with the court")
        CLOSED = "closed", _("Closed")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    case = models.ForeignKey(
        CollectionCase,
        on_delete=models.PROTECT,
        related_name="referrals",
        verbose_name=_("case"),
    )
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.PREPARED
    )
    prepared_on = models.DateField(_("prepared on"))
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("reviewed by"),
    )
    reviewed_on = models.DateField(_("reviewed on"), null=True, blank=True)
    counsel = models.CharField(_("counsel"), max_length=100, blank=True)
    note = models.TextField(_("note"), blank=True)
    document = models.FileField(
        _("document"), upload_to="collection/legal/", blank=True
    )

    class Meta:
        verbose_name = _("legal referral")
        verbose_name_plural = _("legal referrals")
        ordering = ["-prepared_on", "-id"]

    def __str__(self) -> str:
        return f"{self.case} {self.get_status_display()}"


class HardshipRequest(models.Model):
    class Status(models.TextChoices):
        REQUESTED = "requested", _("Waiting for a decision")
        APPROVED = "approved", _("Approved")
        REFUSED = "refused", _("Refused")

    INSTALLMENT_CHOICES = [(3, "3"), (6, "6"), (12, "12")]

    loan = models.ForeignKey(
        Loan,
        on_delete=models.PROTECT,
        related_name="hardship_requests",
        verbose_name=_("loan"),
    )
    cause = models.CharField(_("cause"), max_length=24, choices=Cause.choices)
    installments = models.PositiveSmallIntegerField(
        _("installments"), choices=INSTALLMENT_CHOICES
    )
    note = models.TextField(_("what happened"), blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.REQUESTED
    )
    requested_on = models.DateField(_("requested on"))
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("requested by"),
    )
    decided_on = models.DateField(_("decided on"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decision_note = models.TextField(_("decision note"), blank=True)

    class Meta:
        verbose_name = _("hardship request")
        verbose_name_plural = _("hardship requests")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["loan"],
                condition=Q(status="requested"),
                name="collection_one_pending_hardship_per_loan",
            ),
        ]

    def __str__(self) -> str:
        return f"H{self.pk:07d}" if self.pk else "H(new)"


class Message(models.Model):
    """One outbox row: written with its cause, sent once by a task."""

    class Channel(models.TextChoices):
        SMS = "sms", _("SMS")
        INBOX = "inbox", _("In-app inbox")

    class Audience(models.TextChoices):
        BORROWER = "borrower", _("Borrower")
        BRANCH_LEADER = "branch_leader", _("Branch leader")
        GUARANTOR = "guarantor", _("Guarantor")
        EMERGENCY_CONTACT = "emergency_contact", _("Emergency contact")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    member = models.ForeignKey(
        Member,
        on_delete=models.PROTECT,
        related_name="messages",
        verbose_name=_("borrower"),
    )
    loan = models.ForeignKey(
        Loan,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="messages",
        verbose_name=_("loan"),
    )
    purpose = models.CharField(_("purpose"), max_length=24, choices=Purpose.choices)
    audience = models.CharField(
        _("recipient"),
        max_length=24,
        choices=Audience.choices,
        default=Audience.BORROWER,
    )
    # The recipient when it is not the borrower: a member (leader, guarantor)
    # or a designated emergency contact. Numbers are looked up when sending.
    recipient_member = models.ForeignKey(
        Member,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("recipient member"),
    )
    recipient_contact = models.ForeignKey(
        EmergencyContact,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("recipient contact"),
    )
    channel = models.CharField(
        _("channel"), max_length=8, choices=Channel.choices, default=Channel.SMS
    )
    language = models.CharField(_("language"), max_length=8, default="zh-hans")
    body = models.TextField(_("text"))
    dedupe_key = models.CharField(max_length=120, unique=True, editable=False)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.QUEUED
    )
    scheduled_for = models.DateTimeField(_("scheduled for"))
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.CharField(_("last error"), max_length=200, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["status", "scheduled_for"]),
            models.Index(fields=["member", "audience", "status"]),
            # The admin list's dates, over every status.
            models.Index(fields=["scheduled_for"], name="collection_msg_scheduled_idx"),
        ]
        permissions = [("resend_message", _("Can send a failed message again"))]

    def __str__(self) -> str:
        return f"M{self.pk:08d}" if self.pk else "M(new)"

    @property
    def is_collection(self) -> bool:
        return self.purpose in COLLECTION_PURPOSES

"""Branches (支部), their members, and what the platform knows of each.

A member's KYC status and membership status are state machines: they change
only through the transitions below, called by `members.services`, which also
write a `MemberEvent` for each change.
"""

from datetime import date, timedelta

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMField, transition

from members import pii


class Branch(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        PAUSED = "paused", _("Lending paused")

    name = models.CharField(_("name"), max_length=100, unique=True)
    region = models.CharField(_("region"), max_length=100)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE
    )
    paused_reason = models.CharField(_("reason for pause"), max_length=200, blank=True)
    created_on = models.DateField(_("created on"))
    staff = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="staffed_branches",
        verbose_name=_("staff in charge"),
        help_text=_("Staff who work this branch and may see its members."),
    )

    class Meta:
        verbose_name = _("branch")
        verbose_name_plural = _("branches")
        ordering = ["name"]
        permissions = [
            ("view_all_branches", _("Can see every branch")),
            ("pause_branch", _("Can pause and resume lending in a branch")),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def leader(self) -> "Member | None":
        return self.members.filter(branch_role=Member.BranchRole.LEADER).first()


class Member(models.Model):
    class KycStatus(models.TextChoices):
        PENDING = "pending", _("Pending")
        VERIFIED = "verified", _("Verified")
        REJECTED = "rejected", _("Rejected")

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        BLACKLISTED = "blacklisted", _("Blacklisted")
        EXITED = "exited", _("Exited")

    class BranchRole(models.TextChoices):
        LEADER = "leader", _("Branch leader")
        DEPUTY = "deputy", _("Deputy leader")
        MEMBER = "member", _("Member")

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="member",
        verbose_name=_("user account"),
    )
    branch = models.ForeignKey(
        Branch,
        on_delete=models.PROTECT,
        related_name="members",
        verbose_name=_("branch"),
    )
    real_name = models.CharField(_("real name"), max_length=50)
    national_id_encrypted = models.TextField(editable=False)
    national_id_digest = models.CharField(max_length=64, unique=True, editable=False)
    national_id_masked = models.CharField(
        _("national ID"), max_length=18, editable=False, db_index=True
    )
    phone_encrypted = models.TextField(editable=False)
    phone_digest = models.CharField(max_length=64, unique=True, editable=False)
    phone_masked = models.CharField(_("mobile phone"), max_length=11, editable=False)
    branch_role = models.CharField(
        _("role in branch"),
        max_length=16,
        choices=BranchRole.choices,
        default=BranchRole.MEMBER,
    )
    kyc_status = FSMField(
        _("KYC status"),
        max_length=16,
        choices=KycStatus.choices,
        default=KycStatus.PENDING,
    )
    kyc_rejection_reason = models.CharField(
        _("KYC rejection reason"), max_length=200, blank=True
    )
    kyc_reviewed_at = models.DateTimeField(_("KYC reviewed at"), null=True, blank=True)
    kyc_reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("KYC reviewed by"),
    )
    status = FSMField(
        _("member status"),
        max_length=16,
        choices=Status.choices,
        default=Status.ACTIVE,
    )
    joined_on = models.DateField(_("joined on"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("member")
        verbose_name_plural = _("members")
        ordering = ["branch__name", "real_name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["branch"],
                condition=Q(branch_role="leader"),
                name="members_one_leader_per_branch",
            ),
        ]
        indexes = [
            # The branch's members without reading their rows: a staff
            # user's loans are counted through it (the API's loan list), in
            # half the time of the members' table read whole (PostgreSQL;
            # elsewhere an index on the branch alone).
            models.Index(
                fields=["branch"], include=["id"], name="member_branch_with_id"
            ),
            models.Index(fields=["branch", "status"]),
            models.Index(fields=["kyc_status"]),
        ]
        permissions = [
            ("verify_kyc", _("Can verify or reject a member's KYC")),
            ("blacklist_member", _("Can blacklist a member")),
            ("lift_blacklist", _("Can lift a member off the blacklist")),
        ]

    def __str__(self) -> str:
        return f"{self.real_name} ({self.national_id_masked})"

    @property
    def national_id(self) -> str:
        return pii.decrypt(self.national_id_encrypted)

    @property
    def phone(self) -> str:
        return pii.decrypt(self.phone_encrypted)

    def set_national_id(self, value: str) -> None:
        """Store a validated, normalised national ID number protected."""
        self.national_id_encrypted = pii.encrypt(value)
        self.national_id_digest = pii.digest("national_id", value)
        self.national_id_masked = pii.mask_national_id(value)

    def set_phone(self, value: str) -> None:
        """Store a validated, normalised mobile number protected."""
        self.phone_encrypted = pii.encrypt(value)
        self.phone_digest = pii.digest("phone", value)
        self.phone_masked = pii.mask_phone(value)

    @transition(field=kyc_status, source=KycStatus.PENDING, target=KycStatus.VERIFIED)
    def verify_kyc(self) -> None:
        self.kyc_rejection_reason = ""

    @transition(field=kyc_status, source=KycStatus.PENDING, target=KycStatus.REJECTED)
    def reject_kyc(self, reason: str) -> None:
        self.kyc_rejection_reason = reason

    @transition(field=kyc_status, source=KycStatus.REJECTED, target=KycStatus.PENDING)
    def resubmit_kyc(self) -> None:
        self.kyc_rejection_reason = ""

    @transition(field=status, source=Status.ACTIVE, target=Status.BLACKLISTED)
    def blacklist(self) -> None:
        pass

    @transition(field=status, source=Status.BLACKLISTED, target=Status.ACTIVE)
    def lift_blacklist(self) -> None:
        pass

    @transition(field=status, source=Status.ACTIVE, target=Status.EXITED)
    def exit(self) -> None:
        pass


class MemberEvent(models.Model):
    """One change to a member's KYC, status, role or blacklist standing."""

    class Kind(models.TextChoices):
        REGISTERED = "registered", _("Registered")
        KYC_VERIFIED = "kyc_verified", _("KYC verified")
        KYC_REJECTED = "kyc_rejected", _("KYC rejected")
        KYC_RESUBMITTED = "kyc_resubmitted", _("KYC resubmitted")
        BLACKLISTED = "blacklisted", _("Blacklisted")
        BLACKLIST_DEBT_SETTLED = "blacklist_debt_settled", _("Blacklist debt settled")
        BLACKLIST_LIFTED = "blacklist_lifted", _("Blacklist lifted")
        EXITED = "exited", _("Exited")
        ROLE_CHANGED = "role_changed", _("Role changed")

    member = models.ForeignKey(
        Member,
        on_delete=models.PROTECT,
        related_name="events",
        verbose_name=_("member"),
    )
    kind = models.CharField(_("event"), max_length=32, choices=Kind.choices)
    from_value = models.CharField(_("from"), max_length=32, blank=True)
    to_value = models.CharField(_("to"), max_length=32, blank=True)
    note = models.TextField(_("note"), blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
    )
    at = models.DateTimeField(_("at"), auto_now_add=True)

    class Meta:
        verbose_name = _("member event")
        verbose_name_plural = _("member events")
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.member_id})"


class BlacklistEntry(models.Model):
    """One blacklisting of a member, open until it is lifted."""

    class Source(models.TextChoices):
        LOAN = "loan", _("Loan default")
        FRAUD = "fraud", _("Fraud")
        BUREAU = "bureau", _("Credit bureau")
        STAFF = "staff", _("Staff decision")

    member = models.ForeignKey(
        Member,
        on_delete=models.PROTECT,
        related_name="blacklist_entries",
        verbose_name=_("member"),
    )
    reason = models.TextField(_("reason"))
    source = models.CharField(_("source"), max_length=16, choices=Source.choices)
    source_reference = models.CharField(
        _("source reference"),
        max_length=64,
        blank=True,
        help_text=_("For example the loan number that defaulted."),
    )
    blacklisted_on = models.DateField(_("blacklisted on"))
    blacklisted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("blacklisted by"),
    )
    debt_settled_on = models.DateField(
        _("debt settled on"),
        null=True,
        blank=True,
        help_text=_("Empty while debt from this entry's cause is still owed."),
    )
    lifted_on = models.DateField(_("lifted on"), null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("lifted by"),
    )
    lift_reason = models.TextField(_("reason for lifting"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("blacklist entry")
        verbose_name_plural = _("blacklist")
        ordering = ["-blacklisted_on", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["member"],
                condition=Q(lifted_on__isnull=True),
                name="members_one_open_blacklist_entry",
            ),
            models.CheckConstraint(
                condition=Q(lifted_on__isnull=True)
                | Q(lifted_on__gte=F("blacklisted_on")),
                name="members_blacklist_lifted_after_listed",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.member} · {self.blacklisted_on}"

    @property
    def is_open(self) -> bool:
        return self.lifted_on is None


class BlacklistRule(models.Model):
    """When a blacklisted member may be lifted. One row, edited by risk staff.

    The cooling-off period runs from the day the debt was settled, or from
    the day of blacklisting when the entry carries no debt.
    """

    require_debt_settled = models.BooleanField(
        _("debt must be settled"),
        default=True,
        help_text=_("Refuse to lift while the debt behind the entry is unpaid."),
    )
    cooling_off_days = models.PositiveIntegerField(
        _("cooling-off days"),
        default=180,
        help_text=_("Days that must pass after settlement before lifting."),
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
        verbose_name = _("blacklist lifting rule")
        verbose_name_plural = _("blacklist lifting rule")

    def __str__(self) -> str:
        return str(_("Blacklist lifting rule"))

    @classmethod
    def current(cls) -> "BlacklistRule":
        rule, _created = cls.objects.get_or_create(pk=1)
        return rule

    def cooling_off_ends(self, entry: BlacklistEntry) -> date | None:
        """The first day the entry may be lifted, if its debt allows it."""
        start = entry.debt_settled_on or entry.blacklisted_on
        if self.require_debt_settled and entry.debt_settled_on is None:
            return None
        return start + timedelta(days=self.cooling_off_days)


class GuarantorTie(models.Model):
    """A member vouching for another member of the branch, up to an amount."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        RELEASED = "released", _("Released")

    guarantor = models.ForeignKey(
        Member,
        on_delete=models.PROTECT,
        related_name="guarantees_given",
        verbose_name=_("guarantor"),
    )
    borrower = models.ForeignKey(
        Member,
        on_delete=models.PROTECT,
        related_name="guarantees_received",
        verbose_name=_("guaranteed member"),
    )
    amount = models.DecimalField(
        _("amount guaranteed"), max_digits=12, decimal_places=2
    )
    consented_at = models.DateTimeField(_("guarantor consented at"))
    consent_evidence = models.CharField(
        _("consent evidence"),
        max_length=200,
        help_text=_("How the guarantor consented, e.g. signed form number."),
    )
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("recorded by"),
    )
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True)
    released_at = models.DateTimeField(_("released at"), null=True, blank=True)

    class Meta:
        verbose_name = _("guarantor tie")
        verbose_name_plural = _("guarantor ties")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(guarantor=F("borrower")),
                name="members_guarantor_is_not_borrower",
            ),
            models.CheckConstraint(
                condition=Q(amount__gt=0), name="members_guarantee_amount_positive"
            ),
            models.UniqueConstraint(
                fields=["guarantor", "borrower"],
                condition=Q(status="active"),
                name="members_one_active_tie_per_pair",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.guarantor} → {self.borrower}"


class EmergencyContact(models.Model):
    """A third party the member designated; the only kind collections may call."""

    class Relationship(models.TextChoices):
        SPOUSE = "spouse", _("Spouse")
        PARENT = "parent", _("Parent")
        CHILD = "child", _("Child")
        SIBLING = "sibling", _("Sibling")
        RELATIVE = "relative", _("Other relative")
        FRIEND = "friend", _("Friend")
        COLLEAGUE = "colleague", _("Colleague")

    member = models.ForeignKey(
        Member,
        on_delete=models.PROTECT,
        related_name="emergency_contacts",
        verbose_name=_("member"),
    )
    name = models.CharField(_("name"), max_length=50)
    relationship = models.CharField(
        _("relationship"), max_length=16, choices=Relationship.choices
    )
    phone_encrypted = models.TextField(editable=False)
    phone_digest = models.CharField(max_length=64, editable=False, db_index=True)
    phone_masked = models.CharField(_("mobile phone"), max_length=11, editable=False)
    consented_at = models.DateTimeField(_("member consented at"))
    consent_evidence = models.CharField(_("consent evidence"), max_length=200)
    withdrawn_at = models.DateTimeField(
        _("consent withdrawn at"), null=True, blank=True
    )
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("emergency contact")
        verbose_name_plural = _("emergency contacts")
        ordering = ["member", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.phone_masked})"

    @property
    def phone(self) -> str:
        return pii.decrypt(self.phone_encrypted)

    def set_phone(self, value: str) -> None:
        self.phone_encrypted = pii.encrypt(value)
        self.phone_digest = pii.digest("phone", value)
        self.phone_masked = pii.mask_phone(value)

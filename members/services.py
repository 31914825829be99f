"""Business operations on branches and members: the only writers.

Every function is keyword-only and atomic. Rules a user can break raise
Django's `ValidationError`, keyed by field where one field is at fault, with
a message in the user's language; the admin, the pages and the API show it.
"""

import logging
import uuid
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_fsm import can_proceed

from members import pii
from members.events import EventKind, event_emit
from members.models import (
    BlacklistEntry,
    BlacklistRule,
    Branch,
    EmergencyContact,
    GuarantorTie,
    Member,
    MemberEvent,
)
from members.selectors import blacklist_lift_blockers
from members.validators import normalise_mobile, validate_national_id

logger = logging.getLogger(__name__)

Actor = User | AnonymousUser | None


def _actor(by: Actor) -> User | None:
    return by if isinstance(by, User) else None


def _locked(member: Member) -> Member:
    return Member.objects.select_for_update().get(pk=member.pk)


def _record(
    member: Member,
    kind: MemberEvent.Kind,
    *,
    by: Actor,
    before: str = "",
    after: str = "",
    note: str = "",
) -> MemberEvent:
    return MemberEvent.objects.create(
        member=member,
        kind=kind,
        from_value=before,
        to_value=after,
        note=note,
        actor=_actor(by),
    )


def _require_text(value: str, field: str, message: str) -> str:
    value = (value or "").strip()
    if not value:
        raise ValidationError({field: message})
    return value


@transaction.atomic
def branch_create(*, name: str, region: str, created_on: date) -> Branch:
    name = _require_text(name, "name", _("Give the branch a name."))
    region = _require_text(region, "region", _("Say which region the branch is in."))
    if Branch.objects.filter(name=name).exists():
        raise ValidationError({"name": _("A branch with this name already exists.")})

    branch = Branch.objects.create(name=name, region=region, created_on=created_on)

    logger.info("Branch %s: created", branch.pk)
    return branch


@transaction.atomic
def branch_pause(*, branch: Branch, reason: str) -> Branch:
    reason = _require_text(reason, "reason", _("Say why lending is paused."))
    branch = Branch.objects.select_for_update().get(pk=branch.pk)
    branch.status = Branch.Status.PAUSED
    branch.paused_reason = reason
    branch.save(update_fields=["status", "paused_reason"])

    logger.info("Branch %s: lending paused", branch.pk)
    return branch


@transaction.atomic
def branch_resume(*, branch: Branch) -> Branch:
    branch = Branch.objects.select_for_update().get(pk=branch.pk)
    branch.status = Branch.Status.ACTIVE
    branch.paused_reason = ""
    branch.save(update_fields=["status", "paused_reason"])

    logger.info("Branch %s: lending resumed", branch.pk)
    return branch


def member_identity_clean(
    *, national_id: str, phone: str, today: date
) -> tuple[str, str]:
    """Validate and normalise both identity fields, reporting every error.

    Forms call it to show errors early; `member_register` calls it again.
    """
    errors: dict[str, list[ValidationError]] = {}
    try:
        national_id = validate_national_id(national_id, today=today)
    except ValidationError as error:
        errors["national_id"] = [error]
    try:
        phone = normalise_mobile(phone)
    except ValidationError as error:
        errors["phone"] = [error]

    if (
        "national_id" not in errors
        and Member.objects.filter(
            national_id_digest=pii.digest("national_id", national_id)
        ).exists()
    ):
        errors["national_id"] = [
            ValidationError(
                _("A member with this national ID number is already registered."),
                code="duplicate",
            )
        ]
    if (
        "phone" not in errors
        and Member.objects.filter(phone_digest=pii.digest("phone", phone)).exists()
    ):
        errors["phone"] = [
            ValidationError(
                _("A member with this mobile number is already registered."),
                code="duplicate",
            )
        ]
    if errors:
        raise ValidationError(errors)
    return national_id, phone


@transaction.atomic
def member_register(
    *,
    branch: Branch,
    real_name: str,
    national_id: str,
    phone: str,
    joined_on: date,
    by: Actor,
    password: str | None = None,
) -> Member:
    """Register a member of a branch, with a user account to sign in with.

    The account signs in with the mobile number. Without a password it cannot
    sign in until one is set.
    """
    real_name = _require_text(real_name, "real_name", _("Enter the real name."))
    national_id, phone = member_identity_clean(
        national_id=national_id, phone=phone, today=joined_on
    )

    user = get_user_model().objects.create_user(
        username=f"member-{uuid.uuid4().hex[:12]}", password=password
    )
    member = Member(user=user, branch=branch, real_name=real_name, joined_on=joined_on)
    member.set_national_id(national_id)
    member.set_phone(phone)
    member.save()
    _record(member, MemberEvent.Kind.REGISTERED, by=by, after=member.kyc_status)

    logger.info("Member %s: registered in branch %s", member.pk, branch.pk)
    return member


def _transition_refused(member: Member, message: str) -> ValidationError:
    logger.info("Member %s: refused transition (%s)", member.pk, message)
    return ValidationError(message, code="invalid_state")


@transaction.atomic
def member_verify_kyc(*, member: Member, by: Actor, note: str = "") -> Member:
    member = _locked(member)
    if not can_proceed(member.verify_kyc):
        raise _transition_refused(
            member, _("Only a member whose KYC is pending can be verified.")
        )

    before = member.kyc_status
    member.verify_kyc()
    member.kyc_reviewed_at = timezone.now()
    member.kyc_reviewed_by = _actor(by)
    member.save()
    _record(
        member,
        MemberEvent.Kind.KYC_VERIFIED,
        by=by,
        before=before,
        after=member.kyc_status,
        note=note,
    )

    logger.info("Member %s: KYC verified", member.pk)
    return member


@transaction.atomic
def member_reject_kyc(*, member: Member, by: Actor, reason: str) -> Member:
    reason = _require_text(reason, "reason", _("Give the reason for rejecting KYC."))
    member = _locked(member)
    if not can_proceed(member.reject_kyc):
        raise _transition_refused(
            member, _("Only a member whose KYC is pending can be rejected.")
        )

    before = member.kyc_status
    member.reject_kyc(reason)
    member.kyc_reviewed_at = timezone.now()
    member.kyc_reviewed_by = _actor(by)
    member.save()
    _record(
        member,
        MemberEvent.Kind.KYC_REJECTED,
        by=by,
        before=before,
        after=member.kyc_status,
        note=reason,
    )

    logger.info("Member %s: KYC rejected", member.pk)
    return member


@transaction.atomic
def member_resubmit_kyc(*, member: Member, by: Actor) -> Member:
    member = _locked(member)
    if not can_proceed(member.resubmit_kyc):
        raise _transition_refused(
            member, _("Only a member whose KYC was rejected can resubmit it.")
        )

    before = member.kyc_status
    member.resubmit_kyc()
    member.save()
    _record(
        member,
        MemberEvent.Kind.KYC_RESUBMITTED,
        by=by,
        before=before,
        after=member.kyc_status,
    )

    logger.info("Member %s: KYC resubmitted", member.pk)
    return member


@transaction.atomic
def member_set_branch_role(
    *, member: Member, role: Member.BranchRole, by: Actor
) -> Member:
    """Give a member a role; a new leader replaces the old one, who steps down."""
    member = _locked(member)
    if role == Member.BranchRole.LEADER:
        if member.kyc_status != Member.KycStatus.VERIFIED:
            raise ValidationError(
                {"role": _("Only a member with verified KYC can lead a branch.")}
            )
        previous = (
            Member.objects.select_for_update()
            .filter(branch_id=member.branch_id, branch_role=Member.BranchRole.LEADER)
            .exclude(pk=member.pk)
            .first()
        )
        if previous is not None:
            previous.branch_role = Member.BranchRole.MEMBER
            previous.save(update_fields=["branch_role"])
            _record(
                previous,
                MemberEvent.Kind.ROLE_CHANGED,
                by=by,
                before=Member.BranchRole.LEADER,
                after=Member.BranchRole.MEMBER,
            )

    before = member.branch_role
    member.branch_role = role
    member.save(update_fields=["branch_role"])
    _record(member, MemberEvent.Kind.ROLE_CHANGED, by=by, before=before, after=role)

    logger.info("Member %s: role %s -> %s", member.pk, before, role)
    return member


@transaction.atomic
def member_blacklist(
    *,
    member: Member,
    reason: str,
    source: BlacklistEntry.Source,
    on: date,
    by: Actor,
    source_reference: str = "",
) -> BlacklistEntry:
    """Blacklist a member.

    An entry caused by a loan carries that loan's debt, and its cooling-off
    waits for the debt to be settled; any other entry starts settled.
    """
    reason = _require_text(reason, "reason", _("Give the reason for blacklisting."))
    member = _locked(member)
    if not can_proceed(member.blacklist):
        raise _transition_refused(
            member, _("Only an active member can be blacklisted.")
        )

    before = member.status
    member.blacklist()
    member.save()
    entry = BlacklistEntry.objects.create(
        member=member,
        reason=reason,
        source=source,
        source_reference=source_reference,
        blacklisted_on=on,
        blacklisted_by=_actor(by),
        debt_settled_on=None if source == BlacklistEntry.Source.LOAN else on,
    )
    _record(
        member,
        MemberEvent.Kind.BLACKLISTED,
        by=by,
        before=before,
        after=member.status,
        note=reason,
    )

    event_emit(
        kind=EventKind.MEMBER_BLACKLISTED,
        payload={
            "member": member.pk,
            "branch": member.branch_id,
            "entry": entry.pk,
            "source": entry.source,
            "source_reference": entry.source_reference,
        },
        on=on,
    )
    logger.info("Member %s: blacklisted (entry %s)", member.pk, entry.pk)
    return entry


@transaction.atomic
def blacklist_settle_debt(
    *, entry: BlacklistEntry, on: date, by: Actor
) -> BlacklistEntry:
    """Record that the debt behind a blacklisting is paid; cooling-off starts."""
    entry = BlacklistEntry.objects.select_for_update().get(pk=entry.pk)
    if not entry.is_open:
        raise ValidationError(_("This blacklist entry has already been lifted."))
    if entry.debt_settled_on is not None:
        raise ValidationError(_("The debt of this entry is already settled."))
    if on < entry.blacklisted_on:
        raise ValidationError(
            {"on": _("The debt cannot be settled before the member was blacklisted.")}
        )

    entry.debt_settled_on = on
    entry.save(update_fields=["debt_settled_on"])
    _record(
        entry.member,
        MemberEvent.Kind.BLACKLIST_DEBT_SETTLED,
        by=by,
        note=str(on),
    )

    logger.info("Blacklist entry %s: debt settled", entry.pk)
    return entry


@transaction.atomic
def blacklist_lift(
    *, entry: BlacklistEntry, on: date, by: Actor, reason: str
) -> BlacklistEntry:
    """Lift a blacklisting, if the lifting rule in force allows it on `on`."""
    reason = _require_text(reason, "reason", _("Give the reason for lifting."))
    entry = BlacklistEntry.objects.select_for_update().get(pk=entry.pk)
    blockers = blacklist_lift_blockers(entry=entry, rule=BlacklistRule.current(), on=on)
    if blockers:
        # A list's items lose the code given beside it; give it to each one.
        raise ValidationError(
            [ValidationError(blocker, code="lift_refused") for blocker in blockers]
        )

    member = _locked(entry.member)
    before = member.status
    member.lift_blacklist()
    member.save()
    entry.member = member  # callers read the member's new status from the entry
    entry.lifted_on = on
    entry.lifted_by = _actor(by)
    entry.lift_reason = reason
    entry.save(update_fields=["lifted_on", "lifted_by", "lift_reason"])
    _record(
        member,
        MemberEvent.Kind.BLACKLIST_LIFTED,
        by=by,
        before=before,
        after=member.status,
        note=reason,
    )

    event_emit(
        kind=EventKind.MEMBER_BLACKLIST_LIFTED,
        payload={"member": member.pk, "branch": member.branch_id, "entry": entry.pk},
        on=on,
    )
    logger.info("Member %s: blacklist entry %s lifted", member.pk, entry.pk)
    return entry


def guarantor_tie_check(
    *, guarantor: Member, borrower: Member, amount: Decimal
) -> None:
    """Refuse a guarantee the branch's rules do not allow."""
    errors: dict[str, str] = {}
    if guarantor.pk == borrower.pk:
        errors["guarantor"] = _("A member cannot guarantee themselves.")
    elif guarantor.branch_id != borrower.branch_id:
        errors["guarantor"] = _("The guarantor must belong to the same branch.")
    elif guarantor.status != Member.Status.ACTIVE:
        errors["guarantor"] = _("Only an active member can be a guarantor.")
    elif guarantor.kyc_status != Member.KycStatus.VERIFIED:
        errors["guarantor"] = _("The guarantor's KYC must be verified.")
    if amount <= 0:
        errors["amount"] = _("The amount guaranteed must be more than zero.")
    if errors:
        raise ValidationError(errors)
    if GuarantorTie.objects.filter(
        guarantor=guarantor, borrower=borrower, status=GuarantorTie.Status.ACTIVE
    ).exists():
        raise ValidationError(
            {"guarantor": _("This member already guarantees that member.")}
        )


@transaction.atomic
def guarantor_tie_create(
    *,
    guarantor: Member,
    borrower: Member,
    amount: Decimal,
    consented_at: datetime,
    consent_evidence: str,
    by: Actor,
) -> GuarantorTie:
    """Record that `guarantor` vouches for `borrower`, with their consent."""
    consent_evidence = _require_text(
        consent_evidence,
        "consent_evidence",
        _("Record how the guarantor gave consent."),
    )
    # Round to the fen (half up) before checking, so the amount checked is
    # the amount stored: 0.004 would otherwise pass as positive and be 0.00.
    amount = amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    guarantor_tie_check(guarantor=guarantor, borrower=borrower, amount=amount)

    tie = GuarantorTie.objects.create(
        guarantor=guarantor,
        borrower=borrower,
        amount=amount,
        consented_at=consented_at,
        consent_evidence=consent_evidence,
        created_by=_actor(by),
    )

    logger.info("Guarantor tie %s: member %s for %s", tie.pk, guarantor.pk, borrower.pk)
    return tie


@transaction.atomic
def guarantor_tie_release(*, tie: GuarantorTie, at: datetime) -> GuarantorTie:
    tie = GuarantorTie.objects.select_for_update().get(pk=tie.pk)
    if tie.status != GuarantorTie.Status.ACTIVE:
        raise ValidationError(_("This guarantee has already been released."))

    tie.status = GuarantorTie.Status.RELEASED
    tie.released_at = at
    tie.save(update_fields=["status", "released_at"])

    logger.info("Guarantor tie %s: released", tie.pk)
    return tie


def emergency_contact_phone_clean(*, member: Member, phone: str) -> str:
    """Normalise a contact's number; it must not be the member's own."""
    try:
        phone = normalise_mobile(phone)
    except ValidationError as error:
        raise ValidationError({"phone": error.messages}) from None
    if pii.digest("phone", phone) == member.phone_digest:
        raise ValidationError(
            {"phone": _("An emergency contact cannot have the member's own number.")}
        )
    return phone


@transaction.atomic
def emergency_contact_add(
    *,
    member: Member,
    name: str,
    relationship: EmergencyContact.Relationship,
    phone: str,
    consented_at: datetime,
    consent_evidence: str,
) -> EmergencyContact:
    """Record a third party the member agreed collections may contact."""
    name = _require_text(name, "name", _("Enter the contact's name."))
    consent_evidence = _require_text(
        consent_evidence, "consent_evidence", _("Record how the member consented.")
    )
    phone = emergency_contact_phone_clean(member=member, phone=phone)

    contact = EmergencyContact(
        member=member,
        name=name,
        relationship=relationship,
        consented_at=consented_at,
        consent_evidence=consent_evidence,
    )
    contact.set_phone(phone)
    contact.save()

    logger.info("Member %s: emergency contact %s added", member.pk, contact.pk)
    return contact


@transaction.atomic
def emergency_contact_withdraw(*, contact: EmergencyContact, at: datetime) -> None:
    """The member withdrew consent: the contact may no longer be called."""
    contact.withdrawn_at = at
    contact.save(update_fields=["withdrawn_at"])

    logger.info("Emergency contact %s: consent withdrawn", contact.pk)

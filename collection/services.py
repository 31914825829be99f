"""Collection operations: messages, cases and contacts, hardship plans,
mediation and legal referral. One function per operation, keyword-only and
atomic; the admin, the API, the pages, the tasks and the close call these.
"""

import functools
import logging
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.urls import get_script_prefix, reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from collection import rules, wording
from collection.models import (
    ZERO,
    Cause,
    CollectionCase,
    Contact,
    ContactConsent,
    EscalationPolicy,
    HardshipRequest,
    LegalReferral,
    Mediation,
    Message,
    MessageTemplate,
    Purpose,
)
from config.bulk import rows_insert
from config.money import yuan
from config.roles import StaffRole
from loans import services as loans
from loans.models import Installment, Loan, Repayment
from loans.schedule import fen
from loans.selectors import arrears
from members.models import EmergencyContact, Member

logger = logging.getLogger(__name__)

Actor = User | AnonymousUser | None

# How long a message may stay "sending" before a crash is assumed and it is
# queued again; the gateway drops the repeat by its reference.
SENDING_TIMEOUT = timedelta(minutes=10)
MAX_ATTEMPTS = 6


def _user(by: Actor) -> User | None:
    return by if isinstance(by, User) else None


# Messages ---------------------------------------------------------------


def hardship_link(loan: Loan) -> str:
    """The borrower's page to ask for a hardship plan, as a full address."""
    return _hardship_link_pattern(
        settings.ROOT_URLCONF, get_script_prefix(), settings.PUBLIC_BASE_URL
    ).replace(_LINK_MARKER, str(loan.pk))


# `reverse()` costs about 0.1 ms; the close quotes this link in thousands
# of messages, so the address is reversed once with a marker for the loan.
_LINK_MARKER = "987654321"


@functools.lru_cache(maxsize=8)
def _hardship_link_pattern(urlconf: str, prefix: str, base_url: str) -> str:
    path = reverse("pages:loan_hardship", urlconf=urlconf, args=[int(_LINK_MARKER)])
    return f"{base_url.rstrip('/')}{path}"


def loan_figures(
    loan: Loan, installments: list[Installment], on: date
) -> dict[str, str]:
    """The figures a borrower's message may quote, as display text."""
    unpaid = [i for i in installments if i.total_due > 0]
    oldest = min(unpaid, key=lambda i: i.due_date) if unpaid else None
    late = arrears(installments, on)
    grace_left = max(0, loan.grace_days - loan.days_past_due)
    return {
        "name": loan.member.real_name,
        "branch": loan.member.branch.name,
        "loan": loan.number,
        "due_date": oldest.due_date.isoformat() if oldest else "",
        "amount_due": yuan(late if late else (oldest.total_due if oldest else ZERO)),
        "overdue_amount": yuan(late),
        "days_past_due": str(loan.days_past_due),
        "grace_days_left": str(grace_left),
        "hardship_link": hardship_link(loan),
        "hotline": settings.COLLECTION_HOTLINE,
    }


def third_party_figures(member: Member) -> dict[str, str]:
    return {
        "name": member.real_name,
        "branch": member.branch.name,
        "hotline": settings.COLLECTION_HOTLINE,
    }


def _template(purpose: str, language: str) -> str:
    found = (
        MessageTemplate.objects.filter(purpose=purpose, language=language).first()
        or MessageTemplate.objects.filter(purpose=purpose).first()
    )
    if found is None:
        raise ValidationError(
            {
                "purpose": _("No message template for %(purpose)s.")
                % {"purpose": purpose}
            }
        )
    return found.body


def message_build(
    *,
    member: Member,
    purpose: Purpose,
    dedupe_key: str,
    figures: dict[str, str],
    at: datetime,
    loan: Loan | None = None,
    audience: Message.Audience = Message.Audience.BORROWER,
    recipient_member: Member | None = None,
    recipient_contact: EmergencyContact | None = None,
    channel: Message.Channel = Message.Channel.SMS,
    policy: EscalationPolicy | None = None,
    templates: dict[str, str] | None = None,
) -> Message:
    """An unsaved outbox row; collection messages wait out the quiet hours.

    A caller building many messages passes a dict as `templates`: the
    bodies read are kept there by purpose, so each is read once.
    """
    policy = policy or EscalationPolicy.current()
    language = settings.LANGUAGE_CODE
    if templates is None:
        template = _template(purpose, language)
    else:
        if purpose not in templates:
            templates[purpose] = _template(purpose, language)
        template = templates[purpose]
    message = Message(
        member=member,
        loan=loan,
        purpose=purpose,
        audience=audience,
        recipient_member=recipient_member,
        recipient_contact=recipient_contact,
        channel=channel,
        language=language,
        body=wording.render(template, figures),
        dedupe_key=dedupe_key,
        scheduled_for=at,
    )
    message.scheduled_for = _send_time(message, policy, at)
    return message


def _send_time(message: Message, policy: EscalationPolicy, at: datetime) -> datetime:
    if message.channel == Message.Channel.INBOX or not message.is_collection:
        return at
    # The consent is asked only inside the quiet hours: the close sends in
    # the morning, when it would be a query per message for nothing.
    if not rules.in_quiet_hours(policy, at) or rules.has_consent(
        message.member, ContactConsent.Kind.NIGHT, at
    ):
        return at
    return rules.quiet_hours_end(policy, at)


def messages_save(messages: Iterable[Message]) -> int:
    """Write outbox rows, dropping any whose dedupe key exists already, and
    ask for them to be sent once the transaction commits."""
    rows = list(messages)
    if not rows:
        return 0
    keys = [m.dedupe_key for m in rows]
    existing = set(
        Message.objects.filter(dedupe_key__in=keys).values_list("dedupe_key", flat=True)
    )
    fresh = {m.dedupe_key: m for m in rows if m.dedupe_key not in existing}
    rows_insert(list(fresh.values()), ignore_conflicts=True)
    transaction.on_commit(dispatch_soon)
    return len(fresh)


def dispatch_soon() -> None:
    """Queue the sending task; if the broker is down the rows simply wait
    in the outbox for the next dispatch (beat runs it every minute)."""
    from collection.tasks import messages_dispatch

    try:
        messages_dispatch.delay()
    except Exception as error:  # kombu raises several kinds when it is down
        logger.warning("Outbox: broker unavailable, messages wait (%s)", error)


def _recipient_phone(message: Message) -> str:
    if message.recipient_contact is not None:
        return message.recipient_contact.phone
    if message.recipient_member is not None:
        return message.recipient_member.phone
    return message.member.phone


def messages_due(*, now: datetime, limit: int = 500) -> list[int]:
    """Ids of rows ready to send; rows stuck in sending are queued again."""
    Message.objects.filter(
        status=Message.Status.SENDING, scheduled_for__lte=now - SENDING_TIMEOUT
    ).update(status=Message.Status.QUEUED)
    return list(
        Message.objects.filter(status=Message.Status.QUEUED, scheduled_for__lte=now)
        .order_by("scheduled_for", "pk")
        .values_list("pk", flat=True)[:limit]
    )


def _claim(message_id: int, now: datetime) -> Message | None:
    """Take the row for sending, or None if another delivery has it."""
    policy = EscalationPolicy.current()
    with transaction.atomic():
        # Only the message row is locked: PostgreSQL cannot lock the
        # nullable side of the outer joins to the recipients.
        message = (
            Message.objects.select_for_update(of=("self",))
            .select_related("member", "recipient_member", "recipient_contact")
            .filter(pk=message_id, status=Message.Status.QUEUED)
            .first()
        )
        if message is None or message.scheduled_for > now:
            return None
        later = _send_time(message, policy, now)
        if later > now:
            message.scheduled_for = later
            message.save(update_fields=["scheduled_for"])
            return None
        message.status = Message.Status.SENDING
        message.attempts += 1
        # The claim's time, so a crash while sending is noticed later.
        message.scheduled_for = now
        message.save(update_fields=["status", "attempts", "scheduled_for"])
    return message


def message_send(*, message_id: int, now: datetime) -> bool:
    """Send one queued message through its channel's backend, at most once.

    A second delivery of the same task finds the row no longer queued and
    sends nothing. A gateway that times out or fails is tried again later,
    with a growing wait; its reference (the dedupe key) lets it drop a
    repeat of a request it did receive.
    """
    from collection.channels import PermanentSendError, TransientSendError, backend

    message = _claim(message_id, now)
    if message is None:
        return False
    try:
        backend(message.channel).send(message, to=_recipient_phone(message))
    except TransientSendError as error:
        failed = message.attempts >= MAX_ATTEMPTS
        message.status = Message.Status.FAILED if failed else Message.Status.QUEUED
        wait = settings.MESSAGE_RETRY_FIRST * 2 ** (message.attempts - 1)
        message.scheduled_for = now + wait
        message.last_error = str(error)[:200]
        message.save(update_fields=["status", "scheduled_for", "last_error"])
        logger.warning("Message %s: attempt %d failed", message.pk, message.attempts)
        return False
    except PermanentSendError as error:
        message.status = Message.Status.FAILED
        message.last_error = str(error)[:200]
        message.save(update_fields=["status", "last_error"])
        logger.error("Message %s: refused by the gateway", message.pk)
        return False
    message.status = Message.Status.SENT
    message.sent_at = now
    message.last_error = ""
    message.save(update_fields=["status", "sent_at", "last_error"])
    logger.info("Message %s: %s sent", message.pk, message.purpose)
    return True


@transaction.atomic
def message_resend(*, message: Message, now: datetime) -> Message:
    """Queue a failed message again (staff, after fixing its cause)."""
    message = Message.objects.select_for_update().get(pk=message.pk)
    if message.status != Message.Status.FAILED:
        raise ValidationError({"status": _("Only a failed message can be resent.")})
    message.status = Message.Status.QUEUED
    message.scheduled_for = now
    message.attempts = 0
    message.save(update_fields=["status", "scheduled_for", "attempts"])
    transaction.on_commit(dispatch_soon)
    return message


@transaction.atomic
def messages_requeue(
    *,
    now: datetime,
    since: datetime | None = None,
    message_ids: list[int] | None = None,
) -> dict[str, int]:
    """Queue failed messages again, and those stuck in sending longer than a
    send can take (a worker died holding them), for the operator's command.

    Counts by former status. A row sent meanwhile is not touched.
    """
    stuck = Message.objects.filter(
        status=Message.Status.SENDING, scheduled_for__lte=now - SENDING_TIMEOUT
    )
    failed = Message.objects.filter(status=Message.Status.FAILED)
    if since is not None:
        stuck = stuck.filter(created_at__gte=since)
        failed = failed.filter(created_at__gte=since)
    if message_ids is not None:
        stuck = stuck.filter(pk__in=message_ids)
        failed = failed.filter(pk__in=message_ids)
    counts = {
        "stuck": stuck.update(status=Message.Status.QUEUED, scheduled_for=now),
        "failed": failed.update(
            status=Message.Status.QUEUED, scheduled_for=now, attempts=0
        ),
    }
    logger.info(
        "Outbox: %d failed and %d stuck messages queued again",
        *(counts["failed"], counts["stuck"]),
    )
    transaction.on_commit(dispatch_soon)
    return counts


@transaction.atomic
def message_mark_read(*, message: Message, member: Member, now: datetime) -> None:
    if message.member_id != member.pk or message.audience != Message.Audience.BORROWER:
        raise ValidationError({"message": _("This message is not yours.")})
    if message.read_at is None:
        message.read_at = now
        message.save(update_fields=["read_at"])


# Consent ----------------------------------------------------------------


@transaction.atomic
def consent_give(
    *, member: Member, kind: ContactConsent.Kind, evidence: str, at: datetime
) -> ContactConsent:
    if not evidence.strip():
        raise ValidationError({"evidence": _("Record how the borrower consented.")})
    return ContactConsent.objects.create(
        member=member, kind=kind, given_at=at, evidence=evidence.strip()
    )


@transaction.atomic
def consent_withdraw(*, consent: ContactConsent, at: datetime) -> ContactConsent:
    if consent.withdrawn_at is None:
        consent.withdrawn_at = at
        consent.save(update_fields=["withdrawn_at"])
    return consent


# Cases ------------------------------------------------------------------


def collector_for(member: Member) -> User | None:
    """The collector of the member's branch with the fewest open cases."""
    return (
        User.objects.filter(
            is_active=True,
            groups__name=StaffRole.COLLECTOR.value,
            staffed_branches=member.branch_id,
        )
        .annotate(
            load=Count(
                "collection_cases",
                filter=Q(collection_cases__status__in=CollectionCase.OPEN_STATUSES),
            )
        )
        .order_by("load", "pk")
        .first()
    )


def _locked_case(case: CollectionCase) -> CollectionCase:
    return CollectionCase.objects.select_for_update().get(pk=case.pk)


def _require_open(case: CollectionCase) -> None:
    if not case.is_open:
        raise ValidationError({"case": _("This case is no longer open.")})


@transaction.atomic
def case_assign(*, case: CollectionCase, collector: User, by: Actor) -> CollectionCase:
    case = _locked_case(case)
    _require_open(case)
    if not collector.groups.filter(name=StaffRole.COLLECTOR.value).exists():
        raise ValidationError({"collector": _("Choose a collector.")})
    case.collector = collector
    case.save(update_fields=["collector", "updated_at"])
    logger.info("Case %s: assigned to user %s", case.pk, collector.pk)
    return case


@transaction.atomic
def case_classify(*, case: CollectionCase, cause: str, by: Actor) -> CollectionCase:
    case = _locked_case(case)
    if cause not in Cause.values:
        raise ValidationError({"cause": _("Choose one of the causes.")})
    case.cause = cause
    case.save(update_fields=["cause", "updated_at"])
    return case


LATE_STATES = (Loan.State.GRACE, Loan.State.OVERDUE, Loan.State.BLACKLISTED)


def case_resolve_if_cured(*, loan: Loan, on: date, was: str) -> int:
    """Paying the arrears resolves the loan's open case and stops the ladder.

    Called after every repayment (`settings.REPAYMENT_FOLLOWERS`) with the
    loan's state before it (`was`). Only a payment that moved a late loan
    out of arrears (cured or repaid) can end a case, so most payments, on
    loans that stay active or stay late, write nothing. A case the ladder
    opened on a loan not late (a step on or before the due date) waits for
    the close, which resolves the cases of every loan no longer behind.
    """
    if was not in LATE_STATES or loan.state in LATE_STATES:
        return 0
    return case_resolve_many(loan_ids=[loan.pk], on=on)


def case_resolve_many(*, loan_ids: Iterable[int], on: date) -> int:
    return CollectionCase.objects.filter(
        loan_id__in=list(loan_ids),
        status__in=[CollectionCase.Status.OPEN, CollectionCase.Status.PROMISED],
    ).update(status=CollectionCase.Status.RESOLVED, resolved_on=on)


@transaction.atomic
def case_close(
    *, case: CollectionCase, review: str, by: Actor, on: date
) -> CollectionCase:
    """Close a resolved or referred case with what was learnt from it."""
    case = _locked_case(case)
    if case.status not in (CollectionCase.Status.RESOLVED, CollectionCase.Status.LEGAL):
        raise ValidationError(
            {"status": _("Only a resolved or referred case can be closed.")}
        )
    if not review.strip():
        raise ValidationError({"review": _("Write what was learnt from this case.")})
    case.status = CollectionCase.Status.CLOSED
    case.review = review.strip()
    case.closed_on = on
    case.closed_by = _user(by)
    case.save(
        update_fields=["status", "review", "closed_on", "closed_by", "updated_at"]
    )
    return case


# Contacts ---------------------------------------------------------------


def branch_leader_of(member: Member) -> Member | None:
    """The leader of the member's branch, unless it is the member."""
    return (
        Member.objects.filter(
            branch=member.branch_id, branch_role=Member.BranchRole.LEADER
        )
        .exclude(pk=member.pk)
        .first()
    )


def _party_number(
    case: CollectionCase,
    party: str,
    emergency_contact: EmergencyContact | None,
    at: datetime,
) -> tuple[bool, str]:
    """Whether the party may be contacted at all, and its number's digest."""
    member = case.loan.member
    if party == Contact.Party.EMERGENCY_CONTACT:
        designated = (
            emergency_contact is not None
            and emergency_contact.member_id == member.pk
            and emergency_contact.withdrawn_at is None
        )
        digest = emergency_contact.phone_digest if emergency_contact else ""
        return designated, digest
    if party == Contact.Party.BRANCH_LEADER:
        leader = branch_leader_of(member)
        consented = rules.has_consent(member, ContactConsent.Kind.LEADER, at)
        digest = leader.phone_digest if leader else ""
        return leader is not None and consented, digest
    return True, member.phone_digest


def contact_check(
    *,
    case: CollectionCase,
    channel: str,
    party: str,
    at: datetime,
    emergency_contact: EmergencyContact | None = None,
    restoring_contact: bool = False,
) -> str:
    """Raise the rule a contact would break; else the number's digest."""
    policy = EscalationPolicy.current()
    if channel == Contact.Channel.BRANCH_LEADER:
        party = Contact.Party.BRANCH_LEADER
    designated, digest = _party_number(case, party, emergency_contact, at)
    if party != Contact.Party.BORROWER:
        rules.check_third_party(
            designated=designated, restoring_contact=restoring_contact
        )
    if channel != Contact.Channel.LETTER:
        rules.check_quiet_hours(policy=policy, member=case.loan.member, at=at)
    if channel == Contact.Channel.CALL:
        day = timezone.localtime(at).date()
        attempts = Contact.objects.filter(
            channel=Contact.Channel.CALL, number_digest=digest, at__date=day
        ).count()
        rules.check_call_limit(policy=policy, attempts_today=attempts)
    return digest


@transaction.atomic
def contact_record(
    *,
    case: CollectionCase,
    channel: str,
    outcome: str,
    by: Actor,
    at: datetime,
    note: str = "",
    party: str = Contact.Party.BORROWER,
    emergency_contact: EmergencyContact | None = None,
    restoring_contact: bool = False,
    promise_date: date | None = None,
    promise_amount: Decimal | None = None,
) -> Contact:
    """Log a contact after the contact rules allow it; a promise to pay
    marks the case promised until the day after the promised date."""
    case = _locked_case(case)
    _require_open(case)
    if channel not in Contact.Channel.values:
        raise ValidationError({"channel": _("Choose a channel.")})
    if outcome not in Contact.Outcome.values:
        raise ValidationError({"outcome": _("Choose an outcome.")})
    if channel == Contact.Channel.BRANCH_LEADER:
        party = Contact.Party.BRANCH_LEADER
    digest = contact_check(
        case=case,
        channel=channel,
        party=party,
        at=at,
        emergency_contact=emergency_contact,
        restoring_contact=restoring_contact,
    )
    promise = _promise_clean(
        promise_date, promise_amount, timezone.localtime(at).date()
    )
    contact = Contact.objects.create(
        case=case,
        channel=channel,
        party=party,
        emergency_contact=emergency_contact,
        number_digest=digest,
        at=at,
        by=_user(by),
        outcome=outcome,
        note=note.strip(),
        promise_date=promise_date,
        promise_amount=promise_amount,
        promise=Contact.Promise.PENDING if promise else Contact.Promise.NONE,
    )
    if promise and promise_date is not None:
        case.status = CollectionCase.Status.PROMISED
        case.next_action_on = promise_date + timedelta(days=1)
        case.save(update_fields=["status", "next_action_on", "updated_at"])
    if channel == Contact.Channel.CALL:
        task = case.call_tasks.filter(done_at__isnull=True).order_by("due_on").first()
        if task is not None:
            task.done_at = at
            task.save(update_fields=["done_at"])
    logger.info("Case %s: contact %s recorded", case.pk, contact.pk)
    return contact


def _promise_clean(
    promise_date: date | None, promise_amount: Decimal | None, today: date
) -> bool:
    if promise_date is None and promise_amount is None:
        return False
    errors: dict[str, str] = {}
    if promise_date is None:
        errors["promise_date"] = _("Give the date promised.")
    elif promise_date < today:
        errors["promise_date"] = _("A promise is for today or a later day.")
    if promise_amount is None:
        errors["promise_amount"] = _("Give the amount promised.")
    elif promise_amount <= 0 or fen(promise_amount) != promise_amount:
        errors["promise_amount"] = _(
            "Enter an amount above zero with at most two decimals."
        )
    if errors:
        raise ValidationError(errors)
    return True


def promises_review(*, on: date) -> int:
    """In the close: promises whose date has passed are kept or broken; a
    broken one brings the case's next action to the next morning."""
    due = list(
        Contact.objects.filter(promise=Contact.Promise.PENDING, promise_date__lt=on)
        .select_related("case")
        .order_by("pk")
    )
    for contact in due:
        paid = (
            Repayment.objects.filter(
                loan_id=contact.case.loan_id,
                value_date__gte=timezone.localtime(contact.at).date(),
                value_date__lte=contact.promise_date,
            ).aggregate(total=Sum("amount"))["total"]
            or ZERO
        )
        kept = contact.promise_amount is not None and paid >= contact.promise_amount
        contact.promise = Contact.Promise.KEPT if kept else Contact.Promise.BROKEN
        contact.save(update_fields=["promise"])
        case = contact.case
        if not kept and case.status == CollectionCase.Status.PROMISED:
            case.status = CollectionCase.Status.OPEN
            case.next_action_on = on + timedelta(days=1)
            case.save(update_fields=["status", "next_action_on", "updated_at"])
    return len(due)


# Mediation and legal ----------------------------------------------------


@transaction.atomic
def mediation_record(
    *,
    mediation: Mediation,
    status: str,
    mediator: str = "",
    held_on: date | None = None,
    outcome: str = "",
) -> Mediation:
    if status not in Mediation.Status.values:
        raise ValidationError({"status": _("Choose a status.")})
    if status in (Mediation.Status.AGREED, Mediation.Status.FAILED) and held_on is None:
        raise ValidationError({"held_on": _("Give the day the mediation was held.")})
    mediation.status = status
    mediation.mediator = mediator.strip()
    mediation.held_on = held_on
    mediation.outcome = outcome.strip()
    mediation.save()
    return mediation


@transaction.atomic
def referral_review(
    *, referral: LegalReferral, approve: bool, by: User, on: date, note: str = ""
) -> LegalReferral:
    """A prepared referral is approved (the case goes to legal) or withdrawn."""
    referral = LegalReferral.objects.select_for_update().get(pk=referral.pk)
    if referral.status != LegalReferral.Status.PREPARED:
        raise ValidationError({"status": _("This referral has been reviewed already.")})
    if not approve and not note.strip():
        raise ValidationError({"note": _("Say why the referral is withdrawn.")})
    referral.status = (
        LegalReferral.Status.APPROVED if approve else LegalReferral.Status.WITHDRAWN
    )
    referral.reviewed_by = by
    referral.reviewed_on = on
    referral.note = note.strip()
    referral.save()
    if approve:
        case = _locked_case(referral.case)
        if case.is_open:
            case.status = CollectionCase.Status.LEGAL
            case.save(update_fields=["status", "updated_at"])
    return referral


# Hardship plans ---------------------------------------------------------

RESTRUCTURABLE = (Loan.State.ACTIVE, Loan.State.GRACE, Loan.State.OVERDUE)


def hardship_blockers(loan: Loan) -> list[str]:
    """Why a plan cannot be asked for on this loan now, in plain words."""
    policy = EscalationPolicy.current()
    reasons = []
    if loan.state not in RESTRUCTURABLE:
        reasons.append(_("A plan can only be asked for on a loan being repaid."))
    if loan.restructure_count >= policy.max_restructures:
        reasons.append(
            _("This loan has been restructured %(count)d times, the most allowed.")
            % {"count": loan.restructure_count}
        )
    if loan.hardship_requests.filter(status=HardshipRequest.Status.REQUESTED).exists():
        reasons.append(_("A request for this loan is waiting for a decision."))
    return reasons


@transaction.atomic
def hardship_request(
    *,
    loan: Loan,
    cause: str,
    installments: int,
    note: str,
    by: Actor,
    on: date,
) -> HardshipRequest:
    loan = Loan.objects.select_for_update().get(pk=loan.pk)
    errors: dict[str, str] = {}
    if cause not in Cause.values:
        errors["cause"] = _("Choose what happened.")
    if installments not in (3, 6, 12):
        errors["installments"] = _("Choose 3, 6 or 12 installments.")
    blockers = hardship_blockers(loan)
    if blockers:
        errors["loan"] = " ".join(blockers)
    if errors:
        raise ValidationError(errors)
    request = HardshipRequest.objects.create(
        loan=loan,
        cause=cause,
        installments=installments,
        note=note.strip(),
        requested_on=on,
        requested_by=_user(by),
    )
    logger.info("Loan %s: hardship request %s", loan.pk, request.pk)
    return request


def _locked_request(request: HardshipRequest) -> HardshipRequest:
    request = HardshipRequest.objects.select_for_update().get(pk=request.pk)
    if request.status != HardshipRequest.Status.REQUESTED:
        raise ValidationError({"status": _("This request has been decided already.")})
    return request


def _decision_message(request: HardshipRequest, decision: str, on: date) -> None:
    loan = request.loan
    messages_save(
        [
            message_build(
                member=loan.member,
                loan=loan,
                purpose=Purpose.HARDSHIP_DECISION,
                dedupe_key=f"{loan.pk}:hardship_decision:{request.pk}",
                figures={
                    "name": loan.member.real_name,
                    "loan": loan.number,
                    "decision": decision,
                    "hotline": settings.COLLECTION_HOTLINE,
                },
                at=timezone.now(),
                channel=Message.Channel.INBOX,
            )
        ]
    )


@transaction.atomic
def hardship_approve(
    *, request: HardshipRequest, by: User, on: date, note: str = ""
) -> HardshipRequest:
    """Approve a plan: the loan is restructured into the plan's installments,
    part of its penalty waived by policy, and its open case resolved."""
    request = _locked_request(request)
    if request.requested_by_id == by.pk:
        raise PermissionDenied(_("Someone else must decide a request you made."))
    policy = EscalationPolicy.current()
    loan = request.loan
    if loan.restructure_count >= policy.max_restructures:
        raise ValidationError(
            {"loan": _("This loan has been restructured the most times allowed.")}
        )
    loans.loan_restructure(
        loan=loan,
        installments=request.installments,
        penalty_waiver=policy.penalty_waiver,
        by=by,
        on=on,
        reason=_("Hardship plan %(request)s.") % {"request": request},
    )
    request.status = HardshipRequest.Status.APPROVED
    request.decided_by = by
    request.decided_on = on
    request.decision_note = note.strip()
    request.save()
    case_resolve_many(loan_ids=[loan.pk], on=on)
    _decision_message(request, _("approved"), on)
    logger.info("Loan %s: hardship request %s approved", loan.pk, request.pk)
    return request


@transaction.atomic
def hardship_refuse(
    *, request: HardshipRequest, by: User, on: date, reason: str
) -> HardshipRequest:
    request = _locked_request(request)
    if request.requested_by_id == by.pk:
        raise PermissionDenied(_("Someone else must decide a request you made."))
    if not reason.strip():
        raise ValidationError({"reason": _("Give the reason for refusing.")})
    request.status = HardshipRequest.Status.REFUSED
    request.decided_by = by
    request.decided_on = on
    request.decision_note = reason.strip()
    request.save()
    _decision_message(request, _("refused"), on)
    return request

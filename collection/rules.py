"""The contact rules that keep collection lawful.

Checked before a contact is logged and before a message is sent. A refusal
is a `ValidationError` keyed by the rule's name, so the API answers 400
naming the rule and a form shows why.
"""

from datetime import datetime, time, timedelta

from django.core.exceptions import ValidationError
from django.db.models import TextChoices
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from collection.models import ContactConsent, EscalationPolicy
from members.models import Member


class Rule(TextChoices):
    QUIET_HOURS = "quiet_hours", gettext_lazy("Quiet hours")
    CALL_LIMIT = "call_limit", gettext_lazy("Call attempts a day")
    THIRD_PARTY = "third_party", gettext_lazy("Third parties")


def refuse(rule: Rule, message: str) -> ValidationError:
    return ValidationError({rule.value: message}, code=rule.value)


def has_consent(member: Member, kind: ContactConsent.Kind, at: datetime) -> bool:
    return (
        ContactConsent.objects.filter(member=member, kind=kind, given_at__lte=at)
        .exclude(withdrawn_at__lte=at)
        .exists()
    )


def in_quiet_hours(policy: EscalationPolicy, at: datetime) -> bool:
    local = timezone.localtime(at).time()
    start, end = policy.quiet_from, policy.quiet_until
    if start <= end:
        return start <= local < end
    return local >= start or local < end


def quiet_hours_end(policy: EscalationPolicy, at: datetime) -> datetime:
    """The first moment at or after `at` outside the quiet hours."""
    if not in_quiet_hours(policy, at):
        return at
    local = timezone.localtime(at)
    end = datetime.combine(local.date(), policy.quiet_until, tzinfo=local.tzinfo)
    if end <= local:
        end += timedelta(days=1)
    return end


def check_quiet_hours(
    *, policy: EscalationPolicy, member: Member, at: datetime
) -> None:
    if in_quiet_hours(policy, at) and not has_consent(
        member, ContactConsent.Kind.NIGHT, at
    ):
        raise refuse(
            Rule.QUIET_HOURS,
            _(
                "No collection contact from %(start)s to %(end)s without the "
                "borrower's consent."
            )
            % {
                "start": _clock(policy.quiet_from),
                "end": _clock(policy.quiet_until),
            },
        )


def check_call_limit(*, policy: EscalationPolicy, attempts_today: int) -> None:
    if attempts_today >= policy.calls_per_day:
        raise refuse(
            Rule.CALL_LIMIT,
            _("This number has been called %(count)d times today, the most allowed.")
            % {"count": attempts_today},
        )


def check_third_party(*, designated: bool, restoring_contact: bool) -> None:
    if not designated:
        raise refuse(
            Rule.THIRD_PARTY,
            _(
                "Only the borrower's designated emergency contacts or a consenting "
                "branch leader may be contacted."
            ),
        )
    if not restoring_contact:
        raise refuse(
            Rule.THIRD_PARTY,
            _("A third party may only be asked to help restore contact."),
        )


def _clock(value: time) -> str:
    return value.strftime("%H:%M")

"""Business operations of the risk app; the only writers of its rows."""

import logging
from datetime import date
from decimal import Decimal

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from members import services as members
from members.models import Branch
from risk import book, stress, warnings
from risk.models import Alert, StressRun, StressScenario, WarningRule

logger = logging.getLogger(__name__)


# Alerts


def rules_evaluate(*, on: date) -> int:
    """Run every enabled early-warning rule for `on`; return alerts raised.

    Each rule's findings are stored in one transaction. A finding whose
    dedupe key was raised before is skipped, so a second run raises nothing.
    """
    raised = 0
    for rule in WarningRule.objects.filter(enabled=True).order_by("kind"):
        check = warnings.CHECKS.get(rule.kind)
        if check is None:
            logger.warning("Rule %s: unknown kind %s, skipped", rule.pk, rule.kind)
            continue
        raised += _findings_raise(rule=rule, on=on, findings=check(rule, on))
    return raised


@transaction.atomic
def _findings_raise(
    *, rule: WarningRule, on: date, findings: list[warnings.Finding]
) -> int:
    keys = [finding.dedupe_key for finding in findings]
    known = set(
        Alert.objects.filter(dedupe_key__in=keys).values_list("dedupe_key", flat=True)
    )
    new = [finding for finding in findings if finding.dedupe_key not in known]
    Alert.objects.bulk_create(
        [
            Alert(
                rule=rule,
                severity=rule.severity,
                subject=finding.subject[:200],
                branch_id=finding.branch_id,
                member_id=finding.member_id,
                loan_id=finding.loan_id,
                evidence=finding.evidence,
                raised_on=on,
                dedupe_key=finding.dedupe_key,
            )
            for finding in new
        ],
        ignore_conflicts=True,
    )
    for finding in new:
        if finding.pauses_branch and finding.branch_id is not None:
            _branch_pause_for(rule=rule, branch_id=finding.branch_id, on=on)

    if new:
        logger.info("Rule %s: %d alerts raised on %s", rule.kind, len(new), on)
    return len(new)


def _branch_pause_for(*, rule: WarningRule, branch_id: int, on: date) -> None:
    branch = Branch.objects.get(pk=branch_id)
    if branch.status != Branch.Status.ACTIVE:
        return
    reason = _("Early warning on %(date)s: %(rule)s.") % {
        "date": on.isoformat(),
        "rule": rule.get_kind_display(),
    }
    members.branch_pause(branch=branch, reason=reason)
    logger.info("Branch %s: lending paused by rule %s", branch_id, rule.kind)


def _locked(alert: Alert) -> Alert:
    return Alert.objects.select_for_update().get(pk=alert.pk)


def _refuse_if_resolved(alert: Alert) -> None:
    if alert.status == Alert.Status.RESOLVED:
        raise ValidationError(
            {"status": _("This alert is already resolved.")}, code="resolved"
        )


def _note_added(alert: Alert, note: str) -> str:
    """The alert's note with `note` after what earlier steps wrote."""
    return "\n".join(text for text in (alert.note, note) if text)


@transaction.atomic
def alert_acknowledge(*, alert: Alert, by: User, note: str = "") -> Alert:
    """Someone has seen an open alert and is looking into it."""
    alert = _locked(alert)
    _refuse_if_resolved(alert)
    if alert.status == Alert.Status.ACKNOWLEDGED:
        raise ValidationError(
            {"status": _("This alert is already acknowledged.")}, code="acknowledged"
        )
    alert.status = Alert.Status.ACKNOWLEDGED
    alert.acknowledged_by = by
    alert.acknowledged_at = timezone.now()
    alert.note = _note_added(alert, note.strip())
    alert.save(update_fields=["status", "acknowledged_by", "acknowledged_at", "note"])

    logger.info("Alert %s: acknowledged by user %s", alert.pk, by.pk)
    return alert


@transaction.atomic
def alert_resolve(*, alert: Alert, by: User, note: str) -> Alert:
    """Close an open or acknowledged alert, saying what was done."""
    note = note.strip()
    if not note:
        raise ValidationError(
            {"note": _("Say what was found or done before resolving.")},
            code="required",
        )
    alert = _locked(alert)
    _refuse_if_resolved(alert)
    alert.status = Alert.Status.RESOLVED
    alert.resolved_by = by
    alert.resolved_at = timezone.now()
    alert.note = _note_added(alert, note)
    alert.save(update_fields=["status", "resolved_by", "resolved_at", "note"])

    logger.info("Alert %s: resolved by user %s", alert.pk, by.pk)
    return alert


@transaction.atomic
def alert_assign(*, alert: Alert, assignee: User, by: User) -> Alert:
    """Give an unresolved alert to a member of staff who may handle it."""
    if not (assignee.is_active and assignee.has_perm("risk.handle_alert")):
        raise ValidationError(
            {"assignee": _("Assign the alert to someone who may handle alerts.")},
            code="not_handler",
        )
    alert = _locked(alert)
    _refuse_if_resolved(alert)
    alert.assignee = assignee
    alert.save(update_fields=["assignee"])

    logger.info(
        "Alert %s: assigned to user %s by user %s", alert.pk, assignee.pk, by.pk
    )
    return alert


# Stress tests


def stress_scenario_check(*, pd_multipliers: object) -> dict[str, Decimal]:
    """A scenario's multipliers as decimals, or an error on the field."""
    try:
        return stress.multipliers_parse(pd_multipliers)
    except stress.MultiplierError as error:
        if not error.key:
            message = _('Give the multipliers as a mapping, e.g. {"C": "1.5"}.')
        elif error.key not in stress.MULTIPLIER_KEYS:
            message = _(
                "%(key)s is neither a grade (A to E) nor a bucket behind "
                "(1-30, 31-60, 61-90, 90+)."
            ) % {"key": error.key}
        else:
            message = _("The multiplier for %(key)s must be a positive number.") % {
                "key": error.key
            }
        raise ValidationError({"pd_multipliers": message}, code="invalid") from None


@transaction.atomic
def stress_test_run(
    *, scenario: StressScenario, by: User | None, as_of: date
) -> StressRun:
    """Run `scenario` on the open book and store the run with its results.

    Default probabilities come from the platform's history where it is long
    enough (`risk.book`); the computation is `risk.stress`.
    """
    shocks = stress.Shocks(
        pd_multipliers=stress_scenario_check(pd_multipliers=scenario.pd_multipliers),
        lgd=scenario.lgd,
        shocked_branch_id=scenario.shocked_branch_id,
        branch_default_rate=scenario.branch_default_rate,
        contagion=scenario.contagion,
        simulations=scenario.simulations,
        seed=scenario.seed,
    )
    current = book.book_read(as_of=as_of)
    provision, provision_source = book.provision_held(as_of=as_of, book=current)
    outcome = stress.stress(
        book=current,
        probabilities=book.default_probabilities(as_of=as_of),
        shocks=shocks,
        provision=provision,
    )
    results = {
        "scenario": scenario.name,
        "as_of": as_of.isoformat(),
        "provision_source": provision_source,
        **outcome.results,
    }
    run = StressRun.objects.create(
        scenario=scenario,
        as_of=as_of,
        seed=scenario.seed,
        simulations=scenario.simulations,
        exposure=outcome.exposure,
        expected_loss=outcome.expected_loss,
        stressed_loss=outcome.stressed_loss,
        provision=outcome.provision,
        results=results,
        run_by=by,
    )

    logger.info(
        "Stress run %s: scenario %s on %s, %s loans, exposure %s, expected loss "
        "%s, stressed loss %s, provision %s, 99%% simulated loss %s",
        run.pk,
        scenario.pk,
        as_of,
        outcome.loans,
        outcome.exposure,
        outcome.expected_loss,
        outcome.stressed_loss,
        outcome.provision,
        outcome.loss_99,
    )
    return run

"""The early-warning rules: what each one finds on a business date.

Each rule is a function of its `WarningRule` row and the date that reads
the book in a few set-based queries and returns `Finding`s, the alerts it
would raise. Nothing here writes: `risk.services.rules_evaluate` stores the
findings not raised before (each has a unique dedupe key) and pauses a
branch where the rule says so.

Subjects name a loan by its number and a member by id and real name, never
by national ID or phone. Evidence holds the figures that made the rule fire,
amounts and shares as decimal strings.
"""

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, cast

from django.db.models import (
    Count,
    F,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from credit.models import BureauReport, CreditScore
from loans.models import Installment, Loan
from members.models import Branch, GuarantorTie, Member
from members.selectors import User, branches_visible_to, sees_all_branches
from risk.models import Alert, Snapshot, WarningRule

SHARE = Decimal("0.000001")
UNRESOLVED = (Alert.Status.OPEN, Alert.Status.ACKNOWLEDGED)

# A ring longer than this is not looked for, and at most this many rings
# are reported in one close: a dense guarantee graph has exponentially many
# loops, and the first ones found are enough to send someone to look.
RING_MAX_LENGTH = 12
RING_MAX_FOUND = 500


@dataclass(frozen=True)
class Finding:
    """An alert a rule would raise, before it is stored."""

    dedupe_key: str
    subject: str
    evidence: dict[str, Any]
    branch_id: int | None = None
    member_id: int | None = None
    loan_id: int | None = None
    # Set by branch_par30 when its rule pauses lending in an active branch.
    pauses_branch: bool = False


Check = Callable[[WarningRule, date], list[Finding]]


def _percent(share: Decimal) -> str:
    return f"{share * 100:.1f} %"


def _unresolved_branches(rule: WarningRule) -> QuerySet[Alert, int]:
    """Branches that already have an open or acknowledged alert of `rule`."""
    return Alert.objects.filter(
        rule=rule, status__in=UNRESOLVED, branch__isnull=False
    ).values_list("branch", flat=True)


def first_installment_missed(rule: WarningRule, on: date) -> list[Finding]:
    """An open loan whose first installment is unpaid past its due date
    (and `threshold` days more, 0 by default)."""
    late_from = on - timedelta(days=int(rule.threshold))
    installments = (
        Installment.objects.filter(
            number=1,
            superseded=False,
            paid_on__isnull=True,
            due_date__lt=late_from,
            loan__state__in=Loan.OPEN_STATES,
        )
        .exclude(
            loan__in=Alert.objects.filter(rule=rule, loan__isnull=False).values("loan")
        )
        .select_related("loan__member")
        .order_by("loan_id")
    )
    findings = []
    for installment in installments:
        loan, member = installment.loan, installment.loan.member
        subject = _(
            "Loan %(loan)s of %(name)s (member %(member)d): first installment "
            "due %(due)s unpaid"
        ) % {
            "loan": loan.number,
            "name": member.real_name,
            "member": member.pk,
            "due": installment.due_date.isoformat(),
        }
        findings.append(
            Finding(
                dedupe_key=f"{rule.kind}:loan:{loan.pk}",
                subject=subject,
                evidence={
                    "installment": installment.pk,
                    "due_date": installment.due_date.isoformat(),
                    "days_late": (on - installment.due_date).days,
                    "amount_due": str(installment.total_due),
                    "principal": str(loan.principal),
                },
                branch_id=member.branch_id,
                member_id=member.pk,
                loan_id=loan.pk,
            )
        )
    return findings


def branch_par30(rule: WarningRule, on: date) -> list[Finding]:
    """A branch whose PAR 30 in the snapshot of `on` is above the threshold."""
    snapshots = (
        Snapshot.objects.filter(on=on, branch__isnull=False, par30__gt=rule.threshold)
        .exclude(branch__in=_unresolved_branches(rule))
        .select_related("branch")
        .order_by("branch_id")
    )
    findings = []
    for snapshot in snapshots:
        # The query asks for branch snapshots only.
        branch = cast(Branch, snapshot.branch)
        pauses = rule.pauses_branch and branch.status == Branch.Status.ACTIVE
        values = {
            "branch": branch.name,
            "par30": _percent(snapshot.par30),
            "threshold": _percent(rule.threshold),
        }
        if pauses:
            subject = (
                _(
                    "Branch %(branch)s: PAR 30 of %(par30)s is above "
                    "%(threshold)s; lending paused"
                )
                % values
            )
        else:
            subject = (
                _("Branch %(branch)s: PAR 30 of %(par30)s is above %(threshold)s")
                % values
            )
        findings.append(
            Finding(
                dedupe_key=f"{rule.kind}:branch:{branch.pk}:{on.isoformat()}",
                subject=subject,
                evidence={
                    "snapshot": snapshot.pk,
                    "par30": str(snapshot.par30),
                    "threshold": str(rule.threshold),
                    "principal_outstanding": str(snapshot.principal_outstanding),
                    "loans_outstanding": snapshot.loans_outstanding,
                    "lending_paused": pauses,
                },
                branch_id=branch.pk,
                pauses_branch=pauses,
            )
        )
    return findings


def score_drop(rule: WarningRule, on: date) -> list[Finding]:
    """A member whose latest score fell by `threshold` points or more from
    their highest score within `window_days` before it.

    Only latest scores made within the window up to `on` are looked at: an
    older drop was seen by an earlier close. One query reads every score of
    the last two windows, which holds each candidate and all it is
    compared with.
    """
    window = timedelta(days=rule.window_days)
    scores = (
        CreditScore.objects.filter(as_of__lte=on, as_of__gte=on - 2 * window)
        .order_by("member_id", "as_of", "id")
        .values_list("pk", "member_id", "total", "as_of")
    )
    by_member: dict[int, list[tuple[int, int, date]]] = defaultdict(list)
    for pk, member_id, total, as_of in scores.iterator():
        by_member[member_id].append((pk, total, as_of))

    drops: list[tuple[int, int, int, int, date]] = []
    for member_id, history in by_member.items():
        latest_pk, latest_total, latest_on = history[-1]
        if latest_on < on - window:
            continue
        earlier = [t for _pk, t, as_of in history[:-1] if as_of >= latest_on - window]
        drop = max(earlier, default=latest_total) - latest_total
        if drop > 0 and drop >= rule.threshold:
            drops.append((member_id, latest_pk, latest_total, max(earlier), latest_on))
    if not drops:
        return []

    raised = set(
        Alert.objects.filter(
            rule=rule, member_id__in=[d[0] for d in drops]
        ).values_list("dedupe_key", flat=True)
    )
    names = _member_names([d[0] for d in drops])
    findings = []
    for member_id, score_pk, total, peak, as_of in drops:
        key = f"{rule.kind}:score:{score_pk}"
        if key in raised:
            continue
        name, branch_id = names[member_id]
        findings.append(
            Finding(
                dedupe_key=key,
                subject=_(
                    "Member %(member)d %(name)s: score fell from %(peak)d to %(total)d"
                )
                % {"member": member_id, "name": name, "peak": peak, "total": total},
                evidence={
                    "score": score_pk,
                    "as_of": as_of.isoformat(),
                    "total": total,
                    "highest_in_window": peak,
                    "drop": peak - total,
                    "threshold": str(rule.threshold),
                    "window_days": rule.window_days,
                },
                branch_id=branch_id,
                member_id=member_id,
            )
        )
    return findings


def _member_names(ids: Iterable[int]) -> dict[int, tuple[str, int]]:
    rows = Member.objects.filter(pk__in=set(ids)).values_list(
        "pk", "real_name", "branch_id"
    )
    return {pk: (name, branch_id) for pk, name, branch_id in rows}


def bureau_overdue(rule: WarningRule, on: date) -> list[Finding]:
    """A bureau report showing more outside overdue debts than the member's
    previous report (or any, for a first report)."""
    previous = (
        BureauReport.objects.filter(member=OuterRef("member"))
        .filter(
            Q(reported_on__lt=OuterRef("reported_on"))
            | Q(reported_on=OuterRef("reported_on"), pk__lt=OuterRef("pk"))
        )
        .order_by("-reported_on", "-pk")
        .values("external_overdue_count")[:1]
    )
    reports = (
        BureauReport.objects.filter(
            reported_on__lte=on,
            reported_on__gte=on - timedelta(days=rule.window_days),
        )
        .annotate(
            previous_count=Coalesce(
                Subquery(previous, output_field=IntegerField()), Value(0)
            )
        )
        .filter(external_overdue_count__gt=F("previous_count"))
        .select_related("member")
        .order_by("pk")
    )
    found = {f"{rule.kind}:report:{report.pk}": report for report in reports}
    raised = set(
        Alert.objects.filter(dedupe_key__in=list(found)).values_list(
            "dedupe_key", flat=True
        )
    )
    findings = []
    for key, report in found.items():
        if key in raised:
            continue
        member = report.member
        findings.append(
            Finding(
                dedupe_key=key,
                subject=_(
                    "Member %(member)d %(name)s: bureau report shows %(count)d "
                    "outside overdue debts, %(previous)d before"
                )
                % {
                    "member": member.pk,
                    "name": member.real_name,
                    "count": report.external_overdue_count,
                    "previous": report.previous_count,
                },
                evidence={
                    "report": report.pk,
                    "source": report.source,
                    "reported_on": report.reported_on.isoformat(),
                    "external_overdue_count": report.external_overdue_count,
                    "previous_count": report.previous_count,
                    "external_debt": str(report.external_debt),
                },
                branch_id=member.branch_id,
                member_id=member.pk,
            )
        )
    return findings


def application_burst(rule: WarningRule, on: date) -> list[Finding]:
    """A member with `threshold` or more applications in the `window_days`
    ending on `on` (and no unresolved alert of this rule)."""
    since = on - timedelta(days=max(rule.window_days, 1) - 1)
    bursts = (
        Loan.objects.filter(applied_on__gte=since, applied_on__lte=on)
        .values("member_id", "member__real_name", "member__branch_id")
        .annotate(applications=Count("pk"), last=Max("pk"))
        .filter(applications__gte=rule.threshold)
        .exclude(
            member_id__in=Alert.objects.filter(
                rule=rule, status__in=UNRESOLVED, member__isnull=False
            ).values("member")
        )
        .order_by("member_id")
    )
    findings = []
    for burst in bursts:
        member_id = burst["member_id"]
        findings.append(
            Finding(
                # The last application names the burst: the same loans
                # never raise twice, a new one after a resolved alert does.
                dedupe_key=f"{rule.kind}:member:{member_id}:{burst['last']}",
                subject=_(
                    "Member %(member)d %(name)s: %(count)d applications in "
                    "%(days)d days"
                )
                % {
                    "member": member_id,
                    "name": burst["member__real_name"],
                    "count": burst["applications"],
                    "days": (on - since).days + 1,
                },
                evidence={
                    "applications": burst["applications"],
                    "from": since.isoformat(),
                    "to": on.isoformat(),
                    "threshold": str(rule.threshold),
                    "last_loan": burst["last"],
                },
                branch_id=burst["member__branch_id"],
                member_id=member_id,
            )
        )
    return findings


def guarantor_rings(edges: Iterable[tuple[int, int]]) -> list[list[int]]:
    """Every loop in a guarantee graph (guarantor -> borrower), each once,
    starting at its smallest member and following the guarantees.

    For each start, in increasing order, a depth-first walk through larger
    members only finds the loops whose smallest member is that start, so
    no loop is found twice. Walks stop at RING_MAX_LENGTH, and the search
    at RING_MAX_FOUND loops.
    """
    graph: dict[int, list[int]] = defaultdict(list)
    for guarantor, borrower in edges:
        graph[guarantor].append(borrower)
    for targets in graph.values():
        targets.sort()

    rings: list[list[int]] = []
    for start in sorted(graph):
        path, stack = [start], [iter(graph[start])]
        on_path = {start}
        while stack:
            step = next(stack[-1], None)
            if step is None:
                stack.pop()
                on_path.discard(path.pop())
                continue
            if step == start:
                rings.append(list(path))
                if len(rings) >= RING_MAX_FOUND:
                    return rings
            elif step > start and step not in on_path and len(path) < RING_MAX_LENGTH:
                path.append(step)
                on_path.add(step)
                stack.append(iter(graph.get(step, [])))
    return rings


def _ring_key(kind: str, ring: list[int]) -> str:
    members = "-".join(str(pk) for pk in sorted(ring))
    key = f"{kind}:members:{members}"
    if len(key) <= 120:
        return key
    digest = hashlib.sha256(members.encode()).hexdigest()[:40]
    return f"{kind}:digest:{digest}"


def guarantor_ring(rule: WarningRule, on: date) -> list[Finding]:
    """Members who guarantee each other in a loop, through active ties."""
    ties = GuarantorTie.objects.filter(status=GuarantorTie.Status.ACTIVE)
    rings = guarantor_rings(ties.values_list("guarantor_id", "borrower_id"))
    if not rings:
        return []

    keyed = {_ring_key(rule.kind, ring): ring for ring in rings}
    raised = set(
        Alert.objects.filter(dedupe_key__in=list(keyed)).values_list(
            "dedupe_key", flat=True
        )
    )
    names = _member_names(pk for ring in rings for pk in ring)
    findings = []
    for key, ring in keyed.items():
        if key in raised:
            continue
        listed = ", ".join(f"{pk} {names[pk][0]}" for pk in ring)
        findings.append(
            Finding(
                dedupe_key=key,
                subject=_("Guarantor ring of %(count)d members: %(members)s")
                % {"count": len(ring), "members": listed},
                evidence={"ring": ring, "length": len(ring)},
                branch_id=names[ring[0]][1],
                member_id=ring[0],
            )
        )
    return findings


def branch_concentration(rule: WarningRule, on: date) -> list[Finding]:
    """A branch holding more than `threshold` of the principal outstanding
    in the snapshots of `on`."""
    book = Snapshot.objects.filter(on=on, branch__isnull=True).first()
    if book is None or book.principal_outstanding <= 0:
        return []
    snapshots = (
        Snapshot.objects.filter(on=on, branch__isnull=False)
        .exclude(branch__in=_unresolved_branches(rule))
        .select_related("branch")
        .order_by("branch_id")
    )
    findings = []
    for snapshot in snapshots:
        share = (snapshot.principal_outstanding / book.principal_outstanding).quantize(
            SHARE
        )
        if share <= rule.threshold:
            continue
        # The query asks for branch snapshots only.
        branch = cast(Branch, snapshot.branch)
        findings.append(
            Finding(
                dedupe_key=f"{rule.kind}:branch:{branch.pk}:{on.isoformat()}",
                subject=_(
                    "Branch %(branch)s holds %(share)s of the book, above %(threshold)s"
                )
                % {
                    "branch": branch.name,
                    "share": _percent(share),
                    "threshold": _percent(rule.threshold),
                },
                evidence={
                    "share": str(share),
                    "threshold": str(rule.threshold),
                    "branch_principal": str(snapshot.principal_outstanding),
                    "book_principal": str(book.principal_outstanding),
                },
                branch_id=branch.pk,
            )
        )
    return findings


CHECKS: dict[str, Check] = {
    WarningRule.Kind.FIRST_INSTALLMENT_MISSED: first_installment_missed,
    WarningRule.Kind.BRANCH_PAR30: branch_par30,
    WarningRule.Kind.SCORE_DROP: score_drop,
    WarningRule.Kind.BUREAU_OVERDUE: bureau_overdue,
    WarningRule.Kind.APPLICATION_BURST: application_burst,
    WarningRule.Kind.GUARANTOR_RING: guarantor_ring,
    WarningRule.Kind.BRANCH_CONCENTRATION: branch_concentration,
}


def alerts_visible_to(user: User) -> QuerySet[Alert]:
    """Alerts of the branches the user works; alerts about no branch (none
    of the shipped rules raise one) only for staff who see every branch."""
    if sees_all_branches(user):
        return Alert.objects.all()
    return Alert.objects.filter(branch__in=branches_visible_to(user))

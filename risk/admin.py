"""Back-office for the risk app. Actions call `risk.services`."""

import json
from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _
from django_stubs_ext import StrOrPromise

from config.permissions import request_staff
from loans.selectors import business_date_current
from members.admin import _run_each, branch_filter
from members.selectors import branches_visible_to, sees_all_branches
from risk import services
from risk.models import (
    BUCKET_ORDER,
    TIER_ORDER,
    Alert,
    Bucket,
    Snapshot,
    StressRun,
    StressScenario,
    Tier,
    TierCode,
    WarningRule,
)
from risk.portfolio import TierRate, tiers_check
from risk.warnings import alerts_visible_to

# Rules and alerts


# What each rule's threshold and window mean, shown beside the fields.
RULE_HELP: dict[str, tuple[StrOrPromise, StrOrPromise]] = {
    WarningRule.Kind.FIRST_INSTALLMENT_MISSED: (
        _("Days of slack after the first due date before the alert (0: next day)."),
        _("Not used."),
    ),
    WarningRule.Kind.BRANCH_PAR30: (
        _("A branch's PAR 30 above this share raises the alert (0.1000 is 10 %)."),
        _("Not used: the day's snapshot is read."),
    ),
    WarningRule.Kind.SCORE_DROP: (
        _("Points a member's latest score must fall below their window high."),
        _("Days before the latest score in which the high is looked for."),
    ),
    WarningRule.Kind.BUREAU_OVERDUE: (
        _("Not used: any rise in outside overdue debts raises the alert."),
        _("Days back to read reports received (0: reports of the day only)."),
    ),
    WarningRule.Kind.APPLICATION_BURST: (
        _("Number of applications by one member that raises the alert."),
        _("Days, ending on the business date, in which they are counted."),
    ),
    WarningRule.Kind.GUARANTOR_RING: (
        _("Not used: every loop of active guarantees raises an alert."),
        _("Not used."),
    ),
    WarningRule.Kind.BRANCH_CONCENTRATION: (
        _("A branch's share of principal outstanding above this raises the alert."),
        _("Not used: the day's snapshots are read."),
    ),
}


@admin.register(WarningRule)
class WarningRuleAdmin(admin.ModelAdmin[WarningRule]):
    list_display = [
        "kind",
        "enabled",
        "severity",
        "threshold",
        "window_days",
        "pauses_branch",
        "updated_at",
        "updated_by",
    ]
    list_filter = ["enabled", "severity"]
    fields = [
        "kind",
        "enabled",
        "severity",
        "threshold",
        "window_days",
        "pauses_branch",
        "updated_at",
        "updated_by",
    ]

    def get_readonly_fields(
        self, request: HttpRequest, obj: WarningRule | None = None
    ) -> list[str]:
        readonly = ["kind", "updated_at", "updated_by"]
        if obj is None or obj.kind != WarningRule.Kind.BRANCH_PAR30:
            # Only the PAR 30 rule pauses lending.
            readonly.append("pauses_branch")
        return readonly

    def get_form(
        self,
        request: HttpRequest,
        obj: WarningRule | None = None,
        change: bool = False,
        **kwargs: Any,
    ) -> type[forms.ModelForm[WarningRule]]:
        form = super().get_form(request, obj, change, **kwargs)
        if obj is not None and obj.kind in RULE_HELP:
            threshold, window = RULE_HELP[obj.kind]
            # The class is made afresh for each request: this changes no other.
            for name, text in (("threshold", threshold), ("window_days", window)):
                if name in form.base_fields:
                    form.base_fields[name].help_text = text
        return form

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(
        self, request: HttpRequest, obj: WarningRule | None = None
    ) -> bool:
        return False

    def save_model(
        self,
        request: HttpRequest,
        obj: WarningRule,
        form: forms.ModelForm[WarningRule],
        change: bool,
    ) -> None:
        obj.updated_by = request_staff(request)
        super().save_model(request, obj, form, change)


class ResolveForm(forms.Form):
    note = forms.CharField(
        label=_("What was found or done"),
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=2000,
    )


ALERT_FIELDS = (
    "rule",
    "severity",
    "subject",
    "branch",
    "member_named",
    "loan",
    "evidence_shown",
    "raised_on",
    "status",
    "assignee",
    "acknowledged_by",
    "acknowledged_at",
    "resolved_by",
    "resolved_at",
    "note",
)


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin[Alert]):
    list_display = [
        "__str__",
        "rule",
        "severity",
        "status",
        "branch",
        "raised_on",
        "assignee",
    ]
    list_filter = [
        "status",
        "severity",
        "rule",
        branch_filter("branch"),
    ]
    list_select_related = ["rule", "branch", "assignee"]
    search_fields = ["subject"]
    date_hierarchy = "raised_on"
    actions = ["acknowledge", "resolve", "assign_to_me"]
    fields = ALERT_FIELDS
    readonly_fields = ALERT_FIELDS

    def get_queryset(self, request: HttpRequest) -> QuerySet[Alert]:
        return alerts_visible_to(request.user).select_related(
            "rule", "branch", "member", "loan", "assignee"
        )

    @admin.display(description=_("member"))
    def member_named(self, alert: Alert) -> str:
        # Id and real name only: the member's str carries the masked ID.
        if alert.member is None:
            return "-"
        return f"{alert.member.pk} {alert.member.real_name}"

    @admin.display(description=pgettext_lazy("alert", "evidence"))
    def evidence_shown(self, alert: Alert) -> SafeString:
        text = json.dumps(alert.evidence, indent=2, ensure_ascii=False, sort_keys=True)
        return format_html("<pre>{}</pre>", text)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: Alert | None = None
    ) -> bool:
        # Alerts change only through the actions below.
        return False

    def has_delete_permission(
        self, request: HttpRequest, obj: Alert | None = None
    ) -> bool:
        return False

    def has_handle_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("risk.handle_alert")

    @admin.action(description=_("Acknowledge selected alerts"), permissions=["handle"])
    def acknowledge(self, request: HttpRequest, queryset: QuerySet[Alert]) -> None:
        by = request_staff(request)
        _run_each(
            self,
            request,
            queryset,
            lambda alert: services.alert_acknowledge(alert=alert, by=by),
            gettext("%(count)d alerts acknowledged."),
        )

    @admin.action(
        description=_("Resolve selected alerts (asks for a note)"),
        permissions=["handle"],
    )
    def resolve(
        self, request: HttpRequest, queryset: QuerySet[Alert]
    ) -> TemplateResponse | None:
        """A page asking what was done; submitted with a note, resolve each."""
        form = ResolveForm(request.POST if "note" in request.POST else None)
        if form.is_bound and form.is_valid():
            by, note = request_staff(request), form.cleaned_data["note"]
            _run_each(
                self,
                request,
                queryset,
                lambda alert: services.alert_resolve(alert=alert, by=by, note=note),
                gettext("%(count)d alerts resolved."),
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Resolve alerts"),
            "form": form,
            "alerts": queryset,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/risk/alert/resolve.html", context)

    @admin.action(description=_("Assign selected alerts to me"), permissions=["handle"])
    def assign_to_me(self, request: HttpRequest, queryset: QuerySet[Alert]) -> None:
        me = request_staff(request)
        _run_each(
            self,
            request,
            queryset,
            lambda alert: services.alert_assign(alert=alert, assignee=me, by=me),
            gettext("%(count)d alerts assigned to you."),
        )


# Stress scenarios and runs


class StressScenarioForm(forms.ModelForm[StressScenario]):
    class Meta:
        model = StressScenario
        fields = [
            "name",
            "description",
            "pd_multipliers",
            "lgd",
            "shocked_branch",
            "branch_default_rate",
            "contagion",
            "simulations",
            "seed",
        ]

    def clean_pd_multipliers(self) -> dict[str, str]:
        raw = self.cleaned_data.get("pd_multipliers")
        try:
            parsed = services.stress_scenario_check(pd_multipliers=raw or {})
        except ValidationError as error:
            raise ValidationError(error.message_dict["pd_multipliers"]) from None
        return {key: str(value) for key, value in parsed.items()}

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        rate = cleaned.get("branch_default_rate") or Decimal(0)
        if rate > 0 and not cleaned.get("shocked_branch"):
            self.add_error(
                "shocked_branch",
                _("Choose the branch that the branch default rate applies to."),
            )
        return cleaned


@admin.register(StressScenario)
class StressScenarioAdmin(admin.ModelAdmin[StressScenario]):
    form = StressScenarioForm
    list_display = [
        "name",
        "lgd",
        "shocked_branch",
        "branch_default_rate",
        "contagion",
        "simulations",
        "seed",
    ]
    search_fields = ["name"]
    actions = ["run_now"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Runs keep their scenario; a scenario is edited, not removed.
        return False

    def has_run_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("risk.run_stress_test")

    @admin.action(description=_("Run now on the current book"), permissions=["run"])
    def run_now(self, request: HttpRequest, queryset: QuerySet[StressScenario]) -> None:
        by = request.user if isinstance(request.user, User) else None
        as_of = business_date_current()
        for scenario in queryset:
            try:
                run = services.stress_test_run(scenario=scenario, by=by, as_of=as_of)
            except ValidationError as error:
                self.message_user(
                    request,
                    f"{scenario}: {' '.join(error.messages)}",
                    messages.ERROR,
                )
                continue
            self.message_user(
                request,
                format_html(
                    '{}: <a href="{}">{}</a>',
                    scenario,
                    reverse("admin:risk_stressrun_change", args=[run.pk]),
                    gettext("stressed loss ¥%(loss)s, shortfall ¥%(shortfall)s")
                    % {
                        "loss": run.stressed_loss,
                        "shortfall": run.stressed_loss - run.provision,
                    },
                ),
                messages.SUCCESS,
            )


def _figure(run: StressRun, *path: str) -> str:
    """A figure of the stored results, or a dash when the run lacks it."""
    value: Any = run.results
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return "—"
        value = value[key]
    return str(value)


def _table(headers: list[str], rows: list[list[Any]]) -> SafeString:
    head = format_html_join("", "<th>{}</th>", ((header,) for header in headers))
    body = format_html_join(
        "",
        "<tr>{}</tr>",
        (
            (format_html_join("", "<td>{}</td>", ((cell,) for cell in row)),)
            for row in rows
        ),
    )
    return format_html(
        "<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, body
    )


STRESS_COMPARED: list[tuple[StrOrPromise, tuple[str, ...]]] = [
    (_("Book as of"), ("as_of",)),
    (_("Loans"), ("loans",)),
    (_("Exposure"), ("exposure",)),
    (_("Loss given default"), ("lgd",)),
    (_("Expected loss, unstressed"), ("expected_loss",)),
    (_("Expected loss, stressed"), ("stressed_loss",)),
    (_("Stressed, without contagion"), ("stressed_loss_without_contagion",)),
    (_("Provision held"), ("provision",)),
    (_("Shortfall"), ("shortfall",)),
    (_("Simulated mean loss"), ("simulated_mean",)),
    (_("Simulated standard deviation"), ("simulated_std",)),
    (_("Loss at the 50th percentile"), ("percentiles", "50")),
    (_("Loss at the 90th percentile"), ("percentiles", "90")),
    (_("Loss at the 95th percentile"), ("percentiles", "95")),
    (_("Loss at the 99th percentile"), ("percentiles", "99")),
    (_("Loss at the 99.9th percentile"), ("percentiles", "99.9")),
]
STRESS_RUN_FIELDS = (
    "scenario",
    "as_of",
    "seed",
    "simulations",
    "exposure",
    "expected_loss",
    "stressed_loss",
    "provision",
    "shortfall",
    "run_at",
    "run_by",
    "percentiles_table",
    "branches_table",
    "probabilities_table",
    "shocks_table",
)


def _difference(first: str, second: str) -> str:
    try:
        return str(Decimal(second) - Decimal(first))
    except InvalidOperation:
        return ""


@admin.register(StressRun)
class StressRunAdmin(admin.ModelAdmin[StressRun]):
    list_display = [
        "id",
        "scenario",
        "as_of",
        "simulations",
        "exposure",
        "expected_loss",
        "stressed_loss",
        "provision",
        "shortfall",
        "loss_99",
        "run_at",
        "run_by",
    ]
    list_filter = ["scenario", "as_of"]
    list_select_related = ["scenario", "run_by"]
    actions = ["compare"]
    fields = STRESS_RUN_FIELDS
    readonly_fields = STRESS_RUN_FIELDS

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Runs are made by the service, from a scenario's "run now".
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("shortfall"))
    def shortfall(self, run: StressRun) -> Decimal:
        return run.stressed_loss - run.provision

    @admin.display(description=_("99th percentile loss"))
    def loss_99(self, run: StressRun) -> str:
        return _figure(run, "percentiles", "99")

    @admin.display(description=_("simulated loss percentiles"))
    def percentiles_table(self, run: StressRun) -> SafeString:
        stored = run.results.get("percentiles") or {}
        rows = [[level, loss] for level, loss in stored.items()]
        rows.append([gettext("mean"), _figure(run, "simulated_mean")])
        rows.append([gettext("standard deviation"), _figure(run, "simulated_std")])
        return _table([gettext("percentile"), gettext("loss")], rows)

    @admin.display(description=_("loss by branch"))
    def branches_table(self, run: StressRun) -> SafeString:
        rows = [
            [
                row.get("branch_name", ""),
                row.get("loans", ""),
                row.get("exposure", ""),
                row.get("expected_loss", ""),
                row.get("stressed_loss", ""),
            ]
            for row in run.results.get("by_branch") or []
        ]
        headers = [
            gettext("branch"),
            gettext("loans"),
            gettext("exposure"),
            gettext("expected loss"),
            gettext("stressed loss"),
        ]
        return _table(headers, rows)

    @admin.display(description=_("default probabilities"))
    def probabilities_table(self, run: StressRun) -> SafeString:
        stored = run.results.get("probabilities") or {}
        multipliers = run.results.get("multipliers") or {}
        rows = [
            [
                key,
                value.get("pd", ""),
                value.get("source", ""),
                value.get("sample", ""),
                value.get("defaulted", ""),
                multipliers.get(key, "1"),
            ]
            for key, value in stored.items()
        ]
        headers = [
            gettext("grade or bucket"),
            gettext("probability"),
            gettext("source"),
            gettext("loans seen"),
            gettext("defaulted"),
            gettext("multiplier"),
        ]
        return _table(headers, rows)

    @admin.display(description=_("shocks"))
    def shocks_table(self, run: StressRun) -> SafeString:
        rows = [
            [gettext("loss given default"), _figure(run, "lgd")],
            [gettext("branch shocked"), _figure(run, "shocked_branch")],
            [gettext("branch default rate"), _figure(run, "branch_default_rate")],
            [gettext("contagion"), _figure(run, "contagion")],
            [gettext("provision from"), _figure(run, "provision_source")],
        ]
        return _table([gettext("shock"), gettext("value")], rows)

    @admin.action(description=_("Compare two runs side by side"), permissions=["view"])
    def compare(
        self, request: HttpRequest, queryset: QuerySet[StressRun]
    ) -> TemplateResponse | None:
        runs = list(queryset.select_related("scenario").order_by("run_at", "id"))
        if len(runs) != 2:
            self.message_user(
                request, gettext("Select exactly two runs to compare."), messages.ERROR
            )
            return None
        first, second = runs
        rows = []
        for label, path in STRESS_COMPARED:
            a, b = _figure(first, *path), _figure(second, *path)
            rows.append((label, a, b, _difference(a, b)))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Compare stress runs"),
            "first": first,
            "second": second,
            "rows": rows,
            "branches": _branches_compared(first, second),
        }
        return TemplateResponse(request, "admin/risk/stressrun/compare.html", context)


def _branches_compared(
    first: StressRun, second: StressRun
) -> list[tuple[str, str, str, str]]:
    losses = []
    for run in (first, second):
        losses.append(
            {
                row.get("branch_name", ""): str(row.get("stressed_loss", "—"))
                for row in run.results.get("by_branch") or []
            }
        )
    rows = []
    for name in sorted(set(losses[0]) | set(losses[1])):
        a, b = losses[0].get(name, "—"), losses[1].get(name, "—")
        rows.append((name, a, b, _difference(a, b)))
    return rows


# Tiers and snapshots


class TierForm(forms.ModelForm[Tier]):
    class Meta:
        model = Tier
        fields = ["min_days", "provision_rate"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned
        others = Tier.objects.exclude(pk=self.instance.pk).values_list(
            "code", "min_days", "provision_rate"
        )
        tiers = [TierRate(*row) for row in others]
        tiers.append(
            TierRate(self.instance.code, cleaned["min_days"], cleaned["provision_rate"])
        )
        tiers_check(tiers)
        return cleaned


@admin.register(Tier)
class TierAdmin(admin.ModelAdmin[Tier]):
    """The five tiers are fixed; their day ranges and rates are edited."""

    form = TierForm
    list_display = ["code", "min_days", "provision_rate"]
    fields = ["code", "min_days", "provision_rate"]
    readonly_fields = ["code"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _percent(share: Decimal) -> str:
    return f"{share * 100:.2f} %"


def _figures_table(headers: list[Any], rows: list[tuple[Any, ...]]) -> SafeString:
    head = format_html_join("", "<th>{}</th>", ((h,) for h in headers))
    body = format_html_join(
        "",
        "<tr>{}</tr>",
        (
            (format_html_join("", "<td>{}</td>", ((cell,) for cell in row)),)
            for row in rows
        ),
    )
    return format_html(
        "<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, body
    )


@admin.register(Snapshot)
class SnapshotAdmin(admin.ModelAdmin[Snapshot]):
    """What the close recorded; read only, for every reader."""

    date_hierarchy = "on"
    list_display = [
        "on",
        "branch_or_book",
        "loans_outstanding",
        "principal_outstanding",
        "par1_percent",
        "par30_percent",
        "par90_percent",
        "provision",
    ]
    list_filter = ["branch"]
    list_select_related = ["branch"]
    readonly_fields = (
        "on",
        "branch_or_book",
        "loans_outstanding",
        "principal_outstanding",
        "par1_percent",
        "par30_percent",
        "par90_percent",
        "bucket_table",
        "tier_table",
        "provision",
        "created_at",
    )
    fields = readonly_fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Snapshot]:
        snapshots = super().get_queryset(request)
        if sees_all_branches(request.user):
            return snapshots
        return snapshots.filter(branch__in=branches_visible_to(request.user))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("branch"), ordering="branch__name")
    def branch_or_book(self, snapshot: Snapshot) -> StrOrPromise:
        return snapshot.branch.name if snapshot.branch else _("Whole book")

    @admin.display(description=_("PAR 1"), ordering="par1")
    def par1_percent(self, snapshot: Snapshot) -> str:
        return _percent(snapshot.par1)

    @admin.display(description=_("PAR 30"), ordering="par30")
    def par30_percent(self, snapshot: Snapshot) -> str:
        return _percent(snapshot.par30)

    @admin.display(description=_("PAR 90"), ordering="par90")
    def par90_percent(self, snapshot: Snapshot) -> str:
        return _percent(snapshot.par90)

    @admin.display(description=_("by days-past-due bucket"))
    def bucket_table(self, snapshot: Snapshot) -> SafeString:
        labels = dict(Bucket.choices)
        rows = []
        for name in BUCKET_ORDER:
            row = snapshot.buckets.get(name, {})
            rows.append((labels[name], row.get("count", 0), row.get("principal", "")))
        return _figures_table([_("bucket"), _("loans"), _("principal")], rows)

    @admin.display(description=_("by classification tier"))
    def tier_table(self, snapshot: Snapshot) -> SafeString:
        labels = dict(TierCode.choices)
        rows = []
        for code in TIER_ORDER:
            row = snapshot.tiers.get(code, {})
            rows.append(
                (
                    labels[code],
                    row.get("count", 0),
                    row.get("principal", ""),
                    row.get("provision_rate", ""),
                    row.get("provision", ""),
                )
            )
        headers = [_("tier"), _("loans"), _("principal"), _("rate"), _("provision")]
        return _figures_table(headers, rows)

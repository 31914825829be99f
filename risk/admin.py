"""Back-office for the risk app. Actions call `risk.services`."""

import json
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin import helpers
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_stubs_ext import StrOrPromise

from members.admin import _run_each
from risk import services
from risk.models import Alert, WarningRule
from risk.warnings import alerts_visible_to

# Rules and alerts


def _staff(request: HttpRequest) -> User:
    if not isinstance(request.user, User):
        raise PermissionDenied
    return request.user


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
            form.base_fields["threshold"].help_text = threshold
            form.base_fields["window_days"].help_text = window
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
        obj.updated_by = _staff(request)
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
    "member_link",
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
        ("branch", admin.RelatedOnlyFieldListFilter),
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
    def member_link(self, alert: Alert) -> str:
        # Id and real name only: the member's str carries the masked ID.
        if alert.member is None:
            return "-"
        return f"{alert.member.pk} {alert.member.real_name}"

    @admin.display(description=_("evidence"))
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
        by = _staff(request)
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
            by, note = _staff(request), form.cleaned_data["note"]
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
        me = _staff(request)
        _run_each(
            self,
            request,
            queryset,
            lambda alert: services.alert_assign(alert=alert, assignee=me, by=me),
            gettext("%(count)d alerts assigned to you."),
        )

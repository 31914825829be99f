"""Back-office for collections: the ladder and the message templates, cases
and their contacts, mediation and legal referral, hardship plans, the outbox
and the borrowers' contact consents.

Risk officers edit the policy, its ladder and the templates in place.
Everything else changes through `collection.services`: a case's collector
and cause, a contact recorded from the case's page, a case closed with its
review, a mediation's progress, referrals reviewed, hardship plans decided,
messages sent again and consent given or withdrawn. Auditors hold only view
permissions, so they see all of it read-only.
"""

from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers, widgets
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import F, OuterRef, QuerySet, Subquery, Sum
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from collection import rules, services, wording
from collection.models import (
    THIRD_PARTY_PURPOSES,
    CallTask,
    CollectionCase,
    Contact,
    ContactConsent,
    EscalationPolicy,
    HardshipRequest,
    LadderStep,
    LegalReferral,
    Mediation,
    Message,
    MessageTemplate,
    Purpose,
    StepDone,
)
from config.admin_paging import LongListAdmin
from config.exports import EXPORT_ACTIONS, ExportActions, money_column
from config.permissions import request_staff
from config.roles import StaffRole
from credit.admin import ReadOnlyAdmin
from loans.admin import LOAN_NUMBER
from loans.models import Installment
from loans.selectors import business_date_current, loans_visible_to
from members.admin import (
    ReadOnlyInline,
    ReasonActionForm,
    ScopedAdmin,
    _run_each,
    branch_filter,
)
from members.models import Branch, EmergencyContact, Member
from members.selectors import members_visible_to, sees_all_branches

Row = TypeVar("Row")


def _refusals_reported(operation: Callable[[Row], object]) -> Callable[[Row], object]:
    """The service call with a maker-checker refusal turned into a validation
    error, so that `_run_each` reports it on its row instead of answering
    the whole page with 403."""

    def run(row: Row) -> object:
        try:
            return operation(row)
        except PermissionDenied as error:
            message = str(error) or gettext("You may not do this.")
            raise ValidationError(message, code="permission_denied") from error

    return run


def _form_errors(form: forms.BaseForm, error: ValidationError) -> None:
    """A service's refusal as the form's errors: on the field it names when
    the form has one, above the form otherwise."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for name, items in error.error_dict.items():
        form.add_error(name if name in form.fields else None, items)


def _with_loan_number(
    results: QuerySet[Any], queryset: QuerySet[Any], term: str, loan_path: str
) -> QuerySet[Any]:
    """Add the rows of the loan whose number (L00000012 or 12) was typed."""
    number = LOAN_NUMBER.fullmatch(term.strip())
    if number is None:
        return results
    return results | queryset.filter(**{f"{loan_path}__pk": int(number.group(1))})


class LoanScopedAdmin(admin.ModelAdmin[Any]):
    """Rows of the loans the user may see, found by loan number too."""

    loan_path = "loan"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        rows = self.with_figures(self.model._default_manager.get_queryset())
        if not sees_all_branches(request_staff(request)):
            rows = rows.filter(
                **{f"{self.loan_path}__in": loans_visible_to(request.user)}
            )
        # Ordered after `with_figures`, so that the ordering may use them.
        ordering = self.get_ordering(request)
        return rows.order_by(*ordering) if ordering else rows

    def with_figures(self, rows: QuerySet[Any]) -> QuerySet[Any]:
        """The rows with the figures their columns show."""
        return rows

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        results, may_have_duplicates = super().get_search_results(
            request, queryset, search_term
        )
        found = _with_loan_number(results, queryset, search_term, self.loan_path)
        return found, may_have_duplicates

    def has_add_permission(self, request: HttpRequest) -> bool:
        # These rows are written by the ladder and the services.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ShownInline(ReadOnlyInline):
    """A row shown on a case's page, never changed there."""

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# The policy and its ladder ------------------------------------------------


class LadderStepInline(admin.TabularInline[LadderStep, EscalationPolicy]):
    model = LadderStep
    extra = 0
    fields = [
        "stage",
        "anchor",
        "day",
        "message",
        "open_case",
        "call_task",
        "tell_leader",
        "offer_mediation",
        "prepare_legal",
        "tell_guarantors",
    ]


@admin.register(EscalationPolicy)
class EscalationPolicyAdmin(admin.ModelAdmin[EscalationPolicy]):
    """The one policy row; risk officers edit it and its ladder."""

    list_display = [
        "__str__",
        "quiet_from",
        "quiet_until",
        "calls_per_day",
        "max_restructures",
        "penalty_waiver",
        "updated_at",
    ]
    fieldsets = [
        (
            _("Contact rules"),
            {"fields": ["quiet_from", "quiet_until", "calls_per_day"]},
        ),
        (_("Hardship plans"), {"fields": ["max_restructures", "penalty_waiver"]}),
        (None, {"fields": ["updated_at", "updated_by"]}),
    ]
    readonly_fields = ["updated_at", "updated_by"]
    inlines = [LadderStepInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[EscalationPolicy]:
        EscalationPolicy.current()
        return super().get_queryset(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(
        self,
        request: HttpRequest,
        obj: EscalationPolicy,
        form: forms.ModelForm[EscalationPolicy],
        change: bool,
    ) -> None:
        obj.updated_by = request_staff(request)
        super().save_model(request, obj, form, change)


# Message templates ------------------------------------------------------


def _placeholders(names: set[str]) -> str:
    return ", ".join(f"${{{name}}}" for name in sorted(names))


def placeholder_help(purpose: str | None) -> str:
    """The placeholders a template may use, for the body's help text."""
    if purpose:
        return gettext("Placeholders this purpose may use: %(names)s.") % {
            "names": _placeholders(wording.fields_for(purpose))
        }
    third_party = next(iter(THIRD_PARTY_PURPOSES))
    return gettext(
        "Placeholders: to the borrower %(borrower)s; to a third party "
        "%(third_party)s; in a hardship decision %(decision)s."
    ) % {
        "borrower": _placeholders(wording.fields_for(Purpose.EARLY)),
        "third_party": _placeholders(wording.fields_for(third_party)),
        "decision": _placeholders(wording.fields_for(Purpose.HARDSHIP_DECISION)),
    }


class MessageTemplateForm(forms.ModelForm[MessageTemplate]):
    """Runs the wording checks, so a threat, an unknown placeholder or a debt
    figure for a third party is an error on the text."""

    class Meta:
        model = MessageTemplate
        fields = ["purpose", "language", "body"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        # On an existing template the purpose is shown, not submitted.
        purpose = cleaned.get("purpose") or self.instance.purpose
        body = cleaned.get("body")
        if purpose and body is not None:
            try:
                wording.template_check(purpose=purpose, body=body)
            except ValidationError as error:
                self.add_error(None, error)
        return cleaned


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin[MessageTemplate]):
    form = MessageTemplateForm
    list_display = ["purpose", "language", "opening", "updated_at"]
    list_filter = ["purpose", "language"]
    search_fields = ["body"]

    @admin.display(description=_("text"))
    def opening(self, template: MessageTemplate) -> str:
        return template.body if len(template.body) <= 60 else template.body[:59] + "…"

    def get_readonly_fields(
        self, request: HttpRequest, obj: MessageTemplate | None = None
    ) -> list[str]:
        # A template belongs to its purpose and language for good.
        return ["purpose", "language", "updated_at"] if obj is not None else []

    def get_fields(
        self, request: HttpRequest, obj: MessageTemplate | None = None
    ) -> Any:
        fields = ["purpose", "language", "body"]
        return [*fields, "updated_at"] if obj is not None else fields

    def get_form(
        self,
        request: HttpRequest,
        obj: MessageTemplate | None = None,
        change: bool = False,
        **kwargs: Any,
    ) -> type[forms.ModelForm[MessageTemplate]]:
        form = super().get_form(request, obj, change, **kwargs)
        body = form.base_fields.get("body")
        if body is not None:
            body.help_text = placeholder_help(obj.purpose if obj else None)
        return form

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Every purpose needs its words; a template is edited, not removed.
        return False


# Cases --------------------------------------------------------------------


class ContactInline(ShownInline):
    model = Contact
    readonly_fields = (
        "at",
        "channel",
        "party",
        "outcome",
        "promise_date",
        "promise_amount",
        "promise",
        "by",
        "note",
    )
    fields = readonly_fields
    select_related = ("by",)


class CallTaskInline(ShownInline):
    model = CallTask
    readonly_fields = ("due_on", "done_at")
    fields = readonly_fields
    select_related = ("case",)


class MediationInline(ShownInline):
    model = Mediation
    readonly_fields = ("status", "offered_on", "mediator", "held_on", "outcome")
    fields = readonly_fields
    show_change_link = True
    select_related = ("case",)


class ReferralInline(ShownInline):
    model = LegalReferral
    readonly_fields = ("status", "prepared_on", "reviewed_by", "reviewed_on", "note")
    fields = readonly_fields
    show_change_link = True
    select_related = ("case", "reviewed_by")


class StepDoneInline(ShownInline):
    model = StepDone
    fk_name = "case"
    readonly_fields = ("step", "on")
    fields = readonly_fields

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The steps are part of the case's record: whoever sees it sees them.
        return request.user.has_perm("collection.view_collectioncase")

    def get_queryset(self, request: HttpRequest) -> QuerySet[StepDone]:
        return super().get_queryset(request).select_related("step")


def collectors_of(branch: Branch) -> QuerySet[User]:
    return User.objects.filter(
        is_active=True,
        groups__name=StaffRole.COLLECTOR.value,
        staffed_branches=branch,
    ).distinct()


class CaseForm(forms.ModelForm[CollectionCase]):
    """The collector and the cause, which `save_model` hands to services."""

    class Meta:
        model = CollectionCase
        fields = ["collector", "cause"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The services assign and classify; neither takes a value away.
        for name in ("collector", "cause"):
            field = self.fields.get(name)
            if field is not None and getattr(self.instance, name):
                field.required = True


CASE_FIELDSETS = [
    (
        None,
        {
            "fields": [
                "loan",
                "borrower",
                "branch",
                "stage",
                "status",
                "collector",
                "cause",
            ]
        },
    ),
    (_("Arrears"), {"fields": ["days_past_due", "amount_at_risk"]}),
    (
        _("Dates"),
        {"fields": ["opened_on", "next_action_on", "resolved_on", "closed_on"]},
    ),
    (_("Closing review"), {"fields": ["review"]}),
]


class ContactRecordForm(forms.ModelForm[Contact]):
    at = forms.SplitDateTimeField(label=_("When"), widget=widgets.AdminSplitDateTime)
    restoring_contact = forms.BooleanField(
        label=_("Only to help restore contact with the borrower"),
        required=False,
        help_text=_("A third party may be contacted for nothing else."),
    )
    field_order = [
        "at",
        "channel",
        "party",
        "emergency_contact",
        "restoring_contact",
        "outcome",
        "note",
        "promise_date",
        "promise_amount",
    ]

    class Meta:
        model = Contact
        fields = [
            "at",
            "channel",
            "party",
            "emergency_contact",
            "outcome",
            "note",
            "promise_date",
            "promise_amount",
        ]
        widgets = {
            "promise_date": widgets.AdminDateWidget,
            "note": forms.Textarea(attrs={"rows": 3, "cols": 60}),
        }

    def __init__(self, *args: Any, case: CollectionCase, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["emergency_contact"]
        if isinstance(field, forms.ModelChoiceField):
            field.queryset = EmergencyContact.objects.filter(member=case.loan.member)

    def refused(self, error: ValidationError) -> None:
        """The service's refusal; a contact rule is named above the form."""
        if not hasattr(error, "error_dict"):
            self.add_error(None, error)
            return
        for name, items in error.error_dict.items():
            if name not in rules.Rule.values:
                self.add_error(name if name in self.fields else None, items)
                continue
            message = gettext("Refused by the rule “%(rule)s”: %(reason)s") % {
                "rule": rules.Rule(name).label,
                "reason": " ".join(ValidationError(items).messages),
            }
            self.add_error(None, ValidationError(message, code=name))


class CaseCloseForm(forms.Form):
    review = forms.CharField(
        label=_("What was learnt from this case"),
        widget=forms.Textarea(attrs={"rows": 5, "cols": 60}),
    )


@admin.register(CollectionCase)
class CollectionCaseAdmin(LongListAdmin, ExportActions, LoanScopedAdmin):
    """The collectors' work: open cases by amount at risk and days past due."""

    form = CaseForm
    list_display = [
        "__str__",
        "loan",
        "borrower",
        "stage",
        "status",
        "collector",
        "days_past_due",
        "amount_at_risk",
        "next_action_on",
        "opened_on",
    ]
    list_filter = [
        "stage",
        "status",
        ("collector", admin.RelatedOnlyFieldListFilter),
        branch_filter("loan__member__branch"),
        "cause",
    ]
    list_select_related = ["loan__member__branch", "collector"]
    search_fields = ["loan__member__real_name"]
    search_help_text = _("The borrower's name or the loan number (L00000012 or 12).")
    actions = [*EXPORT_ACTIONS]
    inlines = [
        ContactInline,
        CallTaskInline,
        MediationInline,
        ReferralInline,
        StepDoneInline,
    ]

    def with_figures(self, cases: QuerySet[CollectionCase]) -> QuerySet[CollectionCase]:
        # A subquery per case rather than a join with every installment, so
        # that counting the list (or a filter of it) reads the cases alone.
        unpaid = (
            Installment.objects.filter(loan=OuterRef("loan"), superseded=False)
            .values("loan")
            .annotate(total=Sum(F("principal") - F("paid_principal")))
            .values("total")
        )
        return cases.annotate(at_risk=Subquery(unpaid))

    def get_ordering(self, request: HttpRequest) -> list[str]:
        return ["-at_risk", "-loan__days_past_due"]

    def get_fieldsets(
        self, request: HttpRequest, obj: CollectionCase | None = None
    ) -> Any:
        return CASE_FIELDSETS

    def get_readonly_fields(
        self, request: HttpRequest, obj: CollectionCase | None = None
    ) -> list[str]:
        # A collector is assigned only while the case is open.
        editable = {"cause", "collector"} if obj and obj.is_open else {"cause"}
        return [
            name
            for _title, spec in CASE_FIELDSETS
            for name in spec["fields"]
            if name not in editable
        ]

    def get_form(
        self,
        request: HttpRequest,
        obj: CollectionCase | None = None,
        change: bool = False,
        **kwargs: Any,
    ) -> type[forms.ModelForm[CollectionCase]]:
        form = super().get_form(request, obj, change, **kwargs)
        collector = form.base_fields.get("collector")
        if obj is not None and isinstance(collector, forms.ModelChoiceField):
            collector.queryset = collectors_of(obj.loan.member.branch)
        return form

    def save_model(
        self,
        request: HttpRequest,
        obj: CollectionCase,
        form: forms.ModelForm[CollectionCase],
        change: bool,
    ) -> None:
        by = request_staff(request)
        collector = form.cleaned_data.get("collector")
        if "collector" in form.changed_data and collector is not None:
            services.case_assign(case=obj, collector=collector, by=by)
        cause = form.cleaned_data.get("cause")
        if "cause" in form.changed_data and cause:
            services.case_classify(case=obj, cause=cause, by=by)
        obj.refresh_from_db()

    # Columns and read-only fields

    @admin.display(description=_("borrower"), ordering="loan__member__real_name")
    def borrower(self, case: CollectionCase) -> Member:
        return case.loan.member

    @admin.display(description=_("branch"), ordering="loan__member__branch__name")
    def branch(self, case: CollectionCase) -> Branch:
        return case.loan.member.branch

    @admin.display(description=_("days past due"), ordering="loan__days_past_due")
    def days_past_due(self, case: CollectionCase) -> int:
        return case.loan.days_past_due

    @admin.display(description=_("amount at risk"), ordering="at_risk")
    @money_column
    def amount_at_risk(self, case: CollectionCase) -> Decimal | None:
        return getattr(case, "at_risk", None)

    # The page's own forms: record a contact, close with a review

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        context = dict(extra_context or {})
        case = self.get_object(request, object_id)
        if case is not None:
            if case.is_open and self.has_work_permission(request):
                context["contact_url"] = reverse(
                    "admin:collection_collectioncase_contact", args=[case.pk]
                )
            closable = case.status in (
                CollectionCase.Status.RESOLVED,
                CollectionCase.Status.LEGAL,
            )
            if closable and self.has_change_permission(request, case):
                context["close_url"] = reverse(
                    "admin:collection_collectioncase_close", args=[case.pk]
                )
        return super().change_view(request, object_id, form_url, context)

    def has_work_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("collection.work_case")

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "<int:case_id>/contact/",
                self.admin_site.admin_view(self.contact_view),
                name="collection_collectioncase_contact",
            ),
            path(
                "<int:case_id>/close/",
                self.admin_site.admin_view(self.close_view),
                name="collection_collectioncase_close",
            ),
        ]
        return [*own, *super().get_urls()]

    def _case(self, request: HttpRequest, case_id: int) -> CollectionCase:
        case: CollectionCase | None = (
            self.get_queryset(request)
            .select_related("loan__member")
            .filter(pk=case_id)
            .first()
        )
        if case is None:
            raise Http404
        return case

    def _case_page(self, case: CollectionCase) -> HttpResponseRedirect:
        return HttpResponseRedirect(
            reverse("admin:collection_collectioncase_change", args=[case.pk])
        )

    def _form_page(
        self,
        request: HttpRequest,
        case: CollectionCase,
        form: forms.BaseForm,
        title: str,
        submit: str,
    ) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": case,
            "title": title,
            "form": form,
            "submit_label": submit,
            "media": self.media + form.media,
        }
        return TemplateResponse(
            request, "admin/collection/collectioncase/case_form.html", context
        )

    def contact_view(self, request: HttpRequest, case_id: int) -> HttpResponse:
        """Record a contact; a rule that refuses it is named on the form."""
        if not self.has_work_permission(request):
            raise PermissionDenied
        case = self._case(request, case_id)
        data = request.POST if request.method == "POST" else None
        now = timezone.localtime().replace(second=0, microsecond=0)
        form = ContactRecordForm(data, case=case, initial={"at": now})
        if form.is_bound and form.is_valid():
            try:
                services.contact_record(
                    case=case,
                    by=request_staff(request),
                    at=form.cleaned_data["at"],
                    channel=form.cleaned_data["channel"],
                    party=form.cleaned_data["party"],
                    emergency_contact=form.cleaned_data["emergency_contact"],
                    restoring_contact=form.cleaned_data["restoring_contact"],
                    outcome=form.cleaned_data["outcome"],
                    note=form.cleaned_data["note"],
                    promise_date=form.cleaned_data["promise_date"],
                    promise_amount=form.cleaned_data["promise_amount"],
                )
            except ValidationError as error:
                form.refused(error)
            else:
                self.message_user(
                    request, gettext("Contact recorded."), messages.SUCCESS
                )
                return self._case_page(case)
        title = gettext("Record a contact on case %(case)s") % {"case": case}
        return self._form_page(request, case, form, title, gettext("Record"))

    def close_view(self, request: HttpRequest, case_id: int) -> HttpResponse:
        """Close a resolved or referred case with what was learnt from it."""
        case = self._case(request, case_id)
        if not self.has_change_permission(request, case):
            raise PermissionDenied
        data = request.POST if request.method == "POST" else None
        form = CaseCloseForm(data, initial={"review": case.review})
        if form.is_bound and form.is_valid():
            try:
                services.case_close(
                    case=case,
                    review=form.cleaned_data["review"],
                    by=request_staff(request),
                    on=business_date_current(),
                )
            except ValidationError as error:
                _form_errors(form, error)
            else:
                self.message_user(
                    request,
                    gettext("Case %(case)s closed.") % {"case": case},
                    messages.SUCCESS,
                )
                return self._case_page(case)
        title = gettext("Close case %(case)s") % {"case": case}
        return self._form_page(request, case, form, title, gettext("Close the case"))


# Mediation and legal referral ---------------------------------------------


class MediationForm(forms.ModelForm[Mediation]):
    """Hands the session's progress to `mediation_record` once the form is
    otherwise valid, so that its refusals are the form's errors. The admin
    view runs in one transaction: nothing is kept if the page fails later."""

    class Meta:
        model = Mediation
        fields = ["status", "mediator", "held_on", "outcome"]

    def full_clean(self) -> None:
        super().full_clean()
        if not self.is_bound or self.errors or self.instance.pk is None:
            return
        try:
            services.mediation_record(
                mediation=self.instance,
                status=self.cleaned_data["status"],
                mediator=self.cleaned_data.get("mediator") or "",
                held_on=self.cleaned_data.get("held_on"),
                outcome=self.cleaned_data.get("outcome") or "",
            )
        except ValidationError as error:
            _form_errors(self, error)


@admin.register(Mediation)
class MediationAdmin(LoanScopedAdmin):
    loan_path = "case__loan"
    form = MediationForm
    list_display = ["__str__", "case", "status", "offered_on", "mediator", "held_on"]
    list_filter = [
        "status",
        branch_filter("case__loan__member__branch"),
    ]
    list_select_related = ["case"]
    search_fields = ["case__loan__member__real_name", "mediator"]
    fields = [
        "case",
        "offered_on",
        "status",
        "mediator",
        "held_on",
        "outcome",
        "document",
    ]
    readonly_fields = ["case", "offered_on", "document"]

    def save_model(
        self,
        request: HttpRequest,
        obj: Mediation,
        form: forms.ModelForm[Mediation],
        change: bool,
    ) -> None:
        # `mediation_record` saved it while the form was validated.
        obj.refresh_from_db()


@admin.register(LegalReferral)
class LegalReferralAdmin(LoanScopedAdmin):
    """Prepared by the ladder; a risk officer approves or withdraws each."""

    loan_path = "case__loan"
    list_display = [
        "__str__",
        "case",
        "status",
        "prepared_on",
        "reviewed_by",
        "reviewed_on",
        "counsel",
    ]
    list_filter = [
        "status",
        branch_filter("case__loan__member__branch"),
    ]
    list_select_related = ["case", "reviewed_by"]
    search_fields = ["case__loan__member__real_name", "counsel"]
    readonly_fields = (
        "case",
        "status",
        "prepared_on",
        "reviewed_by",
        "reviewed_on",
        "counsel",
        "note",
        "document",
    )
    fields = readonly_fields
    action_form = ReasonActionForm
    actions = ["approve_referral", "withdraw_referral"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A referral changes only by its review, which is an action.
        return False

    def has_review_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("collection.change_legalreferral")

    def _review(
        self, request: HttpRequest, queryset: QuerySet[LegalReferral], approve: bool
    ) -> None:
        by, on = request_staff(request), business_date_current()
        note = request.POST.get("reason", "").strip()
        _run_each(
            self,
            request,
            queryset,
            lambda referral: services.referral_review(
                referral=referral, approve=approve, by=by, on=on, note=note
            ),
            gettext("%(count)d referrals approved; their cases go to legal.")
            if approve
            else gettext("%(count)d referrals withdrawn."),
        )

    @admin.action(
        description=_("Approve the referral (note in the reason box)"),
        permissions=["review"],
    )
    def approve_referral(
        self, request: HttpRequest, queryset: QuerySet[LegalReferral]
    ) -> None:
        self._review(request, queryset, approve=True)

    @admin.action(
        description=_("Withdraw the referral (give a reason)"),
        permissions=["review"],
    )
    def withdraw_referral(
        self, request: HttpRequest, queryset: QuerySet[LegalReferral]
    ) -> None:
        if not request.POST.get("reason", "").strip():
            self.message_user(
                request,
                gettext("Say in the reason box why the referrals are withdrawn."),
                messages.ERROR,
            )
            return
        self._review(request, queryset, approve=False)


# Hardship plans -----------------------------------------------------------


class HardshipAskForm(forms.ModelForm[HardshipRequest]):
    """A plan asked for by staff; `hardship_request` checks and records it
    once the form is otherwise valid, so that its refusals are the form's
    errors. The admin view runs in one transaction."""

    asked_by: User | None = None
    asked: HardshipRequest | None = None

    class Meta:
        model = HardshipRequest
        fields = ["loan", "cause", "installments", "note"]

    def full_clean(self) -> None:
        super().full_clean()
        if not self.is_bound or self.errors:
            return
        try:
            self.asked = services.hardship_request(
                loan=self.cleaned_data["loan"],
                cause=self.cleaned_data["cause"],
                installments=self.cleaned_data["installments"],
                note=self.cleaned_data.get("note") or "",
                by=self.asked_by,
                on=business_date_current(),
            )
        except ValidationError as error:
            _form_errors(self, error)


class RefusalForm(forms.Form):
    refusal_reason = forms.CharField(
        label=_("Reason for refusing"),
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
        help_text=_("The borrower is told the plan was refused; say why."),
    )


HARDSHIP_RECORD = (
    "loan",
    "cause",
    "installments",
    "note",
    "status",
    "requested_on",
    "requested_by",
    "decided_on",
    "decided_by",
    "decision_note",
)


@admin.register(HardshipRequest)
class HardshipRequestAdmin(LoanScopedAdmin):
    list_display = [
        "__str__",
        "loan",
        "borrower",
        "cause",
        "installments",
        "status",
        "requested_on",
        "requested_by",
        "decided_on",
        "decided_by",
    ]
    list_filter = [
        "status",
        "cause",
        branch_filter("loan__member__branch"),
    ]
    list_select_related = ["loan__member", "requested_by", "decided_by"]
    search_fields = ["loan__member__real_name"]
    search_help_text = _("The borrower's name or the loan number (L00000012 or 12).")
    autocomplete_fields = ["loan"]
    action_form = ReasonActionForm
    actions = ["approve", "refuse"]

    @admin.display(description=_("borrower"), ordering="loan__member__real_name")
    def borrower(self, hardship: HardshipRequest) -> Member:
        return hardship.loan.member

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("collection.add_hardshiprequest")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A request is decided by the actions, never edited.
        return False

    def has_decide_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("collection.decide_hardship")

    def get_fields(
        self, request: HttpRequest, obj: HardshipRequest | None = None
    ) -> Any:
        return list(HARDSHIP_RECORD) if obj else HardshipAskForm.Meta.fields

    def get_readonly_fields(
        self, request: HttpRequest, obj: HardshipRequest | None = None
    ) -> Any:
        return HARDSHIP_RECORD if obj else ()

    def get_form(
        self,
        request: HttpRequest,
        obj: HardshipRequest | None = None,
        change: bool = False,
        **kwargs: Any,
    ) -> type[forms.ModelForm[HardshipRequest]]:
        if obj is not None:
            return super().get_form(request, obj, change, **kwargs)
        kwargs["form"] = HardshipAskForm
        form = cast(
            type[HardshipAskForm], super().get_form(request, obj, change, **kwargs)
        )
        # The class is made afresh for each request, so it may carry the user.
        form.asked_by = request_staff(request)
        loan_field = form.base_fields["loan"]
        if isinstance(loan_field, forms.ModelChoiceField):
            loan_field.queryset = loans_visible_to(request.user).filter(
                state__in=services.RESTRUCTURABLE
            )
        return form

    def save_model(
        self,
        request: HttpRequest,
        obj: HardshipRequest,
        form: forms.ModelForm[HardshipRequest],
        change: bool,
    ) -> None:
        asked = cast(HardshipAskForm, form).asked
        if asked is None:
            raise PermissionDenied
        obj.pk = asked.pk
        obj.refresh_from_db()

    @admin.action(
        description=_("Approve the plan and restructure the loan"),
        permissions=["decide"],
    )
    def approve(
        self, request: HttpRequest, queryset: QuerySet[HardshipRequest]
    ) -> None:
        by, on = request_staff(request), business_date_current()
        note = request.POST.get("reason", "").strip()
        _run_each(
            self,
            request,
            queryset,
            _refusals_reported(
                lambda hardship: services.hardship_approve(
                    request=hardship, by=by, on=on, note=note
                )
            ),
            gettext("%(count)d plans approved; their loans are restructured."),
        )

    @admin.action(
        description=_("Refuse the plan (asks for the reason)"),
        permissions=["decide"],
    )
    def refuse(
        self, request: HttpRequest, queryset: QuerySet[HardshipRequest]
    ) -> TemplateResponse | None:
        """A page asking why; submitted with a reason, refuse each request."""
        given = "refusal_reason" in request.POST
        form = RefusalForm(request.POST if given else None)
        if form.is_bound and form.is_valid():
            by, on = request_staff(request), business_date_current()
            reason = form.cleaned_data["refusal_reason"]
            _run_each(
                self,
                request,
                queryset,
                _refusals_reported(
                    lambda hardship: services.hardship_refuse(
                        request=hardship, by=by, on=on, reason=reason
                    )
                ),
                gettext("%(count)d plans refused; the borrowers are told."),
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Refuse hardship plans"),
            "form": form,
            "requests": queryset.select_related("loan__member"),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(
            request, "admin/collection/hardshiprequest/refuse.html", context
        )


# The outbox ---------------------------------------------------------------


MESSAGE_RECORD = (
    "member",
    "loan",
    "purpose",
    "audience",
    "recipient",
    "channel",
    "language",
    "body",
    "status",
    "scheduled_for",
    "attempts",
    "last_error",
    "sent_at",
    "read_at",
    "created_at",
)


@admin.register(Message)
class MessageAdmin(LongListAdmin, ReadOnlyAdmin):
    """Every message and its delivery; numbers are looked up only to send."""

    branch_path = "member__branch"
    list_display = [
        "__str__",
        "member",
        "loan",
        "purpose",
        "audience",
        "channel",
        "status",
        "scheduled_for",
        "attempts",
        "sent_at",
    ]
    list_filter = [
        "status",
        "purpose",
        "channel",
        "audience",
        branch_filter("member__branch"),
    ]
    list_select_related = ["member", "loan"]
    search_fields = ["member__real_name"]
    search_help_text = _("The borrower's name or the loan number (L00000012 or 12).")
    date_hierarchy = "scheduled_for"
    readonly_fields = MESSAGE_RECORD
    fields = MESSAGE_RECORD
    actions = ["send_again"]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Message], search_term: str
    ) -> tuple[QuerySet[Message], bool]:
        results, may_have_duplicates = super().get_search_results(
            request, queryset, search_term
        )
        found = _with_loan_number(results, queryset, search_term, "loan")
        return found, may_have_duplicates

    @admin.display(description=_("recipient"))
    def recipient(self, message: Message) -> str:
        # The name only: the number stays encrypted with the member or contact.
        if message.recipient_contact is not None:
            return message.recipient_contact.name
        if message.recipient_member is not None:
            return message.recipient_member.real_name
        return message.member.real_name

    def has_resend_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("collection.resend_message")

    @admin.action(description=_("Send failed messages again"), permissions=["resend"])
    def send_again(self, request: HttpRequest, queryset: QuerySet[Message]) -> None:
        now = timezone.now()
        _run_each(
            self,
            request,
            queryset,
            lambda message: services.message_resend(message=message, now=now),
            gettext("%(count)d messages queued to be sent again."),
        )


# Contact consent ----------------------------------------------------------


class ConsentForm(forms.ModelForm[ContactConsent]):
    class Meta:
        model = ContactConsent
        fields = ["member", "kind", "given_at", "evidence"]
        widgets = {"given_at": widgets.AdminSplitDateTime}
        field_classes = {"given_at": forms.SplitDateTimeField}


CONSENT_RECORD = ("member", "kind", "given_at", "evidence", "withdrawn_at")


@admin.register(ContactConsent)
class ContactConsentAdmin(ScopedAdmin):
    """What borrowers agreed to; recorded and withdrawn through services."""

    branch_path = "member__branch"
    form = ConsentForm
    list_display = ["member", "kind", "given_at", "evidence", "withdrawn_at"]
    list_filter = [
        "kind",
        ("withdrawn_at", admin.EmptyFieldListFilter),
        branch_filter("member__branch"),
    ]
    list_select_related = ["member"]
    search_fields = ["member__real_name", "evidence"]
    autocomplete_fields = ["member"]
    actions = ["withdraw"]

    def get_fields(
        self, request: HttpRequest, obj: ContactConsent | None = None
    ) -> Any:
        return CONSENT_RECORD if obj else ConsentForm.Meta.fields

    def get_readonly_fields(
        self, request: HttpRequest, obj: ContactConsent | None = None
    ) -> Any:
        return CONSENT_RECORD if obj else ()

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        initial: dict[str, Any] = dict(super().get_changeform_initial_data(request))
        initial.setdefault("given_at", timezone.localtime().replace(microsecond=0))
        return initial

    def get_form(
        self,
        request: HttpRequest,
        obj: ContactConsent | None = None,
        change: bool = False,
        **kwargs: Any,
    ) -> type[forms.ModelForm[ContactConsent]]:
        form = super().get_form(request, obj, change, **kwargs)
        member = form.base_fields.get("member")
        if isinstance(member, forms.ModelChoiceField):
            member.queryset = members_visible_to(request.user)
        return form

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Consent is given once and withdrawn by the action, never edited.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The record shows who was allowed what, and when.
        return False

    def has_withdraw_permission(self, request: HttpRequest) -> bool:
        # Whoever records a consent records its withdrawal.
        return request.user.has_perm("collection.add_contactconsent")

    def save_model(
        self,
        request: HttpRequest,
        obj: ContactConsent,
        form: forms.ModelForm[ContactConsent],
        change: bool,
    ) -> None:
        consent = services.consent_give(
            member=form.cleaned_data["member"],
            kind=form.cleaned_data["kind"],
            evidence=form.cleaned_data["evidence"],
            at=form.cleaned_data["given_at"],
        )
        obj.pk = consent.pk
        obj.refresh_from_db()

    @admin.action(
        description=_("Record that the borrower withdrew consent"),
        permissions=["withdraw"],
    )
    def withdraw(
        self, request: HttpRequest, queryset: QuerySet[ContactConsent]
    ) -> None:
        now = timezone.now()
        _run_each(
            self,
            request,
            queryset.filter(withdrawn_at__isnull=True),
            lambda consent: services.consent_withdraw(consent=consent, at=now),
            gettext("Consent withdrawn for %(count)d records."),
        )

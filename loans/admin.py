"""Back-office for loans: products, loans and their money, the daily close.

Staff configure products here directly. Everything else changes only
through `loans.services`: an application keyed in here, approval in
levels, rejection, disbursement and write-off are actions (and buttons on
a loan's page) that call a service per loan and report each refusal.
"""

import re
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, OuterRef, QuerySet, Subquery, Sum
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from config.admin_paging import LongListAdmin
from config.exports import EXPORT_ACTIONS, ExportActions
from config.money import yuan
from config.permissions import request_staff
from credit.admin import ReadOnlyAdmin
from loans import ledger, services
from loans.models import (
    ZERO,
    Account,
    Approval,
    BusinessDay,
    CloseStep,
    Installment,
    JournalEntry,
    JournalLine,
    Loan,
    LoanTransition,
    Product,
    Repayment,
    WriteOffRequest,
)
from loans.selectors import business_date_current
from members.admin import (
    ReadOnlyInline,
    ReasonActionForm,
    ScopedAdmin,
    TransitionButtons,
    _run_each,
    branch_filter,
)
from members.models import Member
from members.selectors import members_visible_to

STATE_LABELS = dict(Loan.State.choices)


def _percent(fraction: Decimal) -> str:
    """0.1200 as "12 %", 0.1250 as "12.5 %"."""
    return f"{(fraction * 100).normalize():f} %"


def _refusals_reported(
    operation: Callable[[Loan], object],
) -> Callable[[Loan], object]:
    """The service call with a maker-checker refusal turned into a validation
    error, so that `_run_each` reports it on its row instead of answering
    the whole page with 403."""

    def run(loan: Loan) -> object:
        try:
            return operation(loan)
        except PermissionDenied as error:
            message = str(error) or gettext("You may not do this.")
            raise ValidationError(message, code="permission_denied") from error

    return run


# Products -------------------------------------------------------------------


class TermsField(forms.Field):
    """Months offered, typed as "3, 6, 12" and stored as [3, 6, 12]."""

    default_error_messages = {
        "required": _("Offer at least one term."),
        "invalid": _(
            "Enter whole numbers of months separated by commas, e.g. 3, 6, 12."
        ),
        "not_positive": _("Each term must be at least one month."),
    }

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):
            return ", ".join(str(months) for months in value)
        return value

    def to_python(self, value: Any) -> list[int]:
        if isinstance(value, list):
            return value
        text = str(value or "").strip()
        if not text:
            return []
        # A Chinese keyboard types the full-width comma.
        parts = [part.strip() for part in re.split(r"[,，]", text)]
        if not all(re.fullmatch(r"-?\d{1,4}", part) for part in parts):
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        terms = sorted({int(part) for part in parts})
        if terms[0] < 1:
            raise ValidationError(
                self.error_messages["not_positive"], code="not_positive"
            )
        return terms


class ProductForm(forms.ModelForm[Product]):
    terms = TermsField(
        label=_("Terms offered (months)"),
        help_text=_("Numbers of months separated by commas: 3, 6, 12."),
    )

    class Meta:
        model = Product
        fields = [
            "name",
            "active",
            "min_amount",
            "max_amount",
            "terms",
            "repayment_method",
            "annual_rate",
            "penalty_daily_rate",
            "cost_cap",
            "grace_days",
            "blacklist_days",
            "second_approval_above",
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        low, high = cleaned.get("min_amount"), cleaned.get("max_amount")
        if low is not None and high is not None and high < low:
            self.add_error(
                "max_amount",
                gettext("The largest amount must be at least the smallest, %(low)s.")
                % {"low": yuan(low)},
            )
        return cleaned


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin[Product]):
    form = ProductForm
    list_display = [
        "name",
        "amount_range",
        "terms_offered",
        "annual_rate_percent",
        "repayment_method",
        "grace_days",
        "blacklist_days",
        "second_approval_above",
        "cost_cap_percent",
        "active",
    ]
    list_filter = ["active", "repayment_method"]
    search_fields = ["name"]
    fieldsets = [
        (None, {"fields": ["name", "active"]}),
        (
            _("Amounts and terms"),
            {"fields": ["min_amount", "max_amount", "terms", "repayment_method"]},
        ),
        (
            _("Price"),
            {"fields": ["annual_rate", "penalty_daily_rate", "cost_cap"]},
        ),
        (
            _("Risk controls"),
            {"fields": ["grace_days", "blacklist_days", "second_approval_above"]},
        ),
    ]

    @admin.display(description=_("amount"), ordering="min_amount")
    def amount_range(self, product: Product) -> str:
        return f"{yuan(product.min_amount)} – {yuan(product.max_amount)}"

    @admin.display(description=_("terms (months)"))
    def terms_offered(self, product: Product) -> str:
        return ", ".join(str(months) for months in product.terms)

    @admin.display(description=_("annual rate"), ordering="annual_rate")
    def annual_rate_percent(self, product: Product) -> str:
        return _percent(product.annual_rate)

    @admin.display(description=_("yearly cost cap"), ordering="cost_cap")
    def cost_cap_percent(self, product: Product) -> str:
        return _percent(product.cost_cap)


# Loans: the list ------------------------------------------------------------


class DaysPastDueFilter(admin.SimpleListFilter):
    title = _("days past due")
    parameter_name = "dpd"
    BUCKETS: dict[str, tuple[int, int | None]] = {
        "0": (0, 0),
        "1-30": (1, 30),
        "31-60": (31, 60),
        "61-90": (61, 90),
        "90+": (91, None),
    }

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]
    ) -> list[tuple[str, str]]:
        return [
            ("0", gettext("Current (0 days)")),
            ("1-30", gettext("1 to 30 days")),
            ("31-60", gettext("31 to 60 days")),
            ("61-90", gettext("61 to 90 days")),
            ("90+", gettext("Over 90 days")),
        ]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[Loan]
    ) -> QuerySet[Loan]:
        bucket = self.BUCKETS.get(self.value() or "")
        if bucket is None:
            return queryset
        low, high = bucket
        queryset = queryset.filter(days_past_due__gte=low)
        return queryset if high is None else queryset.filter(days_past_due__lte=high)


# Loans: what the page shows inline -----------------------------------------


class InstallmentInline(ReadOnlyInline):
    model = Installment
    readonly_fields = (
        "number",
        "due_date",
        "principal",
        "interest",
        "penalty",
        "paid_principal",
        "paid_interest",
        "paid_penalty",
        "paid_on",
        "superseded",
    )
    fields = readonly_fields
    verbose_name_plural = _("schedule")
    select_related = ("loan",)


class RepaymentInline(ReadOnlyInline):
    model = Repayment
    readonly_fields = (
        "value_date",
        "amount",
        "to_penalty",
        "to_interest",
        "to_principal",
        "reference",
        "by",
        "at",
    )
    fields = readonly_fields
    show_change_link = True
    select_related = ("loan", "by")


class ApprovalInline(ReadOnlyInline):
    model = Approval
    readonly_fields = ("level", "decision", "by", "comment", "at")
    fields = readonly_fields
    select_related = ("loan", "by")
    verbose_name_plural = _("approvals and rejections")


class TransitionInline(ReadOnlyInline):
    model = LoanTransition
    readonly_fields = ("on", "from_state", "to_state", "by", "reason", "at")
    fields = readonly_fields
    select_related = ("by",)

    @admin.display(description=_("from"))
    def from_state(self, transition: LoanTransition) -> str:
        return str(STATE_LABELS.get(transition.source, "—"))

    @admin.display(description=_("to"))
    def to_state(self, transition: LoanTransition) -> str:
        return str(STATE_LABELS.get(transition.target, transition.target))


class WriteOffRequestInline(ReadOnlyInline):
    model = WriteOffRequest
    readonly_fields = (
        "reason",
        "requested_by",
        "requested_at",
        "approved_by",
        "approved_at",
    )
    fields = readonly_fields
    select_related = ("loan", "requested_by", "approved_by")


class LoanJournalInline(ReadOnlyInline):
    model = JournalLine
    fk_name = "loan"
    readonly_fields = ("entry_on", "entry_kind", "account", "debit", "credit")
    fields = readonly_fields
    verbose_name_plural = _("journal")
    select_related = ("entry",)

    @admin.display(description=_("business date"))
    def entry_on(self, line: JournalLine) -> str:
        return str(line.entry.on)

    @admin.display(description=_("kind"))
    def entry_kind(self, line: JournalLine) -> str:
        return line.entry.get_kind_display()


# Loans: applications keyed in by staff --------------------------------------


class LoanApplyForm(forms.ModelForm[Loan]):
    """An application keyed in by staff; `loan_apply` checks and records it.

    The service both checks and writes, so it runs once the form is
    otherwise valid and its refusals become the form's errors. The admin
    view runs in one transaction: nothing is kept if the page fails later.
    """

    keyed_by: User | None = None
    applied: Loan | None = None

    class Meta:
        model = Loan
        fields = ["member", "product", "principal", "term_months"]

    def full_clean(self) -> None:
        super().full_clean()
        if not self.is_bound or self.errors:
            return
        try:
            self.applied = services.loan_apply(
                member=self.cleaned_data["member"],
                product=self.cleaned_data["product"],
                principal=self.cleaned_data["principal"],
                term_months=self.cleaned_data["term_months"],
                by=self.keyed_by,
                on=business_date_current(),
            )
        except ValidationError as error:
            if not hasattr(error, "error_dict"):
                self.add_error(None, error)
                return
            for name, items in error.error_dict.items():
                self.add_error(name if name in self.fields else None, items)


# Loans: the admin -----------------------------------------------------------

# Buttons on a loan's page, named after the admin actions they run.
BUTTON_LABELS = {
    "approve": _("Approve"),
    "reject": _("Reject"),
    "disburse": _("Disburse"),
    "request_write_off": _("Request write-off"),
    "approve_write_off": _("Approve write-off"),
}
# Said on each button's confirmation page.
BUTTON_EFFECTS = {
    "approve": _(
        "Sign this application at the next approval level. Once every level "
        "it needs is signed, the loan is approved and finance may pay it out."
    ),
    "reject": _("Reject this application for good, recording the reason."),
    "disburse": _(
        "Pay the loan out to the borrower: the schedule is fixed from today "
        "and the ledger posted."
    ),
    "request_write_off": _(
        "Ask for this loan to be written off. Another person holding the "
        "write-off permission must approve it."
    ),
    "approve_write_off": _(
        "Write this loan off as requested: what it still owes moves from "
        "receivables to write-off expense."
    ),
}

LOAN_FIELDSETS = [
    (
        None,
        {
            "fields": [
                "loan_number",
                "member",
                "product",
                "principal",
                "term_months",
                "state",
                "days_past_due",
            ]
        },
    ),
    (_("Outstanding, from the ledger"), {"fields": ["ledger_summary"]}),
    (
        _("Terms as applied for"),
        {
            "fields": [
                "annual_rate",
                "repayment_method",
                "grace_days",
                "penalty_daily_rate",
                "blacklist_days",
                "cost_cap",
                "approvals_required",
            ]
        },
    ),
    (
        _("Dates"),
        {
            "fields": [
                "applied_on",
                "applied_by",
                "disbursed_on",
                "closed_on",
                "penalty_through",
                "created_at",
            ]
        },
    ),
]

LOAN_NUMBER = re.compile(r"[Ll]?0*(\d{1,15})")


@admin.register(Loan)
class LoanAdmin(LongListAdmin, TransitionButtons, ExportActions, ScopedAdmin):
    branch_path = "member__branch"
    list_display = [
        "loan_number",
        "member",
        "product",
        "principal",
        "state",
        "days_past_due",
        "applied_on",
        "disbursed_on",
    ]
    list_filter = [
        "state",
        branch_filter("member__branch"),
        "product",
        DaysPastDueFilter,
    ]
    list_select_related = ["member", "product"]
    search_fields = ["member__real_name", "member__national_id_masked"]
    search_help_text = _(
        "The member's name, the last digits of their ID number, "
        "or the loan number (L00000012 or 12)."
    )
    autocomplete_fields = ["member"]
    inlines = [
        InstallmentInline,
        RepaymentInline,
        ApprovalInline,
        TransitionInline,
        WriteOffRequestInline,
        LoanJournalInline,
    ]
    action_form = ReasonActionForm
    transition_fields = ("state",)
    button_labels = BUTTON_LABELS
    button_effects = BUTTON_EFFECTS
    button_reasons = {"approve": False, "reject": True, "request_write_off": True}
    actions = [
        "approve",
        "reject",
        "disburse",
        "request_write_off",
        "approve_write_off",
        *EXPORT_ACTIONS,
    ]

    # What may happen here at all

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A loan's fields change only through the actions and the close.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_approve_permission(self, request: HttpRequest) -> bool:
        user = request.user
        return user.has_perm("loans.approve_level1") or user.has_perm(
            "loans.approve_level2"
        )

    def has_disburse_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("loans.disburse_loan")

    def has_write_off_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("loans.write_off_loan")

    # The page

    def get_fieldsets(self, request: HttpRequest, obj: Loan | None = None) -> Any:
        if obj is None:
            return [(None, {"fields": LoanApplyForm.Meta.fields})]
        return LOAN_FIELDSETS

    def get_readonly_fields(
        self, request: HttpRequest, obj: Loan | None = None
    ) -> list[str]:
        if obj is None:
            return []
        return [name for _title, spec in LOAN_FIELDSETS for name in spec["fields"]]

    def get_inlines(self, request: HttpRequest, obj: Loan | None) -> Any:
        return self.inlines if obj is not None else []

    def get_form(
        self,
        request: HttpRequest,
        obj: Loan | None = None,
        change: bool = False,
        **kwargs: Any,
    ) -> type[forms.ModelForm[Loan]]:
        if obj is not None:
            return super().get_form(request, obj, change, **kwargs)
        kwargs["form"] = LoanApplyForm
        form = cast(
            type[LoanApplyForm], super().get_form(request, obj, change, **kwargs)
        )
        # The class is made afresh for each request, so it may carry the user.
        form.keyed_by = request_staff(request)
        member_field = form.base_fields["member"]
        if isinstance(member_field, forms.ModelChoiceField):
            member_field.queryset = members_visible_to(request.user)
        product_field = form.base_fields["product"]
        if isinstance(product_field, forms.ModelChoiceField):
            product_field.queryset = Product.objects.filter(active=True)
        return form

    def save_model(
        self,
        request: HttpRequest,
        obj: Loan,
        form: forms.ModelForm[Loan],
        change: bool,
    ) -> None:
        applied = cast(LoanApplyForm, form).applied
        if applied is None:
            raise PermissionDenied
        obj.pk = applied.pk
        obj.refresh_from_db()

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Loan], search_term: str
    ) -> tuple[QuerySet[Loan], bool]:
        """The loan number, with or without its L and zeros, finds the loan."""
        results, may_have_duplicates = super().get_search_results(
            request, queryset, search_term
        )
        number = LOAN_NUMBER.fullmatch(search_term.strip())
        if number:
            results = results | queryset.filter(pk=int(number.group(1)))
        return results, may_have_duplicates

    @admin.display(description=_("loan"), ordering="pk")
    def loan_number(self, loan: Loan) -> str:
        return loan.number

    @admin.display(description=_("outstanding"))
    def ledger_summary(self, loan: Loan) -> str:
        balance = ledger.balance_of(loan)
        rows = [
            (gettext("Principal"), balance[Account.PRINCIPAL_RECEIVABLE]),
            (gettext("Interest fallen due"), balance[Account.INTEREST_RECEIVABLE]),
            (gettext("Penalty"), balance[Account.PENALTY_RECEIVABLE]),
        ]
        written_off = balance[Account.WRITE_OFF_EXPENSE]
        if written_off:
            rows.append((gettext("Written off, not recovered"), written_off))
        return format_html(
            '<table class="loan-outstanding"><tbody>{}</tbody><tfoot><tr>'
            '<th scope="row">{}</th><td><strong>{}</strong></td>'
            "</tr></tfoot></table><p>{}</p>",
            format_html_join(
                "",
                '<tr><th scope="row">{}</th><td>{}</td></tr>',
                ((name, yuan(amount)) for name, amount in rows),
            ),
            gettext("Total receivable"),
            yuan(sum((amount for _name, amount in rows[:3]), ZERO)),
            gettext(
                "Interest of periods not yet due enters the ledger when it falls due."
            ),
        )

    # Buttons for the moves the loan may make next (TransitionButtons)

    def button_names(self, obj: Any) -> list[str]:
        # Writing off takes two people: a request, then its approval.
        names = []
        for name in super().button_names(obj):
            if name == "write_off":
                waiting = WriteOffRequest.objects.filter(
                    loan=obj, approved_by__isnull=True
                ).exists()
                names.append("approve_write_off" if waiting else "request_write_off")
            else:
                names.append(name)
        return names

    # Actions

    def _reason_given(self, request: HttpRequest, missing: str) -> str:
        """The reason box, or one message (not one per loan) when it is empty."""
        reason = request.POST.get("reason", "").strip()
        if not reason:
            self.message_user(request, missing, messages.ERROR)
        return reason

    @admin.action(
        description=_("Approve at the next level (comment in the reason box)"),
        permissions=["approve"],
    )
    def approve(self, request: HttpRequest, queryset: QuerySet[Loan]) -> None:
        by, on = request_staff(request), business_date_current()
        comment = request.POST.get("reason", "").strip()
        _run_each(
            self,
            request,
            queryset,
            _refusals_reported(
                lambda loan: services.loan_approve(
                    loan=loan, by=by, comment=comment, on=on
                )
            ),
            gettext("Approval signed on %(count)d loans."),
        )

    @admin.action(
        description=_("Reject the application (give a reason)"),
        permissions=["approve"],
    )
    def reject(self, request: HttpRequest, queryset: QuerySet[Loan]) -> None:
        reason = self._reason_given(
            request, gettext("Say in the reason box why the loans are rejected.")
        )
        if not reason:
            return
        by, on = request_staff(request), business_date_current()
        _run_each(
            self,
            request,
            queryset,
            _refusals_reported(
                lambda loan: services.loan_reject(
                    loan=loan, by=by, reason=reason, on=on
                )
            ),
            gettext("%(count)d applications rejected."),
        )

    @admin.action(description=_("Disburse"), permissions=["disburse"])
    def disburse(self, request: HttpRequest, queryset: QuerySet[Loan]) -> None:
        by, on = request_staff(request), business_date_current()
        _run_each(
            self,
            request,
            queryset,
            _refusals_reported(
                lambda loan: services.loan_disburse(loan=loan, by=by, on=on)
            ),
            gettext("%(count)d loans disbursed."),
        )

    @admin.action(
        description=_("Request a write-off (give a reason)"),
        permissions=["write_off"],
    )
    def request_write_off(self, request: HttpRequest, queryset: QuerySet[Loan]) -> None:
        reason = self._reason_given(
            request,
            gettext("Say in the reason box why the loans should be written off."),
        )
        if not reason:
            return
        by = request_staff(request)
        _run_each(
            self,
            request,
            queryset,
            _refusals_reported(
                lambda loan: services.loan_write_off_request(
                    loan=loan, by=by, reason=reason
                )
            ),
            gettext(
                "Write-off requested for %(count)d loans; another person approves it."
            ),
        )

    @admin.action(
        description=_("Approve the requested write-off"), permissions=["write_off"]
    )
    def approve_write_off(self, request: HttpRequest, queryset: QuerySet[Loan]) -> None:
        by, on = request_staff(request), business_date_current()
        _run_each(
            self,
            request,
            queryset,
            _refusals_reported(
                lambda loan: services.loan_write_off_approve(loan=loan, by=by, on=on)
            ),
            gettext("%(count)d loans written off."),
        )


# Money and the close, read only --------------------------------------------


@admin.register(Repayment)
class RepaymentAdmin(LongListAdmin, ReadOnlyAdmin):
    branch_path = "loan__member__branch"
    list_display = [
        "loan",
        "member",
        "amount",
        "to_penalty",
        "to_interest",
        "to_principal",
        "value_date",
        "reference",
        "by",
    ]
    list_filter = [branch_filter("loan__member__branch")]
    list_select_related = ["loan__member", "by"]
    date_hierarchy = "value_date"
    search_fields = [
        "loan__member__real_name",
        "loan__member__national_id_masked",
        "reference",
    ]
    readonly_fields = (
        "loan",
        "amount",
        "value_date",
        "to_penalty",
        "to_interest",
        "to_principal",
        "reference",
        "loan_state",
        "by",
        "at",
    )
    fields = readonly_fields

    @admin.display(description=_("member"), ordering="loan__member__real_name")
    def member(self, repayment: Repayment) -> Member:
        return repayment.loan.member


class DueFilter(admin.SimpleListFilter):
    """Unpaid installments by when they fall due, from the business date."""

    title = _("falls due")
    parameter_name = "due"
    # Days from the business date: from (inclusive), to (exclusive).
    WINDOWS: dict[str, tuple[int | None, int | None]] = {
        "late": (None, 0),
        "today": (0, 1),
        "7": (0, 7),
        "30": (0, 30),
    }

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]
    ) -> list[tuple[str, str]]:
        return [
            ("late", gettext("Late, unpaid")),
            ("today", gettext("Today")),
            ("7", gettext("In the next 7 days")),
            ("30", gettext("In the next 30 days")),
        ]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[Installment]
    ) -> QuerySet[Installment]:
        window = self.WINDOWS.get(self.value() or "")
        if window is None:
            return queryset
        today = business_date_current()
        start, end = window
        unpaid = queryset.filter(paid_on__isnull=True, superseded=False)
        if start is not None:
            unpaid = unpaid.filter(due_date__gte=today + timedelta(days=start))
        if end is not None:
            unpaid = unpaid.filter(due_date__lt=today + timedelta(days=end))
        return unpaid


@admin.register(Installment)
class InstallmentAdmin(LongListAdmin, ReadOnlyAdmin):
    """Every loan's schedule in one list: what falls due when, and what is
    late, for the branches the user works."""

    branch_path = "loan__member__branch"
    list_display = [
        "loan",
        "member",
        "number",
        "due_date",
        "principal",
        "interest",
        "penalty",
        "paid_on",
        "superseded",
    ]
    list_filter = [DueFilter, branch_filter("loan__member__branch"), "superseded"]
    list_select_related = ["loan__member"]
    # No date hierarchy: its list of years reads every installment (0.3 s
    # at a million rows) on each page; the due filter covers what staff ask.
    search_fields = ["loan__member__real_name", "loan__member__national_id_masked"]
    readonly_fields = (
        "loan",
        "number",
        "due_date",
        "principal",
        "interest",
        "penalty",
        "paid_principal",
        "paid_interest",
        "paid_penalty",
        "paid_on",
        "superseded",
    )
    fields = readonly_fields

    @admin.display(description=_("member"), ordering="loan__member__real_name")
    def member(self, installment: Installment) -> Member:
        return installment.loan.member


class EntryLineInline(ReadOnlyInline):
    model = JournalLine
    fk_name = "entry"
    readonly_fields = ("account", "debit", "credit")
    fields = readonly_fields


@admin.register(JournalEntry)
class JournalEntryAdmin(LongListAdmin, ReadOnlyAdmin):
    branch_path = "loan__member__branch"
    list_display = ["id", "loan", "kind", "on", "amount", "memo", "at"]
    list_filter = ["kind", branch_filter("loan__member__branch")]
    list_select_related = ["loan"]
    date_hierarchy = "on"
    search_fields = ["loan__member__real_name", "loan__member__national_id_masked"]
    readonly_fields = ("loan", "kind", "on", "memo", "at")
    fields = readonly_fields
    inlines = [EntryLineInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[JournalEntry]:
        entries: QuerySet[JournalEntry] = super().get_queryset(request)
        # A subquery, not a join with the lines: the list's count and its
        # dates then read the entries alone, and only the page is summed.
        debits = (
            JournalLine.objects.filter(entry=OuterRef("pk"))
            .values("entry")
            .annotate(total=Sum("debit"))
            .values("total")
        )
        return entries.annotate(debits=Subquery(debits))

    @admin.display(description=_("amount"), ordering="debits")
    def amount(self, entry: JournalEntry) -> str:
        return yuan(getattr(entry, "debits", None))


class CloseStepInline(ReadOnlyInline):
    model = CloseStep
    readonly_fields = ("name", "rows", "seconds", "finished_at")
    fields = readonly_fields


@admin.register(BusinessDay)
class BusinessDayAdmin(admin.ModelAdmin[BusinessDay]):
    """Each close: when it ran, and each step's rows and time."""

    list_display = [
        "on",
        "started_at",
        "closed_at",
        "step_count",
        "row_count",
        "seconds_taken",
    ]
    readonly_fields = ("on", "started_at", "closed_at")
    fields = readonly_fields
    inlines = [CloseStepInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[BusinessDay]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                step_total=Count("steps"),
                row_total=Sum("steps__rows"),
                seconds_total=Sum("steps__seconds"),
            )
        )

    @admin.display(description=_("steps done"), ordering="step_total")
    def step_count(self, day: BusinessDay) -> int:
        return int(getattr(day, "step_total", 0))

    @admin.display(description=_("rows"), ordering="row_total")
    def row_count(self, day: BusinessDay) -> int:
        return int(getattr(day, "row_total", None) or 0)

    @admin.display(description=_("seconds"), ordering="seconds_total")
    def seconds_taken(self, day: BusinessDay) -> str:
        # SQLite sums decimals as floats; a millisecond is the unit anyway.
        seconds = getattr(day, "seconds_total", None) or 0
        return f"{Decimal(str(seconds)).quantize(Decimal('0.001'))}"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(WriteOffRequest)
class WriteOffRequestAdmin(ReadOnlyAdmin):
    """Requests waiting for a second person; approving is a loan action."""

    branch_path = "loan__member__branch"
    list_display = [
        "loan",
        "reason",
        "requested_by",
        "requested_at",
        "approved_by",
        "approved_at",
    ]
    list_filter = [("approved_at", admin.EmptyFieldListFilter)]
    list_select_related = ["loan", "requested_by", "approved_by"]
    search_fields = ["loan__member__real_name", "loan__member__national_id_masked"]
    readonly_fields = (
        "loan",
        "reason",
        "requested_by",
        "requested_at",
        "approved_by",
        "approved_at",
    )
    fields = readonly_fields

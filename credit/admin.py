"""Back-office for credit: policies, profiles, scores, limits, bureau data.

Every write goes through `credit.services`. The one exception is a draft
policy: its settings, point bands and grade bands are edited in place,
since nothing scores with a draft until someone else approves it.

Members cannot import credit, so credit takes over the member admin's
verify and blacklist actions here, to score or zero the limit as well.
"""

from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from config.admin_paging import LongListAdmin
from config.money import yuan
from credit import services
from credit.compare import POLICY_SETTINGS, plain_number, policy_comparison
from credit.models import (
    BureauReport,
    CreditFlag,
    CreditProfile,
    CreditScore,
    Dimension,
    GradeBand,
    Input,
    LimitChange,
    PolicyBand,
    RepaymentEvent,
    ScoringPolicy,
)
from credit.selectors import policy_in_force
from members.admin import (
    BlacklistEntryAdmin,
    MemberAdmin,
    ReadOnlyInline,
    ReasonActionForm,
    ScopedAdmin,
    _run_each,
    branch_filter,
)
from members.models import BlacklistEntry, Member

POLICY_RECORD = (
    "version",
    "status",
    "notes",
    "effective_from",
    "created_by",
    "created_at",
    "approved_by",
    "approved_at",
)


def _is_draft(policy: ScoringPolicy | None) -> bool:
    return policy is None or policy.status == ScoringPolicy.Status.DRAFT


# The factor breakdown -------------------------------------------------------


def factor_table(credit_score: CreditScore | None) -> str:
    """A score's points by dimension, with the inputs that produced them."""
    if credit_score is None:
        return gettext("Not scored yet.")
    dimensions = dict(Dimension.choices)
    inputs = dict(Input.choices)
    rows = format_html_join(
        "",
        '<tr><th scope="row">{}</th><td>{}</td><td>{}</td></tr>',
        (
            (
                dimensions.get(factor["dimension"], factor["dimension"]),
                factor["points"],
                format_html_join(
                    "",
                    "<div>{}: {}</div>",
                    (
                        (inputs.get(name, name), plain_number(value))
                        for name, value in factor["inputs"].items()
                    ),
                ),
            )
            for factor in credit_score.factors
        ),
    )
    summary = gettext(
        "grade %(grade)s, ceiling %(ceiling)s, policy v%(version)d, as of %(date)s"
    ) % {
        "grade": credit_score.grade,
        "ceiling": yuan(credit_score.ceiling),
        "version": credit_score.policy.version,
        "date": date_format(credit_score.as_of, "DATE_FORMAT"),
    }
    return format_html(
        '<table class="credit-factors"><thead><tr>'
        '<th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th>'
        "</tr></thead><tbody>{}</tbody><tfoot><tr>"
        '<th scope="row">{}</th><td><strong>{}</strong></td><td>{}</td>'
        "</tr></tfoot></table>",
        gettext("Dimension"),
        gettext("Points"),
        gettext("Inputs"),
        rows,
        gettext("Total"),
        credit_score.total,
        summary,
    )


# Scoring policies -----------------------------------------------------------


class DraftRowsInline(admin.TabularInline[Any, ScoringPolicy]):
    """A policy's rows: edited while it is a draft, read-only once approved."""

    extra = 0

    def has_add_permission(
        self, request: HttpRequest, obj: ScoringPolicy | None = None
    ) -> bool:
        return _is_draft(obj) and super().has_add_permission(request, obj)

    def has_change_permission(
        self, request: HttpRequest, obj: ScoringPolicy | None = None
    ) -> bool:
        return _is_draft(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(
        self, request: HttpRequest, obj: ScoringPolicy | None = None
    ) -> bool:
        return _is_draft(obj) and super().has_delete_permission(request, obj)


class PolicyBandInline(DraftRowsInline):
    model = PolicyBand
    fields = ["input", "when_missing", "lower", "upper", "points"]


class GradeBandInline(DraftRowsInline):
    model = GradeBand
    fields = ["grade", "min_points", "ceiling"]


@admin.register(ScoringPolicy)
class ScoringPolicyAdmin(admin.ModelAdmin[ScoringPolicy]):
    list_display = [
        "version",
        "status",
        "effective_from",
        "created_by",
        "approved_by",
        "approved_at",
    ]
    list_filter = ["status"]
    list_select_related = ["created_by", "approved_by"]
    inlines = [PolicyBandInline, GradeBandInline]
    actions = ["copy_as_draft", "approve", "compare"]

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        # Bulk delete would reach versions in force; a draft is deleted from
        # its own page, where `has_delete_permission` sees the object.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def get_fieldsets(
        self, request: HttpRequest, obj: ScoringPolicy | None = None
    ) -> Any:
        settings = (_("Settings"), {"fields": list(POLICY_SETTINGS)})
        if obj is None:
            return [(None, {"fields": ["notes"]}), settings]
        return [(_("Version"), {"fields": list(POLICY_RECORD)}), settings]

    def get_readonly_fields(
        self, request: HttpRequest, obj: ScoringPolicy | None = None
    ) -> list[str]:
        if obj is None:
            return []
        if _is_draft(obj):
            return [name for name in POLICY_RECORD if name != "notes"]
        return [*POLICY_RECORD, *POLICY_SETTINGS]

    def has_change_permission(
        self, request: HttpRequest, obj: ScoringPolicy | None = None
    ) -> bool:
        # A version that has been in force is history: shown, never changed.
        return _is_draft(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(
        self, request: HttpRequest, obj: ScoringPolicy | None = None
    ) -> bool:
        return _is_draft(obj) and super().has_delete_permission(request, obj)

    def save_model(
        self,
        request: HttpRequest,
        obj: ScoringPolicy,
        form: forms.ModelForm[ScoringPolicy],
        change: bool,
    ) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        # The service numbers the version and records who drafted it; the
        # form's settings then go on the draft, which may change freely.
        draft = services.scoring_policy_draft(base=None, by=request.user)
        for name in form.cleaned_data:
            setattr(draft, name, getattr(obj, name))
        draft.save()
        obj.pk = draft.pk
        obj.refresh_from_db()

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        context = dict(extra_context or {})
        in_force = policy_in_force()
        if in_force is not None and str(in_force.pk) != object_id:
            context["compare_url"] = self._compare_url(in_force.pk, object_id)
        return super().change_view(request, object_id, form_url, context)

    # Actions

    @admin.action(description=_("Copy as a new draft"), permissions=["add"])
    def copy_as_draft(
        self, request: HttpRequest, queryset: QuerySet[ScoringPolicy]
    ) -> HttpResponse | None:
        drafts = []
        for base in queryset.order_by("version"):
            draft = services.scoring_policy_draft(base=base, by=request.user)
            drafts.append(draft)
            self.message_user(
                request,
                gettext("Version %(version)d drafted from version %(base)d.")
                % {"version": draft.version, "base": base.version},
                messages.SUCCESS,
            )
        if len(drafts) == 1:
            return HttpResponseRedirect(
                reverse("admin:credit_scoringpolicy_change", args=[drafts[0].pk])
            )
        return None

    @admin.action(description=_("Approve and put in force"), permissions=["approve"])
    def approve(self, request: HttpRequest, queryset: QuerySet[ScoringPolicy]) -> None:
        if queryset.count() != 1:
            self.message_user(
                request,
                gettext("Select exactly one draft to approve."),
                messages.ERROR,
            )
            return
        policy = queryset.get()
        previous = policy_in_force()
        on = timezone.localdate()
        try:
            policy = services.scoring_policy_approve(
                policy=policy, by=request.user, on=on
            )
        except ValidationError as error:
            self.message_user(
                request, f"{policy}: {' '.join(error.messages)}", messages.ERROR
            )
            return

        done = gettext("Version %(version)d is in force from %(date)s.") % {
            "version": policy.version,
            "date": date_format(on, "DATE_FORMAT"),
        }
        if previous is not None:
            done += " " + gettext("Version %(version)d is retired.") % {
                "version": previous.version
            }
        self.message_user(request, done, messages.SUCCESS)

    @admin.action(description=_("Compare two selected versions"), permissions=["view"])
    def compare(
        self, request: HttpRequest, queryset: QuerySet[ScoringPolicy]
    ) -> HttpResponse | None:
        chosen = list(queryset.order_by("version")[:3])
        if len(chosen) != 2:
            self.message_user(
                request,
                gettext("Select exactly two versions to compare."),
                messages.ERROR,
            )
            return None
        older, newer = chosen
        return HttpResponseRedirect(self._compare_url(older.pk, newer.pk))

    def has_approve_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("credit.approve_scoringpolicy")

    # The side-by-side view

    def get_urls(self) -> list[URLPattern]:
        compare = path(
            "compare/",
            self.admin_site.admin_view(self.compare_view),
            name="credit_scoringpolicy_compare",
        )
        # Before the defaults, whose "<object_id>/" would take "compare/".
        return [compare, *super().get_urls()]

    def _compare_url(self, a: object, b: object) -> str:
        query = urlencode({"a": a, "b": b})
        return f"{reverse('admin:credit_scoringpolicy_compare')}?{query}"

    def compare_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        ids = [request.GET.get("a", ""), request.GET.get("b", "")]
        found = {
            str(policy.pk): policy
            for policy in ScoringPolicy.objects.filter(
                pk__in=[pk for pk in ids if pk.isdigit()]
            ).prefetch_related("bands", "grades")
        }
        if not all(pk in found for pk in ids):
            self.message_user(
                request,
                gettext("Choose two existing versions to compare."),
                messages.ERROR,
            )
            return HttpResponseRedirect(
                reverse("admin:credit_scoringpolicy_changelist")
            )

        a, b = found[ids[0]], found[ids[1]]
        sections = policy_comparison(a, b)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Compare versions %(a)d and %(b)d")
            % {"a": a.version, "b": b.version},
            "a": a,
            "b": b,
            "sections": sections,
            "differing": sum(row.differs for s in sections for row in s.rows),
            "policies": ScoringPolicy.objects.all(),
        }
        return TemplateResponse(
            request, "admin/credit/scoringpolicy/compare.html", context
        )


# Profiles, scores and limit changes -----------------------------------------


class LimitChangeInline(ReadOnlyInline):
    model = LimitChange
    readonly_fields = (
        "on",
        "cause",
        "limit_before",
        "limit_after",
        "frozen_after",
        "reference",
        "note",
        "by",
    )
    fields = readonly_fields
    verbose_name_plural = _("limit changes, newest first")
    select_related = ("by",)


class ReadOnlyAdmin(ScopedAdmin):
    """Rows that only services write; staff read them within their branches."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(CreditProfile)
class CreditProfileAdmin(ScopedAdmin):
    branch_path = "member__branch"
    list_display = [
        "member",
        "limit",
        "available_amount",
        "open_principal",
        "held",
        "frozen",
        "valid_until",
        "latest_grade",
    ]
    list_filter = [
        "frozen",
        "latest_score__grade",
        branch_filter("member__branch"),
    ]
    list_select_related = ["member", "latest_score"]
    search_fields = ["member__real_name", "member__national_id_masked"]
    ordering = ["member__branch__name", "member__real_name", "id"]
    readonly_fields = (
        "member",
        "limit",
        "available_amount",
        "open_principal",
        "held",
        "overdue_principal",
        "frozen",
        "frozen_reason",
        "valid_until",
        "limit_started_on",
        "declared_monthly_income",
        "latest_score",
        "score_breakdown",
        "updated_at",
    )
    fields = readonly_fields
    inlines = [LimitChangeInline]
    actions = ["rescore", "unfreeze"]

    @admin.display(description=_("available"))
    def available_amount(self, profile: CreditProfile) -> Decimal:
        return profile.available

    @admin.display(description=_("latest grade"), ordering="latest_score__total")
    def latest_grade(self, profile: CreditProfile) -> str:
        credit_score = profile.latest_score
        if credit_score is None:
            return "—"
        return f"{credit_score.grade} · {credit_score.total}"

    @admin.display(description=_("latest score by dimension"))
    def score_breakdown(self, profile: CreditProfile) -> str:
        return factor_table(profile.latest_score)

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A profile comes with the member's first score.
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Limits change through the actions, each recording its cause.
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description=_("Rescore now"), permissions=["change"])
    def rescore(self, request: HttpRequest, queryset: QuerySet[CreditProfile]) -> None:
        members = [profile.member for profile in queryset.select_related("member")]
        try:
            scores = services.credit_score_members(
                members=members,
                on=timezone.localdate(),
                trigger=CreditScore.Trigger.MANUAL,
            )
        except ValidationError as error:
            self.message_user(request, " ".join(error.messages), messages.ERROR)
            return

        if scores:
            self.message_user(
                request,
                gettext("%(count)d members rescored.") % {"count": len(scores)},
                messages.SUCCESS,
            )
        skipped = len(members) - len(scores)
        if skipped:
            self.message_user(
                request,
                gettext("%(count)d members not scored: KYC is not verified.")
                % {"count": skipped},
                messages.WARNING,
            )

    @admin.action(description=_("Unfreeze borrowing"), permissions=["change"])
    def unfreeze(self, request: HttpRequest, queryset: QuerySet[CreditProfile]) -> None:
        frozen = queryset.filter(frozen=True).select_related("member")
        if not frozen.exists():
            self.message_user(
                request,
                gettext("None of the selected profiles is frozen."),
                messages.WARNING,
            )
            return
        _run_each(
            self,
            request,
            frozen,
            lambda profile: services.credit_unfreeze(
                member=profile.member, on=timezone.localdate(), by=request.user
            ),
            gettext("Borrowing unfrozen for %(count)d members."),
        )


@admin.register(CreditScore)
class CreditScoreAdmin(LongListAdmin, ReadOnlyAdmin):
    branch_path = "member__branch"
    list_display = [
        "member",
        "total",
        "grade",
        "ceiling",
        "policy_version",
        "trigger",
        "as_of",
        "scored_at",
    ]
    list_filter = ["grade", "trigger", "policy"]
    list_select_related = ["member", "policy"]
    search_fields = ["member__real_name", "member__national_id_masked"]
    readonly_fields = (
        "member",
        "policy",
        "total",
        "grade",
        "ceiling",
        "trigger",
        "as_of",
        "scored_at",
        "breakdown",
    )
    fields = readonly_fields

    @admin.display(description=_("policy version"), ordering="policy__version")
    def policy_version(self, credit_score: CreditScore) -> int:
        return credit_score.policy.version

    @admin.display(description=_("by dimension"))
    def breakdown(self, credit_score: CreditScore) -> str:
        return factor_table(credit_score)


@admin.register(LimitChange)
class LimitChangeAdmin(LongListAdmin, ReadOnlyAdmin):
    branch_path = "profile__member__branch"
    list_display = [
        "member",
        "cause",
        "limit_before",
        "limit_after",
        "frozen_after",
        "reference",
        "note",
        "on",
        "by",
    ]
    list_filter = ["cause"]
    list_select_related = ["profile__member", "by"]
    search_fields = [
        "profile__member__real_name",
        "profile__member__national_id_masked",
        "reference",
    ]
    readonly_fields = (
        "profile",
        "cause",
        "limit_before",
        "limit_after",
        "frozen_after",
        "reference",
        "note",
        "on",
        "by",
        "at",
    )
    fields = readonly_fields

    @admin.display(description=_("member"), ordering="profile__member__real_name")
    def member(self, change: LimitChange) -> Member:
        return change.profile.member


@admin.register(RepaymentEvent)
class RepaymentEventAdmin(LongListAdmin, ReadOnlyAdmin):
    """What the loans app reported; the repayment inputs of a score."""

    branch_path = "member__branch"
    list_display = [
        "member",
        "kind",
        "occurred_on",
        "days_past_due",
        "on_time",
        "loan_reference",
    ]
    list_filter = ["kind"]
    list_select_related = ["member"]
    search_fields = ["member__real_name", "loan_reference"]
    readonly_fields = (
        "member",
        "kind",
        "occurred_on",
        "days_past_due",
        "on_time",
        "loan_reference",
    )
    fields = readonly_fields


# Bureau reports and flags ---------------------------------------------------


class CreditFlagInline(ReadOnlyInline):
    model = CreditFlag
    readonly_fields = (
        "kind",
        "detail",
        "status",
        "cleared_by",
        "cleared_at",
        "clear_note",
    )
    fields = readonly_fields
    show_change_link = True
    select_related = ("cleared_by",)


@admin.register(BureauReport)
class BureauReportAdmin(ReadOnlyAdmin):
    """Reports arrive through the API; the back-office only reads them."""

    branch_path = "member__branch"
    list_display = [
        "member",
        "source",
        "reported_on",
        "reported_national_id_masked",
        "monthly_income",
        "external_overdue_count",
        "external_debt",
        "inquiries_90d",
        "open_flag_count",
    ]
    list_filter = ["source"]
    list_select_related = ["member"]
    search_fields = ["member__real_name", "member__national_id_masked", "source"]
    # The full reported ID and the raw payload stay encrypted: never shown.
    readonly_fields = (
        "member",
        "source",
        "reported_on",
        "reported_name",
        "reported_national_id_masked",
        "monthly_income",
        "external_overdue_count",
        "external_debt",
        "inquiries_90d",
        "raw_payload",
        "received_at",
        "received_by",
    )
    fields = readonly_fields
    inlines = [CreditFlagInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[BureauReport]:
        reports: QuerySet[BureauReport] = super().get_queryset(request)
        return reports.annotate(
            open_flags=Count("flags", filter=Q(flags__status=CreditFlag.Status.OPEN))
        )

    @admin.display(description=_("open flags"), ordering="open_flags")
    def open_flag_count(self, report: BureauReport) -> int:
        return getattr(report, "open_flags", 0)

    @admin.display(description=_("raw payload"))
    def raw_payload(self, report: BureauReport) -> str:
        return gettext(
            "Stored encrypted as received; it is not shown in the back-office."
        )


@admin.register(CreditFlag)
class CreditFlagAdmin(ReadOnlyAdmin):
    branch_path = "member__branch"
    list_display = ["member", "kind", "detail", "status", "report_source", "cleared_by"]
    list_filter = ["status", "kind"]
    list_select_related = ["member", "report", "cleared_by"]
    search_fields = ["member__real_name", "member__national_id_masked"]
    readonly_fields = (
        "member",
        "report",
        "kind",
        "detail",
        "status",
        "cleared_by",
        "cleared_at",
        "clear_note",
    )
    fields = readonly_fields
    action_form = ReasonActionForm
    actions = ["clear_flags"]

    @admin.display(description=_("report source"), ordering="report__source")
    def report_source(self, flag: CreditFlag) -> str:
        return flag.report.source

    @admin.action(
        description=_("Clear selected flags (give a reason)"), permissions=["clear"]
    )
    def clear_flags(self, request: HttpRequest, queryset: QuerySet[CreditFlag]) -> None:
        note = request.POST.get("reason", "").strip()
        if not note:
            # One message, not one per flag: the reason is missing for all.
            self.message_user(
                request,
                gettext("Say in the reason box why the flags can be cleared."),
                messages.ERROR,
            )
            return
        _run_each(
            self,
            request,
            queryset,
            lambda flag: services.credit_flag_clear(
                flag=flag, by=request.user, note=note
            ),
            gettext("%(count)d flags cleared."),
        )

    def has_clear_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("credit.clear_creditflag")


# Members: verifying scores, blacklisting zeroes the limit -------------------


class CreditMemberAdmin(MemberAdmin):
    """The member admin, with the actions that change a member's credit."""

    @admin.action(
        description=_("Verify KYC of selected members"), permissions=["verify_kyc"]
    )
    def verify_kyc(self, request: HttpRequest, queryset: QuerySet[Member]) -> None:
        _run_each(
            self,
            request,
            queryset,
            lambda member: services.member_verify_kyc_and_score(
                member=member, by=request.user, on=timezone.localdate()
            ),
            gettext("KYC verified for %(count)d members."),
        )

    @admin.action(
        description=_("Blacklist selected members (give a reason)"),
        permissions=["blacklist"],
    )
    def blacklist(self, request: HttpRequest, queryset: QuerySet[Member]) -> None:
        reason = request.POST.get("reason", "")
        _run_each(
            self,
            request,
            queryset,
            lambda member: services.member_blacklist_and_zero_limit(
                member=member,
                reason=reason,
                source=BlacklistEntry.Source.STAFF,
                on=timezone.localdate(),
                by=request.user,
            ),
            gettext("%(count)d members blacklisted."),
        )

    @admin.action(
        description=_("Lift selected members off the blacklist (give a reason)"),
        permissions=["lift"],
    )
    def lift_blacklist(self, request: HttpRequest, queryset: QuerySet[Member]) -> None:
        reason = request.POST.get("reason", "")
        entries = BlacklistEntry.objects.filter(
            member__in=queryset, lifted_on__isnull=True
        )
        _run_each(
            self,
            request,
            entries,
            lambda entry: services.blacklist_lift_and_restart(
                entry=entry, on=timezone.localdate(), by=request.user, reason=reason
            ),
            gettext("%(count)d members lifted off the blacklist."),
        )

    def get_fields(self, request: HttpRequest, obj: Member | None = None) -> Any:
        fields = list(super().get_fields(request, obj))
        if obj is not None and request.user.has_perm("credit.view_creditprofile"):
            fields.append("credit_summary")
        return fields

    def get_readonly_fields(
        self, request: HttpRequest, obj: Member | None = None
    ) -> list[str]:
        readonly = list(super().get_readonly_fields(request, obj))
        return readonly if obj is None else [*readonly, "credit_summary"]

    @admin.display(description=_("credit"))
    def credit_summary(self, member: Member) -> str:
        profile = (
            CreditProfile.objects.select_related("latest_score")
            .filter(member_id=member.pk)
            .first()
        )
        if profile is None:
            return gettext("No credit profile yet: it comes with the first score.")
        credit_score = profile.latest_score
        frozen = (
            gettext("yes: %(reason)s") % {"reason": profile.frozen_reason}
            if profile.frozen
            else gettext("no")
        )
        rows = [
            (gettext("Limit"), yuan(profile.limit)),
            (gettext("Available"), yuan(profile.available)),
            (
                gettext("Grade"),
                f"{credit_score.grade} · {credit_score.total}" if credit_score else "—",
            ),
            (gettext("Frozen"), frozen),
        ]
        return format_html(
            '<table class="credit-summary"><tbody>{}</tbody></table>'
            '<p><a href="{}">{}</a></p>',
            format_html_join("", '<tr><th scope="row">{}</th><td>{}</td></tr>', rows),
            reverse("admin:credit_creditprofile_change", args=[profile.pk]),
            gettext("Credit profile, score and limit changes"),
        )


class CreditBlacklistEntryAdmin(BlacklistEntryAdmin):
    """Lifting an entry also restarts the member's credit from the first limit."""

    @admin.action(
        description=_("Lift selected entries (give a reason)"), permissions=["lift"]
    )
    def lift(self, request: HttpRequest, queryset: QuerySet[BlacklistEntry]) -> None:
        reason = request.POST.get("reason", "")
        _run_each(
            self,
            request,
            queryset,
            lambda entry: services.blacklist_lift_and_restart(
                entry=entry, on=timezone.localdate(), by=request.user, reason=reason
            ),
            gettext("%(count)d entries lifted."),
        )


admin.site.unregister(Member)
admin.site.register(Member, CreditMemberAdmin)
admin.site.unregister(BlacklistEntry)
admin.site.register(BlacklistEntry, CreditBlacklistEntryAdmin)

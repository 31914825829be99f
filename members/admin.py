"""Back-office for branches and members. Actions call `members.services`."""

from collections.abc import Callable, Mapping
from contextlib import suppress
from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods
from django_fsm import FSMFieldMixin, get_available_FIELD_transitions
from django_stubs_ext import StrOrPromise

from config.exports import EXPORT_ACTIONS, ExportActions
from config.permissions import request_staff
from members import pii, services
from members.models import (
    BlacklistEntry,
    BlacklistRule,
    Branch,
    EmergencyContact,
    GuarantorTie,
    Member,
    MemberEvent,
)
from members.selectors import (
    blacklist_lift_blockers,
    branches_visible_to,
    sees_all_branches,
)
from members.validators import normalise_mobile, validate_national_id


class ReasonActionForm(ActionForm):
    """The action bar with a reason, for actions that must record one."""

    reason = forms.CharField(label=_("Reason"), required=False, max_length=200)


def _run_each(
    modeladmin: admin.ModelAdmin[Any],
    request: HttpRequest,
    queryset: QuerySet[Any],
    operation: Callable[[Any], object],
    done: str,
) -> None:
    """Apply a service to each selected row, reporting refusals row by row."""
    succeeded = 0
    for obj in queryset:
        try:
            operation(obj)
        except ValidationError as error:
            modeladmin.message_user(
                request, f"{obj}: {' '.join(error.messages)}", messages.ERROR
            )
        else:
            succeeded += 1
    if succeeded:
        modeladmin.message_user(request, done % {"count": succeeded}, messages.SUCCESS)


class ScopedAdmin(admin.ModelAdmin[Any]):
    """Shows staff only the rows of the branches they may see."""

    branch_path = "branch"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request)
        if sees_all_branches(request_staff(request)):
            # Every row has a branch: no join through to the branches, so
            # the whole list stays one table that counts by estimate.
            return queryset
        return queryset.filter(
            **{f"{self.branch_path}__in": branches_visible_to(request.user)}
        )


def branch_filter(path: str) -> type[admin.SimpleListFilter]:
    """A list filter by the branch at `path`, offering the branches the user
    works. (Django's RelatedOnlyFieldListFilter finds the branches in the
    list's rows, reading the whole table on every page.)"""

    class BranchFilter(admin.SimpleListFilter):
        title = _("branch")
        parameter_name = f"{path}__id"
        field_path = path

        def lookups(
            self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]
        ) -> list[tuple[Any, str]]:
            branches = branches_visible_to(request.user).order_by("name")
            return [(branch.pk, branch.name) for branch in branches]

        def queryset(
            self, request: HttpRequest, queryset: QuerySet[Any]
        ) -> QuerySet[Any]:
            value = self.value()
            if value is None:
                return queryset
            if not value.isdigit():
                return queryset.none()
            return queryset.filter(**{f"{path}__id": int(value)})

    return BranchFilter


class TransitionReasonForm(forms.Form):
    """The reason a transition's confirmation page asks for, if any."""

    reason = forms.CharField(label=_("Reason"), required=False, max_length=200)

    def __init__(self, *args: Any, asked: bool | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if asked is None:
            del self.fields["reason"]
            return
        field = self.fields["reason"]
        field.required = asked
        field.label = _("Reason") if asked else _("Comment (optional)")


class TransitionButtons(admin.ModelAdmin[Any]):
    """Buttons on an object's page for the moves its FSM fields may make next.

    A button is offered when the object's state allows the transition and
    the user may run the list action of the same name. It is a link to a
    confirmation page that says what will happen to which object and asks
    for the reason the service records; only that page's POST runs the
    action on this one object (so it calls the same service). Nothing acts
    on the first press, with or without JavaScript.
    """

    transition_fields: tuple[str, ...] = ()
    button_labels: Mapping[str, StrOrPromise] = {}
    # What pressing a button does, said on its confirmation page.
    button_effects: Mapping[str, StrOrPromise] = {}
    # Buttons whose service records a reason: True where it must be given,
    # False where a comment is optional. Others ask for nothing.
    button_reasons: Mapping[str, bool] = {}

    def button_names(self, obj: Any) -> list[str]:
        """The transitions the object's state allows now, named as actions."""
        names = []
        for name in self.transition_fields:
            field = cast(FSMFieldMixin, self.model._meta.get_field(name))
            for transition in get_available_FIELD_transitions(obj, field):
                names.append(transition.name)
        return names

    def transition_buttons(
        self, request: HttpRequest, obj: Any
    ) -> list[tuple[str, str]]:
        # In the order of `button_labels`, whatever order the FSM gives.
        possible = set(self.button_names(obj)) & set(self.get_actions(request))
        return [
            (name, str(label))
            for name, label in self.button_labels.items()
            if name in possible
        ]

    def _transition_url_name(self) -> str:
        return f"{self.opts.app_label}_{self.opts.model_name}_transition"

    def _change_url(self, object_id: int) -> str:
        change = f"admin:{self.opts.app_label}_{self.opts.model_name}_change"
        return reverse(change, args=[object_id])

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        context = dict(extra_context or {})
        obj = self.get_object(request, object_id)
        if obj is not None:
            context["transition_buttons"] = self.transition_buttons(request, obj)
            context["transition_url"] = f"admin:{self._transition_url_name()}"
        return super().change_view(request, object_id, form_url, context)

    def get_urls(self) -> list[URLPattern]:
        transition = path(
            "<int:object_id>/transition/<str:name>/",
            self.admin_site.admin_view(
                require_http_methods(["GET", "POST"])(self.transition_view)
            ),
            name=self._transition_url_name(),
        )
        return [transition, *super().get_urls()]

    def transition_view(
        self, request: HttpRequest, object_id: int, name: str
    ) -> HttpResponse:
        """GET: what the button will do, to which object. POST: do it, by
        running the list action of that name on this one object."""
        action = self.get_actions(request).get(name)
        if name not in self.button_labels or action is None:
            raise PermissionDenied
        obj = self.get_queryset(request).filter(pk=object_id).first()
        if obj is None:
            raise Http404

        if name not in self.button_names(obj):
            # Someone moved the object on since the page was drawn.
            self.message_user(
                request,
                gettext("%(object)s can no longer take this step.") % {"object": obj},
                messages.WARNING,
            )
            return HttpResponseRedirect(self._change_url(object_id))

        asked = self.button_reasons.get(name)
        data = request.POST if request.method == "POST" else None
        form = TransitionReasonForm(data, asked=asked)
        if form.is_bound and form.is_valid():
            run = action[0]
            run(self, request, self.get_queryset(request).filter(pk=object_id))
            return HttpResponseRedirect(self._change_url(object_id))

        label = self.button_labels[name]
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("%(step)s: %(object)s") % {"step": label, "object": obj},
            "opts": self.opts,
            "original": obj,
            "label": label,
            "effect": self.button_effects.get(name, action[2]),
            "states": [
                (
                    self.model._meta.get_field(field).verbose_name,
                    getattr(obj, f"get_{field}_display")(),
                )
                for field in self.transition_fields
            ],
            "form": form,
            "change_url": self._change_url(object_id),
        }
        return TemplateResponse(request, "admin/transition_confirm.html", context)


class ReadOnlyInline(admin.TabularInline[Any, Any]):
    """Rows shown on a parent's page; they change through services only."""

    extra = 0
    can_delete = False
    # What each row shows of other tables (its str, a person), read in the
    # same query so that a long history costs no query per row.
    select_related: tuple[str, ...] = ()

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        rows = super().get_queryset(request)
        if not self.select_related:
            return rows
        return rows.select_related(*self.select_related)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class BranchMemberInline(ReadOnlyInline):
    model = Member
    readonly_fields = (
        "real_name",
        "branch_role",
        "kyc_status",
        "status",
        "joined_on",
    )
    fields = readonly_fields
    show_change_link = True
    verbose_name_plural = _("members and their standing")


@admin.register(Branch)
class BranchAdmin(admin.ModelAdmin[Branch]):
    list_display = ["name", "region", "status", "member_count", "created_on"]
    list_filter = ["status", "region"]
    search_fields = ["name", "region"]
    fields = ["name", "region", "status", "paused_reason", "created_on", "staff"]
    readonly_fields = ["status", "paused_reason", "created_on"]
    filter_horizontal = ["staff"]
    inlines = [BranchMemberInline]
    action_form = ReasonActionForm
    actions = ["pause_lending", "resume_lending"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Branch]:
        return branches_visible_to(request.user).annotate(
            active_members=Count("members", filter=Q(members__status="active"))
        )

    @admin.display(description=_("active members"), ordering="active_members")
    def member_count(self, branch: Branch) -> int:
        return getattr(branch, "active_members", 0)

    def save_model(
        self,
        request: HttpRequest,
        obj: Branch,
        form: forms.ModelForm[Branch],
        change: bool,
    ) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        created = services.branch_create(
            name=obj.name, region=obj.region, created_on=timezone.localdate()
        )
        obj.pk = created.pk
        obj.created_on = created.created_on

    @admin.action(
        description=_("Pause lending in selected branches"), permissions=["pause"]
    )
    def pause_lending(self, request: HttpRequest, queryset: QuerySet[Branch]) -> None:
        reason = request.POST.get("reason", "")
        _run_each(
            self,
            request,
            queryset,
            lambda branch: services.branch_pause(branch=branch, reason=reason),
            gettext("Lending paused in %(count)d branches."),
        )

    @admin.action(
        description=_("Resume lending in selected branches"), permissions=["pause"]
    )
    def resume_lending(self, request: HttpRequest, queryset: QuerySet[Branch]) -> None:
        _run_each(
            self,
            request,
            queryset,
            lambda branch: services.branch_resume(branch=branch),
            gettext("Lending resumed in %(count)d branches."),
        )

    def has_pause_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("members.pause_branch")


class MemberAddForm(forms.ModelForm[Member]):
    """Registers a member through the service, which validates and protects."""

    national_id = forms.CharField(label=_("National ID number"), max_length=32)
    phone = forms.CharField(label=_("Mobile number"), max_length=20)

    class Meta:
        model = Member
        fields = ["branch", "real_name", "joined_on"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if "national_id" in cleaned and "phone" in cleaned:
            try:
                cleaned["national_id"], cleaned["phone"] = (
                    services.member_identity_clean(
                        national_id=cleaned["national_id"],
                        phone=cleaned["phone"],
                        today=timezone.localdate(),
                    )
                )
            except ValidationError as error:
                self.add_error(None, error)
        return cleaned


class MemberEventInline(ReadOnlyInline):
    model = MemberEvent
    readonly_fields = (
        "at",
        "kind",
        "from_value",
        "to_value",
        "note",
        "actor",
    )
    fields = readonly_fields
    select_related = ("actor",)


class MemberBlacklistInline(ReadOnlyInline):
    model = BlacklistEntry
    readonly_fields = (
        "blacklisted_on",
        "source",
        "reason",
        "debt_settled_on",
        "lifted_on",
    )
    fields = readonly_fields
    show_change_link = True
    select_related = ("member",)


class EmergencyContactInline(ReadOnlyInline):
    model = EmergencyContact
    readonly_fields = (
        "name",
        "relationship",
        "phone_masked",
        "consented_at",
        "withdrawn_at",
    )
    fields = readonly_fields


def _exact_identity_query(term: str) -> Q:
    """Rows whose full national ID or phone number is `term`, if it is one."""
    query = Q()
    with suppress(ValidationError):
        national_id = validate_national_id(term, today=timezone.localdate())
        query |= Q(national_id_digest=pii.digest("national_id", national_id))
    with suppress(ValidationError):
        query |= Q(phone_digest=pii.digest("phone", normalise_mobile(term)))
    return query


@admin.register(Member)
class MemberAdmin(TransitionButtons, ExportActions, ScopedAdmin):
    list_display = [
        "real_name",
        "national_id_masked",
        "phone_masked",
        "branch",
        "branch_role",
        "kyc_status",
        "status",
        "joined_on",
    ]
    # Only branches in the user's scope may appear, even as filter choices.
    list_filter = [
        branch_filter("branch"),
        "kyc_status",
        "status",
        "branch_role",
    ]
    list_select_related = ["branch"]
    search_fields = ["real_name", "national_id_masked", "phone_masked"]
    readonly_fields = [
        "national_id_masked",
        "phone_masked",
        "branch_role",
        "kyc_status",
        "kyc_rejection_reason",
        "kyc_reviewed_at",
        "kyc_reviewed_by",
        "status",
        "created_at",
    ]
    fields = ["branch", "real_name", "joined_on", *readonly_fields]
    inlines = [MemberEventInline, MemberBlacklistInline, EmergencyContactInline]
    action_form = ReasonActionForm
    # Buttons on a member's page, named after the KYC and status transitions
    # and the actions that run them.
    transition_fields = ("kyc_status", "status")
    button_labels = {
        "verify_kyc": _("Verify KYC"),
        "reject_kyc": _("Reject KYC"),
        "blacklist": _("Blacklist"),
        "lift_blacklist": _("Lift off the blacklist"),
    }
    button_effects = {
        "verify_kyc": _(
            "Accept the member's identity documents. The member is scored "
            "and receives a first credit limit."
        ),
        "reject_kyc": _(
            "Refuse the member's identity documents. The member sees the "
            "reason and may submit them again."
        ),
        "blacklist": _(
            "Blacklist the member: their credit limit becomes zero and they "
            "cannot borrow until they are lifted off."
        ),
        "lift_blacklist": _(
            "Lift the member off the blacklist; their credit starts again "
            "from a first limit."
        ),
    }
    button_reasons = {"reject_kyc": True, "blacklist": True, "lift_blacklist": True}
    actions = [
        "verify_kyc",
        "reject_kyc",
        "blacklist",
        "lift_blacklist",
        "make_leader",
        "make_deputy",
        "make_member",
        *EXPORT_ACTIONS,
    ]

    def button_names(self, obj: Any) -> list[str]:
        # Lifting is offered only when the lifting rule would allow it today.
        names = super().button_names(obj)
        if "lift_blacklist" in names:
            entry = obj.blacklist_entries.filter(lifted_on__isnull=True).first()
            refused = entry is None or blacklist_lift_blockers(
                entry=entry, rule=BlacklistRule.current(), on=timezone.localdate()
            )
            if refused:
                names.remove("lift_blacklist")
        return names

    def get_form(
        self,
        request: HttpRequest,
        obj: Member | None = None,
        change: bool = False,
        **kwargs: Any,
    ) -> type[forms.ModelForm[Member]]:
        if obj is None:
            kwargs["form"] = MemberAddForm
            kwargs["fields"] = [
                "branch",
                "real_name",
                "joined_on",
                "national_id",
                "phone",
            ]
        form = super().get_form(request, obj, change, **kwargs)
        branch_field = form.base_fields.get("branch")
        if isinstance(branch_field, forms.ModelChoiceField):
            branch_field.queryset = branches_visible_to(request.user)
        return form

    def get_fields(self, request: HttpRequest, obj: Member | None = None) -> Any:
        if obj is None:
            return ["branch", "real_name", "joined_on", "national_id", "phone"]
        return self.fields

    def get_readonly_fields(
        self, request: HttpRequest, obj: Member | None = None
    ) -> list[str]:
        if obj is None:
            return []
        return [*self.readonly_fields, "branch", "joined_on"]

    def get_inlines(self, request: HttpRequest, obj: Member | None) -> list[Any]:
        return list(self.inlines) if obj is not None else []

    def save_model(
        self,
        request: HttpRequest,
        obj: Member,
        form: forms.ModelForm[Member],
        change: bool,
    ) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        member = services.member_register(
            branch=form.cleaned_data["branch"],
            real_name=form.cleaned_data["real_name"],
            national_id=form.cleaned_data["national_id"],
            phone=form.cleaned_data["phone"],
            joined_on=form.cleaned_data["joined_on"],
            by=request.user,
        )
        # The form's object never saw the protected fields; show the stored row
        # (history entry and success message name the member by masked ID).
        obj.pk = member.pk
        obj.refresh_from_db()

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Member], search_term: str
    ) -> tuple[QuerySet[Member], bool]:
        """A full ID or phone number is found through its keyed hash."""
        results, may_have_duplicates = super().get_search_results(
            request, queryset, search_term
        )
        exact = _exact_identity_query(search_term.strip())
        if exact:
            results = results | queryset.filter(exact)
        return results, may_have_duplicates

    @admin.action(
        description=_("Verify KYC of selected members"), permissions=["verify_kyc"]
    )
    def verify_kyc(self, request: HttpRequest, queryset: QuerySet[Member]) -> None:
        _run_each(
            self,
            request,
            queryset,
            lambda member: services.member_verify_kyc(member=member, by=request.user),
            gettext("KYC verified for %(count)d members."),
        )

    @admin.action(
        description=_("Reject KYC of selected members (give a reason)"),
        permissions=["verify_kyc"],
    )
    def reject_kyc(self, request: HttpRequest, queryset: QuerySet[Member]) -> None:
        reason = request.POST.get("reason", "")
        _run_each(
            self,
            request,
            queryset,
            lambda member: services.member_reject_kyc(
                member=member, by=request.user, reason=reason
            ),
            gettext("KYC rejected for %(count)d members."),
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
            lambda member: services.member_blacklist(
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
            lambda entry: services.blacklist_lift(
                entry=entry, on=timezone.localdate(), by=request.user, reason=reason
            ),
            gettext("%(count)d members lifted off the blacklist."),
        )

    def _set_role(
        self,
        request: HttpRequest,
        queryset: QuerySet[Member],
        role: Member.BranchRole,
    ) -> None:
        _run_each(
            self,
            request,
            queryset,
            lambda member: services.member_set_branch_role(
                member=member, role=role, by=request.user
            ),
            gettext("Role changed for %(count)d members."),
        )

    @admin.action(
        description=_("Make the selected member the branch leader"),
        permissions=["change"],
    )
    def make_leader(self, request: HttpRequest, queryset: QuerySet[Member]) -> None:
        if queryset.count() != 1:
            self.message_user(
                request, gettext("Select exactly one member to lead."), messages.ERROR
            )
            return
        self._set_role(request, queryset, Member.BranchRole.LEADER)

    @admin.action(
        description=_("Make selected members deputy leaders"), permissions=["change"]
    )
    def make_deputy(self, request: HttpRequest, queryset: QuerySet[Member]) -> None:
        self._set_role(request, queryset, Member.BranchRole.DEPUTY)

    @admin.action(
        description=_("Make selected members ordinary members"), permissions=["change"]
    )
    def make_member(self, request: HttpRequest, queryset: QuerySet[Member]) -> None:
        self._set_role(request, queryset, Member.BranchRole.MEMBER)

    def has_verify_kyc_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("members.verify_kyc")

    def has_blacklist_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("members.blacklist_member")

    def has_lift_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("members.lift_blacklist")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Members leave through a status change; their history is kept.
        return False


@admin.register(BlacklistEntry)
class BlacklistEntryAdmin(ScopedAdmin):
    branch_path = "member__branch"
    list_display = [
        "member",
        "source",
        "blacklisted_on",
        "debt_settled_on",
        "lifted_on",
        "blacklisted_by",
    ]
    list_filter = ["source", ("lifted_on", admin.EmptyFieldListFilter)]
    list_select_related = ["member", "blacklisted_by"]
    search_fields = [
        "member__real_name",
        "member__national_id_masked",
        "source_reference",
    ]
    readonly_fields = [
        "member",
        "reason",
        "source",
        "source_reference",
        "blacklisted_on",
        "blacklisted_by",
        "debt_settled_on",
        "lifted_on",
        "lifted_by",
        "lift_reason",
        "created_at",
    ]
    action_form = ReasonActionForm
    actions = ["settle_debt", "lift"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Members are blacklisted through the member action, which records it.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(
        description=_("Record the debt as settled today"), permissions=["change"]
    )
    def settle_debt(
        self, request: HttpRequest, queryset: QuerySet[BlacklistEntry]
    ) -> None:
        _run_each(
            self,
            request,
            queryset,
            lambda entry: services.blacklist_settle_debt(
                entry=entry, on=timezone.localdate(), by=request.user
            ),
            gettext("Debt recorded as settled on %(count)d entries."),
        )

    @admin.action(
        description=_("Lift selected entries (give a reason)"), permissions=["lift"]
    )
    def lift(self, request: HttpRequest, queryset: QuerySet[BlacklistEntry]) -> None:
        reason = request.POST.get("reason", "")
        _run_each(
            self,
            request,
            queryset,
            lambda entry: services.blacklist_lift(
                entry=entry, on=timezone.localdate(), by=request.user, reason=reason
            ),
            gettext("%(count)d entries lifted."),
        )

    def has_lift_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("members.lift_blacklist")


@admin.register(BlacklistRule)
class BlacklistRuleAdmin(admin.ModelAdmin[BlacklistRule]):
    list_display = ["__str__", "require_debt_settled", "cooling_off_days", "updated_at"]
    fields = ["require_debt_settled", "cooling_off_days", "updated_at", "updated_by"]
    readonly_fields = ["updated_at", "updated_by"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[BlacklistRule]:
        BlacklistRule.current()
        return super().get_queryset(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(
        self,
        request: HttpRequest,
        obj: BlacklistRule,
        form: forms.ModelForm[BlacklistRule],
        change: bool,
    ) -> None:
        obj.updated_by = request.user  # type: ignore[assignment]
        super().save_model(request, obj, form, change)


class GuarantorTieForm(forms.ModelForm[GuarantorTie]):
    class Meta:
        model = GuarantorTie
        fields = ["guarantor", "borrower", "amount", "consented_at", "consent_evidence"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if {"guarantor", "borrower", "amount"} <= cleaned.keys():
            try:
                services.guarantor_tie_check(
                    guarantor=cleaned["guarantor"],
                    borrower=cleaned["borrower"],
                    amount=cleaned["amount"],
                )
            except ValidationError as error:
                self.add_error(None, error)
        return cleaned


@admin.register(GuarantorTie)
class GuarantorTieAdmin(ScopedAdmin):
    branch_path = "borrower__branch"
    list_display = ["guarantor", "borrower", "amount", "status", "consented_at"]
    list_filter = ["status", branch_filter("borrower__branch")]
    list_select_related = ["guarantor", "borrower"]
    search_fields = ["guarantor__real_name", "borrower__real_name"]
    readonly_fields = ["status", "created_by", "created_at", "released_at"]
    autocomplete_fields = ["guarantor", "borrower"]

    form = GuarantorTieForm

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A tie is recorded once; releasing it is the only change.
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(
        self,
        request: HttpRequest,
        obj: GuarantorTie,
        form: forms.ModelForm[GuarantorTie],
        change: bool,
    ) -> None:
        tie = services.guarantor_tie_create(
            guarantor=obj.guarantor,
            borrower=obj.borrower,
            amount=obj.amount,
            consented_at=obj.consented_at,
            consent_evidence=obj.consent_evidence,
            by=request.user,
        )
        obj.pk = tie.pk

    actions = ["release"]

    @admin.action(description=_("Release selected guarantees"), permissions=["release"])
    def release(self, request: HttpRequest, queryset: QuerySet[GuarantorTie]) -> None:
        _run_each(
            self,
            request,
            queryset,
            lambda tie: services.guarantor_tie_release(tie=tie, at=timezone.now()),
            gettext("%(count)d guarantees released."),
        )

    def has_release_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("members.change_guarantortie")


class EmergencyContactForm(forms.ModelForm[EmergencyContact]):
    phone = forms.CharField(label=_("Mobile number"), max_length=20)

    class Meta:
        model = EmergencyContact
        fields = ["member", "name", "relationship", "consented_at", "consent_evidence"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if "member" in cleaned and "phone" in cleaned:
            try:
                cleaned["phone"] = services.emergency_contact_phone_clean(
                    member=cleaned["member"], phone=cleaned["phone"]
                )
            except ValidationError as error:
                self.add_error(None, error)
        return cleaned


@admin.register(EmergencyContact)
class EmergencyContactAdmin(ScopedAdmin):
    branch_path = "member__branch"
    list_display = [
        "member",
        "name",
        "relationship",
        "phone_masked",
        "consented_at",
        "withdrawn_at",
    ]
    list_filter = ["relationship", ("withdrawn_at", admin.EmptyFieldListFilter)]
    list_select_related = ["member"]
    search_fields = ["member__real_name", "name", "phone_masked"]
    autocomplete_fields = ["member"]
    form = EmergencyContactForm
    actions = ["withdraw_consent"]

    def get_readonly_fields(
        self, request: HttpRequest, obj: EmergencyContact | None = None
    ) -> Any:
        if obj is None:
            return ()
        return (
            "member",
            "name",
            "relationship",
            "phone_masked",
            "consented_at",
            "consent_evidence",
            "withdrawn_at",
        )

    def get_fields(
        self, request: HttpRequest, obj: EmergencyContact | None = None
    ) -> Any:
        if obj is None:
            return [
                "member",
                "name",
                "relationship",
                "phone",
                "consented_at",
                "consent_evidence",
            ]
        return self.get_readonly_fields(request, obj)

    def get_form(
        self,
        request: HttpRequest,
        obj: EmergencyContact | None = None,
        change: bool = False,
        **kwargs: Any,
    ) -> type[forms.ModelForm[EmergencyContact]]:
        if obj is not None:
            kwargs["form"] = forms.ModelForm
        return super().get_form(request, obj, change, **kwargs)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Consent is withdrawn, not erased: the record shows who was allowed when.
        return False

    def save_model(
        self,
        request: HttpRequest,
        obj: EmergencyContact,
        form: forms.ModelForm[EmergencyContact],
        change: bool,
    ) -> None:
        if change:
            return
        contact = services.emergency_contact_add(
            member=form.cleaned_data["member"],
            name=form.cleaned_data["name"],
            relationship=form.cleaned_data["relationship"],
            phone=form.cleaned_data["phone"],
            consented_at=form.cleaned_data["consented_at"],
            consent_evidence=form.cleaned_data["consent_evidence"],
        )
        obj.pk = contact.pk

    @admin.action(
        description=_("Record that the member withdrew consent"), permissions=["change"]
    )
    def withdraw_consent(
        self, request: HttpRequest, queryset: QuerySet[EmergencyContact]
    ) -> None:
        _run_each(
            self,
            request,
            queryset.filter(withdrawn_at__isnull=True),
            lambda contact: services.emergency_contact_withdraw(
                contact=contact, at=timezone.now()
            ),
            gettext("Consent withdrawn for %(count)d contacts."),
        )

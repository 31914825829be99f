"""Borrower pages: sign in, home, sign out, the member's own loans, their
messages, hardship plans and contact preferences. Phone-first,
server-rendered; every write goes through a service."""

from typing import Any, cast
from uuid import uuid4

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from collection import rules
from collection import services as collection
from collection.models import ContactConsent, EscalationPolicy, Message
from credit.explain import score_reasons
from credit.models import CreditProfile
from credit.selectors import profile_with_score
from loans import services
from loans.models import ZERO, Loan
from loans.selectors import (
    BranchStanding,
    arrears,
    branch_standing,
    business_date_current,
    loan_quote,
    payable,
)
from members.models import Branch, GuarantorTie, Member
from members.selectors import member_borrowing_blockers
from portal.forms import (
    ConsentForm,
    HardshipForm,
    LoanApplyForm,
    LoanRepayForm,
    PhoneSignInForm,
)
from portal.loan_status import loan_status


class SignInView(auth_views.LoginView):
    template_name = "pages/sign_in.html"
    authentication_form = PhoneSignInForm
    redirect_authenticated_user = True


class SignOutView(auth_views.LogoutView):
    pass


def _member_of(request: HttpRequest) -> Member | None:
    user = cast(User, request.user)
    return Member.objects.select_related("branch").filter(user=user).first()


def _signed_in_member(request: HttpRequest) -> Member:
    member = _member_of(request)
    if member is None:
        raise Http404(_("This account is not linked to a branch member."))
    return member


def _may_borrow(blockers: list[str], profile: CreditProfile | None) -> bool:
    return not blockers and profile is not None and profile.available > 0


@login_required
def home(request: HttpRequest) -> HttpResponse:
    member = _member_of(request)
    profile = profile_with_score(member) if member else None
    latest = profile.latest_score if profile else None
    blockers = member_borrowing_blockers(member) if member else []
    own_loans = Loan.objects.filter(member=member) if member else Loan.objects.none()
    context = {
        "member": member,
        "blockers": blockers,
        "profile": profile,
        "score": latest,
        "reasons": score_reasons(latest) if latest else [],
        "may_borrow": bool(member) and _may_borrow(blockers, profile),
        "open_loans": own_loans.filter(state__in=Loan.OPEN_STATES).count(),
        "loan_count": own_loans.count(),
        "unread": _unread_count(member),
    }
    return render(request, "pages/home.html", context)


# The member's branch ---------------------------------------------------------


def _standing_words(standing: BranchStanding, *, paused: bool) -> tuple[str, str]:
    """A badge tone and the branch's standing in plain words."""
    if paused:
        return "bad", _(
            "Lending in the branch is paused for now: no member can apply for "
            "a new loan until staff resume it."
        )
    if standing.late_30_share > 0:
        return "bad", _(
            "Some loans in the branch are more than 30 days late. If a loan "
            "defaults, the limits of the borrower's guarantors and of the "
            "whole branch are cut."
        )
    if standing.behind:
        return "warning", _("Some repayments in the branch are a few days late.")
    return "good", _("Every member who is borrowing is repaying on time.")


@login_required
def branch(request: HttpRequest) -> HttpResponse:
    """The member's branch in aggregate, and their own guarantees: never
    another member's loans, amounts or lateness."""
    member = _signed_in_member(request)
    standing = branch_standing(branch=member.branch)
    paused = member.branch.status == Branch.Status.PAUSED
    tone, words = _standing_words(standing, paused=paused)
    ties = GuarantorTie.objects.filter(status=GuarantorTie.Status.ACTIVE)
    context = {
        "member": member,
        "branch": member.branch,
        "leader": member.branch.leader,
        "standing": standing,
        "tone": tone,
        "words": words,
        "paused": paused,
        "vouching_for": ties.filter(guarantor=member).select_related("borrower"),
        "vouched_by": ties.filter(borrower=member).select_related("guarantor"),
    }
    return render(request, "pages/branch.html", context)


# Loans -----------------------------------------------------------------------


def _own_loan(request: HttpRequest, pk: int) -> Loan:
    """The loan, if it is the signed-in member's; 404 for anybody else's."""
    user = cast(User, request.user)
    queryset = Loan.objects.select_related("product").prefetch_related(
        "installments", "approvals"
    )
    return get_object_or_404(queryset, pk=pk, member__user=user)


@login_required
def loan_apply(request: HttpRequest) -> HttpResponse:
    member = _signed_in_member(request)
    on = business_date_current()
    profile = profile_with_score(member)
    blockers = member_borrowing_blockers(member)
    form = LoanApplyForm(request.POST if request.method == "POST" else None)
    previewing = False

    if form.is_bound and form.is_valid() and "confirm" in request.POST:
        data = form.cleaned_data
        try:
            loan = services.loan_apply(
                member=member,
                product=data["product"],
                principal=data["principal"],
                term_months=data["term_months"],
                by=request.user,
                on=on,
            )
        except ValidationError as error:
            form.add_service_error(error)
        else:
            messages.success(
                request,
                _("Your application %(number)s has been sent for approval.")
                % {"number": loan.number},
            )
            return redirect("pages:loan", pk=loan.pk)

    quote = None
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        quote = loan_quote(
            product=data["product"],
            principal=data["principal"],
            term_months=data["term_months"],
            start=on,
        )
        previewing = "preview" in request.POST

    context: dict[str, Any] = {
        "form": form,
        "profile": profile,
        "blockers": blockers,
        "may_borrow": _may_borrow(blockers, profile),
        "quote": quote,
        "previewing": previewing,
        "product_facts": form.product_facts,
    }
    return render(request, "pages/loan_apply.html", context)


@login_required
def loan_list(request: HttpRequest) -> HttpResponse:
    member = _signed_in_member(request)
    on = business_date_current()
    rows = (
        Loan.objects.filter(member=member)
        .select_related("product")
        .prefetch_related("installments", "approvals")
    )
    context = {
        "statuses": [loan_status(loan, on=on) for loan in rows],
        "may_borrow": _may_borrow(
            member_borrowing_blockers(member), profile_with_score(member)
        ),
    }
    return render(request, "pages/loans.html", context)


@login_required
def loan_detail(request: HttpRequest, pk: int) -> HttpResponse:
    own = _own_loan(request, pk)
    on = business_date_current()
    context = {
        "loan": own,
        "status": loan_status(own, on=on),
        "approvals": list(own.approvals.all()),
        "takes_repayments": own.state in Loan.OPEN_STATES,
        "hardship": own.hardship_requests.order_by("-id").first(),
        "may_ask_plan": not collection.hardship_blockers(own),
    }
    return render(request, "pages/loan.html", context)


@login_required
def loan_hardship(request: HttpRequest, pk: int) -> HttpResponse:
    own = _own_loan(request, pk)
    on = business_date_current()
    blockers = collection.hardship_blockers(own)
    form = HardshipForm(request.POST if request.method == "POST" else None)

    if not blockers and form.is_bound and form.is_valid():
        data = form.cleaned_data
        try:
            collection.hardship_request(
                loan=own,
                cause=data["cause"],
                installments=data["installments"],
                note=data["note"],
                by=request.user,
                on=on,
            )
        except ValidationError as error:
            form.add_service_error(error)
        else:
            messages.success(
                request,
                _(
                    "Your request has been sent. A risk officer will decide "
                    "and tell you in your messages."
                ),
            )
            return redirect("pages:loan", pk=own.pk)

    context = {
        "loan": own,
        "status": loan_status(own, on=on),
        "blockers": blockers,
        "form": form,
        "hotline": settings.COLLECTION_HOTLINE,
    }
    return render(request, "pages/loan_hardship.html", context)


@login_required
def loan_repay(request: HttpRequest, pk: int) -> HttpResponse:
    own = _own_loan(request, pk)
    on = business_date_current()
    installments = list(own.installments.all())
    rows = [row for row in payable(installments, on) if row.total > 0]
    owed = sum((row.total for row in rows), ZERO)
    late = arrears(installments, on)

    if request.method == "POST":
        form = LoanRepayForm(request.POST)
        if form.is_valid():
            key = str(form.cleaned_data["key"])
            try:
                repayment = services.repayment_post(
                    loan=own,
                    amount=form.cleaned_data["amount"],
                    reference=f"sandbox-{key}",
                    by=request.user,
                    on=on,
                    idempotency_key=key,
                )
            except ValidationError as error:
                form.add_service_error(error)
            except services.IdempotencyConflict:
                # The same form sent again with another amount: a fresh key
                # lets the member pay the new amount on purpose.
                data = request.POST.copy()
                data["key"] = str(uuid4())
                form = LoanRepayForm(data)
                form.add_error(
                    None,
                    _(
                        "This form was already used for another amount. "
                        "Check the amount and pay again."
                    ),
                )
            else:
                return redirect(
                    "pages:loan_repayment", pk=own.pk, repayment_id=repayment.pk
                )
    else:
        # Late money first; with nothing late, the next installment.
        suggested = late or (rows[0].total if rows else ZERO)
        form = LoanRepayForm(initial={"amount": suggested or None, "key": uuid4()})

    context = {
        "loan": own,
        "status": loan_status(own, on=on),
        "form": form,
        "owed": owed,
        "late": late,
        "on": on,
        "takes_repayments": own.state in Loan.OPEN_STATES,
    }
    return render(request, "pages/loan_repay.html", context)


@login_required
def loan_repayment(request: HttpRequest, pk: int, repayment_id: int) -> HttpResponse:
    own = _own_loan(request, pk)
    repayment = get_object_or_404(own.repayments, pk=repayment_id)
    on = business_date_current()
    installments = list(own.installments.all())
    context = {
        "loan": own,
        "repayment": repayment,
        "status": loan_status(own, on=on),
        "owed": sum((row.total for row in payable(installments, on)), ZERO),
        "takes_repayments": own.state in Loan.OPEN_STATES,
    }
    return render(request, "pages/loan_repayment.html", context)


# Messages --------------------------------------------------------------------


def _inbox(member: Member) -> QuerySet[Message]:
    """What was sent to the member: not what is still queued, nor what
    their guarantors or branch leader were told about them."""
    return Message.objects.filter(
        member=member,
        audience=Message.Audience.BORROWER,
        status=Message.Status.SENT,
    ).select_related("loan")


def _unread_count(member: Member | None) -> int:
    if member is None:
        return 0
    return _inbox(member).filter(read_at__isnull=True).count()


@login_required
def message_list(request: HttpRequest) -> HttpResponse:
    member = _signed_in_member(request)
    rows = _inbox(member).order_by("-sent_at", "-id")
    return render(request, "pages/messages.html", {"inbox": rows})


@login_required
def message_detail(request: HttpRequest, message_id: int) -> HttpResponse:
    member = _signed_in_member(request)
    message = get_object_or_404(_inbox(member), pk=message_id)
    collection.message_mark_read(message=message, member=member, now=timezone.now())

    loan = message.loan
    context = {
        "message": message,
        "loan": loan,
        "may_ask_plan": loan is not None and not collection.hardship_blockers(loan),
    }
    return render(request, "pages/message.html", context)


# Contact preferences ---------------------------------------------------------


def _active_consents(member: Member, kind: str) -> QuerySet[ContactConsent]:
    return ContactConsent.objects.filter(
        member=member, kind=kind, withdrawn_at__isnull=True
    )


@login_required
def contact_preferences(request: HttpRequest) -> HttpResponse:
    member = _signed_in_member(request)
    now = timezone.now()
    policy = EscalationPolicy.current()
    context = {
        "night": rules.has_consent(member, ContactConsent.Kind.NIGHT, now),
        "leader": rules.has_consent(member, ContactConsent.Kind.LEADER, now),
        "quiet_from": policy.quiet_from,
        "quiet_until": policy.quiet_until,
    }
    return render(request, "pages/contact_preferences.html", context)


@login_required
@require_POST
def contact_preferences_change(request: HttpRequest) -> HttpResponse:
    member = _signed_in_member(request)
    form = ConsentForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("That choice was not understood. Please try again."))
        return redirect("pages:contact_preferences")

    kind = ContactConsent.Kind(form.cleaned_data["kind"])
    now = timezone.now()
    given = list(_active_consents(member, kind))
    if form.cleaned_data["agree"]:
        if not given:
            collection.consent_give(
                member=member,
                kind=kind,
                # What staff see as proof: the borrower chose it themselves.
                evidence=f"borrower pages, user {member.user_id}",
                at=now,
            )
        messages.success(request, _("Thank you. Your choice is saved."))
    else:
        for consent in given:
            collection.consent_withdraw(consent=consent, at=now)
        messages.success(request, _("Your consent is withdrawn."))

    return redirect("pages:contact_preferences")

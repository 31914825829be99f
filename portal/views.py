"""Borrower pages: sign in, home, sign out, and the member's own loans.
Phone-first, server-rendered; every write goes through a service."""

from typing import Any, cast
from uuid import uuid4

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from credit.explain import score_reasons
from credit.models import CreditProfile
from credit.selectors import profile_with_score
from loans import services
from loans.models import ZERO, Loan
from loans.selectors import (
    arrears,
    business_date_current,
    loan_quote,
    payable,
)
from members.models import Member
from members.selectors import member_borrowing_blockers
from portal.forms import LoanApplyForm, LoanRepayForm, PhoneSignInForm
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
    }
    return render(request, "pages/home.html", context)


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
    }
    return render(request, "pages/loan.html", context)


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

"""Borrower pages: sign in, home, sign out. Phone-first, server-rendered."""

from typing import cast

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from credit.explain import score_reasons
from credit.selectors import profile_with_score
from members.models import Member
from members.selectors import member_borrowing_blockers
from portal.forms import PhoneSignInForm


class SignInView(auth_views.LoginView):
    template_name = "pages/sign_in.html"
    authentication_form = PhoneSignInForm
    redirect_authenticated_user = True


class SignOutView(auth_views.LogoutView):
    pass


@login_required
def home(request: HttpRequest) -> HttpResponse:
    user = cast(User, request.user)
    member = Member.objects.select_related("branch").filter(user=user).first()
    profile = profile_with_score(member) if member else None
    latest = profile.latest_score if profile else None
    context = {
        "member": member,
        "blockers": member_borrowing_blockers(member) if member else [],
        "profile": profile,
        "score": latest,
        "reasons": score_reasons(latest) if latest else [],
    }
    return render(request, "pages/home.html", context)

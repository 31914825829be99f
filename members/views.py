"""Borrower pages: sign in, home, sign out. Phone-first, server-rendered."""

from typing import cast

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from members.forms import PhoneSignInForm
from members.models import Member
from members.selectors import member_borrowing_blockers


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
    context = {
        "member": member,
        "blockers": member_borrowing_blockers(member) if member else [],
    }
    return render(request, "pages/home.html", context)

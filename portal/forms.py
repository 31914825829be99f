"""Forms of the borrower pages."""

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _


class PhoneSignInForm(AuthenticationForm):
    """Signs a borrower in with mobile number and password."""

    username = forms.CharField(
        label=_("Mobile number"),
        max_length=20,
        widget=forms.TextInput(
            attrs={"autocomplete": "tel", "inputmode": "tel", "autofocus": True}
        ),
    )
    error_messages = {
        "invalid_login": _(
            "The mobile number or password is wrong. Please check and try again."
        ),
        "inactive": _("This account is disabled. Please contact your branch."),
    }

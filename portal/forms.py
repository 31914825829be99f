"""Forms of the borrower pages."""

from decimal import Decimal
from typing import Any, cast

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from collection.models import Cause, ContactConsent, HardshipRequest
from config.money import yuan
from loans.models import Product
from portal.formats import percent


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


class PageForm(forms.Form):
    """A form whose inputs point screen readers at their hints and errors,
    and which takes a service's `ValidationError` as it comes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.describe_fields()

    def describe_fields(self) -> None:
        for name, field in self.fields.items():
            if field.help_text:
                field.widget.attrs["aria-describedby"] = f"{self[name].auto_id}_help"

    def add_error(self, field: str | None, error: Any) -> None:
        super().add_error(field, error)
        for name in self.errors:
            if name not in self.fields:
                continue
            bound = self[name]
            described = {bound.auto_id + "_errors"}
            if self.fields[name].help_text:
                described.add(bound.auto_id + "_help")
            attrs = self.fields[name].widget.attrs
            attrs["aria-invalid"] = "true"
            attrs["aria-describedby"] = " ".join(sorted(described))

    def add_service_error(self, error: ValidationError) -> None:
        """Errors keyed by one of this form's fields go beside that field;
        every other one goes above the form."""
        if not hasattr(error, "error_dict"):
            self.add_error(None, error)
            return
        for key, errors in error.error_dict.items():
            self.add_error(key if key in self.fields else None, errors)


def _money_input() -> forms.TextInput:
    return forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"})


def _months(months: int) -> str:
    return ngettext("%(months)d month", "%(months)d months", months) % {
        "months": months
    }


class ProductChoice(forms.ModelChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: Any) -> str:
        product: Product = obj
        return gettext("%(name)s · %(rate)s a year") % {
            "name": product.name,
            "rate": percent(product.annual_rate),
        }


def _amount_range(product: Product) -> str:
    return gettext("Borrow between %(low)s and %(high)s.") % {
        "low": yuan(product.min_amount),
        "high": yuan(product.max_amount),
    }


class LoanApplyForm(PageForm):
    product = ProductChoice(
        label=_("Loan product"), queryset=Product.objects.none(), empty_label=None
    )
    principal = forms.DecimalField(
        label=_("Amount to borrow (yuan)"),
        max_digits=14,
        decimal_places=2,
        min_value=Decimal("0.01"),
        widget=_money_input(),
    )
    term_months = forms.TypedChoiceField(label=_("Term"), coerce=int)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        products = Product.objects.filter(active=True)
        self.products = list(products)
        cast(ProductChoice, self.fields["product"]).queryset = products
        terms = sorted({int(t) for p in self.products for t in p.terms})
        term_field = cast(forms.TypedChoiceField, self.fields["term_months"])
        term_field.choices = [(t, _months(t)) for t in terms]

        # What the page's script needs to follow the chosen product.
        self.product_facts = {
            str(p.pk): {"terms": sorted(p.terms), "range": _amount_range(p)}
            for p in self.products
        }
        chosen = str(self["product"].value() or "")
        facts = self.product_facts.get(chosen) or next(
            iter(self.product_facts.values()), None
        )
        if facts is not None:
            self.fields["principal"].help_text = str(facts["range"])
            self.describe_fields()

    def clean(self) -> dict[str, Any]:
        # The product's own bounds are checked here too, so that a preview
        # never shows a schedule the product does not offer. The service
        # checks them again, with the member's limit, on confirming.
        data = super().clean() or {}
        product: Product | None = data.get("product")
        principal: Decimal | None = data.get("principal")
        term: int | None = data.get("term_months")
        if product is None:
            return data
        if principal is not None and not (
            product.min_amount <= principal <= product.max_amount
        ):
            self.add_error("principal", _amount_range(product))
        if term is not None and term not in product.terms:
            self.add_error(
                "term_months",
                gettext("Choose one of the terms offered: %(terms)s months.")
                % {"terms": ", ".join(str(t) for t in sorted(product.terms))},
            )
        return data


class LoanRepayForm(PageForm):
    amount = forms.DecimalField(
        label=_("Amount to pay (yuan)"),
        max_digits=14,
        decimal_places=2,
        min_value=Decimal("0.01"),
        widget=_money_input(),
    )
    # Made when the form is shown: a second submit of the same form carries
    # the same key, and the service posts the payment once.
    key = forms.UUIDField(
        widget=forms.HiddenInput,
        error_messages={
            "required": _("This payment form has expired. Please pay again."),
            "invalid": _("This payment form has expired. Please pay again."),
        },
    )


# A borrower asks for a plan because life got in the way; "unwilling to pay"
# is how staff may classify a case, not something a borrower would choose.
BORROWER_CAUSES = [(c.value, c.label) for c in Cause if c != Cause.UNWILLING]


def _plan_length(count: int) -> str:
    return ngettext(
        "%(count)d monthly installment", "%(count)d monthly installments", count
    ) % {"count": count}


class HardshipForm(PageForm):
    cause = forms.ChoiceField(
        label=_("What happened"),
        choices=[("", _("Choose one")), *BORROWER_CAUSES],
        error_messages={"required": _("Choose what happened.")},
    )
    installments = forms.TypedChoiceField(
        label=_("Spread what you owe over"),
        coerce=int,
        error_messages={"required": _("Choose 3, 6 or 12 installments.")},
    )
    note = forms.CharField(
        label=_("Tell us more (optional)"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("For example when your income stopped and when it may return."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = cast(forms.TypedChoiceField, self.fields["installments"])
        field.choices = [
            (count, _plan_length(count))
            for count, _label in HardshipRequest.INSTALLMENT_CHOICES
        ]


class ConsentForm(forms.Form):
    """One button of the contact preferences: give or withdraw a consent."""

    kind = forms.ChoiceField(choices=ContactConsent.Kind.choices)
    agree = forms.TypedChoiceField(
        choices=[("1", "1"), ("0", "0")], coerce=lambda value: value == "1"
    )

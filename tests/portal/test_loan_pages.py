"""The borrower's loan pages: apply, list, detail, repay."""

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from config.money import yuan
from credit import services as credit
from credit.models import CreditFlag
from loans import services
from loans.close import close_through
from loans.models import Loan, Product, Repayment
from loans.selectors import business_date_current, loan_quote
from members.models import Member
from portal.formats import percent
from tests.credit.factories import BureauReportFactory
from tests.factories import MemberFactory
from tests.loans.factories import ON, ProductFactory, Staff, active_loan, borrower

pytestmark = pytest.mark.django_db

PASSWORD = "borrower-pass-2026"
APPLY = reverse("pages:loan_apply")
LOANS = reverse("pages:loans")
FIRST_DUE = date(2026, 2, 15)  # of a loan disbursed on ON, 2026-01-15


@pytest.fixture
def staff() -> Staff:
    return Staff()


@pytest.fixture
def member() -> Member:
    return borrower()


@pytest.fixture
def product() -> Product:
    return ProductFactory(terms=[3, 6])


@pytest.fixture
def signed_in(client: Client, member: Member) -> Client:
    assert client.login(username=member.phone, password=PASSWORD)
    return client


def _closed_through(day: date) -> date:
    """Close the business days up to `day`; the pages then trade the next."""
    close_through(until=day)
    return business_date_current()


def _error_container(html: str, field: str) -> str:
    match = re.search(
        rf'<div class="error" id="id_{field}_errors" role="alert">(.*?)</div>',
        html,
        re.S,
    )
    assert match, f"no error container for {field}"
    return match.group(1)


def _external_references(html: str) -> list[str]:
    references = re.findall(r"""\b(?:src|href|action)\s*=\s*["']([^"']*)""", html)
    assert references
    return [ref for ref in references if re.match(r"(?i)(https?:)?//", ref)]


def _loan_of(member: Member, staff: Staff) -> Loan:
    return active_loan(staff=staff, member=member)


# Applying


def test_apply_page_offers_the_active_products_and_their_terms(
    signed_in: Client, product: Product
) -> None:
    ProductFactory(name="停售产品", active=False, terms=[24])

    html = signed_in.get(APPLY).content.decode()

    assert product.name in html
    assert "停售产品" not in html
    assert '<option value="3"' in html
    assert '<option value="24"' not in html
    assert '<label for="id_principal">' in html


def test_apply_preview_shows_the_schedule_and_the_apr(
    signed_in: Client, member: Member, product: Product
) -> None:
    on = _closed_through(date(2026, 3, 9))
    quote = loan_quote(
        product=product, principal=Decimal("1200.00"), term_months=3, start=on
    )

    response = signed_in.post(
        APPLY,
        {"product": product.pk, "principal": "1200", "term_months": "3", "preview": 1},
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert "2026年4月10日" in html  # the first due date, a month after today
    for line in quote.lines:
        assert yuan(line.principal) in html
        assert yuan(line.interest) in html
        assert yuan(line.payment) in html
    assert yuan(quote.total_interest) in html
    assert yuan(quote.total_payment) in html
    assert f'<strong id="apr">{percent(quote.annual_percentage_rate)}</strong>' in html
    assert 'name="confirm"' in html
    assert not Loan.objects.filter(member=member).exists()


def test_confirming_creates_an_applied_loan_and_shows_it(
    signed_in: Client, member: Member, product: Product
) -> None:
    on = _closed_through(date(2026, 3, 9))

    response = signed_in.post(
        APPLY,
        {"product": product.pk, "principal": "1500", "term_months": "6", "confirm": 1},
        follow=True,
        HTTP_ACCEPT_LANGUAGE="en",
    )

    loan = Loan.objects.get(member=member)
    assert loan.state == Loan.State.APPLIED
    assert loan.principal == Decimal("1500.00")
    assert loan.term_months == 6
    assert loan.applied_on == on
    assert loan.applied_by == member.user
    assert response.redirect_chain == [(reverse("pages:loan", args=[loan.pk]), 302)]
    html = response.content.decode()
    assert f"Your application {loan.number} has been sent for approval." in html
    assert "Waiting for approval (level 1 of 1)." in html


def test_over_limit_amount_shows_the_error_on_the_amount_field_in_chinese(
    signed_in: Client, member: Member, product: Product
) -> None:
    response = signed_in.post(
        APPLY,
        {"product": product.pk, "principal": "3000", "term_months": "3", "confirm": 1},
    )

    assert response.status_code == 200
    assert response.context["form"].has_error("principal")
    container = _error_container(response.content.decode(), "principal")
    # Credit writes this amount with the language's own grouping (none in
    # Chinese), not with `yuan`.
    assert "可用额度仅剩" in container
    assert "2000.00" in container.replace(",", "")
    assert not Loan.objects.filter(member=member).exists()


def test_over_limit_amount_shows_the_error_in_english_when_asked(
    signed_in: Client, product: Product
) -> None:
    response = signed_in.post(
        APPLY,
        {"product": product.pk, "principal": "3000", "term_months": "3", "confirm": 1},
        HTTP_ACCEPT_LANGUAGE="en",
    )

    html = response.content.decode()
    container = _error_container(html, "principal")
    assert "Only ¥2,000.00 of the limit is available." in container
    assert 'aria-invalid="true"' in html


def test_a_term_the_product_does_not_offer_is_refused_beside_the_term(
    signed_in: Client, product: Product
) -> None:
    ProductFactory(terms=[12])  # so that 12 months is on the list at all

    response = signed_in.post(
        APPLY,
        {"product": product.pk, "principal": "1000", "term_months": "12", "preview": 1},
        HTTP_ACCEPT_LANGUAGE="en",
    )

    container = _error_container(response.content.decode(), "term_months")
    assert "Choose one of the terms offered: 3, 6 months." in container
    assert response.context["quote"] is None


def test_a_frozen_member_is_told_why_above_the_form(
    signed_in: Client, member: Member, product: Product
) -> None:
    credit.credit_loan_overdue(
        member=member, loan_reference="L-9", on=ON, days_past_due=4
    )

    response = signed_in.post(
        APPLY,
        {"product": product.pk, "principal": "1000", "term_months": "3", "confirm": 1},
        HTTP_ACCEPT_LANGUAGE="en",
    )

    html = response.content.decode()
    assert response.context["form"].non_field_errors()
    assert re.search(r'id="form_errors"[^>]*>\s*<p>Borrowing is frozen', html)
    assert not Loan.objects.filter(member=member).exists()


def test_an_open_bureau_flag_is_told_above_the_form(
    signed_in: Client, member: Member, product: Product
) -> None:
    CreditFlag.objects.create(
        member=member,
        report=BureauReportFactory(member=member),
        kind=CreditFlag.Kind.NAME_MISMATCH,
        detail="姓名不符",
    )

    response = signed_in.post(
        APPLY,
        {"product": product.pk, "principal": "1000", "term_months": "3", "confirm": 1},
        HTTP_ACCEPT_LANGUAGE="en",
    )

    assert response.context["form"].non_field_errors() == [
        "A bureau check needs a risk officer's review before you can apply."
    ]
    assert 'id="form_errors"' in response.content.decode()
    assert not Loan.objects.filter(member=member).exists()


def test_changing_a_preview_keeps_what_was_entered(
    signed_in: Client, product: Product
) -> None:
    response = signed_in.post(
        APPLY,
        {"product": product.pk, "principal": "800", "term_months": "6", "edit": 1},
    )

    html = response.content.decode()
    assert 'name="principal" value="800"' in html
    assert '<option value="6" selected>' in html
    assert 'name="confirm"' not in html


def test_a_member_who_may_not_borrow_sees_why_instead_of_the_form(
    client: Client, product: Product
) -> None:
    pending = MemberFactory()
    assert client.login(username=pending.phone, password=PASSWORD)

    response = client.get(APPLY, HTTP_ACCEPT_LANGUAGE="en")

    html = response.content.decode()
    assert "You cannot apply for a loan yet:" in html
    assert 'name="principal"' not in html


# The list and the detail


def test_list_shows_each_loan_in_plain_words_with_next_due_and_late(
    signed_in: Client, member: Member, staff: Staff
) -> None:
    late = _loan_of(member, staff)
    _closed_through(FIRST_DUE + timedelta(days=1))
    applied = services.loan_apply(
        member=member,
        product=ProductFactory(),
        principal=Decimal("500.00"),
        term_months=3,
        by=member.user,
        on=business_date_current(),
    )

    response = signed_in.get(LOANS, HTTP_ACCEPT_LANGUAGE="en")

    html = response.content.decode()
    first = late.installments.get(number=1)
    second = late.installments.get(number=2)
    assert late.number in html
    assert applied.number in html
    assert "Waiting for approval (level 1 of 1)." in html
    assert (
        "Your payment due on Feb. 15, 2026 is late; "
        "no penalty during the 3 grace days." in html
    )
    assert f"March 15, 2026 · {yuan(second.total_due)}" in html
    assert f'<dd class="is-late">{yuan(first.total_due)}</dd>' in html


def test_list_dates_are_written_the_chinese_way_by_default(
    signed_in: Client, member: Member, staff: Staff
) -> None:
    _loan_of(member, staff)
    _closed_through(date(2026, 1, 20))

    html = signed_in.get(LOANS).content.decode()

    assert "2026年2月15日" in html


def test_detail_of_an_application_waiting_for_the_second_level(
    signed_in: Client, member: Member, staff: Staff
) -> None:
    product = ProductFactory(second_approval_above=Decimal("1000.00"))
    loan = services.loan_apply(
        member=member,
        product=product,
        principal=Decimal("1500.00"),
        term_months=3,
        by=member.user,
        on=ON,
    )
    services.loan_approve(loan=loan, by=staff.leader, comment="同意", on=ON)

    response = signed_in.get(
        reverse("pages:loan", args=[loan.pk]), HTTP_ACCEPT_LANGUAGE="en"
    )

    html = response.content.decode()
    assert "Waiting for approval (level 2 of 2)." in html
    assert "Level 1" in html
    assert "Approved" in html
    assert staff.leader.username not in html
    assert "The schedule is fixed on the day the money is paid out." in html


def test_detail_of_an_overdue_loan_counts_the_days_and_names_the_penalty(
    signed_in: Client, member: Member, staff: Staff
) -> None:
    loan = _loan_of(member, staff)
    on = _closed_through(date(2026, 2, 20))  # five days past due at the close
    assert Loan.objects.get(pk=loan.pk).state == Loan.State.OVERDUE

    response = signed_in.get(
        reverse("pages:loan", args=[loan.pk]), HTTP_ACCEPT_LANGUAGE="en"
    )

    html = response.content.decode()
    days = (on - FIRST_DUE).days
    assert f"{days} days late; a penalty of 0.05% a day is added." in html
    assert 'class="installment late"' in html
    assert "Penalty" in html
    assert 'class="badge bad"' in html


def test_detail_of_a_repaid_loan_says_so(
    signed_in: Client, member: Member, staff: Staff
) -> None:
    loan = _loan_of(member, staff)
    on = _closed_through(date(2026, 1, 20))
    owed = sum(
        (i.principal + i.interest for i in loan.installments.all()), Decimal(0)
    ) - sum((i.interest for i in loan.installments.filter(number__gt=1)), Decimal(0))
    services.repayment_post(loan=loan, amount=owed, reference="x", by=None, on=on)

    html = signed_in.get(
        reverse("pages:loan", args=[loan.pk]), HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()

    assert "Repaid in full on Jan. 21, 2026. Thank you!" in html
    assert reverse("pages:loan_repay", args=[loan.pk]) not in html


def test_another_members_loan_is_not_found(signed_in: Client, staff: Staff) -> None:
    others = active_loan(staff=staff)
    repayment = services.repayment_post(
        loan=others, amount=Decimal("10.00"), reference="x", by=None, on=ON
    )

    for url in (
        reverse("pages:loan", args=[others.pk]),
        reverse("pages:loan_repay", args=[others.pk]),
        reverse("pages:loan_repayment", args=[others.pk, repayment.pk]),
    ):
        assert signed_in.get(url).status_code == 404
    response = signed_in.post(
        reverse("pages:loan_repay", args=[others.pk]),
        {"amount": "10", "key": "4f9f3f0e-8a1b-4c55-9a57-2d2b8b1c0a11"},
    )
    assert response.status_code == 404
    assert others.repayments.count() == 1


def test_staff_without_a_member_record_have_no_loan_pages(client: Client) -> None:
    client.force_login(Staff().clerk)

    assert client.get(LOANS).status_code == 404
    assert client.get(APPLY).status_code == 404


def test_anonymous_visitor_of_the_loan_pages_is_sent_to_sign_in(
    client: Client,
) -> None:
    response = client.get(LOANS)

    assert response.status_code == 302
    assert response.url.startswith(reverse("pages:login"))


# Repaying


def test_repay_page_shows_what_is_owed_and_offers_the_late_amount(
    signed_in: Client, member: Member, staff: Staff
) -> None:
    loan = _loan_of(member, staff)
    _closed_through(date(2026, 2, 20))
    first, second, third = loan.installments.order_by("number")

    response = signed_in.get(
        reverse("pages:loan_repay", args=[loan.pk]), HTTP_ACCEPT_LANGUAGE="en"
    )

    html = response.content.decode()
    late = first.total_due
    # Paying early owes the principal left and the current month's interest.
    owed = late + second.total_due + third.principal
    assert f'<strong id="late">{yuan(late)}</strong>' in html
    assert f'<strong id="owed">{yuan(owed)}</strong>' in html
    assert f'value="{late}"' in html
    assert "Sandbox payment channel" in html
    assert re.search(r'<input type="hidden" name="key" value="[0-9a-f-]{36}"', html)


def test_repay_of_a_loan_on_track_offers_the_next_installment(
    signed_in: Client, member: Member, staff: Staff
) -> None:
    loan = _loan_of(member, staff)
    _closed_through(date(2026, 1, 20))

    form = signed_in.get(reverse("pages:loan_repay", args=[loan.pk])).context["form"]

    assert form.initial["amount"] == loan.installments.get(number=1).total_due


def test_the_same_repay_form_sent_twice_posts_once(
    signed_in: Client, member: Member, staff: Staff
) -> None:
    loan = _loan_of(member, staff)
    _closed_through(date(2026, 1, 20))
    url = reverse("pages:loan_repay", args=[loan.pk])
    key = signed_in.get(url).context["form"].initial["key"]
    sent = {"amount": "100.00", "key": str(key)}

    first = signed_in.post(url, sent)
    second = signed_in.post(url, sent, follow=True, HTTP_ACCEPT_LANGUAGE="en")

    repayment = Repayment.objects.get(loan=loan)
    receipt = reverse("pages:loan_repayment", args=[loan.pk, repayment.pk])
    assert first.status_code == 302
    assert first.url == receipt
    assert second.redirect_chain == [(receipt, 302)]
    assert repayment.amount == Decimal("100.00")
    assert repayment.reference == f"sandbox-{key}"
    assert repayment.by == member.user
    html = second.content.decode()
    assert f'<dd id="to-interest">{yuan(repayment.to_interest)}</dd>' in html
    assert f'<dd id="to-principal">{yuan(repayment.to_principal)}</dd>' in html
    assert repayment.to_interest + repayment.to_principal == Decimal("100.00")


def test_the_same_form_sent_again_with_another_amount_is_refused(
    signed_in: Client, member: Member, staff: Staff
) -> None:
    loan = _loan_of(member, staff)
    _closed_through(date(2026, 1, 20))
    url = reverse("pages:loan_repay", args=[loan.pk])
    key = str(signed_in.get(url).context["form"].initial["key"])
    signed_in.post(url, {"amount": "100.00", "key": key})

    response = signed_in.post(
        url, {"amount": "50.00", "key": key}, HTTP_ACCEPT_LANGUAGE="en"
    )

    assert response.status_code == 200
    assert "already used for another amount" in response.content.decode()
    assert response.context["form"]["key"].value() != key
    assert loan.repayments.count() == 1


def test_repaying_the_late_amount_cures_an_overdue_loan(
    signed_in: Client, member: Member, staff: Staff
) -> None:
    loan = _loan_of(member, staff)
    on = _closed_through(date(2026, 2, 20))
    url = reverse("pages:loan_repay", args=[loan.pk])
    form = signed_in.get(url).context["form"]

    response = signed_in.post(
        url,
        {"amount": str(form.initial["amount"]), "key": str(form.initial["key"])},
        follow=True,
        HTTP_ACCEPT_LANGUAGE="en",
    )

    loan.refresh_from_db()
    repayment = loan.repayments.get()
    assert loan.state == Loan.State.ACTIVE
    assert repayment.value_date == on
    assert repayment.to_penalty > 0
    html = response.content.decode()
    assert f'<dd id="to-penalty">{yuan(repayment.to_penalty)}</dd>' in html
    assert "On track: nothing is late." in html
    assert 'class="badge good"' in html


def test_paying_more_than_is_owed_shows_the_error_on_the_amount(
    signed_in: Client, member: Member, staff: Staff
) -> None:
    loan = _loan_of(member, staff)
    _closed_through(date(2026, 1, 20))
    url = reverse("pages:loan_repay", args=[loan.pk])
    key = str(signed_in.get(url).context["form"].initial["key"])

    response = signed_in.post(
        url, {"amount": "5000", "key": key}, HTTP_ACCEPT_LANGUAGE="en"
    )

    container = _error_container(response.content.decode(), "amount")
    assert "is owed today." in container
    assert not loan.repayments.exists()


# Home and assets


def test_home_links_to_my_loans_and_to_apply_when_the_member_may_borrow(
    signed_in: Client,
) -> None:
    html = signed_in.get(reverse("pages:home")).content.decode()

    assert f'href="{LOANS}"' in html
    assert f'href="{APPLY}"' in html


def test_home_offers_no_apply_link_to_a_member_who_may_not_borrow(
    client: Client,
) -> None:
    pending = MemberFactory()
    assert client.login(username=pending.phone, password=PASSWORD)

    html = client.get(reverse("pages:home")).content.decode()

    assert f'href="{LOANS}"' in html
    assert f'href="{APPLY}"' not in html


def test_loan_pages_reference_no_external_assets(
    signed_in: Client, member: Member, staff: Staff, product: Product
) -> None:
    loan = _loan_of(member, staff)
    _closed_through(date(2026, 1, 20))
    repayment = services.repayment_post(
        loan=loan,
        amount=Decimal("10.00"),
        reference="x",
        by=None,
        on=business_date_current(),
    )
    preview = signed_in.post(
        APPLY,
        {"product": product.pk, "principal": "500", "term_months": "3", "preview": 1},
    )

    pages = [
        signed_in.get(APPLY),
        preview,
        signed_in.get(LOANS),
        signed_in.get(reverse("pages:loan", args=[loan.pk])),
        signed_in.get(reverse("pages:loan_repay", args=[loan.pk])),
        signed_in.get(reverse("pages:loan_repayment", args=[loan.pk, repayment.pk])),
    ]

    for page in pages:
        assert page.status_code == 200
        assert _external_references(page.content.decode()) == []

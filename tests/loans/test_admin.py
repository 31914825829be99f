"""The loans back-office (Django admin): products, loans, money, the close."""

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib import messages
from django.contrib.auth.models import User
from django.contrib.messages import get_messages
from django.http import HttpResponse
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from config.exports import EXPORT_ACTIONS
from config.roles import ROLE_PERMISSIONS, StaffRole
from loans import services
from loans.close import close_through
from loans.models import (
    Approval,
    BusinessDay,
    JournalEntry,
    Loan,
    Product,
    WriteOffRequest,
)
from loans.selectors import business_date_current
from members.models import Branch, Member
from tests.factories import BranchFactory, staff_user
from tests.loans.factories import ON, ProductFactory, Staff, active_loan, borrower

pytestmark = pytest.mark.django_db

LOANS = reverse("admin:loans_loan_changelist")
LOAN_ADD = reverse("admin:loans_loan_add")
PRODUCT_ADD = reverse("admin:loans_product_add")

# Model admins of the loans app, by model name as used in permission codes.
ADMIN_MODELS = [
    "product",
    "loan",
    "repayment",
    "journalentry",
    "businessday",
    "writeoffrequest",
]

PRODUCT_FORM = {
    "name": "支部周转贷",
    "active": "on",
    "min_amount": "500.00",
    "max_amount": "8000.00",
    "terms": "3, 6, 12",
    "repayment_method": "equal_installment",
    "annual_rate": "0.1200",
    "penalty_daily_rate": "0.000500",
    "cost_cap": "0.2400",
    "grace_days": "3",
    "blacklist_days": "90",
    "second_approval_above": "5000.00",
}


@pytest.fixture(autouse=True)
def _english(settings: Any) -> None:
    """Pages in English, so the assertions read the source strings."""
    settings.LANGUAGE_CODE = "en"


@pytest.fixture(autouse=True)
def _trading_on_the_factories_date() -> None:
    """The day before ON is closed, so actions run on ON, not today."""
    BusinessDay.objects.create(on=ON - timedelta(days=1), closed_at=timezone.now())


@pytest.fixture
def people(branch: Branch) -> Staff:
    """One person per role; branch staff work `branch`."""
    staff = Staff()
    for user in (staff.clerk, staff.leader, staff.finance):
        branch.staff.add(user)
    return staff


@pytest.fixture
def member(branch: Branch) -> Member:
    return borrower(branch=branch)


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def applied(
    member: Member, people: Staff, product: Product | None = None, **kwargs: Any
) -> Loan:
    return services.loan_apply(
        member=member,
        product=product or ProductFactory(),
        principal=kwargs.pop("principal", Decimal("1200.00")),
        term_months=3,
        by=people.clerk,
        on=ON,
    )


def approved(member: Member, people: Staff) -> Loan:
    loan = applied(member, people)
    return services.loan_approve(loan=loan, by=people.leader, comment="同意", on=ON)


def overdue(member: Member, people: Staff) -> Loan:
    """Disbursed a month before ON without grace: late after two closes."""
    loan = active_loan(
        staff=people,
        member=member,
        product=ProductFactory(grace_days=0),
        on=ON - timedelta(days=31),
    )
    close_through(until=ON + timedelta(days=1))
    return reload(loan)


def reload(loan: Loan) -> Loan:
    return Loan.objects.get(pk=loan.pk)


def change_url(loan: Loan) -> str:
    return reverse("admin:loans_loan_change", args=[loan.pk])


def run_action(
    client: Client, action: str, loans: list[Loan], reason: str = ""
) -> HttpResponse:
    return client.post(
        LOANS,
        {
            "action": action,
            "_selected_action": [loan.pk for loan in loans],
            "reason": reason,
            "index": "0",
        },
    )


def sent(response: HttpResponse) -> list[tuple[int, str]]:
    return [(m.level, str(m)) for m in get_messages(response.wsgi_request)]


def listed(response: HttpResponse) -> set[int]:
    return {row.pk for row in response.context["cl"].result_list}


def offered(client: Client) -> set[str]:
    """The actions that change loans; exports are offered to every reader."""
    form = client.get(LOANS).context["action_form"]
    if form is None:
        return set()
    names = {name for name, _label in form.fields["action"].choices if name}
    return names - set(EXPORT_ACTIONS)


@pytest.fixture
def populated(member: Member, people: Staff) -> Loan:
    """One of everything the loans admin lists, in `branch`."""
    loan = overdue(member, people)
    services.repayment_post(
        loan=loan,
        amount=Decimal("100.00"),
        reference="pay-1",
        by=None,
        on=business_date_current(),
    )
    services.loan_write_off_request(loan=loan, by=people.risk, reason="无力偿还")
    return loan


# Who sees what


@pytest.mark.parametrize("model", ADMIN_MODELS)
def test_superuser_loads_every_changelist(
    admin_client: Client, populated: Loan, model: str
) -> None:
    response = admin_client.get(reverse(f"admin:loans_{model}_changelist"))

    assert response.status_code == 200
    assert len(response.context["cl"].result_list) >= 1


@pytest.mark.parametrize("role", list(StaffRole))
@pytest.mark.parametrize("model", ADMIN_MODELS)
def test_staff_role_loads_exactly_the_changelists_it_may_view(
    branch: Branch, populated: Loan, role: StaffRole, model: str
) -> None:
    client = signed_in(staff_user(role, branches=(branch,)))
    granted = {perm.split(".")[1] for perm in ROLE_PERMISSIONS[role]}
    may_view = f"view_{model}" in granted or f"change_{model}" in granted

    response = client.get(reverse(f"admin:loans_{model}_changelist"))

    assert response.status_code == (200 if may_view else 403)
    if may_view:
        assert len(response.context["cl"].result_list) >= 1


@pytest.mark.parametrize("role", list(StaffRole))
def test_staff_role_opens_a_loan_page_of_their_branch(
    branch: Branch, populated: Loan, role: StaffRole
) -> None:
    client = signed_in(staff_user(role, branches=(branch,)))

    response = client.get(change_url(populated))

    assert response.status_code == 200
    assert populated.number in response.content.decode()


@pytest.mark.parametrize("role", list(StaffRole))
def test_staff_role_loads_the_admin_index(branch: Branch, role: StaffRole) -> None:
    response = signed_in(staff_user(role, branches=(branch,))).get(
        reverse("admin:index")
    )

    assert response.status_code == 200


def test_branch_leader_sees_only_their_branches_loans(
    branch: Branch, other_branch: Branch, people: Staff
) -> None:
    second = BranchFactory()
    mine = {applied(borrower(branch=b), people).pk for b in (branch, second)}
    theirs = applied(borrower(branch=other_branch), people)
    client = signed_in(staff_user(StaffRole.BRANCH_LEADER, branches=(branch, second)))

    response = client.get(LOANS)
    opened = client.get(change_url(theirs))

    assert listed(response) == mine
    (branch_filter,) = [
        spec
        for spec in response.context["cl"].filter_specs
        if getattr(spec, "field_path", "") == "member__branch"
    ]
    assert {pk for pk, _name in branch_filter.lookup_choices} == {
        branch.pk,
        second.pk,
    }
    assert other_branch.name not in response.content.decode()
    assert opened.status_code == 302  # "does not exist", back to the index


def test_risk_officer_sees_every_branchs_loans(
    branch: Branch, other_branch: Branch, people: Staff
) -> None:
    loans = {
        applied(borrower(branch=branch), people).pk,
        applied(borrower(branch=other_branch), people).pk,
    }

    response = signed_in(people.risk).get(LOANS)

    assert listed(response) == loans


def test_days_past_due_filter_puts_loans_in_buckets(
    admin_client: Client, branch: Branch, people: Staff
) -> None:
    by_days = {}
    for days in (0, 1, 30, 31, 60, 61, 90, 91, 400):
        loan = applied(borrower(branch=branch), people)
        # Only the close ages loans; the filter just needs the numbers.
        Loan.objects.filter(pk=loan.pk).update(days_past_due=days)
        by_days[days] = loan.pk

    def bucket(value: str) -> set[int]:
        return listed(admin_client.get(LOANS, {"dpd": value}))

    assert bucket("0") == {by_days[0]}
    assert bucket("1-30") == {by_days[1], by_days[30]}
    assert bucket("31-60") == {by_days[31], by_days[60]}
    assert bucket("61-90") == {by_days[61], by_days[90]}
    assert bucket("90+") == {by_days[91], by_days[400]}
    assert len(listed(admin_client.get(LOANS))) == 9


def test_state_and_product_filters_narrow_the_list(
    admin_client: Client, member: Member, people: Staff
) -> None:
    waiting = applied(member, people)
    other_product = ProductFactory()
    active = active_loan(
        staff=people, member=borrower(branch=member.branch), product=other_product
    )

    by_state = admin_client.get(LOANS, {"state__exact": "active"})
    by_product = admin_client.get(LOANS, {"product__id__exact": other_product.pk})

    assert listed(by_state) == {active.pk}
    assert listed(by_product) == {active.pk}
    assert waiting.pk not in listed(by_product)


def test_search_finds_a_loan_by_number_name_or_masked_id(
    admin_client: Client, branch: Branch, people: Staff
) -> None:
    target = applied(borrower(branch=branch), people)
    other = applied(borrower(branch=branch), people)

    def found(term: str) -> set[int]:
        return listed(admin_client.get(LOANS, {"q": term})) & {target.pk, other.pk}

    assert found(target.number) == {target.pk}
    assert found(f"L{target.pk}") == {target.pk}
    assert found(target.member.real_name) == {target.pk}
    assert found(target.member.national_id_masked[-4:]) == {target.pk}


# Approval in levels


def test_maker_cannot_approve_the_application_they_keyed_in(
    member: Member, people: Staff
) -> None:
    loan = applied(member, people)

    response = run_action(signed_in(people.clerk), "approve", [loan])

    assert sent(response) == [
        (
            messages.ERROR,
            f"{loan.number}: Nobody approves a loan they applied for or keyed in.",
        )
    ]
    assert reload(loan).state == Loan.State.APPLIED
    assert not loan.approvals.exists()


def test_two_levels_approve_through_the_actions_leader_then_risk(
    member: Member, people: Staff
) -> None:
    product = ProductFactory(second_approval_above=Decimal("1000.00"))
    loan = applied(member, people, product)
    assert loan.approvals_required == 2

    first = run_action(signed_in(people.leader), "approve", [loan], "核实收入")
    assert reload(loan).state == Loan.State.APPLIED
    again = run_action(signed_in(people.leader), "approve", [loan])
    assert reload(loan).state == Loan.State.APPLIED
    second = run_action(signed_in(people.risk), "approve", [loan], "风险可控")

    assert sent(first) == [(messages.SUCCESS, "Approval signed on 1 loans.")]
    assert sent(again)[0][0] == messages.ERROR
    assert sent(second) == [(messages.SUCCESS, "Approval signed on 1 loans.")]
    loan = reload(loan)
    assert loan.state == Loan.State.APPROVED
    assert list(loan.approvals.values_list("level", "by", "comment")) == [
        (1, people.leader.pk, "核实收入"),
        (2, people.risk.pk, "风险可控"),
    ]
    assert loan.transitions.last().on == ON


def test_a_leader_cannot_sign_the_risk_level(
    branch: Branch, member: Member, people: Staff
) -> None:
    product = ProductFactory(second_approval_above=Decimal("1000.00"))
    loan = applied(member, people, product)
    run_action(signed_in(people.leader), "approve", [loan])
    other_leader = staff_user(StaffRole.BRANCH_LEADER, branches=(branch,))

    response = run_action(signed_in(other_leader), "approve", [loan])

    assert sent(response) == [
        (messages.ERROR, f"{loan.number}: You may not approve at level 2.")
    ]
    assert reload(loan).state == Loan.State.APPLIED


def test_reject_needs_a_reason(member: Member, people: Staff) -> None:
    loan = applied(member, people)

    without = run_action(signed_in(people.leader), "reject", [loan], reason="  ")
    assert reload(loan).state == Loan.State.APPLIED
    with_reason = run_action(
        signed_in(people.leader), "reject", [loan], reason="收入证明不符"
    )

    assert sent(without) == [
        (messages.ERROR, "Say in the reason box why the loans are rejected.")
    ]
    assert sent(with_reason) == [(messages.SUCCESS, "1 applications rejected.")]
    loan = reload(loan)
    assert loan.state == Loan.State.REJECTED
    rejection = loan.approvals.get()
    assert rejection.decision == Approval.Decision.REJECTED
    assert rejection.comment == "收入证明不符"


def test_each_row_is_reported_on_its_own(member: Member, people: Staff) -> None:
    ready = approved(member, people)
    waiting = applied(borrower(branch=member.branch), people)

    response = run_action(signed_in(people.finance), "disburse", [ready, waiting])

    assert sent(response) == [
        (messages.ERROR, f"{waiting.number}: Only an approved loan can be disbursed."),
        (messages.SUCCESS, "1 loans disbursed."),
    ]
    assert reload(ready).state == Loan.State.ACTIVE
    assert reload(waiting).state == Loan.State.APPLIED


# Disbursement and write-off


def test_disburse_fixes_the_schedule_from_the_business_date(
    member: Member, people: Staff
) -> None:
    loan = approved(member, people)

    response = run_action(signed_in(people.finance), "disburse", [loan])

    assert sent(response) == [(messages.SUCCESS, "1 loans disbursed.")]
    loan = reload(loan)
    assert loan.state == Loan.State.ACTIVE
    assert loan.disbursed_on == ON
    assert [i.due_date for i in loan.installments.all()] == [
        date(2026, 2, 15),
        date(2026, 3, 15),
        date(2026, 4, 15),
    ]
    assert sum(i.principal for i in loan.installments.all()) == Decimal("1200.00")
    assert loan.journal.get().kind == JournalEntry.Kind.DISBURSEMENT


def test_write_off_needs_two_different_people(member: Member, people: Staff) -> None:
    loan = overdue(member, people)
    assert loan.state == Loan.State.OVERDUE

    def finance() -> Client:
        return signed_in(people.finance)

    no_reason = run_action(finance(), "request_write_off", [loan])
    asked = run_action(finance(), "request_write_off", [loan], reason="失联三个月")
    same_person = run_action(finance(), "approve_write_off", [loan])
    assert reload(loan).state == Loan.State.OVERDUE
    second_person = run_action(signed_in(people.risk), "approve_write_off", [loan])

    assert sent(no_reason)[0][0] == messages.ERROR
    assert sent(asked)[0][0] == messages.SUCCESS
    assert sent(same_person) == [
        (
            messages.ERROR,
            f"{loan.number}: A write-off needs a second person to approve it.",
        )
    ]
    assert sent(second_person) == [(messages.SUCCESS, "1 loans written off.")]
    loan = reload(loan)
    assert loan.state == Loan.State.WRITTEN_OFF
    request = WriteOffRequest.objects.get(loan=loan)
    assert (request.requested_by, request.approved_by) == (people.finance, people.risk)


def test_write_off_of_a_loan_that_is_not_late_is_refused(
    member: Member, people: Staff
) -> None:
    loan = active_loan(staff=people, member=member)

    response = run_action(
        signed_in(people.risk), "request_write_off", [loan], reason="试试"
    )

    assert sent(response) == [
        (
            messages.ERROR,
            f"{loan.number}: Only an overdue or blacklisted loan can be written off.",
        )
    ]
    assert not WriteOffRequest.objects.exists()


# Who is offered which action


@pytest.mark.parametrize(
    ("role", "actions"),
    [
        (StaffRole.BRANCH_LEADER, {"approve", "reject"}),
        (
            StaffRole.RISK_OFFICER,
            {"approve", "reject", "request_write_off", "approve_write_off"},
        ),
        (StaffRole.COLLECTOR, set()),
        (StaffRole.FINANCE, {"disburse", "request_write_off", "approve_write_off"}),
        (StaffRole.AUDITOR, set()),
    ],
)
def test_actions_offered_follow_the_role(
    branch: Branch, role: StaffRole, actions: set[str]
) -> None:
    client = signed_in(staff_user(role, branches=(branch,)))

    assert offered(client) == actions


def test_an_action_the_role_lacks_cannot_be_posted(
    member: Member, people: Staff
) -> None:
    loan = approved(member, people)

    response = run_action(signed_in(people.leader), "disburse", [loan])

    assert sent(response) == [(messages.WARNING, "No action selected.")]
    assert reload(loan).state == Loan.State.APPROVED


# The loan's page


def test_loan_page_shows_ledger_outstanding_and_every_inline(
    admin_client: Client, member: Member, people: Staff
) -> None:
    loan = active_loan(staff=people, member=member)
    services.repayment_post(
        loan=loan, amount=Decimal("300.00"), reference="pay-7", by=None, on=ON
    )

    response = admin_client.get(change_url(loan))

    page = response.content.decode()
    assert response.status_code == 200
    summary = page.split('class="loan-outstanding"')[1].split("</table>")[0]
    # ¥300 pays the first period's interest (¥12.00) and ¥288.00 of principal.
    assert "¥912.00" in summary
    inlines = {
        formset.opts.model._meta.model_name
        for formset in response.context["inline_admin_formsets"]
    }
    assert inlines == {
        "installment",
        "repayment",
        "approval",
        "loantransition",
        "writeoffrequest",
        "journalline",
    }
    assert "2026-04-15" in page or "April 15, 2026" in page
    assert "pay-7" in page
    assert "同意" in page
    assert "Disbursement" in page
    assert 'name="_save"' not in page


def test_loan_page_offers_the_next_moves_the_user_may_make(
    member: Member, people: Staff, auditor: User
) -> None:
    loan = applied(member, people)

    leader_page = signed_in(people.leader).get(change_url(loan))
    auditor_page = signed_in(auditor).get(change_url(loan))

    assert leader_page.context["transition_buttons"] == [
        ("approve", "Approve"),
        ("reject", "Reject"),
    ]
    assert auditor_page.context["transition_buttons"] == []
    assert "Next step" not in auditor_page.content.decode()


def test_a_button_on_the_loan_page_runs_the_action_on_that_loan(
    member: Member, people: Staff
) -> None:
    loan = applied(member, people)
    other = applied(borrower(branch=member.branch), people)
    client = signed_in(people.leader)
    url = reverse("admin:loans_loan_transition", args=[loan.pk, "approve"])
    asked = client.get(url)
    assert asked.status_code == 200
    assert reload(loan).approvals.count() == 0

    response = client.post(url, {"reason": "可以"})

    assert response.status_code == 302
    assert response["Location"] == change_url(loan)
    assert reload(loan).state == Loan.State.APPROVED
    assert reload(loan).approvals.get().comment == "可以"
    assert reload(other).state == Loan.State.APPLIED
    page = client.get(change_url(reload(loan)))
    assert page.context["transition_buttons"] == []


def test_a_button_the_user_may_not_press_is_refused(
    member: Member, people: Staff
) -> None:
    loan = approved(member, people)
    url = reverse("admin:loans_loan_transition", args=[loan.pk, "disburse"])

    assert signed_in(people.leader).get(url).status_code == 403
    response = signed_in(people.leader).post(url)

    assert response.status_code == 403
    assert reload(loan).state == Loan.State.APPROVED


def test_overdue_loan_page_offers_write_off_then_its_approval(
    member: Member, people: Staff
) -> None:
    loan = overdue(member, people)
    risk = signed_in(people.risk)

    before = risk.get(change_url(loan)).context["transition_buttons"]
    services.loan_write_off_request(loan=loan, by=people.finance, reason="失联")
    after = risk.get(change_url(loan)).context["transition_buttons"]

    assert before == [("request_write_off", "Request write-off")]
    assert after == [("approve_write_off", "Approve write-off")]


# Applications keyed in by staff


def test_leader_keys_in_an_application_through_the_service(
    member: Member, people: Staff
) -> None:
    product = ProductFactory()
    client = signed_in(people.leader)
    assert client.get(LOAN_ADD).status_code == 200

    response = client.post(
        LOAN_ADD,
        {
            "member": member.pk,
            "product": product.pk,
            "principal": "1500.00",
            "term_months": "6",
        },
    )

    assert response.status_code == 302
    loan = Loan.objects.get(member=member)
    assert loan.state == Loan.State.APPLIED
    assert loan.applied_by == people.leader
    assert loan.applied_on == business_date_current() == ON
    assert loan.annual_rate == product.annual_rate


def test_member_search_of_the_application_stays_in_the_users_branches(
    member: Member, other_branch: Branch, people: Staff
) -> None:
    borrower(branch=other_branch)

    response = signed_in(people.leader).get(
        reverse("admin:autocomplete"),
        {"app_label": "loans", "model_name": "loan", "field_name": "member"},
    )

    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [str(member.pk)]


def test_application_over_the_limit_shows_a_principal_error(
    member: Member, people: Staff
) -> None:
    response = signed_in(people.leader).post(
        LOAN_ADD,
        {
            "member": member.pk,
            "product": ProductFactory().pk,
            "principal": "5000.00",
            "term_months": "6",
        },
    )

    assert response.status_code == 200
    assert "principal" in response.context["adminform"].form.errors
    assert not Loan.objects.exists()


def test_application_offers_only_members_the_user_may_see(
    member: Member, other_branch: Branch, people: Staff
) -> None:
    stranger = borrower(branch=other_branch)

    response = signed_in(people.leader).post(
        LOAN_ADD,
        {
            "member": stranger.pk,
            "product": ProductFactory().pk,
            "principal": "1000.00",
            "term_months": "6",
        },
    )

    assert "member" in response.context["adminform"].form.errors
    assert not Loan.objects.exists()


# Products


def test_product_form_turns_typed_terms_into_a_list(admin_client: Client) -> None:
    response = admin_client.post(PRODUCT_ADD, {**PRODUCT_FORM, "terms": "12，3, 6"})

    assert response.status_code == 302
    product = Product.objects.get(name="支部周转贷")
    assert product.terms == [3, 6, 12]
    page = admin_client.get(reverse("admin:loans_product_change", args=[product.pk]))
    assert 'value="3, 6, 12"' in page.content.decode()


@pytest.mark.parametrize(
    ("terms", "error"),
    [
        ("", "Offer at least one term."),
        ("3, six, 12", "Enter whole numbers of months separated by commas"),
        ("3; 6", "Enter whole numbers of months separated by commas"),
        ("0, 6", "Each term must be at least one month."),
        ("-3", "Each term must be at least one month."),
        ("3.5", "Enter whole numbers of months separated by commas"),
    ],
)
def test_product_form_rejects_bad_terms(
    admin_client: Client, terms: str, error: str
) -> None:
    response = admin_client.post(PRODUCT_ADD, {**PRODUCT_FORM, "terms": terms})

    assert response.status_code == 200
    (message,) = response.context["adminform"].form.errors["terms"]
    assert message.startswith(error)
    assert not Product.objects.exists()


def test_product_form_rejects_a_reversed_amount_range(admin_client: Client) -> None:
    response = admin_client.post(
        PRODUCT_ADD, {**PRODUCT_FORM, "min_amount": "9000.00", "max_amount": "800.00"}
    )

    errors = response.context["adminform"].form.errors
    assert list(errors) == ["max_amount"]
    assert errors["max_amount"] == [
        "The largest amount must be at least the smallest, ¥9,000.00."
    ]
    assert not Product.objects.exists()


def test_product_list_shows_rates_as_percentages(admin_client: Client) -> None:
    ProductFactory(annual_rate=Decimal("0.1250"), terms=[3, 6])

    page = admin_client.get(reverse("admin:loans_product_changelist")).content
    text = page.decode()

    assert "12.5 %" in text
    assert "24 %" in text
    assert "3, 6" in text
    assert "¥500.00 – ¥10,000.00" in text


def test_risk_officer_edits_a_product(risk_officer: User) -> None:
    product = ProductFactory()
    client = signed_in(risk_officer)

    response = client.post(
        reverse("admin:loans_product_change", args=[product.pk]),
        {**PRODUCT_FORM, "name": product.name, "terms": "6, 12"},
    )

    assert response.status_code == 302
    product.refresh_from_db()
    assert product.terms == [6, 12]
    assert product.max_amount == Decimal("8000.00")


# Read only


def test_auditor_sees_loans_read_only(
    auditor: User, member: Member, people: Staff
) -> None:
    loan = applied(member, people)
    product = loan.product
    client = signed_in(auditor)

    listing = client.get(LOANS)
    page = client.get(change_url(loan))
    action = run_action(client, "approve", [loan])
    button = client.post(
        reverse("admin:loans_loan_transition", args=[loan.pk, "approve"])
    )
    edit_product = client.post(
        reverse("admin:loans_product_change", args=[product.pk]),
        {**PRODUCT_FORM, "name": "改名"},
    )

    assert listing.status_code == 200
    assert offered(client) == set()
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert action.status_code in (200, 302)
    assert button.status_code == 403
    assert edit_product.status_code == 403
    assert client.get(LOAN_ADD).status_code == 403
    assert client.get(PRODUCT_ADD).status_code == 403
    assert reload(loan).state == Loan.State.APPLIED
    assert Product.objects.get(pk=product.pk).name == product.name


def test_nobody_edits_or_deletes_a_loan_in_the_admin(
    admin_client: Client, member: Member, people: Staff
) -> None:
    loan = applied(member, people)

    edit = admin_client.post(change_url(loan), {"principal": "1.00"})
    delete = admin_client.post(
        reverse("admin:loans_loan_delete", args=[loan.pk]), {"post": "yes"}
    )

    assert edit.status_code == 403
    assert delete.status_code == 403
    assert reload(loan).principal == Decimal("1200.00")


def test_journal_entry_page_shows_its_balanced_lines(
    admin_client: Client, member: Member, people: Staff
) -> None:
    loan = active_loan(staff=people, member=member)
    entry = loan.journal.get()

    listing = admin_client.get(reverse("admin:loans_journalentry_changelist"))
    page = admin_client.get(reverse("admin:loans_journalentry_change", args=[entry.pk]))

    assert "¥1,200.00" in listing.content.decode()
    text = page.content.decode()
    assert "Principal receivable" in text
    assert "Cash" in text


def test_business_day_page_shows_each_close_step(admin_client: Client) -> None:
    (day,) = close_through(until=ON)

    listing = admin_client.get(reverse("admin:loans_businessday_changelist"))
    page = admin_client.get(reverse("admin:loans_businessday_change", args=[day.pk]))

    assert day.pk in listed(listing)
    assert "column-seconds_taken" in listing.content.decode()
    text = page.content.decode()
    assert "loans.cob.age" in text
    assert "loans.cob.penalty" in text

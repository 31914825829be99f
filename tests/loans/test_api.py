"""The REST API for products, loans and repayments under /api/v1/."""

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from config.roles import StaffRole
from credit.models import CreditProfile
from loans import ledger
from loans.api import RepaymentSerializer
from loans.close import close_through
from loans.models import (
    Account,
    BusinessDay,
    Loan,
    Product,
    Repayment,
    WriteOffRequest,
)
from members.models import Branch, Member
from tests.factories import staff_user
from tests.loans.factories import ON, ProductFactory, Staff, active_loan, borrower

pytestmark = pytest.mark.django_db

PRODUCTS = "/api/v1/products/"
LOANS = "/api/v1/loans/"

PRODUCT_FIELDS = {
    "id",
    "name",
    "min_amount",
    "max_amount",
    "terms",
    "annual_rate",
    "repayment_method",
    "grace_days",
    "penalty_daily_rate",
    "blacklist_days",
    "second_approval_above",
    "cost_cap",
}
LIST_FIELDS = {
    "id",
    "number",
    "member",
    "product",
    "state",
    "principal",
    "annual_rate",
    "term_months",
    "repayment_method",
    "disbursed_on",
    "days_past_due",
    "outstanding_principal",
}
DETAIL_FIELDS = LIST_FIELDS | {
    "overdue_amount",
    "penalty_outstanding",
    "schedule",
    "transitions",
}
INSTALLMENT_FIELDS = {
    "number",
    "due_date",
    "principal",
    "interest",
    "penalty",
    "paid_principal",
    "paid_interest",
    "paid_penalty",
    "status",
}


def loan_url(loan: Loan | int, action: str = "") -> str:
    pk = loan if isinstance(loan, int) else loan.pk
    return f"{LOANS}{pk}/" + (f"{action}/" if action else "")


def as_user(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def ids(response: Any) -> set[int]:
    return {row["id"] for row in response.json()["results"]}


def reload(loan: Loan) -> Loan:
    return Loan.objects.get(pk=loan.pk)


def outstanding(loan: Loan) -> Decimal:
    """What the ledger says the borrower owes."""
    balance = ledger.balance_of(loan)
    return (
        balance[Account.PRINCIPAL_RECEIVABLE]
        + balance[Account.INTEREST_RECEIVABLE]
        + balance[Account.PENALTY_RECEIVABLE]
    )


def assert_ledger_agrees(loan: Loan) -> None:
    debits, credits = ledger.totals()
    assert debits == credits
    installments = list(loan.installments.all())
    assert ledger.balance_of(loan)[Account.PRINCIPAL_RECEIVABLE] == sum(
        i.principal_due for i in installments
    )


@pytest.fixture(autouse=True)
def _trading_on_the_factories_date(db: None) -> None:
    """The business date is ON, whatever today's date is."""
    BusinessDay.objects.create(on=ON - timedelta(days=1), closed_at=timezone.now())


@pytest.fixture
def clerk(branch: Branch) -> User:
    """A second leader of `branch`, who keys applications in."""
    return staff_user(StaffRole.BRANCH_LEADER, branches=(branch,))


@pytest.fixture
def finance(branch: Branch) -> User:
    return staff_user(StaffRole.FINANCE, branches=(branch,))


@pytest.fixture
def member(branch: Branch) -> Member:
    return borrower(branch=branch)


@pytest.fixture
def product() -> Product:
    return ProductFactory()


@pytest.fixture
def loan(member: Member, product: Product) -> Loan:
    """Disbursed on ON: 1,200 over three months at 1 % a month."""
    return active_loan(staff=Staff(), member=member, product=product)


def application(member: Member, product: Product, /, **changes: Any) -> dict[str, Any]:
    body = {
        "member": member.pk,
        "product": product.pk,
        "principal": "1000.00",
        "term_months": 3,
    }
    return {**body, **changes}


def applied(
    client: APIClient, member: Member, product: Product, /, **changes: Any
) -> int:
    response = client.post(LOANS, application(member, product, **changes))
    assert response.status_code == 201, response.json()
    loan_id: int = response.json()["id"]
    return loan_id


# Products


def test_products_lists_the_offered_products_with_amounts_as_strings(
    api_client: APIClient, collector: User
) -> None:
    offered = ProductFactory(name="支部周转贷", terms=[6, 3, 12])
    ProductFactory(name="已停售", active=False)
    api_client.force_authenticate(collector)

    response = api_client.get(PRODUCTS)

    assert response.status_code == 200
    body = response.json()
    assert [row["name"] for row in body] == ["支部周转贷"]
    row = body[0]
    assert set(row) == PRODUCT_FIELDS
    assert row["id"] == offered.pk
    assert row["min_amount"] == "500.00"
    assert row["max_amount"] == "10000.00"
    assert row["annual_rate"] == "0.1200"
    assert row["penalty_daily_rate"] == "0.000500"
    assert row["second_approval_above"] == "5000.00"
    assert row["cost_cap"] == "0.2400"
    assert row["repayment_method"] == "equal_installment"
    assert row["terms"] == [6, 3, 12]
    assert (row["grace_days"], row["blacklist_days"]) == (3, 90)


def test_products_are_hidden_from_a_user_without_a_role(
    api_client: APIClient,
) -> None:
    ProductFactory()
    api_client.force_authenticate(staff_user())

    assert api_client.get(PRODUCTS).status_code == 403


# Applying


def test_a_leader_applies_for_a_member_and_gets_the_applied_loan(
    leader: User, member: Member, product: Product
) -> None:
    response = as_user(leader).post(LOANS, application(member, product))

    assert response.status_code == 201
    body = response.json()
    assert set(body) == DETAIL_FIELDS
    assert body["state"] == "applied"
    assert body["member"] == member.pk
    assert body["product"] == product.pk
    assert body["principal"] == "1000.00"
    assert body["annual_rate"] == "0.1200"
    assert body["term_months"] == 3
    assert body["repayment_method"] == "equal_installment"
    assert body["disbursed_on"] is None
    assert body["number"] == f"L{body['id']:08d}"
    assert body["outstanding_principal"] == "0.00"
    assert body["schedule"] == []
    assert body["transitions"] == [
        {
            "source": "",
            "target": "applied",
            "on": ON.isoformat(),
            "by": leader.username,
            "reason": "",
        }
    ]
    loan = Loan.objects.get(pk=body["id"])
    assert (loan.applied_by, loan.applied_on) == (leader, ON)


def test_applying_for_more_than_the_available_limit_names_principal(
    leader: User, member: Member, product: Product
) -> None:
    response = as_user(leader).post(
        LOANS, application(member, product, principal="3000.00")
    )

    assert response.status_code == 400
    assert "principal" in response.json()
    assert not Loan.objects.exists()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"term_months": 5}, "term_months"),
        ({"principal": "1000.005"}, "principal"),
        ({"principal": "100.00"}, "principal"),
        ({"principal": "-5.00"}, "principal"),
        ({"product": 999999}, "product"),
        ({"member": 999999}, "member"),
    ],
)
def test_a_bad_application_names_the_field(
    leader: User,
    member: Member,
    product: Product,
    changes: dict[str, Any],
    field: str,
) -> None:
    response = as_user(leader).post(LOANS, application(member, product, **changes))

    assert response.status_code == 400
    assert field in response.json()


def test_a_leader_cannot_apply_for_a_member_of_another_branch(
    leader: User, other_branch: Branch, product: Product
) -> None:
    stranger = borrower(branch=other_branch)

    response = as_user(leader).post(LOANS, application(stranger, product))

    assert response.status_code == 400
    assert "member" in response.json()


def test_applying_for_a_product_no_longer_offered_names_product(
    leader: User, member: Member
) -> None:
    withdrawn = ProductFactory(active=False)

    response = as_user(leader).post(LOANS, application(member, withdrawn))

    assert response.status_code == 400
    assert "product" in response.json()


# Approval in levels


def test_the_person_who_keyed_an_application_cannot_approve_it(
    leader: User, member: Member, product: Product
) -> None:
    client = as_user(leader)
    loan_id = applied(client, member, product)

    response = client.post(loan_url(loan_id, "approve"), {"comment": "同意"})

    assert response.status_code == 403
    assert Loan.objects.get(pk=loan_id).state == Loan.State.APPLIED


def test_another_leader_approves_at_level_one(
    clerk: User, leader: User, member: Member, product: Product
) -> None:
    loan_id = applied(as_user(clerk), member, product)

    response = as_user(leader).post(loan_url(loan_id, "approve"), {"comment": "同意"})

    assert response.status_code == 200
    body = response.json()
    assert set(body) == DETAIL_FIELDS
    assert body["state"] == "approved"
    assert body["transitions"][-1] == {
        "source": "applied",
        "target": "approved",
        "on": ON.isoformat(),
        "by": leader.username,
        "reason": "同意",
    }


def test_a_loan_above_the_threshold_needs_a_risk_officer_at_level_two(
    clerk: User, leader: User, risk_officer: User, member: Member, product: Product
) -> None:
    CreditProfile.objects.filter(member=member).update(limit=Decimal("20000.00"))
    loan_id = applied(as_user(clerk), member, product, principal="6000.00")

    first = as_user(leader).post(loan_url(loan_id, "approve"), {"comment": "一级"})
    again = as_user(leader).post(loan_url(loan_id, "approve"), {"comment": "二级"})
    second = as_user(risk_officer).post(
        loan_url(loan_id, "approve"), {"comment": "二级"}
    )

    assert first.status_code == 200
    assert first.json()["state"] == "applied"
    assert again.status_code == 403
    assert second.status_code == 200
    assert second.json()["state"] == "approved"
    loan = Loan.objects.get(pk=loan_id)
    assert list(loan.approvals.values_list("level", "by")) == [
        (1, leader.pk),
        (2, risk_officer.pk),
    ]


def test_a_user_without_an_approval_permission_is_refused(
    clerk: User, finance: User, member: Member, product: Product
) -> None:
    loan_id = applied(as_user(clerk), member, product)

    response = as_user(finance).post(loan_url(loan_id, "approve"), {})

    assert response.status_code == 403


def test_approving_a_loan_already_disbursed_is_refused(
    leader: User, loan: Loan
) -> None:
    response = as_user(leader).post(loan_url(loan, "approve"), {})

    assert response.status_code == 400
    assert "detail" in response.json()


def test_rejecting_needs_a_reason_and_records_it(
    clerk: User, leader: User, member: Member, product: Product
) -> None:
    loan_id = applied(as_user(clerk), member, product)
    client = as_user(leader)

    refused = client.post(loan_url(loan_id, "reject"), {"reason": ""})
    rejected = client.post(loan_url(loan_id, "reject"), {"reason": "收入证明不足"})

    assert refused.status_code == 400
    assert "reason" in refused.json()
    assert rejected.status_code == 200
    assert rejected.json()["state"] == "rejected"
    assert rejected.json()["transitions"][-1]["reason"] == "收入证明不足"
    assert CreditProfile.objects.get(member=member).held == 0


def test_cancelling_an_application_needs_a_reason_and_frees_the_limit(
    leader: User, member: Member, product: Product
) -> None:
    client = as_user(leader)
    loan_id = applied(client, member, product)

    refused = client.post(loan_url(loan_id, "cancel"), {})
    cancelled = client.post(loan_url(loan_id, "cancel"), {"reason": "成员撤回申请"})

    assert refused.status_code == 400
    assert "reason" in refused.json()
    assert cancelled.status_code == 200
    assert cancelled.json()["state"] == "cancelled"
    assert CreditProfile.objects.get(member=member).held == 0


# Disbursement


def test_finance_disburses_and_the_schedule_and_ledger_appear(
    clerk: User, leader: User, finance: User, member: Member, product: Product
) -> None:
    loan_id = applied(as_user(clerk), member, product, principal="1200.00")
    as_user(leader).post(loan_url(loan_id, "approve"), {})

    response = as_user(finance).post(loan_url(loan_id, "disburse"))

    assert response.status_code == 200
    body = response.json()
    assert body["state"] == "active"
    assert body["disbursed_on"] == ON.isoformat()
    assert body["outstanding_principal"] == "1200.00"
    assert body["overdue_amount"] == "0.00"
    assert [row["due_date"] for row in body["schedule"]] == [
        "2026-02-15",
        "2026-03-15",
        "2026-04-15",
    ]
    first = body["schedule"][0]
    assert set(first) == INSTALLMENT_FIELDS
    assert (first["interest"], first["paid_principal"], first["status"]) == (
        "12.00",
        "0.00",
        "due",
    )
    assert sum(Decimal(row["principal"]) for row in body["schedule"]) == Decimal(
        "1200.00"
    )


def test_a_leader_cannot_disburse(
    clerk: User, leader: User, member: Member, product: Product
) -> None:
    loan_id = applied(as_user(clerk), member, product)
    as_user(leader).post(loan_url(loan_id, "approve"), {})

    response = as_user(leader).post(loan_url(loan_id, "disburse"))

    assert response.status_code == 403
    assert Loan.objects.get(pk=loan_id).state == Loan.State.APPROVED


# Reading a loan


def test_an_overdue_loan_shows_its_arrears_from_the_schedule_and_the_ledger(
    collector: User, loan: Loan
) -> None:
    close_through(until=date(2026, 2, 20))

    response = as_user(collector).get(loan_url(loan))

    assert response.status_code == 200
    body = response.json()
    loan = reload(loan)
    first = loan.installments.get(number=1)
    balance = ledger.balance_of(loan)
    assert body["state"] == "overdue"
    assert body["days_past_due"] == loan.days_past_due == 5
    assert body["overdue_amount"] == str(first.total_due)
    assert body["penalty_outstanding"] == str(balance[Account.PENALTY_RECEIVABLE])
    assert Decimal(body["penalty_outstanding"]) > 0
    assert body["outstanding_principal"] == "1200.00"
    assert [row["status"] for row in body["schedule"]] == ["late", "due", "due"]
    assert body["schedule"][0]["penalty"] == str(first.penalty)
    assert [row["target"] for row in body["transitions"]] == [
        "applied",
        "approved",
        "active",
        "grace",
        "overdue",
    ]
    assert body["transitions"][-1]["by"] is None


def test_a_leader_cannot_see_a_loan_of_another_branch(
    leader: User, other_branch: Branch, product: Product
) -> None:
    stranger = active_loan(
        staff=Staff(), member=borrower(branch=other_branch), product=product
    )
    client = as_user(leader)

    assert client.get(loan_url(stranger)).status_code == 404
    assert client.post(loan_url(stranger, "cancel"), {"reason": "x"}).status_code == (
        404
    )
    assert stranger.pk not in ids(client.get(LOANS))


def test_an_auditor_reads_every_loan_but_changes_none(
    auditor: User, loan: Loan, member: Member, product: Product
) -> None:
    client = as_user(auditor)

    assert client.get(loan_url(loan)).status_code == 200
    assert loan.pk in ids(client.get(LOANS))
    assert client.post(LOANS, application(member, product)).status_code == 403
    for action, body in [
        ("approve", {}),
        ("reject", {"reason": "x"}),
        ("disburse", {}),
        ("cancel", {"reason": "x"}),
        ("write-off", {"reason": "x"}),
        ("write-off/approve", {}),
        ("repayments", {"amount": "10.00"}),
    ]:
        assert client.post(loan_url(loan, action), body).status_code == 403, action
    assert not Repayment.objects.exists()


# Listing loans


def test_the_list_filters_by_state_member_and_branch(
    risk_officer: User,
    loan: Loan,
    member: Member,
    product: Product,
    clerk: User,
    other_branch: Branch,
) -> None:
    second = applied(as_user(clerk), member, product, principal="500.00")
    elsewhere = active_loan(
        staff=Staff(), member=borrower(branch=other_branch), product=product
    )
    client = as_user(risk_officer)

    everything = client.get(LOANS)
    by_state = client.get(LOANS, {"state": "applied"})
    by_member = client.get(LOANS, {"member": member.pk})
    by_branch = client.get(LOANS, {"branch": other_branch.pk})
    both = client.get(LOANS, {"branch": member.branch_id, "state": "active"})

    assert ids(everything) == {loan.pk, second, elsewhere.pk}
    assert ids(by_state) == {second}
    assert ids(by_member) == {loan.pk, second}
    assert ids(by_branch) == {elsewhere.pk}
    assert ids(both) == {loan.pk}
    assert client.get(LOANS, {"state": "nonsense"}).status_code == 400


def test_list_rows_carry_the_outstanding_principal_from_the_ledger(
    collector: User, loan: Loan
) -> None:
    as_user(staff_user(StaffRole.FINANCE, branches=(loan.member.branch,))).post(
        loan_url(loan, "repayments"), {"amount": "112.00"}
    )

    response = as_user(collector).get(LOANS)

    assert response.status_code == 200
    [row] = response.json()["results"]
    assert set(row) == LIST_FIELDS
    assert row["outstanding_principal"] == "1100.00"


def test_the_list_runs_the_same_queries_whatever_the_page_size(
    risk_officer: User, product: Product
) -> None:
    member = borrower()
    CreditProfile.objects.filter(member=member).update(limit=Decimal("100000.00"))
    staff = Staff()
    for _ in range(21):
        active_loan(staff=staff, member=member, product=product, principal=Decimal(600))
    client = as_user(risk_officer)
    client.get(LOANS, {"page_size": 1})  # Warms caches that are not per request.

    with CaptureQueriesContext(connection) as small:
        small_page = client.get(LOANS, {"page_size": 2})
    with CaptureQueriesContext(connection) as large:
        large_page = client.get(LOANS, {"page_size": 20})

    assert len(small_page.json()["results"]) == 2
    assert len(large_page.json()["results"]) == 20
    assert len(large) == len(small)
    assert {row["outstanding_principal"] for row in large_page.json()["results"]} == {
        "600.00"
    }


# Write-off


def test_a_write_off_needs_a_second_person(
    risk_officer: User, finance: User, loan: Loan
) -> None:
    close_through(until=date(2026, 2, 20))

    asked = as_user(risk_officer).post(
        loan_url(loan, "write-off"), {"reason": "失联超过六十天"}
    )
    same_person = as_user(risk_officer).post(loan_url(loan, "write-off/approve"))
    approved = as_user(finance).post(loan_url(loan, "write-off/approve"))

    assert asked.status_code == 201
    assert asked.json()["reason"] == "失联超过六十天"
    assert asked.json()["requested_by"] == risk_officer.username
    assert asked.json()["approved_by"] is None
    assert same_person.status_code == 403
    assert approved.status_code == 200
    body = approved.json()
    assert body["state"] == "written_off"
    assert body["outstanding_principal"] == "0.00"
    assert body["penalty_outstanding"] == "0.00"
    request = WriteOffRequest.objects.get(loan=loan)
    assert request.approved_by == finance


def test_writing_off_an_active_loan_or_without_a_reason_is_refused(
    risk_officer: User, loan: Loan
) -> None:
    client = as_user(risk_officer)

    no_reason = client.post(loan_url(loan, "write-off"), {"reason": ""})
    too_early = client.post(loan_url(loan, "write-off"), {"reason": "坏账"})

    assert no_reason.status_code == 400
    assert "reason" in no_reason.json()
    assert too_early.status_code == 400
    assert not WriteOffRequest.objects.exists()


def test_a_leader_cannot_write_off(leader: User, loan: Loan) -> None:
    close_through(until=date(2026, 2, 20))

    response = as_user(leader).post(loan_url(loan, "write-off"), {"reason": "坏账"})

    assert response.status_code == 403


# Repayments


def test_a_repayment_pays_interest_then_principal(finance: User, loan: Loan) -> None:
    before = outstanding(loan)

    response = as_user(finance).post(
        loan_url(loan, "repayments"), {"amount": "100.00", "reference": "WX-1"}
    )

    assert response.status_code == 201
    body = response.json()
    repayment = Repayment.objects.get()
    assert body == {
        "id": repayment.pk,
        "amount": "100.00",
        "allocation": {"penalty": "0.00", "interest": "12.00", "principal": "88.00"},
        "loan_state": "active",
    }
    assert repayment.value_date == ON
    assert repayment.reference == "WX-1"
    assert repayment.by == finance
    assert before - outstanding(loan) == Decimal("88.00")
    assert_ledger_agrees(loan)


@pytest.mark.parametrize("amount", ["0.01", "12.00", "100.00", "1212.00"])
def test_the_written_out_answer_is_what_the_declared_fields_render(
    finance: User, loan: Loan, amount: str
) -> None:
    as_user(finance).post(loan_url(loan, "repayments"), {"amount": amount})
    repayment = Repayment.objects.get()

    written = RepaymentSerializer(repayment).data
    declared = super(RepaymentSerializer, RepaymentSerializer(repayment))

    assert written == declared.to_representation(repayment)


def test_paying_everything_owed_repays_the_loan(finance: User, loan: Loan) -> None:
    response = as_user(finance).post(
        loan_url(loan, "repayments"), {"amount": "1212.00"}
    )

    assert response.status_code == 201
    assert response.json()["loan_state"] == "repaid"
    assert reload(loan).state == Loan.State.REPAID
    assert outstanding(loan) == 0


def test_paying_more_than_is_owed_names_amount(finance: User, loan: Loan) -> None:
    response = as_user(finance).post(
        loan_url(loan, "repayments"), {"amount": "1212.01"}
    )

    assert response.status_code == 400
    assert "amount" in response.json()
    assert not Repayment.objects.exists()


@pytest.mark.parametrize("amount", ["10.001", "0", "0.00", "-5.00", "", "十元"])
def test_an_amount_that_is_not_money_names_amount(
    finance: User, loan: Loan, amount: str
) -> None:
    response = as_user(finance).post(loan_url(loan, "repayments"), {"amount": amount})

    assert response.status_code == 400
    assert "amount" in response.json()
    assert not Repayment.objects.exists()


def test_the_same_key_and_body_answer_the_first_repayment_again(
    finance: User, loan: Loan
) -> None:
    client = as_user(finance)
    body = {"amount": "50.00", "reference": "WX-7"}
    url = loan_url(loan, "repayments")

    first = client.post(url, body, HTTP_IDEMPOTENCY_KEY="pay-7")
    after_first = outstanding(loan)
    again = client.post(url, body, HTTP_IDEMPOTENCY_KEY="pay-7")

    assert first.status_code == 201
    assert again.status_code in (200, 201)
    assert again.json() == first.json()
    assert Repayment.objects.count() == 1
    assert outstanding(loan) == after_first
    assert_ledger_agrees(loan)


def test_a_replay_answers_as_the_first_post_did_after_the_loan_moved_on(
    finance: User, loan: Loan
) -> None:
    client = as_user(finance)
    url = loan_url(loan, "repayments")
    first = client.post(url, {"amount": "12.00"}, HTTP_IDEMPOTENCY_KEY="part")
    client.post(url, {"amount": "1200.00"}, HTTP_IDEMPOTENCY_KEY="rest")
    assert reload(loan).state == Loan.State.REPAID

    again = client.post(url, {"amount": "12.00"}, HTTP_IDEMPOTENCY_KEY="part")

    assert again.json() == first.json()
    assert again.json()["loan_state"] == "active"


def test_the_same_key_with_another_body_is_refused_with_409(
    finance: User, loan: Loan
) -> None:
    client = as_user(finance)
    url = loan_url(loan, "repayments")
    client.post(url, {"amount": "50.00"}, HTTP_IDEMPOTENCY_KEY="pay-8")
    after_first = outstanding(loan)

    other_amount = client.post(url, {"amount": "60.00"}, HTTP_IDEMPOTENCY_KEY="pay-8")
    other_reference = client.post(
        url, {"amount": "50.00", "reference": "x"}, HTTP_IDEMPOTENCY_KEY="pay-8"
    )

    assert other_amount.status_code == 409
    assert other_reference.status_code == 409
    assert Repayment.objects.count() == 1
    assert outstanding(loan) == after_first


def test_the_same_key_on_another_loan_is_refused_with_409(
    finance: User, loan: Loan, member: Member, product: Product
) -> None:
    CreditProfile.objects.filter(member=member).update(limit=Decimal("5000.00"))
    other = active_loan(staff=Staff(), member=member, product=product)
    client = as_user(finance)
    client.post(
        loan_url(loan, "repayments"), {"amount": "50.00"}, HTTP_IDEMPOTENCY_KEY="k"
    )

    response = client.post(
        loan_url(other, "repayments"), {"amount": "50.00"}, HTTP_IDEMPOTENCY_KEY="k"
    )

    assert response.status_code == 409
    assert not other.repayments.exists()


def test_an_idempotency_key_longer_than_a_hundred_characters_is_refused(
    finance: User, loan: Loan
) -> None:
    response = as_user(finance).post(
        loan_url(loan, "repayments"),
        {"amount": "50.00"},
        HTTP_IDEMPOTENCY_KEY="k" * 101,
    )

    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()


def test_posts_without_a_key_are_separate_repayments(finance: User, loan: Loan) -> None:
    client = as_user(finance)
    url = loan_url(loan, "repayments")

    client.post(url, {"amount": "20.00"})
    client.post(url, {"amount": "20.00"})

    assert Repayment.objects.count() == 2


def test_a_leader_cannot_post_a_repayment(leader: User, loan: Loan) -> None:
    response = as_user(leader).post(loan_url(loan, "repayments"), {"amount": "50.00"})

    assert response.status_code == 403
    assert not Repayment.objects.exists()


# The schema


def test_the_schema_documents_the_loan_endpoints(api_client: APIClient) -> None:
    response = api_client.get(
        "/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json"
    )

    assert response.status_code == 200
    schema = response.json()
    paths = schema["paths"]
    for path in (
        "/api/v1/products/",
        "/api/v1/loans/",
        "/api/v1/loans/{id}/",
        "/api/v1/loans/{id}/approve/",
        "/api/v1/loans/{id}/reject/",
        "/api/v1/loans/{id}/disburse/",
        "/api/v1/loans/{id}/cancel/",
        "/api/v1/loans/{id}/write-off/",
        "/api/v1/loans/{id}/write-off/approve/",
        "/api/v1/loans/{id}/repayments/",
    ):
        assert path in paths, path
    repay = paths["/api/v1/loans/{id}/repayments/"]["post"]
    headers = [p["name"] for p in repay["parameters"] if p["in"] == "header"]
    assert headers == ["Idempotency-Key"]
    assert {"201", "400", "409"} <= set(repay["responses"])
    components = schema["components"]["schemas"]
    assert set(components["LoanDetail"]["properties"]) == DETAIL_FIELDS
    assert set(components["Repayment"]["properties"]) == {
        "id",
        "amount",
        "allocation",
        "loan_state",
    }
    assert "post" in paths["/api/v1/loans/"]

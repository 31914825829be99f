"""Who may read one borrower's loan and member record, through the API and
the borrower's pages. Denied by default: anyone without a reason to see the
objects gets 404 for them, as if they did not exist."""

from collections.abc import Callable

import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.test import Client
from django.urls import reverse

from config.roles import StaffRole
from loans.models import Loan
from members.models import Branch
from tests.factories import BranchFactory, staff_user
from tests.loans.factories import Staff, active_loan, borrower

pytestmark = pytest.mark.django_db

ANON = "anonymous"
Role = Callable[[Loan], User | AnonymousUser]

ROLES: dict[str, Role] = {
    ANON: lambda loan: AnonymousUser(),
    "borrower": lambda loan: loan.member.user,
    "another borrower": lambda loan: borrower(branch=loan.member.branch).user,
    "leader of another branch": lambda loan: staff_user(
        StaffRole.BRANCH_LEADER, branches=(BranchFactory(),)
    ),
    "collector of the branch": lambda loan: staff_user(
        StaffRole.COLLECTOR, branches=(loan.member.branch,)
    ),
    "collector of another branch": lambda loan: staff_user(
        StaffRole.COLLECTOR, branches=(BranchFactory(),)
    ),
    "finance of the branch": lambda loan: staff_user(
        StaffRole.FINANCE, branches=(loan.member.branch,)
    ),
    "auditor": lambda loan: staff_user(StaffRole.AUDITOR),
    "risk officer": lambda loan: staff_user(StaffRole.RISK_OFFICER),
}

# Expected answers: (API loan, API member, borrower's loan page).
EXPECTED = {
    ANON: (401, 401, 302),
    "borrower": (403, 403, 200),
    "another borrower": (403, 403, 404),
    "leader of another branch": (404, 404, 404),
    "collector of the branch": (200, 200, 404),
    "collector of another branch": (404, 404, 404),
    "finance of the branch": (200, 200, 404),
    "auditor": (200, 200, 404),
    "risk officer": (200, 200, 404),
}


@pytest.mark.parametrize("role", list(ROLES))
def test_each_role_reads_a_loan_and_its_member_only_where_it_should(
    role: str, branch: Branch
) -> None:
    loan = active_loan(staff=Staff(), member=borrower(branch=branch))
    client = Client()
    user = ROLES[role](loan)
    if user.is_authenticated:
        client.force_login(user)

    answers = (
        client.get(f"/api/v1/loans/{loan.pk}/").status_code,
        client.get(f"/api/v1/members/{loan.member_id}/").status_code,
        client.get(reverse("pages:loan", args=[loan.pk])).status_code,
    )

    assert answers == EXPECTED[role]

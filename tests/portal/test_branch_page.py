"""The borrower's "my branch" page: the branch in aggregate and the member's
own guarantees, never another member's loans, amounts or lateness."""

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext

from loans.close import close_through
from loans.models import Loan
from loans.selectors import branch_standing
from members import services as members
from members.models import Branch, Member
from tests.factories import BranchFactory, MemberFactory
from tests.loans.factories import ProductFactory, Staff, active_loan, borrower

pytestmark = pytest.mark.django_db

BRANCH = reverse("pages:branch")
# Loans disbursed on 15 January fall due on 15 February; closing through
# 20 March leaves them 33 days past due. A loan made on the next business
# day, 21 March, is current.
AGED = date(2026, 3, 20)
LATER = date(2026, 3, 21)


def zh(text: str) -> str:
    with translation.override("zh-hans"):
        return gettext(text)


def tie(guarantor: Member, borrower: Member, amount: str) -> None:
    members.guarantor_tie_create(
        guarantor=guarantor,
        borrower=borrower,
        amount=Decimal(amount),
        consented_at=timezone.make_aware(datetime(2026, 2, 3, 10)),
        consent_evidence="担保书 0001",
        by=None,
    )


@dataclass
class Book:
    me: Member
    mine: Loan
    leader: Member
    late: Member
    late_loan: Loan
    stranger: Member
    stranger_loan: Loan


@pytest.fixture
def book(branch: Branch, other_branch: Branch) -> Book:
    """My branch: a leader, me (current loan), a late borrower and a friend
    tied to me; another branch with its own late borrower."""
    staff, product = Staff(), ProductFactory()
    leader = borrower(branch=branch, real_name="王支书")
    members.member_set_branch_role(
        member=leader, role=Member.BranchRole.LEADER, by=None
    )
    late = borrower(branch=branch, real_name="欠款人")
    late_loan = active_loan(
        staff=staff, member=late, product=product, principal=Decimal("1500.00")
    )
    stranger = borrower(branch=other_branch, real_name="外支部人")
    stranger_loan = active_loan(
        staff=staff, member=stranger, product=product, principal=Decimal("1700.00")
    )
    close_through(until=AGED)

    me = borrower(branch=branch, real_name="我自己")
    mine = active_loan(
        staff=staff,
        member=me,
        product=product,
        principal=Decimal("1000.00"),
        on=LATER,
    )
    friend = borrower(branch=branch, real_name="好朋友")
    tie(me, friend, "300.00")
    tie(friend, me, "500.00")
    return Book(
        me=me,
        mine=mine,
        leader=leader,
        late=late,
        late_loan=late_loan,
        stranger=stranger,
        stranger_loan=stranger_loan,
    )


def page_of(member: Member) -> str:
    client = Client()
    client.force_login(member.user)
    response = client.get(BRANCH)
    assert response.status_code == 200
    return response.content.decode()


def test_the_standing_counts_members_borrowing_and_behind(
    branch: Branch, book: Book
) -> None:
    standing = branch_standing(branch=branch)

    assert standing.members == 4
    assert standing.borrowing == 2
    assert standing.behind == 1
    assert standing.current_share == Decimal("0.5000")
    # 1,500 of the 2,500 the branch still owes in principal is 33 days late.
    assert standing.late_30_share == Decimal("0.6000")


def test_the_page_shows_the_branch_in_aggregate(branch: Branch, book: Book) -> None:
    leader = book.leader

    html = page_of(book.me)

    assert branch.name in html
    assert re.search(r'id="branch-members">4<', html)
    assert re.search(r'id="standing-borrowing">2<', html)
    assert re.search(r'id="standing-current">1 \(50%\)<', html)
    assert re.search(r'id="standing-late">[^<]*60%', html)
    assert f"{leader.real_name} · {leader.phone_masked}" in html
    assert leader.phone not in html
    # My own ties, both ways, with the amounts I agreed to.
    assert "好朋友" in html
    assert "¥300.00" in html
    assert "¥500.00" in html


def test_a_borrower_never_sees_another_members_loan_or_lateness(
    book: Book,
) -> None:
    late, late_loan = book.late, book.late_loan

    html = page_of(book.me)

    assert late.real_name not in html
    assert late.phone_masked not in html
    assert late.national_id_masked not in html
    assert late_loan.number not in html
    assert "1,500" not in html
    assert "1500" not in html
    # Nor my own loan's figures: this page is about the branch.
    assert book.mine.number not in html


def test_another_branchs_members_and_loans_are_absent(
    other_branch: Branch, book: Book
) -> None:
    stranger, stranger_loan = book.stranger, book.stranger_loan

    html = page_of(book.me)

    assert other_branch.name not in html
    assert stranger.real_name not in html
    assert stranger_loan.number not in html
    assert "1,700" not in html


def test_a_paused_branch_says_lending_is_paused_without_the_staff_reason(
    branch: Branch,
) -> None:
    me = borrower(branch=branch)
    members.branch_pause(branch=branch, reason="成员某某违约，暂停放款")

    html = page_of(me)

    assert zh("Lending paused") in html
    assert "成员某某" not in html


def test_a_branch_where_everyone_repays_says_so(branch: Branch) -> None:
    me = borrower(branch=branch)
    active_loan(staff=Staff(), member=me)

    with translation.override("en"):
        client = Client(headers={"accept-language": "en"})
        client.force_login(me.user)
        html = client.get(BRANCH).content.decode()

    assert "Every member who is borrowing is repaying on time." in html
    assert re.search(r'id="standing-current">1 \(100%\)<', html)


def test_the_page_is_in_chinese_by_default(branch: Branch) -> None:
    html = page_of(borrower(branch=branch))

    assert 'lang="zh-hans"' in html
    assert zh("My account") in html
    assert zh("Region") in html


def test_home_links_to_the_branch_page(branch: Branch) -> None:
    client = Client()
    client.force_login(borrower(branch=branch).user)

    html = client.get(reverse("pages:home")).content.decode()

    assert f'href="{BRANCH}"' in html


def test_anyone_signed_out_is_sent_to_sign_in(client: Client) -> None:
    response = client.get(BRANCH)

    assert response.status_code == 302
    assert response.url.startswith(reverse("pages:login"))


def test_staff_without_a_member_record_get_not_found(
    client: Client, leader: object
) -> None:
    client.force_login(leader)  # type: ignore[arg-type]

    assert client.get(BRANCH).status_code == 404


def queries_for(member: Member) -> int:
    client = Client()
    client.force_login(member.user)
    with CaptureQueriesContext(connection) as captured:
        assert client.get(BRANCH).status_code == 200
    return len(captured)


def test_the_query_count_does_not_grow_with_the_branch() -> None:
    small = BranchFactory()
    me = MemberFactory(branch=small, kyc=Member.KycStatus.VERIFIED)
    few = queries_for(me)
    # Session, user, member, three figures, leader and the two tie lists.
    assert few == 9

    large = BranchFactory()
    staff, product = Staff(), ProductFactory()
    me = borrower(branch=large)
    for n in range(6):
        other = borrower(branch=large)
        active_loan(staff=staff, member=other, product=product)
        tie(other, me, f"{100 + n}.00")
        tie(me, other, f"{200 + n}.00")

    assert queries_for(me) == few

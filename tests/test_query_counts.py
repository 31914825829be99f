"""Every list costs a fixed number of queries, however many rows it shows.

One book is built for the whole module: a small branch of a few borrowers
whose loans fell behind first, and a large branch of many borrowers
disbursed later, each with the rows the lists show (schedules, repayments,
journal entries, transitions, cases, contacts, messages, hardship plans,
consents, guarantor ties, emergency contacts, bureau reports, scores).
A staff user working only one branch sees the small or the large book
through the same code, so for every list of the API, the admin and the
borrower pages the two counts must be equal. Lists of the whole book
(products, stress runs, the risk dashboards) are read before and after
rows are added, or on the day the small book closed and the day the large
one did; a loan's pages before and after its history grows.
"""

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from collection import services as collection
from collection.models import (
    Cause,
    CollectionCase,
    Contact,
    ContactConsent,
    Message,
    Purpose,
)
from config.roles import StaffRole
from credit import services as credit
from credit.selectors import policy_in_force
from integrations import services as integrations
from loans import services as loans
from loans.close import close_through
from loans.models import JournalLine, Loan, LoanTransition
from loans.selectors import business_date_current, payable
from members import services as members
from members.events import EventKind
from members.models import BlacklistEntry, Branch, EmergencyContact, Member
from risk import services as risk
from risk.models import StressScenario
from tests.factories import BranchFactory, MemberFactory, mobile, staff_user
from tests.loans.factories import ON, ProductFactory, Staff, active_loan, borrower

SMALL = 3
LARGE = 12
FIRST_DUE = ON + timedelta(days=31)
# The small book's first close: 31 days past its first due date, so its
# cases have reached the late stage of the ladder.
SMALL_CLOSED = FIRST_DUE + timedelta(days=31)
# The large book is disbursed the day after, and closed as far behind.
LARGE_DISBURSED = SMALL_CLOSED + timedelta(days=1)
LARGE_CLOSED = LARGE_DISBURSED + timedelta(days=62)
PASSWORD = "borrower-pass-2026"

_keys = itertools.count(1)


def _at(day: date, hour: int = 10) -> datetime:
    return timezone.make_aware(datetime(day.year, day.month, day.day, hour))


@dataclass
class Book:
    small: Branch
    large: Branch
    staff: Staff
    # Staff who work only the small or only the large branch.
    small_viewer: User
    large_viewer: User
    # A borrower with a short history and one with a long one.
    few_loans: Member
    many_loans: Member


def _viewer(branch: Branch) -> User:
    """Staff who may read every list of the project but work one branch."""
    user = staff_user(branches=(branch,))
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label__in=[
                "members",
                "credit",
                "loans",
                "collection",
                "risk",
                "integrations",
            ],
            codename__startswith="view_",
        ).exclude(codename="view_all_branches")
    )
    return user


def _borrowers(branch: Branch, count: int, *, on: date, staff: Staff) -> None:
    """`count` borrowers of `branch` with a loan each, and the rows around
    them: a guarantor tie, an emergency contact, a consent, a bureau report
    that disagrees with them (so a flag), and every other loan repaid once."""
    product = ProductFactory()
    previous: Member | None = None
    for n in range(count):
        member = credit.member_verify_kyc_and_score(
            member=_member(branch), by=None, on=on
        )
        loan = active_loan(staff=staff, member=member, product=product, on=on)
        if n % 2 == 0:
            loans.repayment_post(
                loan=loan,
                amount=Decimal("100.00"),
                reference=f"bank-{next(_keys)}",
                by=staff.finance,
                on=on,
            )
        if previous is not None:
            members.guarantor_tie_create(
                guarantor=previous,
                borrower=member,
                amount=Decimal("500.00"),
                consented_at=_at(on),
                consent_evidence="担保书",
                by=None,
            )
        members.emergency_contact_add(
            member=member,
            name="联系人",
            relationship=EmergencyContact.Relationship.SPOUSE,
            phone=mobile(),
            consented_at=_at(on),
            consent_evidence="登记表",
        )
        collection.consent_give(
            member=member,
            kind=ContactConsent.Kind.LEADER,
            evidence="登记表",
            at=_at(on),
        )
        credit.bureau_report_receive(
            member=member,
            source="人行征信",
            reported_on=on,
            reported_name="别的名字",
            reported_national_id=member.national_id,
            monthly_income=Decimal("5000.00"),
            external_overdue_count=1,
            external_debt=Decimal("800.00"),
            inquiries_90d=2,
            raw={},
            by=None,
            on=on,
        )
        if n % 3 == 0:
            # An application waiting for its approvals.
            loans.loan_apply(
                member=credit.member_verify_kyc_and_score(
                    member=_member(branch), by=None, on=on
                ),
                product=product,
                principal=Decimal("800.00"),
                term_months=3,
                by=staff.clerk,
                on=on,
            )
        previous = member


def _member(branch: Branch) -> Member:
    return MemberFactory(branch=branch)


def _work_cases(branch: Branch, *, on: date, staff: Staff) -> None:
    """A contact on every open case of `branch`, a plan asked for on half."""
    collector = staff_user(StaffRole.COLLECTOR, branches=(branch,))
    cases = CollectionCase.objects.filter(loan__member__branch=branch)
    for n, case in enumerate(cases.select_related("loan")):
        collection.contact_record(
            case=case,
            channel=Contact.Channel.CALL,
            outcome=Contact.Outcome.NO_ANSWER,
            by=collector,
            at=_at(on, 11),
        )
        if n % 2 == 1:
            loans.loan_write_off_request(
                loan=case.loan, by=staff.risk, reason="无力偿还"
            )
        if n % 2 == 0:
            collection.hardship_request(
                loan=case.loan,
                cause=Cause.ACCIDENT_ILLNESS,
                installments=6,
                note="住院",
                by=collector,
                on=on,
            )


def _history(member: Member, count: int, *, staff: Staff, on: date) -> None:
    """`count` loans of `member`, all but the last repaid, and as many
    messages sent to their inbox."""
    product = ProductFactory(min_amount=Decimal("100.00"))
    for n in range(count):
        loan = active_loan(
            staff=staff,
            member=member,
            product=product,
            principal=Decimal("300.00"),
            on=on,
        )
        if n < count - 1:
            owed = sum(row.total for row in payable(list(loan.installments.all()), on))
            loans.repayment_post(
                loan=loan,
                amount=owed,
                reference=f"bank-{next(_keys)}",
                by=staff.finance,
                on=on,
            )
        Message.objects.create(
            member=member,
            loan=loan,
            purpose=Purpose.REMINDER_DUE,
            audience=Message.Audience.BORROWER,
            channel=Message.Channel.INBOX,
            body="请按时还款。",
            dedupe_key=f"test-query-counts:{next(_keys)}",
            scheduled_for=_at(on),
            status=Message.Status.SENT,
            sent_at=_at(on),
        )


def _blacklist_some(branch: Branch, *, on: date, staff: Staff) -> None:
    """Staff blacklist every other borrower of `branch` not yet blacklisted."""
    candidates = Member.objects.filter(
        branch=branch, status=Member.Status.ACTIVE, loans__isnull=False
    ).distinct()
    for member in list(candidates)[::2]:
        credit.member_blacklist_and_zero_limit(
            member=member,
            on=on,
            by=staff.risk,
            source=BlacklistEntry.Source.STAFF,
            reason="恶意拖欠",
            source_reference="",
        )


@pytest.fixture(scope="module")
def book(django_db_setup: Any, django_db_blocker: Any) -> Iterator[Book]:
    """The book, built once and rolled back after the module's tests."""
    from config.celery import app

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    with django_db_blocker.unblock(), transaction.atomic():
        staff = Staff()
        small, large = BranchFactory(), BranchFactory()
        _borrowers(small, SMALL, on=ON, staff=staff)
        few = borrower(branch=small)
        _history(few, SMALL, staff=staff, on=ON)
        close_through(until=SMALL_CLOSED)
        _work_cases(small, on=SMALL_CLOSED + timedelta(days=1), staff=staff)

        _borrowers(large, LARGE, on=LARGE_DISBURSED, staff=staff)
        many = credit.member_verify_kyc_and_score(
            member=_member(large), by=None, on=LARGE_DISBURSED
        )
        _history(many, LARGE, staff=staff, on=LARGE_DISBURSED)
        close_through(until=LARGE_CLOSED)
        _work_cases(large, on=LARGE_CLOSED + timedelta(days=1), staff=staff)
        _blacklist_some(large, on=LARGE_CLOSED + timedelta(days=1), staff=staff)

        yield Book(small, large, staff, _viewer(small), _viewer(large), few, many)
        transaction.set_rollback(True)
    app.conf.task_always_eager = eager


# Measuring --------------------------------------------------------------------


@dataclass(frozen=True)
class Read:
    queries: int
    rows: int


def _rows(response: Any) -> int:
    """How many rows the list held: the admin's result count, the API's
    count, or the length of the page's list."""
    context = getattr(response, "context", None) or {}
    if "cl" in context:
        return int(context["cl"].result_count)
    if response.get("Content-Type", "").startswith("application/json"):
        data = response.json()
        if isinstance(data, list):
            return len(data)
        return int(data["count"]) if "count" in data else len(data["by_branch"])
    for name in ("statuses", "inbox", "table"):
        if name in context:
            shown = context[name]
            return len(shown.rows) if hasattr(shown, "rows") else len(shown)
    raise AssertionError("no list found in the response")


def read(user: User, url: str, *, rows: bool = True) -> Read:
    client = Client()
    client.force_login(user)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    shown = _rows(response) if rows else 0
    return Read(len(captured.captured_queries), shown)


def assert_same_cost(few: Read, many: Read) -> None:
    assert 0 < few.rows < many.rows, f"rows: {few.rows} then {many.rows}"
    assert few.queries == many.queries, (
        f"{few.queries} queries for {few.rows} rows, {many.queries} for {many.rows}"
    )


def _admin(model: str) -> str:
    return reverse(f"admin:{model.replace('.', '_')}_changelist")


# Lists of one branch: the same code reads the small and the large book -------

BRANCH_LISTS = {
    # The REST API
    "api members": "/api/v1/members/",
    "api loans": "/api/v1/loans/",
    "api loans repaid": "/api/v1/loans/?state=repaid",
    "api collection cases": "/api/v1/collection-cases/",
    "api messages": "/api/v1/messages/",
    "api hardship requests": "/api/v1/hardship-requests/",
    "api alerts": "/api/v1/risk/alerts/",
    # The admin
    "admin members": _admin("members.member"),
    "admin blacklist entries": _admin("members.blacklistentry"),
    "admin guarantor ties": _admin("members.guarantortie"),
    "admin emergency contacts": _admin("members.emergencycontact"),
    "admin credit profiles": _admin("credit.creditprofile"),
    "admin credit scores": _admin("credit.creditscore"),
    "admin limit changes": _admin("credit.limitchange"),
    "admin repayment events": _admin("credit.repaymentevent"),
    "admin bureau reports": _admin("credit.bureaureport"),
    "admin credit flags": _admin("credit.creditflag"),
    "admin loans": _admin("loans.loan"),
    "admin applications": _admin("loans.loan") + "?state__exact=applied",
    "admin loans current": _admin("loans.loan") + "?dpd=0",
    "admin installments": _admin("loans.installment"),
    "admin installments late": _admin("loans.installment") + "?due=late",
    "admin repayments": _admin("loans.repayment"),
    "admin journal entries": _admin("loans.journalentry"),
    "admin write-off requests": _admin("loans.writeoffrequest"),
    "admin collection cases": _admin("collection.collectioncase"),
    "admin mediations": _admin("collection.mediation"),
    "admin legal referrals": _admin("collection.legalreferral"),
    "admin hardship requests": _admin("collection.hardshiprequest"),
    "admin messages": _admin("collection.message"),
    "admin contact consents": _admin("collection.contactconsent"),
    "admin alerts": _admin("risk.alert"),
}


@pytest.mark.parametrize("url", BRANCH_LISTS.values(), ids=BRANCH_LISTS.keys())
def test_a_branch_list_costs_the_same_queries_for_few_and_many_rows(
    book: Book, db: None, url: str
) -> None:
    assert_same_cost(read(book.small_viewer, url), read(book.large_viewer, url))


# The borrower's own lists -----------------------------------------------------

BORROWER_PAGES = {
    "borrower loans": reverse("pages:loans"),
    "borrower messages": reverse("pages:messages"),
}


@pytest.mark.parametrize("url", BORROWER_PAGES.values(), ids=BORROWER_PAGES.keys())
def test_a_borrower_page_costs_the_same_queries_for_few_and_many_rows(
    book: Book, db: None, url: str
) -> None:
    few = read(_user_of(book.few_loans), url)
    many = read(_user_of(book.many_loans), url)
    assert_same_cost(few, many)


def _user_of(member: Member) -> User:
    assert member.user is not None
    return member.user


# Pages of one loan, with its schedule, payments, moves and journal inside -----


def _loan_pages(loan: Loan) -> dict[str, str]:
    case = CollectionCase.objects.get(loan=loan)
    return {
        "admin loan": reverse("admin:loans_loan_change", args=[loan.pk]),
        "admin member": reverse("admin:members_member_change", args=[loan.member_id]),
        "admin case": reverse("admin:collection_collectioncase_change", args=[case.pk]),
        "api loan": f"/api/v1/loans/{loan.pk}/",
        "api case": f"/api/v1/collection-cases/{case.pk}/",
        "borrower loan": reverse("pages:loan", args=[loan.pk]),
    }


def _history_rows(loan: Loan) -> int:
    return (
        JournalLine.objects.filter(loan=loan).count()
        + LoanTransition.objects.filter(loan=loan).count()
        + Contact.objects.filter(case__loan=loan).count()
    )


def _reader(book: Book, page: str, loan: Loan) -> User:
    if page.startswith("borrower"):
        return _user_of(loan.member)
    return book.staff.risk


LOAN_PAGES = [
    "admin loan",
    "admin member",
    "admin case",
    "api loan",
    "api case",
    "borrower loan",
]


@pytest.mark.parametrize("page", LOAN_PAGES)
def test_a_loan_page_costs_the_same_queries_as_its_history_grows(
    book: Book, db: None, page: str
) -> None:
    loan = _case_loan(book.large)
    user, url = _reader(book, page, loan), _loan_pages(loan)[page]
    # The first read may fill caches (content types, the lifting rule's row).
    read(user, url, rows=False)
    rows = _history_rows(loan)
    first = read(user, url, rows=False)

    _more_history(book, loan)
    then = read(user, url, rows=False)

    assert _history_rows(loan) > rows
    assert first.queries == then.queries, f"{first.queries} then {then.queries}"


def _more_history(book: Book, loan: Loan) -> None:
    """Payments by finance, calls by a collector, contacts by the borrower:
    rows each with a person, which a page could look up one by one."""
    on = business_date_current()
    case = CollectionCase.objects.get(loan=loan)
    collector = staff_user(StaffRole.COLLECTOR, branches=(loan.member.branch,))
    for hour in (10, 11, 12):
        loans.repayment_post(
            loan=loan,
            amount=Decimal("1.00"),
            reference=f"bank-{next(_keys)}",
            by=book.staff.finance,
            on=on,
        )
        collection.contact_record(
            case=case,
            channel=Contact.Channel.CALL,
            outcome=Contact.Outcome.NO_ANSWER,
            by=collector,
            at=_at(on, hour),
        )
        members.emergency_contact_add(
            member=loan.member,
            name="联系人",
            relationship=EmergencyContact.Relationship.SIBLING,
            phone=mobile(),
            consented_at=_at(on),
            consent_evidence="登记表",
        )


def _case_loan(branch: Branch) -> Loan:
    loan = (
        Loan.objects.filter(member__branch=branch, collection_cases__isnull=False)
        .exclude(member__user__isnull=True)
        .order_by("pk")
        .first()
    )
    assert loan is not None
    return loan


# Lists of the whole book: read, add rows, read again --------------------------


def _products(book: Book) -> None:
    ProductFactory.create_batch(5)


def _policies(book: Book) -> None:
    for _n in range(3):
        credit.scoring_policy_draft(base=policy_in_force(), by=book.staff.risk)


def _scenarios(book: Book) -> None:
    for _n in range(5):
        StressScenario.objects.create(name=f"情景{next(_keys)}", simulations=200)


def _stress_runs(book: Book) -> None:
    scenario = StressScenario.objects.create(name=f"加压{next(_keys)}", simulations=200)
    for _n in range(3):
        risk.stress_test_run(scenario=scenario, by=book.staff.risk, as_of=LARGE_CLOSED)


def _endpoints(book: Book) -> None:
    for _n in range(5):
        integrations.endpoint_create(
            url=f"https://partner{next(_keys)}.example.com/hooks",
            event_types=[EventKind.REPAYMENT_POSTED],
            owner=book.staff.risk,
        )


def _deliveries(book: Book) -> None:
    _endpoints(book)
    integrations.events_record(
        kind=EventKind.REPAYMENT_POSTED,
        payloads=[{"loan": n} for n in range(3)],
        on=LARGE_CLOSED,
    )


def _branches(book: Book) -> None:
    BranchFactory.create_batch(5)


def _business_days(book: Book) -> None:
    close_through(until=business_date_current() + timedelta(days=2))


BOOK_LISTS: dict[str, tuple[str, Callable[[Book], None]]] = {
    "api branches": ("/api/v1/branches/", _branches),
    "api products": ("/api/v1/products/", _products),
    "api stress tests": ("/api/v1/risk/stress-tests/", _stress_runs),
    "api webhook endpoints": ("/api/v1/webhook-endpoints/", _endpoints),
    "admin branches": (_admin("members.branch"), _branches),
    "admin products": (_admin("loans.product"), _products),
    "admin scoring policies": (_admin("credit.scoringpolicy"), _policies),
    "admin business days": (_admin("loans.businessday"), _business_days),
    "admin snapshots": (_admin("risk.snapshot"), _business_days),
    "admin stress scenarios": (_admin("risk.stressscenario"), _scenarios),
    "admin stress runs": (_admin("risk.stressrun"), _stress_runs),
    "admin webhook endpoints": (_admin("integrations.endpoint"), _endpoints),
    "admin webhook deliveries": (_admin("integrations.delivery"), _deliveries),
    "risk stress runs": (reverse("risk:stress"), _stress_runs),
}


@pytest.mark.parametrize(("url", "grow"), BOOK_LISTS.values(), ids=BOOK_LISTS.keys())
def test_a_whole_book_list_costs_the_same_queries_as_it_grows(
    book: Book, db: None, url: str, grow: Callable[[Book], None]
) -> None:
    user = _superuser()
    # Some rows first, so that rows, not their absence, are compared.
    grow(book)
    few = read(user, url)
    grow(book)
    assert_same_cost(few, read(user, url))


def _superuser() -> User:
    return User.objects.create_superuser(
        username=f"root{next(_keys)}", password="root-pass-2026"
    )


# The risk dashboards: the day the small book closed, and the day the large
# one did (more branches, loans, days of history, cases and alerts).

DASHBOARDS = {
    "risk morning": reverse("risk:morning"),
    "risk vintages": reverse("risk:vintages"),
    "risk outcomes": reverse("risk:outcomes"),
    "api portfolio": "/api/v1/risk/portfolio/",
}


@pytest.mark.parametrize("url", DASHBOARDS.values(), ids=DASHBOARDS.keys())
def test_a_dashboard_costs_the_same_queries_on_a_small_and_a_large_day(
    book: Book, db: None, url: str
) -> None:
    few = read(book.staff.risk, f"{url}?date={SMALL_CLOSED}")
    many = read(book.staff.risk, f"{url}?date={LARGE_CLOSED}")
    assert_same_cost(few, many)

"""The loan services: applying, approving, disbursing, repaying, writing off."""

from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError

from config.roles import StaffRole
from credit import services as credit
from credit.models import CreditFlag, CreditProfile
from loans import ledger, services
from loans.close import close_through
from loans.models import (
    Account,
    Approval,
    Installment,
    JournalEntry,
    JournalLine,
    Loan,
    LoanTransition,
    Product,
    Repayment,
)
from loans.selectors import business_date_current, payable
from members import services as member_services
from members.models import BlacklistEntry, Member
from tests.factories import MemberFactory, staff_user
from tests.loans.factories import ON, ProductFactory, Staff, active_loan, borrower

pytestmark = pytest.mark.django_db

# 1,200 over 3 months at 12 %, disbursed on ON (see test_schedule.py).
FIRST_DUE = date(2026, 2, 15)
FIRST = (Decimal("396.03"), Decimal("12.00"))
SECOND = (Decimal("399.99"), Decimal("8.04"))
THIRD = (Decimal("403.98"), Decimal("4.04"))


@pytest.fixture
def staff() -> Staff:
    return Staff()


@pytest.fixture
def product() -> Product:
    return ProductFactory()


def _reload(loan: Loan) -> Loan:
    return Loan.objects.get(pk=loan.pk)


def _profile(member: Member) -> CreditProfile:
    return CreditProfile.objects.get(member=member)


def _apply(
    staff: Staff,
    *,
    member: Member | None = None,
    product: Product | None = None,
    principal: str = "1200.00",
    term_months: int = 3,
) -> Loan:
    return services.loan_apply(
        member=member or borrower(),
        product=product or ProductFactory(),
        principal=Decimal(principal),
        term_months=term_months,
        by=staff.clerk,
        on=ON,
    )


def _installments(loan: Loan) -> list[Installment]:
    return list(Installment.objects.filter(loan=loan).order_by("number"))


def _paid(loan: Loan) -> list[tuple[Decimal, Decimal, Decimal]]:
    return [
        (i.paid_penalty, i.paid_interest, i.paid_principal) for i in _installments(loan)
    ]


def _pay(loan: Loan, amount: Decimal | str, on: date, **kwargs: str) -> Repayment:
    return services.repayment_post(
        loan=loan,
        amount=Decimal(amount),
        reference=kwargs.pop("reference", "bank-1"),
        by=None,
        on=on,
        **kwargs,
    )


def _owed(loan: Loan, on: date) -> Decimal:
    return sum((row.total for row in payable(_installments(loan), on)), Decimal(0))


def _late_loan(staff: Staff, until: date, **product: object) -> Loan:
    """A 1,200 loan disbursed on ON, aged by real closes through `until`."""
    loan = active_loan(staff=staff, product=ProductFactory(**product))
    close_through(until=until)
    return _reload(loan)


def _lines(entry: JournalEntry) -> list[tuple[str, Decimal, Decimal]]:
    return [(line.account, line.debit, line.credit) for line in entry.lines.all()]


def _state_snapshot(loan: Loan) -> tuple[object, ...]:
    return (
        _reload(loan).state,
        _paid(loan),
        Repayment.objects.filter(loan=loan).count(),
        JournalLine.objects.filter(loan=loan).count(),
    )


# Applying ---------------------------------------------------------------------


@pytest.mark.parametrize("principal", ["499.99", "10000.01"])
def test_an_amount_outside_the_products_range_is_refused_on_principal(
    staff: Staff, principal: str
) -> None:
    member = borrower()

    with pytest.raises(ValidationError) as error:
        _apply(staff, member=member, principal=principal)

    assert set(error.value.message_dict) == {"principal"}
    assert not Loan.objects.exists()
    assert _profile(member).held == 0


def test_a_term_the_product_does_not_offer_is_refused_on_term_months(
    staff: Staff,
) -> None:
    with pytest.raises(ValidationError) as error:
        _apply(staff, term_months=4)

    assert set(error.value.message_dict) == {"term_months"}
    assert not Loan.objects.exists()


def test_a_product_no_longer_offered_is_refused_on_product(staff: Staff) -> None:
    with pytest.raises(ValidationError) as error:
        _apply(staff, product=ProductFactory(active=False))

    assert set(error.value.message_dict) == {"product"}
    assert not Loan.objects.exists()


def test_an_amount_over_the_available_limit_is_refused_on_principal(
    staff: Staff,
) -> None:
    member = borrower()

    with pytest.raises(ValidationError) as error:
        _apply(staff, member=member, principal="2000.01")

    assert set(error.value.message_dict) == {"principal"}
    assert not Loan.objects.exists()
    assert _profile(member).held == 0


def _blacklisted() -> Member:
    member = borrower()
    credit.member_blacklist_and_zero_limit(
        member=member,
        reason="欺诈",
        source=BlacklistEntry.Source.FRAUD,
        on=ON,
        by=None,
    )
    return member


def _unverified() -> Member:
    return MemberFactory()


def _in_a_paused_branch() -> Member:
    member = borrower()
    member_services.branch_pause(branch=member.branch, reason="风险预警")
    return member


def _frozen() -> Member:
    member = borrower()
    CreditProfile.objects.filter(member=member).update(
        frozen=True, frozen_reason="逾期"
    )
    return member


def _with_an_open_bureau_flag() -> Member:
    member = borrower()
    credit.bureau_report_receive(
        member=member,
        source="人行征信",
        reported_on=ON,
        reported_name=member.real_name,
        reported_national_id=member.national_id,
        monthly_income=Decimal("5000.00"),
        external_overdue_count=2,
        external_debt=Decimal("3000.00"),
        inquiries_90d=1,
        raw={},
        by=None,
        on=ON,
    )
    assert CreditFlag.objects.filter(
        member=member, status=CreditFlag.Status.OPEN
    ).exists()
    return member


@pytest.mark.parametrize(
    ("make_member", "code"),
    [
        (_blacklisted, "cannot_borrow"),
        (_unverified, "cannot_borrow"),
        (_in_a_paused_branch, "cannot_borrow"),
        (_frozen, "frozen"),
        (_with_an_open_bureau_flag, "open_flag"),
    ],
)
def test_a_member_who_may_not_borrow_is_refused_and_nothing_is_created(
    staff: Staff, make_member: Callable[[], Member], code: str
) -> None:
    member = make_member()

    with pytest.raises(ValidationError) as error:
        _apply(staff, member=member, principal="1000.00")

    assert code in [e.code for e in error.value.error_list]
    assert not Loan.objects.exists()
    assert not LoanTransition.objects.exists()
    assert not CreditProfile.objects.filter(member=member, held__gt=0).exists()


def test_an_application_holds_its_amount_against_the_available_limit(
    staff: Staff,
) -> None:
    member = borrower()
    assert _profile(member).available == Decimal("2000.00")

    loan = _apply(staff, member=member, principal="1200.00")

    assert loan.state == Loan.State.APPLIED
    profile = _profile(member)
    assert profile.held == Decimal("1200.00")
    assert profile.available == Decimal("800.00")
    with pytest.raises(ValidationError) as error:
        _apply(staff, member=member, principal="800.01")
    assert set(error.value.message_dict) == {"principal"}


# Approving --------------------------------------------------------------------


def _big_application(staff: Staff) -> Loan:
    member = borrower()
    CreditProfile.objects.filter(member=member).update(limit=Decimal("9000.00"))
    loan = _apply(staff, member=member, principal="6000.00", term_months=6)
    assert loan.approvals_required == 2
    return loan


def test_a_loan_at_the_threshold_needs_one_approval(staff: Staff) -> None:
    member = borrower()
    CreditProfile.objects.filter(member=member).update(limit=Decimal("9000.00"))
    loan = _apply(staff, member=member, principal="5000.00")

    services.loan_approve(loan=loan, by=staff.leader, comment="同意", on=ON)

    assert loan.approvals_required == 1
    assert _reload(loan).state == Loan.State.APPROVED


def test_a_loan_above_the_threshold_is_approved_in_two_levels_by_two_people(
    staff: Staff,
) -> None:
    loan = _big_application(staff)

    services.loan_approve(loan=loan, by=staff.leader, comment="支部同意", on=ON)
    assert _reload(loan).state == Loan.State.APPLIED
    services.loan_approve(loan=loan, by=staff.risk, comment="风控同意", on=ON)

    assert _reload(loan).state == Loan.State.APPROVED
    assert list(loan.approvals.values_list("level", "decision", "by", "comment")) == [
        (1, Approval.Decision.APPROVED, staff.leader.pk, "支部同意"),
        (2, Approval.Decision.APPROVED, staff.risk.pk, "风控同意"),
    ]
    move = loan.transitions.get(target=Loan.State.APPROVED)
    assert (move.source, move.by_id, move.on) == ("applied", staff.risk.pk, ON)


def test_the_second_level_needs_the_level_two_permission(staff: Staff) -> None:
    loan = _big_application(staff)
    services.loan_approve(loan=loan, by=staff.leader, comment="同意", on=ON)
    another_leader = staff_user(StaffRole.BRANCH_LEADER)
    assert not another_leader.has_perm("loans.approve_level2")

    with pytest.raises(PermissionDenied):
        services.loan_approve(loan=loan, by=another_leader, comment="", on=ON)

    assert _reload(loan).state == Loan.State.APPLIED
    assert loan.approvals.count() == 1


def test_one_person_cannot_sign_both_approval_levels(staff: Staff) -> None:
    loan = _big_application(staff)
    services.loan_approve(loan=loan, by=staff.risk, comment="同意", on=ON)

    with pytest.raises(PermissionDenied):
        services.loan_approve(loan=loan, by=staff.risk, comment="同意", on=ON)

    assert _reload(loan).state == Loan.State.APPLIED
    assert loan.approvals.count() == 1


def test_the_person_who_keyed_the_application_cannot_approve_it(
    staff: Staff,
) -> None:
    loan = _apply(staff)
    assert staff.clerk.has_perm("loans.approve_level1")

    with pytest.raises(PermissionDenied):
        services.loan_approve(loan=loan, by=staff.clerk, comment="", on=ON)

    assert _reload(loan).state == Loan.State.APPLIED
    assert not loan.approvals.exists()


def test_the_borrower_cannot_approve_their_own_loan(staff: Staff) -> None:
    member = borrower()
    # Even a borrower who is also a branch leader.
    member.user.groups.add(Group.objects.get(name=StaffRole.BRANCH_LEADER.value))
    loan = _apply(staff, member=member)

    with pytest.raises(PermissionDenied):
        services.loan_approve(loan=loan, by=member.user, comment="", on=ON)
    with pytest.raises(PermissionDenied):
        services.loan_reject(loan=loan, by=member.user, reason="不要了", on=ON)

    assert _reload(loan).state == Loan.State.APPLIED
    assert not loan.approvals.exists()


def test_someone_without_an_approval_permission_cannot_approve(
    staff: Staff,
) -> None:
    loan = _apply(staff)

    with pytest.raises(PermissionDenied):
        services.loan_approve(loan=loan, by=staff.finance, comment="", on=ON)

    assert _reload(loan).state == Loan.State.APPLIED


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_rejection_needs_a_reason(staff: Staff, reason: str) -> None:
    loan = _apply(staff)

    with pytest.raises(ValidationError) as error:
        services.loan_reject(loan=loan, by=staff.leader, reason=reason, on=ON)

    assert set(error.value.message_dict) == {"reason"}
    assert _reload(loan).state == Loan.State.APPLIED


def test_a_rejection_records_the_reason_and_releases_the_hold(staff: Staff) -> None:
    loan = _apply(staff)
    assert _profile(loan.member).held == Decimal("1200.00")

    services.loan_reject(loan=loan, by=staff.leader, reason="收入不足", on=ON)

    assert _reload(loan).state == Loan.State.REJECTED
    assert _profile(loan.member).held == 0
    decision = loan.approvals.get()
    assert (decision.decision, decision.by, decision.comment) == (
        Approval.Decision.REJECTED,
        staff.leader,
        "收入不足",
    )
    assert loan.transitions.get(target=Loan.State.REJECTED).reason == "收入不足"


@pytest.mark.parametrize("approve_first", [False, True])
def test_cancelling_a_loan_not_yet_disbursed_releases_the_hold(
    staff: Staff, approve_first: bool
) -> None:
    loan = _apply(staff)
    if approve_first:
        services.loan_approve(loan=loan, by=staff.leader, comment="同意", on=ON)

    services.loan_cancel(loan=loan, by=None, reason="会员撤回", on=ON)

    assert _reload(loan).state == Loan.State.CANCELLED
    profile = _profile(loan.member)
    assert (profile.held, profile.open_principal) == (0, 0)
    assert profile.available == Decimal("2000.00")


def test_a_disbursed_loan_cannot_be_cancelled(staff: Staff) -> None:
    loan = active_loan(staff=staff)

    with pytest.raises(ValidationError) as error:
        services.loan_cancel(loan=loan, by=None, reason="", on=ON)

    assert error.value.code == "invalid_state"
    assert _reload(loan).state == Loan.State.ACTIVE


# Disbursing -------------------------------------------------------------------


def test_disbursement_posts_the_ledger_and_fixes_the_schedule_from_its_date(
    staff: Staff,
) -> None:
    loan = _apply(staff)
    services.loan_approve(loan=loan, by=staff.leader, comment="同意", on=ON)
    paid_out_on = date(2026, 1, 20)

    loan = services.loan_disburse(loan=loan, by=staff.finance, on=paid_out_on)

    assert (loan.state, loan.disbursed_on) == (Loan.State.ACTIVE, paid_out_on)
    assert [
        (i.number, i.due_date, i.principal, i.interest) for i in _installments(loan)
    ] == [
        (1, date(2026, 2, 20), *FIRST),
        (2, date(2026, 3, 20), *SECOND),
        (3, date(2026, 4, 20), *THIRD),
    ]
    entry = JournalEntry.objects.get(loan=loan)
    assert (entry.kind, entry.on) == (JournalEntry.Kind.DISBURSEMENT, paid_out_on)
    assert _lines(entry) == [
        (Account.PRINCIPAL_RECEIVABLE, Decimal("1200.00"), Decimal("0.00")),
        (Account.CASH, Decimal("0.00"), Decimal("1200.00")),
    ]
    profile = _profile(loan.member)
    assert (profile.held, profile.open_principal) == (0, Decimal("1200.00"))
    assert loan.transitions.get(target=Loan.State.ACTIVE).by == staff.finance


def test_only_an_approved_loan_is_disbursed(staff: Staff) -> None:
    loan = _apply(staff)

    with pytest.raises(ValidationError) as error:
        services.loan_disburse(loan=loan, by=staff.finance, on=ON)

    assert error.value.code == "invalid_state"
    assert not JournalEntry.objects.filter(loan=loan).exists()
    assert not Installment.objects.filter(loan=loan).exists()


# Repaying ---------------------------------------------------------------------


def test_a_repayment_pays_penalty_then_interest_then_principal_oldest_first(
    staff: Staff,
) -> None:
    # Both the first and second installments are late and carry penalty.
    loan = _late_loan(staff, date(2026, 3, 20))
    on = business_date_current()
    first, second, _third = _installments(loan)
    assert loan.state == Loan.State.OVERDUE
    assert first.penalty > Decimal("0.10")
    assert second.penalty > 0

    some_penalty = _pay(loan, first.penalty - Decimal("0.10"), on)
    into_principal = _pay(loan, Decimal("0.10") + FIRST[1] + Decimal("50.00"), on)

    assert (some_penalty.to_penalty, some_penalty.to_interest) == (
        first.penalty - Decimal("0.10"),
        0,
    )
    assert some_penalty.to_principal == 0
    assert (
        into_principal.to_penalty,
        into_principal.to_interest,
        into_principal.to_principal,
    ) == (Decimal("0.10"), FIRST[1], Decimal("50.00"))
    assert _paid(loan) == [
        (first.penalty, FIRST[1], Decimal("50.00")),
        (0, 0, 0),
        (0, 0, 0),
    ]

    rest_of_first = FIRST[0] - Decimal("50.00")
    into_second = _pay(
        loan, rest_of_first + second.penalty + SECOND[1] + Decimal("10.00"), on
    )

    assert (
        into_second.to_penalty,
        into_second.to_interest,
        into_second.to_principal,
    ) == (second.penalty, SECOND[1], rest_of_first + Decimal("10.00"))
    assert _paid(loan) == [
        (first.penalty, FIRST[1], FIRST[0]),
        (second.penalty, SECOND[1], Decimal("10.00")),
        (0, 0, 0),
    ]
    assert _installments(loan)[0].paid_on == on
    # Arrears remain on the second installment.
    assert _reload(loan).state == Loan.State.OVERDUE


def test_a_repayment_is_posted_against_the_receivables(staff: Staff) -> None:
    loan = _late_loan(staff, date(2026, 2, 25))
    first = _installments(loan)[0]
    amount = first.total_due

    repayment = _pay(loan, amount, business_date_current())

    entry = JournalEntry.objects.get(kind=JournalEntry.Kind.REPAYMENT, loan=loan)
    assert entry.on == repayment.value_date == date(2026, 2, 26)
    assert _lines(entry) == [
        (Account.CASH, amount, Decimal("0.00")),
        (Account.PENALTY_RECEIVABLE, Decimal("0.00"), first.penalty),
        (Account.INTEREST_RECEIVABLE, Decimal("0.00"), FIRST[1]),
        (Account.PRINCIPAL_RECEIVABLE, Decimal("0.00"), FIRST[0]),
    ]


def test_an_amount_above_what_is_owed_is_refused_and_changes_nothing(
    staff: Staff,
) -> None:
    loan = active_loan(staff=staff)
    on = date(2026, 1, 25)
    # All principal, and only the current period's interest.
    owed = Decimal("1200.00") + FIRST[1]
    assert _owed(loan, on) == owed
    before = _state_snapshot(loan)

    with pytest.raises(ValidationError) as error:
        _pay(loan, owed + Decimal("0.01"), on)

    assert set(error.value.message_dict) == {"amount"}
    assert _state_snapshot(loan) == before


@pytest.mark.parametrize("amount", ["10.005", "0.001", "0", "0.00", "-5.00"])
def test_an_amount_that_is_not_whole_fen_above_zero_is_refused(
    staff: Staff, amount: str
) -> None:
    loan = active_loan(staff=staff)
    before = _state_snapshot(loan)

    with pytest.raises(ValidationError) as error:
        _pay(loan, amount, date(2026, 1, 25))

    assert set(error.value.message_dict) == {"amount"}
    assert _state_snapshot(loan) == before


def test_paying_early_pays_the_current_period_but_not_later_interest(
    staff: Staff,
) -> None:
    loan = active_loan(staff=staff)
    on = date(2026, 1, 25)

    repayment = _pay(loan, sum(FIRST) + Decimal("100.00"), on)

    assert (repayment.to_interest, repayment.to_principal) == (
        FIRST[1],
        FIRST[0] + Decimal("100.00"),
    )
    assert _paid(loan) == [
        (0, FIRST[1], FIRST[0]),
        (0, 0, Decimal("100.00")),
        (0, 0, 0),
    ]
    assert [i.interest for i in _installments(loan)] == [FIRST[1], SECOND[1], THIRD[1]]
    assert _reload(loan).state == Loan.State.ACTIVE
    # Interest not yet fallen due is income at once, not a receivable.
    balance = ledger.balance_of(loan)
    assert balance[Account.INTEREST_INCOME] == -FIRST[1]
    assert balance[Account.INTEREST_RECEIVABLE] == 0

    close_through(until=FIRST_DUE)

    assert _reload(loan).state == Loan.State.ACTIVE
    assert not JournalEntry.objects.filter(
        loan=loan, kind=JournalEntry.Kind.INTEREST_DUE
    ).exists()
    assert ledger.balance_of(loan)[Account.INTEREST_INCOME] == -FIRST[1]


def test_repaying_everything_early_repays_the_loan_and_waives_later_interest(
    staff: Staff,
) -> None:
    loan = active_loan(staff=staff)
    on = date(2026, 1, 25)

    repayment = _pay(loan, Decimal("1212.00"), on)

    loan = _reload(loan)
    assert (loan.state, loan.closed_on) == (Loan.State.REPAID, on)
    assert (repayment.to_interest, repayment.to_principal) == (
        FIRST[1],
        Decimal("1200.00"),
    )
    assert [(i.interest, i.paid_on) for i in _installments(loan)] == [
        (FIRST[1], on),
        (Decimal("0.00"), on),
        (Decimal("0.00"), on),
    ]
    balance = ledger.balance_of(loan)
    assert balance[Account.PRINCIPAL_RECEIVABLE] == 0
    assert balance[Account.INTEREST_RECEIVABLE] == 0
    assert balance[Account.PENALTY_RECEIVABLE] == 0
    assert balance[Account.CASH] == FIRST[1]
    assert _profile(loan.member).open_principal == 0


def test_a_repaid_loan_takes_no_more_repayments(staff: Staff) -> None:
    loan = active_loan(staff=staff)
    _pay(loan, Decimal("1212.00"), date(2026, 1, 25))

    with pytest.raises(ValidationError) as error:
        _pay(loan, Decimal("1.00"), date(2026, 1, 26))

    assert error.value.code == "invalid_state"


@pytest.mark.parametrize(
    ("until", "state"),
    [(date(2026, 2, 17), Loan.State.GRACE), (date(2026, 2, 25), Loan.State.OVERDUE)],
)
def test_paying_the_arrears_cures_a_late_loan_at_once(
    staff: Staff, until: date, state: Loan.State
) -> None:
    loan = _late_loan(staff, until)
    assert loan.state == state
    on = business_date_current()
    arrears = _installments(loan)[0].total_due

    _pay(loan, arrears - Decimal("0.01"), on)
    assert _reload(loan).state == state
    _pay(loan, Decimal("0.01"), on)

    loan = _reload(loan)
    assert (loan.state, loan.days_past_due) == (Loan.State.ACTIVE, 0)
    cure = loan.transitions.last()
    assert cure is not None
    assert (cure.source, cure.target, cure.on) == (state, Loan.State.ACTIVE, on)
    assert cure.reason


def test_a_blacklisted_loan_stays_blacklisted_until_repaid_in_full(
    staff: Staff,
) -> None:
    loan = _late_loan(staff, date(2026, 2, 26), blacklist_days=10)
    assert loan.state == Loan.State.BLACKLISTED
    on = business_date_current()

    _pay(loan, _installments(loan)[0].total_due, on)
    assert _reload(loan).state == Loan.State.BLACKLISTED
    _pay(loan, _owed(loan, on), on)

    loan = _reload(loan)
    assert (loan.state, loan.closed_on) == (Loan.State.REPAID, on)
    assert all(i.total_due == 0 for i in _installments(loan))
    # The member's own blacklisting is lifted by its own rules, not here.
    assert loan.member.status == Member.Status.BLACKLISTED
    assert _profile(loan.member).frozen is True


# Idempotency ------------------------------------------------------------------


def test_the_same_key_and_request_return_the_first_repayment(staff: Staff) -> None:
    loan = active_loan(staff=staff)
    on = date(2026, 1, 25)

    first = _pay(loan, "100.00", on, idempotency_key="pay-7f3a")
    again = _pay(loan, "100.00", on, idempotency_key="pay-7f3a")

    assert again.pk == first.pk
    assert Repayment.objects.filter(loan=loan).count() == 1
    assert JournalEntry.objects.filter(kind=JournalEntry.Kind.REPAYMENT).count() == 1
    assert _paid(loan)[0] == (0, FIRST[1], Decimal("88.00"))


@pytest.mark.parametrize(
    ("amount", "reference"), [("100.01", "bank-1"), ("100.00", "bank-2")]
)
def test_the_same_key_with_another_request_is_a_conflict(
    staff: Staff, amount: str, reference: str
) -> None:
    loan = active_loan(staff=staff)
    on = date(2026, 1, 25)
    _pay(loan, "100.00", on, idempotency_key="pay-7f3a")
    before = _state_snapshot(loan)

    with pytest.raises(services.IdempotencyConflict):
        _pay(loan, amount, on, idempotency_key="pay-7f3a", reference=reference)

    assert _state_snapshot(loan) == before


# Writing off ------------------------------------------------------------------


def test_an_active_loan_cannot_be_written_off(staff: Staff) -> None:
    loan = active_loan(staff=staff)

    with pytest.raises(ValidationError) as error:
        services.loan_write_off_request(loan=loan, by=staff.risk, reason="无法联系")

    assert error.value.code == "invalid_state"


def test_a_write_off_request_needs_a_reason(staff: Staff) -> None:
    loan = _late_loan(staff, date(2026, 2, 25))

    with pytest.raises(ValidationError) as error:
        services.loan_write_off_request(loan=loan, by=staff.risk, reason=" ")

    assert set(error.value.message_dict) == {"reason"}


def test_a_write_off_needs_a_second_person(staff: Staff) -> None:
    loan = _late_loan(staff, date(2026, 2, 25))
    services.loan_write_off_request(loan=loan, by=staff.risk, reason="无法联系")

    with pytest.raises(PermissionDenied):
        services.loan_write_off_approve(loan=loan, by=staff.risk, on=ON)

    assert _reload(loan).state == Loan.State.OVERDUE
    assert not JournalEntry.objects.filter(
        loan=loan, kind=JournalEntry.Kind.WRITE_OFF
    ).exists()


@pytest.mark.parametrize(
    ("until", "state"),
    [
        (date(2026, 2, 25), Loan.State.OVERDUE),
        (date(2026, 2, 26), Loan.State.BLACKLISTED),
    ],
)
def test_writing_off_moves_the_receivables_to_write_off_expense(
    staff: Staff, until: date, state: Loan.State
) -> None:
    loan = _late_loan(staff, until, blacklist_days=10)
    assert loan.state == state
    on = business_date_current()
    before = ledger.balance_of(loan)
    owed = (
        before[Account.PRINCIPAL_RECEIVABLE]
        + before[Account.INTEREST_RECEIVABLE]
        + before[Account.PENALTY_RECEIVABLE]
    )
    assert before[Account.PENALTY_RECEIVABLE] > 0
    services.loan_write_off_request(loan=loan, by=staff.risk, reason="无法联系")

    services.loan_write_off_approve(loan=loan, by=staff.finance, on=on)

    loan = _reload(loan)
    assert (loan.state, loan.closed_on) == (Loan.State.WRITTEN_OFF, on)
    after = ledger.balance_of(loan)
    assert after[Account.PRINCIPAL_RECEIVABLE] == 0
    assert after[Account.INTEREST_RECEIVABLE] == 0
    assert after[Account.PENALTY_RECEIVABLE] == 0
    # All principal, the first installment's interest and the penalty.
    assert owed == Decimal("1212.00") + before[Account.PENALTY_RECEIVABLE]
    assert after[Account.WRITE_OFF_EXPENSE] == owed
    move = loan.transitions.last()
    assert move is not None
    assert (move.source, move.by) == (state, staff.finance)


def test_a_repayment_after_write_off_is_a_recovery_capped_by_the_loss(
    staff: Staff,
) -> None:
    loan = _late_loan(staff, date(2026, 2, 25))
    on = business_date_current()
    services.loan_write_off_request(loan=loan, by=staff.risk, reason="无法联系")
    services.loan_write_off_approve(loan=loan, by=staff.finance, on=on)
    lost = ledger.balance_of(loan)[Account.WRITE_OFF_EXPENSE]

    recovery = _pay(loan, "100.00", on + timedelta(days=3))

    entry = JournalEntry.objects.get(loan=loan, kind=JournalEntry.Kind.RECOVERY)
    assert (entry.on, recovery.value_date) == (on + timedelta(days=3),) * 2
    assert _lines(entry) == [
        (Account.CASH, Decimal("100.00"), Decimal("0.00")),
        (Account.WRITE_OFF_EXPENSE, Decimal("0.00"), Decimal("100.00")),
    ]
    left = lost - Decimal("100.00")
    assert ledger.balance_of(loan)[Account.WRITE_OFF_EXPENSE] == left

    with pytest.raises(ValidationError) as error:
        _pay(loan, left + Decimal("0.01"), on + timedelta(days=4))
    assert set(error.value.message_dict) == {"amount"}

    _pay(loan, left, on + timedelta(days=4))
    assert ledger.balance_of(loan)[Account.WRITE_OFF_EXPENSE] == 0
    assert _reload(loan).state == Loan.State.WRITTEN_OFF

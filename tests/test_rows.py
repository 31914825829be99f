"""`config.rows`: written-out SQL that loads and saves rows as the ORM does,
on SQLite (`make test`) and PostgreSQL (CI)."""

from datetime import date
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, models, transaction

from config.rows import Columns, row_insert, row_update
from loans.models import Installment, Loan, Repayment
from members.models import Member
from tests.loans.factories import Staff, active_loan

pytestmark = pytest.mark.django_db


def _read(columns: Columns[models.Model], pk: int) -> models.Model:
    sql = f"SELECT {columns.select} FROM {columns.table} WHERE {columns.alias}.id = %s"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [pk])
        return columns.build(cursor.fetchone())


def _values(row: models.Model) -> dict[str, tuple[type, object]]:
    return {
        field.attname: (type(value), value)
        for field in row._meta.concrete_fields
        for value in [getattr(row, field.attname)]
    }


@pytest.mark.parametrize("model", [Loan, Member, Installment])
def test_a_row_read_by_hand_is_the_row_the_orm_reads(model: type[models.Model]) -> None:
    loan = active_loan(staff=Staff())
    pk = {
        Loan: loan.pk,
        Member: loan.member_id,
        Installment: loan.installments.get(number=2).pk,
    }[model]

    by_hand = _read(Columns(model, "t"), pk)
    by_orm = model._default_manager.get(pk=pk)

    # Same values of the same types: Decimal, date and aware datetimes on
    # SQLite too, where the backend's converters make them.
    assert _values(by_hand) == _values(by_orm)
    assert not by_hand._state.adding
    assert by_hand._state.db == "default"


def test_update_writes_the_named_fields_only() -> None:
    loan = active_loan(staff=Staff())
    installment = loan.installments.get(number=1)
    principal = installment.principal
    installment.paid_interest = Decimal("3.21")
    installment.paid_on = date(2026, 2, 1)
    installment.principal += Decimal("1.00")  # changed, not named: not written

    row_update(installment, ["paid_interest", "paid_on"])

    stored = Installment.objects.get(pk=installment.pk)
    assert stored.paid_interest == Decimal("3.21")
    assert stored.paid_on == date(2026, 2, 1)
    assert stored.principal == principal


def test_update_of_a_missing_row_is_refused() -> None:
    loan = active_loan(staff=Staff())
    installment = loan.installments.get(number=1)
    Installment.objects.filter(pk=installment.pk).delete()

    with pytest.raises(Installment.DoesNotExist):
        row_update(installment, ["paid_interest"])


def _repayment(loan: Loan, key: str) -> Repayment:
    return Repayment(
        loan=loan,
        amount=Decimal("10.00"),
        reference="channel-1",
        value_date=date(2026, 2, 1),
        to_interest=Decimal("10.00"),
        idempotency_key=key,
        request_fingerprint="f" * 64,
        loan_state=loan.state,
    )


def test_insert_sets_the_key_and_the_creation_time() -> None:
    loan = active_loan(staff=Staff())
    repayment = _repayment(loan, "key-1")

    row_insert(repayment)

    assert repayment.pk is not None
    assert not repayment._state.adding
    stored = Repayment.objects.get(pk=repayment.pk)
    assert stored.at == repayment.at
    assert stored.at is not None
    assert (stored.amount, stored.to_interest, stored.to_principal) == (
        Decimal("10.00"),
        Decimal("10.00"),
        Decimal("0.00"),
    )
    assert stored.loan_state == Loan.State.ACTIVE


def test_insert_breaking_a_unique_constraint_raises_djangos_error() -> None:
    loan = active_loan(staff=Staff())
    row_insert(_repayment(loan, "key-1"))

    with pytest.raises(IntegrityError), transaction.atomic():
        row_insert(_repayment(loan, "key-1"))
    assert Repayment.objects.filter(idempotency_key="key-1").count() == 1

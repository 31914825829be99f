"""The ledger balances by construction, and PostgreSQL enforces it too."""

from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction

from loans import ledger
from loans.models import Account, JournalEntry, JournalLine
from tests.loans.factories import ON, Staff, active_loan

pytestmark = pytest.mark.django_db


def test_python_refuses_an_unbalanced_entry_before_writing() -> None:
    entry = ledger.Entry(1, JournalEntry.Kind.REPAYMENT, ON, "x").debit(
        Account.CASH, Decimal("10.00")
    )

    with pytest.raises(ledger.UnbalancedEntry):
        ledger.post(entry)

    assert not JournalEntry.objects.filter(dedupe_key="x").exists()


@pytest.mark.postgres
def test_postgresql_rejects_an_unbalanced_entry_at_commit() -> None:
    loan = active_loan(staff=Staff())
    entry = JournalEntry.objects.create(
        loan=loan, kind=JournalEntry.Kind.REPAYMENT, on=ON, dedupe_key="unbalanced"
    )

    def write_one_sided_line_and_check() -> None:
        with transaction.atomic():
            JournalLine.objects.create(
                entry=entry, loan=loan, account=Account.CASH, debit=Decimal("5.00")
            )
            with connection.cursor() as cursor:
                # What COMMIT would do: run the deferred balance check now.
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")

    with pytest.raises(DatabaseError, match="unbalanced"):
        write_one_sided_line_and_check()


@pytest.mark.postgres
def test_postgresql_refuses_to_edit_or_delete_a_journal_line() -> None:
    loan = active_loan(staff=Staff())
    line = JournalLine.objects.filter(loan=loan).first()
    assert line is not None

    with pytest.raises(DatabaseError, match="never edited"), transaction.atomic():
        JournalLine.objects.filter(pk=line.pk).update(debit=Decimal("1.00"))
    with pytest.raises(DatabaseError, match="never edited"), transaction.atomic():
        JournalLine.objects.filter(pk=line.pk).delete()

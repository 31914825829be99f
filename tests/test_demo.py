"""`make run` loads the demo: it must load, and show every loan state."""

from io import StringIO

import pytest
from django.core.management import call_command

from loans import ledger
from loans.models import BusinessDay, Loan
from members.models import Member
from risk.models import Alert, LoanPosition, Snapshot, StressRun, WarningRule

pytestmark = pytest.mark.django_db


def test_the_demo_loads_loans_in_every_state_through_real_closes() -> None:
    out = StringIO()

    call_command("demo_seed", stdout=out)

    assert set(Loan.objects.values_list("state", flat=True)) == set(Loan.State.values)
    debits, credits = ledger.totals()
    assert debits == credits
    assert BusinessDay.objects.filter(closed_at__isnull=False).count() >= 150
    assert set(Member.objects.values_list("kyc_status", flat=True)) == set(
        Member.KycStatus.values
    )
    assert "demo-borrower-2026" in out.getvalue()


def test_the_demo_gives_the_risk_pages_months_of_history() -> None:
    call_command("demo_seed", stdout=StringIO())

    assert Snapshot.objects.filter(branch__isnull=True).count() >= 150
    assert LoanPosition.objects.values("on").distinct().count() >= 4
    assert Alert.objects.filter(rule__kind=WarningRule.Kind.GUARANTOR_RING).exists()
    assert StressRun.objects.count() == 1


def test_loading_the_demo_twice_changes_nothing() -> None:
    call_command("demo_seed", stdout=StringIO())
    loans = Loan.objects.count()

    out = StringIO()
    call_command("demo_seed", stdout=out)

    assert Loan.objects.count() == loans
    assert "already loaded" in out.getvalue()

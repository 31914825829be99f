"""Exports of the admin's main lists to CSV and Excel, within branch scope."""

import csv
import io
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from openpyxl import load_workbook

from collection.models import CollectionCase
from config.exports import Amount, _cell
from loans.close import close_through
from members.models import Branch
from tests.loans.factories import Staff, active_loan, borrower

pytestmark = pytest.mark.django_db

LOANS = reverse("admin:loans_loan_changelist")
MEMBERS = reverse("admin:members_member_changelist")
CASES = reverse("admin:collection_collectioncase_changelist")


@pytest.fixture(autouse=True)
def _english(settings: Any) -> None:
    settings.LANGUAGE_CODE = "en"


def export(user: User, url: str, action: str) -> Any:
    """Run the export on every row the user's list holds ("select all")."""
    client = Client()
    client.force_login(user)
    return client.post(
        url,
        {"action": action, "select_across": "1", "index": "0", "_selected_action": 0},
    )


def csv_rows(response: Any) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def test_a_leader_exports_the_loans_of_their_branch_only_to_csv(
    branch: Branch, other_branch: Branch, leader: User
) -> None:
    staff = Staff()
    mine = active_loan(staff=staff, member=borrower(branch=branch))
    theirs = active_loan(staff=staff, member=borrower(branch=other_branch))

    response = export(leader, LOANS, "export_csv")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'attachment; filename="loan-' in response["Content-Disposition"]
    header, *rows = csv_rows(response)
    assert header[:5] == ["Loan", "Member", "Product", "Principal", "State"]
    assert [row[0] for row in rows] == [mine.number]
    assert rows[0][3] == "1200.00"
    assert rows[0][4] == "Active"
    assert theirs.number not in str(rows)


def test_the_excel_export_keeps_numbers_and_dates_as_such(
    branch: Branch, leader: User
) -> None:
    loan = active_loan(staff=Staff(), member=borrower(branch=branch))

    response = export(leader, LOANS, "export_xlsx")

    assert response.status_code == 200
    assert response["Content-Type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml"
    )
    sheet = load_workbook(io.BytesIO(response.content)).active
    header, row = list(sheet.iter_rows(values_only=True))
    assert header[:4] == ("Loan", "Member", "Product", "Principal")
    assert row[0] == loan.number
    assert row[3] == 1200
    assert row[header.index("Disbursed on")].date() == loan.disbursed_on


def test_an_auditor_exports_members_with_their_numbers_masked(
    branch: Branch, auditor: User
) -> None:
    member = borrower(branch=branch, real_name="王小明")

    header, *rows = csv_rows(export(auditor, MEMBERS, "export_csv"))

    assert header[0] == "Real name"
    assert rows == [
        [
            "王小明",
            member.national_id_masked,
            member.phone_masked,
            branch.name,
            "Member",
            "Verified",
            "Active",
            "2026-02-01",
        ]
    ]
    assert member.national_id not in str(rows)
    assert member.phone not in str(rows)


def test_collection_cases_export_with_the_amount_at_risk(
    branch: Branch, collector: User
) -> None:
    loan = active_loan(staff=Staff(), member=borrower(branch=branch))
    close_through(until=date(2026, 2, 15) + timedelta(days=31))
    case = CollectionCase.objects.get(loan=loan)

    header, *rows = csv_rows(export(collector, CASES, "export_csv"))

    assert [row[0] for row in rows] == [str(case)]
    # The list shows ¥1,200.00; the export a plain decimal a sheet can add up.
    assert rows[0][header.index("Amount at risk")] == "1200.00"


def test_money_from_an_admin_method_is_a_formatted_number_in_excel(
    branch: Branch, collector: User
) -> None:
    loan = active_loan(staff=Staff(), member=borrower(branch=branch))
    close_through(until=date(2026, 2, 15) + timedelta(days=31))

    response = export(collector, CASES, "export_xlsx")

    sheet = load_workbook(io.BytesIO(response.content)).active
    header = [cell.value for cell in sheet[1]]
    at_risk = sheet.cell(row=2, column=header.index("Amount at risk") + 1)
    assert at_risk.data_type == "n"
    assert at_risk.number_format == "#,##0.00"
    assert Decimal(str(at_risk.value)) == loan.principal
    assert CollectionCase.objects.filter(loan=loan).exists()


def test_money_fields_are_formatted_numbers_in_excel_and_other_numbers_not(
    branch: Branch, leader: User
) -> None:
    loan = active_loan(staff=Staff(), member=borrower(branch=branch))

    response = export(leader, LOANS, "export_xlsx")

    sheet = load_workbook(io.BytesIO(response.content)).active
    header = [cell.value for cell in sheet[1]]
    principal = sheet.cell(row=2, column=header.index("Principal") + 1)
    days = sheet.cell(row=2, column=header.index("Days past due") + 1)
    assert principal.data_type == "n"
    assert principal.number_format == "#,##0.00"
    assert Decimal(str(principal.value)) == loan.principal
    assert days.data_type == "n"
    assert days.number_format == "General"


def test_a_decimal_from_a_method_or_money_field_is_kept_to_the_fen() -> None:
    amount = _cell(None, Decimal("1234.5"))

    assert isinstance(amount, Amount)
    assert str(amount) == "1234.50"
    assert str(_cell(None, Decimal("0.005"))) == "0.01"


def test_text_a_spreadsheet_would_run_as_a_formula_stays_text() -> None:
    assert _cell(None, "=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert _cell(None, "王小明") == "王小明"


def test_staff_without_the_view_permission_export_nothing() -> None:
    outsider = User.objects.create_user(username="x", password="p", is_staff=True)

    assert export(outsider, LOANS, "export_csv").status_code == 403

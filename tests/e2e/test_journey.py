"""The borrower's and the staff's journey through one loan, in a real browser.

A borrower on a phone applies; a branch leader and a risk officer approve
at two levels in the admin, each button confirmed on its own page; finance
disburses; the borrower repays in the sandbox, looks at their branch and
asks for a hardship plan; a risk officer approves it; the
borrower reads the result in English and switches back to Chinese. Every
step checks what the person sees, and key pages are kept as screenshots.
"""

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.utils import translation
from django.utils.translation import gettext
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from collection.models import HardshipRequest
from config.roles import StaffRole
from loans.close import close_through
from loans.models import Loan, Product
from loans.selectors import business_date_current
from members.models import Member
from tests.factories import staff_user
from tests.loans.factories import ProductFactory, borrower

pytestmark = [
    pytest.mark.browser,
    # The live server needs committed rows; the flush after the test would
    # also take the data migrations' policies, so they are restored.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

BORROWER_PASSWORD = "borrower-pass-2026"
STAFF_PASSWORD = "staff-pass-2026"


def zh(text: str) -> str:
    """What the page shows a Chinese reader for this English source."""
    with translation.override("zh-hans"):
        return gettext(text)


def no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"{page.url} is {width}px wide on a 390px phone"


def snap(page: Page, folder: Path, name: str, *, full_page: bool = True) -> None:
    page.screenshot(path=str(folder / f"{name}.png"), full_page=full_page)


def staff_sign_in(page: Page, server: LiveServer, user: User) -> None:
    page.goto(f"{server.url}/admin/login/?next=/admin/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", STAFF_PASSWORD)
    page.locator("input[type=submit]").click()
    expect(page.locator("#user-tools")).to_contain_text(user.username)


def press_loan_button(
    page: Page,
    server: LiveServer,
    loan: Loan,
    action: str,
    done: str,
    *,
    reason: str = "",
) -> None:
    """Press a button on the loan's page, then confirm on the page it opens."""
    page.goto(f"{server.url}/admin/loans/loan/{loan.pk}/change/")
    page.locator(f"#transition-buttons a[data-action={action}]").click()
    expect(page.locator("#transition-object")).to_contain_text(loan.number)
    if reason:
        page.locator("#transition-form input[name=reason]").fill(reason)
    page.locator("#transition-form input[name=confirm]").click()
    expect(page.locator("ul.messagelist")).to_contain_text(done)


@pytest.fixture
def product() -> Product:
    # Above 1,000 yuan a second approval is needed, within the first limit.
    return ProductFactory(
        name="支部周转贷", terms=[3, 6], second_approval_above=Decimal("1000.00")
    )


@pytest.fixture
def member() -> Member:
    return borrower()


def test_a_loan_goes_from_a_phone_through_the_admin_and_back(
    live_server: LiveServer,
    phone: Page,
    desktop: Callable[[], Page],
    screenshots: Path,
    member: Member,
    product: Product,
) -> None:
    server = live_server
    leader = staff_user(StaffRole.BRANCH_LEADER, branches=(member.branch,))
    risk = staff_user(StaffRole.RISK_OFFICER)
    finance = staff_user(StaffRole.FINANCE, branches=(member.branch,))

    # The borrower signs in on a phone and sees their limit.
    phone.goto(f"{server.url}/sign-in/")
    expect(phone.locator("h1")).to_have_text(zh("Sign in"))
    no_sideways_scroll(phone)
    phone.get_by_label(zh("Mobile number")).fill(member.phone)
    phone.get_by_label(zh("Password")).fill(BORROWER_PASSWORD)
    phone.locator("form button.primary").click()
    expect(phone.locator("main")).to_contain_text("¥2,000.00")
    no_sideways_scroll(phone)
    snap(phone, screenshots, "borrower-home")

    # Applies, and sees the schedule and what it costs before confirming.
    phone.goto(f"{server.url}/loans/apply/")
    phone.get_by_label(zh("Amount to borrow (yuan)")).fill("1500")
    phone.get_by_label(zh("Term")).select_option("3")
    phone.locator("button[name=preview]").click()
    expect(phone.locator("h2.section")).to_have_text(zh("What you would repay"))
    # 1,500 at 1 % a month over three months: 510.03 a month, the last
    # absorbing the rounding; interest 15.00 + 10.05 + 5.05.
    rows = phone.locator("table.compact tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text("¥510.03")
    expect(rows.nth(2)).to_contain_text("¥510.04")
    expect(phone.locator("#cost")).to_contain_text(zh("Total to repay"))
    expect(phone.locator("#cost")).to_contain_text("¥30.10")
    expect(phone.locator("#cost")).to_contain_text("¥1,530.10")
    no_sideways_scroll(phone)
    snap(phone, screenshots, "borrower-apply-preview")
    phone.locator("button[name=confirm]").click()

    loan = Loan.objects.get(member=member)
    assert loan.approvals_required == 2
    expect(phone.locator("ul.messages")).to_contain_text(loan.number)
    expect(phone.locator("p.state")).to_contain_text(zh("Applied"))
    no_sideways_scroll(phone)

    # A branch leader signs level 1 and a risk officer level 2 in the admin.
    # Each opens the admin on the application waiting for their level.
    window = desktop()
    staff_sign_in(window, server, leader)
    expect(window.locator("#today-approvals")).to_contain_text(loan.number)
    snap(window, screenshots, "staff-admin-today")

    # A button opens a page that says what would happen and asks for the
    # reason; going back leaves the application as it was.
    window.goto(f"{server.url}/admin/loans/loan/{loan.pk}/change/")
    window.locator("#transition-buttons a[data-action=reject]").click()
    expect(window.locator("#transition-object")).to_contain_text(loan.number)
    expect(window.locator("#transition-form input[name=reason]")).to_be_visible()
    snap(window, screenshots, "staff-loan-confirm")
    window.locator("#transition-form a.cancel-link").click()
    expect(window.locator("ul.messagelist")).to_have_count(0)
    loan.refresh_from_db()
    assert loan.state == Loan.State.APPLIED
    with translation.override("zh-hans"):
        signed = gettext("Approval signed on %(count)d loans.") % {"count": 1}
    press_loan_button(window, server, loan, "approve", signed, reason="同意")
    expect(window.locator(".field-state")).to_contain_text(zh("Applied"))
    snap(window, screenshots, "staff-loan-level-1")

    window = desktop()
    staff_sign_in(window, server, risk)
    expect(window.locator("#today-approvals")).to_contain_text(loan.number)
    press_loan_button(window, server, loan, "approve", signed)
    expect(window.locator(".field-state")).to_contain_text(zh("Approved"))

    # The borrower follows both approvals.
    phone.goto(f"{server.url}/loans/{loan.pk}/")
    expect(phone.locator("ul.approvals li")).to_have_count(2)
    expect(phone.locator("p.state")).to_contain_text(zh("Approved"))

    # Finance pays the money out; the approvers were offered no such button.
    expect(window.locator("a[data-action=disburse]")).to_have_count(0)
    window = desktop()
    staff_sign_in(window, server, finance)
    with translation.override("zh-hans"):
        paid_out = gettext("%(count)d loans disbursed.") % {"count": 1}
    press_loan_button(window, server, loan, "disburse", paid_out)
    expect(window.locator(".field-state")).to_contain_text(zh("Active"))
    expect(window.locator("a[data-action=approve]")).to_have_count(0)

    # The borrower repays in the sandbox and sees where the money went.
    phone.goto(f"{server.url}/loans/{loan.pk}/")
    expect(phone.locator("ol.schedule li.installment")).to_have_count(3)
    no_sideways_scroll(phone)
    snap(phone, screenshots, "borrower-loan")
    phone.locator(f"a[href='/loans/{loan.pk}/repay/']").click()
    phone.get_by_label(zh("Amount to pay (yuan)")).fill("100")
    phone.locator("form button.primary").click()
    expect(phone.locator("h1")).to_have_text(zh("Payment received"))
    # The first month's interest (1 % of 1,500) first, the rest principal.
    expect(phone.locator("#paid")).to_have_text("¥100.00")
    expect(phone.locator("#to-penalty")).to_have_text("¥0.00")
    expect(phone.locator("#to-interest")).to_have_text("¥15.00")
    expect(phone.locator("#to-principal")).to_have_text("¥85.00")
    expect(phone.locator("main")).to_contain_text("¥1,415.00")
    no_sideways_scroll(phone)
    snap(phone, screenshots, "borrower-repayment")

    # Looks at the branch from home: its standing in aggregate, own loan's
    # number and amounts absent.
    phone.goto(f"{server.url}/")
    phone.locator("#my-branch-link").click()
    expect(phone.locator("h1")).to_have_text(zh("My branch"))
    expect(phone.locator("#branch-facts h2")).to_have_text(member.branch.name)
    expect(phone.locator("#branch-members")).to_have_text("1")
    expect(phone.locator("#standing-borrowing")).to_have_text("1")
    expect(phone.locator("main")).not_to_contain_text(loan.number)
    no_sideways_scroll(phone)
    snap(phone, screenshots, "borrower-branch")

    # Asks for a hardship plan over six months.
    phone.goto(f"{server.url}/loans/{loan.pk}/hardship/")
    phone.get_by_label(zh("What happened")).select_option(index=1)
    phone.get_by_label(zh("Spread what you owe over")).select_option("6")
    phone.get_by_label(zh("Tell us more (optional)")).fill("厂里停工两个月")
    phone.locator("form button.primary").click()
    expect(phone.locator("#hardship-status")).to_contain_text(
        zh("Waiting for a decision")
    )
    no_sideways_scroll(phone)

    # A risk officer approves it from the admin's list of requests.
    hardship = HardshipRequest.objects.get(loan=loan)
    window = desktop()
    staff_sign_in(window, server, risk)
    window.goto(f"{server.url}/admin/collection/hardshiprequest/")
    window.locator(f"input[name=_selected_action][value='{hardship.pk}']").check()
    window.locator("select[name=action]").select_option("approve")
    window.locator("input[name=reason]").fill("核实属实")
    window.locator("button[name=index]").click()
    with translation.override("zh-hans"):
        approved = gettext(
            "%(count)d plans approved; their loans are restructured."
        ) % {"count": 1}
    expect(window.locator("ul.messagelist")).to_contain_text(approved)

    # The borrower sees the plan approved and the new schedule.
    phone.goto(f"{server.url}/loans/{loan.pk}/")
    expect(phone.locator("#hardship-status")).to_contain_text(zh("Approved"))
    expect(phone.locator("#decision-note")).to_have_text("核实属实")
    no_sideways_scroll(phone)
    snap(phone, screenshots, "borrower-plan-approved")

    # Switches to English, which stays chosen on the next page.
    phone.locator("form.language button[value=en]").click()
    expect(phone.locator("html")).to_have_attribute("lang", "en")
    expect(phone.locator("#repayment-plan h2")).to_have_text("Repayment plan")
    phone.goto(f"{server.url}/loans/")
    expect(phone.locator("h1")).to_have_text("My loans")
    no_sideways_scroll(phone)
    snap(phone, screenshots, "borrower-loans-english")

    # And back to Chinese.
    phone.locator("form.language button[value=zh-hans]").click()
    expect(phone.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(phone.locator("h1")).to_have_text(zh("My loans"))

    # The day closes; next morning the risk officer reads the portfolio and
    # the admin names the close and its steps.
    today = business_date_current()
    close_through(until=today)
    window = desktop()
    staff_sign_in(window, server, risk)
    expect(window.locator("#today-close")).to_contain_text(str(today.year))
    expect(window.locator("#today-close tbody tr")).not_to_have_count(0)
    window.goto(f"{server.url}/risk/")
    expect(window.locator("h1")).to_contain_text(zh("Morning view"))
    expect(window.locator(".headline")).to_contain_text(zh("Loans outstanding"))
    snap(window, screenshots, "staff-morning", full_page=False)


def test_a_mistake_on_the_phone_is_explained_beside_its_field_in_chinese(
    live_server: LiveServer, phone: Page, member: Member, product: Product
) -> None:
    phone.goto(f"{live_server.url}/sign-in/")
    phone.get_by_label(zh("Mobile number")).fill(member.phone)
    phone.get_by_label(zh("Password")).fill("not-the-password")
    phone.locator("form button.primary").click()
    expect(phone.locator("[role=alert]")).to_contain_text(
        zh("The mobile number or password is wrong. Please check and try again.")
    )
    phone.get_by_label(zh("Password")).fill(BORROWER_PASSWORD)
    phone.locator("form button.primary").click()

    phone.goto(f"{live_server.url}/loans/apply/")
    amount = phone.get_by_label(zh("Amount to borrow (yuan)"))
    amount.fill("20000")
    phone.locator("button[name=preview]").click()

    # Above the product's 10,000: the range is said under the amount box,
    # which screen readers are pointed at, and nothing is previewed.
    errors = phone.locator("#id_principal_errors")
    with translation.override("zh-hans"):
        expected = gettext("Borrow between %(low)s and %(high)s.") % {
            "low": "¥500.00",
            "high": "¥10,000.00",
        }
    expect(errors).to_have_text(expected)
    expect(amount).to_have_attribute("aria-invalid", "true")
    expect(phone.locator("button[name=confirm]")).to_have_count(0)
    no_sideways_scroll(phone)

"""Loads the demo: branches, members in every KYC state, staff users, and
loans in every state, made by running real closes over past dates.

Runs once: when the demo branches exist it changes nothing and only prints
the sign-in details again. The passwords are public and for the demo only.
"""

from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from collection import services as collection_services
from collection.models import Cause, CollectionCase, Contact, ContactConsent
from config.demo_book import PER_BRANCH, Book
from config.roles import StaffRole
from credit import services as credit_services
from loans import services as loan_services
from loans.close import close_day
from loans.models import Loan, Product, RepaymentMethod
from loans.selectors import Payable, payable
from members import services
from members.models import Branch, Member
from members.validators import national_id_check_character
from risk.models import StressScenario
from risk.services import stress_test_run

STAFF_PASSWORD = "demo-staff-2026"  # noqa: S105 (public demo password)
BORROWER_PASSWORD = "demo-borrower-2026"  # noqa: S105 (public demo password)
HISTORY_DAYS = 160

BRANCHES = [
    ("朝阳一支部", "北京市朝阳区"),
    ("海淀二支部", "北京市海淀区"),
    ("武侯三支部", "四川省成都市武侯区"),
]

# name, branch index, phone, KYC outcome, role, what the demo does with them
MEMBERS = [
    ("王建国", 0, "13800000001", "verified", "leader", "loan repaid early"),
    ("李秀英", 0, "13800000002", "verified", "", "loan active, once late"),
    ("张伟", 0, "13800000003", "pending", "", ""),
    ("刘洋", 0, "13800000004", "rejected", "", ""),
    ("陈静", 1, "13800000005", "verified", "leader", "loan in grace"),
    ("杨磊", 1, "13800000006", "verified", "", "loan blacklisted"),
    ("赵敏", 1, "13800000007", "pending", "", ""),
    ("黄强", 2, "13800000008", "verified", "leader", "loan overdue, plan asked"),
    ("周丽", 2, "13800000009", "verified", "", "bureau mismatch flagged"),
    ("孙悦", 0, "13800000010", "verified", "", "loan written off"),
    ("吴刚", 1, "13800000011", "verified", "", "application waiting"),
    ("郑爽", 2, "13800000012", "verified", "", "approved; one rejected, one cancelled"),
]

STAFF = [
    ("admin", None, "superuser"),
    ("risk", StaffRole.RISK_OFFICER, "all branches"),
    ("leader", StaffRole.BRANCH_LEADER, "朝阳一支部"),
    ("collector", StaffRole.COLLECTOR, "朝阳一支部, 海淀二支部"),
    ("finance", StaffRole.FINANCE, "all branches"),
    ("auditor", StaffRole.AUDITOR, "all branches, read-only"),
]

Event = Callable[[date], None]


def _demo_national_id(index: int) -> str:
    first_17 = f"11010519{80 + index:02d}0{(index % 9) + 1}15{index:03d}"
    return first_17 + national_id_check_character(first_17)


class Command(BaseCommand):
    help = "Load the demo branches, members, staff users and loans (once)."

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEVELOPMENT:
            raise CommandError("Demo data is only loaded with DJANGO_MODE=development.")
        if Branch.objects.filter(name=BRANCHES[0][0]).exists():
            self.stdout.write("Demo data is already loaded.")
        else:
            self._load(today=timezone.localdate())
            self.stdout.write(self.style.SUCCESS("Demo data loaded."))
        self._print_sign_ins()

    @transaction.atomic
    def _load(self, *, today: date) -> None:
        start = today - timedelta(days=HISTORY_DAYS)
        self.admin = User.objects.create_superuser("admin", password=STAFF_PASSWORD)
        branches = [
            services.branch_create(
                name=name, region=region, created_on=date(2025, 3, 1)
            )
            for name, region in BRANCHES
        ]
        self.members = {
            row[0]: self._member(index, row, branches, on=start)
            for index, row in enumerate(MEMBERS)
        }
        self._staff(branches)
        self.branches = branches
        self._loans(start=start, today=today)
        self._collections(today)
        self._bureau_mismatch(today)
        self._stress_test(today)

    def _member(
        self,
        index: int,
        row: tuple[str, int, str, str, str, str],
        branches: list[Branch],
        *,
        on: date,
    ) -> Member:
        name, branch_index, phone, kyc, role, _story = row
        member = services.member_register(
            branch=branches[branch_index],
            real_name=name,
            national_id=_demo_national_id(index),
            phone=phone,
            joined_on=date(2025, 4, 1),
            by=self.admin,
            password=BORROWER_PASSWORD,
        )
        if kyc == "verified":
            member = credit_services.member_verify_kyc_and_score(
                member=member, by=self.admin, on=on
            )
        elif kyc == "rejected":
            services.member_reject_kyc(
                member=member, by=self.admin, reason="身份证照片模糊，请重新上传"
            )
        if role == "leader":
            services.member_set_branch_role(
                member=member, role=Member.BranchRole.LEADER, by=self.admin
            )
        return member

    def _staff(self, branches: list[Branch]) -> None:
        for username, role, _scope in STAFF[1:]:
            user = User.objects.create_user(
                username, password=STAFF_PASSWORD, is_staff=True
            )
            user.groups.add(Group.objects.get(name=str(role)))
        self.risk = User.objects.get(username="risk")
        self.finance = User.objects.get(username="finance")
        User.objects.get(username="leader").staffed_branches.add(branches[0])
        User.objects.get(username="collector").staffed_branches.add(*branches[:2])
        self.finance.staffed_branches.add(*branches)

    # Loans ---------------------------------------------------------------

    def _loans(self, *, start: date, today: date) -> None:
        """Schedule the loans' events by date, then live through the dates:
        each day's events, then that day's close."""
        self.product = Product.objects.create(
            name="支部小额贷",
            min_amount=Decimal("500.00"),
            max_amount=Decimal("10000.00"),
            terms=[3, 6, 12],
            annual_rate=Decimal("0.1200"),
            repayment_method=RepaymentMethod.EQUAL_INSTALLMENT,
            second_approval_above=Decimal("5000.00"),
        )
        self.loans: dict[str, Loan] = {}
        events: dict[date, list[Event]] = defaultdict(list)
        # 杨磊 agreed that his branch leader may be told if he falls behind,
        # so the ladder's mid step asks 陈静 to help restore contact.
        collection_services.consent_give(
            member=self.members["杨磊"],
            kind=ContactConsent.Kind.LEADER,
            evidence="入会时签署的联系同意书",
            at=_morning(start),
        )

        def at(day: date, event: Event) -> None:
            events[day].append(event)

        book = Book(
            branches=self.branches,
            product=self.product,
            approver=self.risk,
            finance=self.finance,
            admin=self.admin,
            start=start,
            today=today,
        )
        book.register()
        book.schedule(at)

        month_ago = today - relativedelta(months=1)
        self._disbursed(at, "王建国", start + timedelta(days=5), months=3)
        at(start + timedelta(days=40), lambda d: self._repay_everything("王建国", d))

        first_due = today - timedelta(days=100) + relativedelta(months=1)
        self._disbursed(at, "李秀英", today - timedelta(days=100), months=6)
        at(first_due - timedelta(days=1), lambda d: self._repay_late("李秀英", d))
        second_due = today - timedelta(days=100) + relativedelta(months=2)
        at(second_due + timedelta(days=5), lambda d: self._repay_late("李秀英", d))
        third_due = today - timedelta(days=100) + relativedelta(months=3)
        at(third_due, lambda d: self._repay_late("李秀英", d))

        self._disbursed(at, "陈静", month_ago - timedelta(days=2), months=3)
        self._disbursed(at, "黄强", month_ago - timedelta(days=10), months=3)
        self._disbursed(at, "杨磊", today - timedelta(days=130), months=3)
        self._disbursed(at, "孙悦", today - timedelta(days=150), months=3)
        at(today - timedelta(days=20), lambda d: self._write_off("孙悦", d))

        at(today - timedelta(days=60), lambda d: self._rejected("郑爽", d))
        at(today - timedelta(days=30), lambda d: self._cancelled("郑爽", d))
        at(today - timedelta(days=3), lambda d: self._approved("郑爽", d))
        at(today - timedelta(days=1), lambda d: self._applied("吴刚", d))

        day = start
        while day < today:
            for event in events.get(day, []):
                event(day)
            close_day(on=day)
            day += timedelta(days=1)

    def _apply(
        self, name: str, on: date, amount: str = "2000.00", months: int = 3
    ) -> Loan:
        member = Member.objects.get(pk=self.members[name].pk)
        return loan_services.loan_apply(
            member=member,
            product=self.product,
            principal=Decimal(amount),
            term_months=months,
            by=member.user,
            on=on,
        )

    def _disbursed(
        self, at: Callable[[date, Event], None], name: str, on: date, *, months: int
    ) -> None:
        def event(day: date) -> None:
            loan = self._apply(name, day, months=months)
            loan_services.loan_approve(
                loan=loan, by=self.risk, comment="资料齐全，同意", on=day
            )
            self.loans[name] = loan_services.loan_disburse(
                loan=loan, by=self.finance, on=day
            )

        at(on, event)

    def _repay_everything(self, name: str, on: date) -> None:
        loan = self.loans[name]
        owed = sum((row.total for row in _payable_today(loan, on)), Decimal("0.00"))
        loan_services.repayment_post(
            loan=loan, amount=owed, reference=f"demo-{name}-all", by=None, on=on
        )

    def _repay_late(self, name: str, on: date) -> None:
        """Pay what is late, or the next installment if nothing is late."""
        loan = Loan.objects.get(pk=self.loans[name].pk)
        unpaid = [i for i in loan.installments.all() if i.paid_on is None]
        amount = unpaid[0].total_due
        loan_services.repayment_post(
            loan=loan, amount=amount, reference=f"demo-{name}-{on}", by=None, on=on
        )

    def _write_off(self, name: str, on: date) -> None:
        loan = self.loans[name]
        loan_services.loan_write_off_request(
            loan=loan, by=self.risk, reason="失联超过90天，催收无果"
        )
        loan_services.loan_write_off_approve(loan=loan, by=self.finance, on=on)

    def _rejected(self, name: str, on: date) -> None:
        loan = self._apply(name, on, amount="1500.00")
        loan_services.loan_reject(loan=loan, by=self.risk, reason="收入证明不足", on=on)

    def _cancelled(self, name: str, on: date) -> None:
        loan = self._apply(name, on, amount="800.00")
        loan_services.loan_cancel(
            loan=loan, by=loan.member.user, reason="不再需要", on=on
        )

    def _approved(self, name: str, on: date) -> None:
        loan = self._apply(name, on, amount="1000.00")
        loan_services.loan_approve(loan=loan, by=self.risk, comment="同意", on=on)

    def _applied(self, name: str, on: date) -> None:
        self._apply(name, on, amount="1200.00", months=6)

    def _collections(self, today: date) -> None:
        """黄强's case: a call with a promise to pay, and a hardship plan he
        asked for, waiting for a risk officer."""
        loan = Loan.objects.get(pk=self.loans["黄强"].pk)
        case = CollectionCase.objects.get(loan=loan, status="open")
        collection_services.contact_record(
            case=case,
            channel=Contact.Channel.CALL,
            outcome=Contact.Outcome.PROMISED,
            by=self.risk,
            at=_morning(today - timedelta(days=2)),
            note="本人接听，称本月工资延迟发放。",
            promise_date=today + timedelta(days=2),
            promise_amount=Decimal("300.00"),
        )
        collection_services.hardship_request(
            loan=loan,
            cause=Cause.CASH_SHORTAGE,
            installments=6,
            note="工厂停工一个月，收入减半，希望分六期还款。",
            by=loan.member.user,
            on=today - timedelta(days=1),
        )

    def _bureau_mismatch(self, today: date) -> None:
        member = Member.objects.get(pk=self.members["周丽"].pk)
        credit_services.credit_declare_income(
            member=member, monthly_income=Decimal("8000.00")
        )
        credit_services.bureau_report_receive(
            member=member,
            source="百行征信",
            reported_on=today,
            reported_name=member.real_name,
            reported_national_id=member.national_id,
            monthly_income=Decimal("4500.00"),
            external_overdue_count=1,
            external_debt=Decimal("12000.00"),
            inquiries_90d=4,
            raw={"demo": True},
            by=None,
            on=today,
        )

    def _stress_test(self, today: date) -> None:
        """The shipped downturn scenario, run once on the demo's book."""
        scenario = StressScenario.objects.order_by("pk").first()
        if scenario is not None:
            stress_test_run(scenario=scenario, by=self.risk, as_of=today - timedelta(1))

    def _print_sign_ins(self) -> None:
        self.stdout.write("\nBack-office  http://127.0.0.1:8000/admin/")
        for username, _role, scope in STAFF:
            self.stdout.write(f"  {username:<10} {STAFF_PASSWORD}   ({scope})")
        self.stdout.write("\nBorrower pages  http://127.0.0.1:8000/  (mobile number)")
        for name, _branch, phone, kyc, role, story in MEMBERS:
            notes = ", ".join(part for part in (f"KYC {kyc}", role, story) if part)
            self.stdout.write(f"  {phone}  {BORROWER_PASSWORD}   {name} ({notes})")
        self.stdout.write(
            f"  … and {PER_BRANCH} more borrowers in each branch (no sign-in), "
            "whose loans make the portfolio on the risk pages"
        )
        self.stdout.write(
            "\nRisk dashboards  http://127.0.0.1:8000/risk/  (risk, auditor)"
        )
        self.stdout.write("\nAPI docs  http://127.0.0.1:8000/api/docs/\n")


def _morning(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(10, 0)))


def _payable_today(loan: Loan, on: date) -> list[Payable]:
    return payable(list(Loan.objects.get(pk=loan.pk).installments.all()), on)

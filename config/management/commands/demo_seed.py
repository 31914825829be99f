"""Loads the demo: branches, members in every KYC state, and staff users.

Runs once: when the demo branches exist it changes nothing and only prints
the sign-in details again. The passwords are public and for the demo only.
"""

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from config.roles import StaffRole
from credit import services as credit_services
from credit.models import CreditScore
from members import services
from members.models import BlacklistEntry, Branch, Member
from members.validators import national_id_check_character

STAFF_PASSWORD = "demo-staff-2026"  # noqa: S105 (public demo password)
BORROWER_PASSWORD = "demo-borrower-2026"  # noqa: S105 (public demo password)

BRANCHES = [
    ("朝阳一支部", "北京市朝阳区"),
    ("海淀二支部", "北京市海淀区"),
    ("武侯三支部", "四川省成都市武侯区"),
]

# name, branch index, phone, KYC outcome, extra
MEMBERS = [
    ("王建国", 0, "13800000001", "verified", "leader"),
    ("李秀英", 0, "13800000002", "verified", ""),
    ("张伟", 0, "13800000003", "pending", ""),
    ("刘洋", 0, "13800000004", "rejected", ""),
    ("陈静", 1, "13800000005", "verified", "leader"),
    ("杨磊", 1, "13800000006", "verified", "blacklisted"),
    ("赵敏", 1, "13800000007", "pending", ""),
    ("黄强", 2, "13800000008", "verified", "leader"),
    ("周丽", 2, "13800000009", "verified", ""),
]

STAFF = [
    ("admin", None, "superuser"),
    ("risk", StaffRole.RISK_OFFICER, "all branches"),
    ("leader", StaffRole.BRANCH_LEADER, "朝阳一支部"),
    ("collector", StaffRole.COLLECTOR, "朝阳一支部, 海淀二支部"),
    ("finance", StaffRole.FINANCE, "all branches"),
    ("auditor", StaffRole.AUDITOR, "all branches, read-only"),
]


def _demo_national_id(index: int) -> str:
    first_17 = f"11010519{80 + index:02d}0{(index % 9) + 1}15{index:03d}"
    return first_17 + national_id_check_character(first_17)


class Command(BaseCommand):
    help = "Load the demo branches, members and staff users (once)."

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEVELOPMENT:
            raise CommandError("Demo data is only loaded with DJANGO_MODE=development.")
        if Branch.objects.filter(name=BRANCHES[0][0]).exists():
            self.stdout.write("Demo data is already loaded.")
        else:
            self._load()
            self.stdout.write(self.style.SUCCESS("Demo data loaded."))
        self._print_sign_ins()

    @transaction.atomic
    def _load(self) -> None:
        today = date(2026, 12, 1)
        branches = [
            services.branch_create(
                name=name, region=region, created_on=date(2025, 3, 1)
            )
            for name, region in BRANCHES
        ]
        admin = User.objects.create_superuser("admin", password=STAFF_PASSWORD)

        for index, (name, branch_index, phone, kyc, extra) in enumerate(MEMBERS):
            member = services.member_register(
                branch=branches[branch_index],
                real_name=name,
                national_id=_demo_national_id(index),
                phone=phone,
                joined_on=date(2025, 4, 1),
                by=admin,
                password=BORROWER_PASSWORD,
            )
            if kyc == "verified":
                member = credit_services.member_verify_kyc_and_score(
                    member=member, by=admin, on=today
                )
            elif kyc == "rejected":
                services.member_reject_kyc(
                    member=member, by=admin, reason="身份证照片模糊，请重新上传"
                )
            if extra == "leader":
                services.member_set_branch_role(
                    member=member, role=Member.BranchRole.LEADER, by=admin
                )
            elif extra == "blacklisted":
                credit_services.member_blacklist_and_zero_limit(
                    member=member,
                    reason="借款逾期超过90天",
                    source=BlacklistEntry.Source.LOAN,
                    source_reference="DEMO-LOAN-0001",
                    on=today,
                    by=admin,
                )

        self._credit_history(today)

        for username, role, _scope in STAFF[1:]:
            user = User.objects.create_user(
                username, password=STAFF_PASSWORD, is_staff=True
            )
            user.groups.add(Group.objects.get(name=str(role)))
        User.objects.get(username="leader").staffed_branches.add(branches[0])
        User.objects.get(username="collector").staffed_branches.add(*branches[:2])
        User.objects.get(username="finance").staffed_branches.add(*branches)

    def _credit_history(self, today: date) -> None:
        """Some behaviour to explain: late installments, a bureau mismatch."""
        late_payer = Member.objects.get(real_name="李秀英")
        for number, late_days in ((1, 0), (2, 6), (3, 12)):
            due = date(2026, 8 + number, 10)
            credit_services.credit_installment_paid(
                member=late_payer,
                loan_reference="DEMO-LOAN-0002",
                number=number,
                due_on=due,
                paid_on=due + timedelta(days=late_days),
            )
        credit_services.credit_score_member(
            member=late_payer, on=today, trigger=CreditScore.Trigger.MANUAL
        )

        declared = Member.objects.get(real_name="周丽")
        credit_services.credit_declare_income(
            member=declared, monthly_income=Decimal("8000.00")
        )
        credit_services.bureau_report_receive(
            member=declared,
            source="百行征信",
            reported_on=today,
            reported_name=declared.real_name,
            reported_national_id=declared.national_id,
            monthly_income=Decimal("4500.00"),
            external_overdue_count=1,
            external_debt=Decimal("12000.00"),
            inquiries_90d=4,
            raw={"demo": True},
            by=None,
            on=today,
        )

    def _print_sign_ins(self) -> None:
        self.stdout.write("\nBack-office  http://127.0.0.1:8000/admin/")
        for username, _role, scope in STAFF:
            self.stdout.write(f"  {username:<10} {STAFF_PASSWORD}   ({scope})")
        self.stdout.write("\nBorrower pages  http://127.0.0.1:8000/  (mobile number)")
        for name, _branch, phone, kyc, extra in MEMBERS:
            note = f"KYC {kyc}" + (f", {extra}" if extra else "")
            self.stdout.write(f"  {phone}  {BORROWER_PASSWORD}   {name} ({note})")
        self.stdout.write("\nAPI docs  http://127.0.0.1:8000/api/docs/\n")

"""The online benchmark's data: the demo, then many borrowers each with one
open loan, made from one template in a few set-based statements.

Run by `bench/online/run.py` after `manage.py demo_seed`, with the same
environment (DJANGO_MODE=development, DATABASE_URL of the benchmark's own
database). Writes a JSON manifest that the locustfile reads: the
integrator's token, the loans to post on and the borrowers who sign in.

The template borrower and loan go through the real services (register,
verify and score, apply, approve, disburse), so every rule that makes a
loan holds for them. The copies repeat the template's rows (credit profile,
loan, schedule, journal, transitions, approvals) with their own ids; each
copy is a member of its own, with its own valid national ID and mobile
number stored as the model stores them (encrypted, hashed, masked), so
copies sign in like any borrower and repayments on different loans never
wait on the same member's credit profile.
"""

import argparse
import json
import os
import sys
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

import django

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from django.contrib.auth.models import Group, User  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.db.models import Model  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402

from config.roles import StaffRole  # noqa: E402
from credit import services as credit_services  # noqa: E402
from credit.models import CreditProfile  # noqa: E402
from loans import services as loan_services  # noqa: E402
from loans.models import (  # noqa: E402
    Approval,
    Installment,
    JournalEntry,
    JournalLine,
    Loan,
    LoanTransition,
    Product,
)
from loans.selectors import business_date_current  # noqa: E402
from members import services as member_services  # noqa: E402
from members.models import Branch, Member  # noqa: E402
from members.validators import national_id_check_character  # noqa: E402

BORROWER_PASSWORD = "bench-borrower-2026"  # noqa: S105 (benchmark data only)
CHANNEL = "bench-channel"
PRINCIPAL = Decimal("5000.00")
TERM_MONTHS = 12
BATCH = 2000


def national_id(serial: int) -> str:
    """A valid ID number, distinct for each serial below 336,000: born on
    a day of 1990 (month and day from the serial), with a sequence."""
    day = serial % 28 + 1
    sequence = serial // 28
    first_17 = f"3201021990{(serial // 28 // 1000) % 12 + 1:02d}{day:02d}"
    first_17 += f"{sequence % 1000:03d}"
    return first_17 + national_id_check_character(first_17)


def phone(serial: int) -> str:
    return f"139{serial:08d}"


def template_loan(on: date) -> Loan:
    """One borrower and one disbursed loan, made by the services."""
    admin = User.objects.get(username="admin")
    risk = User.objects.get(username="risk")
    finance = User.objects.get(username="finance")
    branch = Branch.objects.order_by("pk").first()
    product = Product.objects.get(name="支部小额贷")
    assert branch is not None

    member = member_services.member_register(
        branch=branch,
        real_name="压测模板",
        national_id=national_id(0),
        phone=phone(0),
        joined_on=date(2025, 4, 1),
        by=admin,
        password=BORROWER_PASSWORD,
    )
    member = credit_services.member_verify_kyc_and_score(member=member, by=admin, on=on)
    # The template's limit is raised by hand so that the loan fits whatever
    # score the template member got; the copies repeat this profile.
    CreditProfile.objects.filter(member=member).update(limit=PRINCIPAL * 2)
    loan = loan_services.loan_apply(
        member=member,
        product=product,
        principal=PRINCIPAL,
        term_months=TERM_MONTHS,
        by=member.user,
        on=on,
    )
    loan = loan_services.loan_approve(loan=loan, by=risk, comment="压测", on=on)
    return loan_services.loan_disburse(loan=loan, by=finance, on=on)


def _columns(model: type[Model]) -> list[str]:
    return [f.column for f in model._meta.concrete_fields if not f.primary_key]


def _copy_sql(
    model: type[Model], *, source: str, overrides: dict[str, str], tail: str
) -> str:
    """INSERT ... SELECT of every column of `model`: the template row's
    value (alias t) unless `overrides` gives an expression."""
    quote = connection.ops.quote_name
    columns = _columns(model)
    values = [overrides.get(column, f"t.{quote(column)}") for column in columns]
    # Only names from the models and this module are spliced in; values
    # travel as parameters.
    return (
        f"INSERT INTO {quote(model._meta.db_table)} "  # noqa: S608
        f"({', '.join(quote(c) for c in columns)}) "
        f"SELECT {', '.join(values)} FROM {source} {tail}"
    )


def copies(template: Loan, count: int) -> list[int]:
    """`count` borrowers like the template's, each with a copy of its loan.
    Returns the new loans' ids."""
    model_member = template.member
    model_user = model_member.user

    users = User.objects.bulk_create(
        (
            User(username=f"bench-member-{serial}", password=model_user.password)
            for serial in range(1, count + 1)
        ),
        batch_size=BATCH,
    )
    members = []
    for serial, user in enumerate(users, start=1):
        member = Member(
            user=user,
            branch_id=model_member.branch_id,
            real_name=f"压测{serial}",
            kyc_status=model_member.kyc_status,
            kyc_reviewed_at=model_member.kyc_reviewed_at,
            kyc_reviewed_by_id=model_member.kyc_reviewed_by_id,
            joined_on=model_member.joined_on,
        )
        member.set_national_id(national_id(serial))
        member.set_phone(phone(serial))
        members.append(member)
    members = Member.objects.bulk_create(members, batch_size=BATCH)
    member_ids = [m.pk for m in members]

    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE bench_copy (member_id bigint PRIMARY KEY, "
            "loan_id bigint) ON COMMIT DROP"
        )
        cursor.execute(
            "INSERT INTO bench_copy (member_id) SELECT unnest(%s::bigint[])",
            [member_ids],
        )
        source = "bench_copy c CROSS JOIN"
        cursor.execute(
            _copy_sql(
                CreditProfile,
                source=f"{source} credit_creditprofile t",
                overrides={"member_id": "c.member_id"},
                tail="WHERE t.member_id = %s",
            ),
            [model_member.pk],
        )
        copy_loans = _copy_sql(
            Loan,
            source=f"{source} loans_loan t",
            overrides={"member_id": "c.member_id"},
            tail="WHERE t.id = %s RETURNING id, member_id",
        )
        cursor.execute(
            f"WITH made AS ({copy_loans}) "  # noqa: S608
            "UPDATE bench_copy c SET loan_id = made.id FROM made "
            "WHERE made.member_id = c.member_id",
            [template.pk],
        )
        for model in (Installment, LoanTransition, Approval):
            cursor.execute(
                _copy_sql(
                    model,
                    source=f"{source} {model._meta.db_table} t",
                    overrides={"loan_id": "c.loan_id"},
                    tail="WHERE t.loan_id = %s",
                ),
                [template.pk],
            )
        # A journal entry's dedupe key starts with its loan's id.
        prefix = f"{template.pk}:"
        new_key = "c.loan_id || substr(t.dedupe_key, %s)"
        cursor.execute(
            _copy_sql(
                JournalEntry,
                source=f"{source} loans_journalentry t",
                overrides={"loan_id": "c.loan_id", "dedupe_key": new_key},
                tail="WHERE t.loan_id = %s",
            ),
            [len(prefix), template.pk],
        )
        cursor.execute(
            _copy_sql(
                JournalLine,
                source=(
                    "loans_journalline t "
                    "JOIN loans_journalentry e ON e.id = t.entry_id "
                    "CROSS JOIN bench_copy c "
                    "JOIN loans_journalentry n ON n.dedupe_key = "
                    "c.loan_id || substr(e.dedupe_key, %s)"
                ),
                overrides={"entry_id": "n.id", "loan_id": "c.loan_id"},
                tail="WHERE e.loan_id = %s",
            ),
            [len(prefix), template.pk],
        )
        cursor.execute("SELECT loan_id FROM bench_copy ORDER BY loan_id")
        return [row[0] for row in cursor.fetchall()]


def channel_token() -> str:
    """The payment channel's user: the finance role over every branch, as a
    partner posting repayments would be given, and its API token."""
    user, _made = User.objects.get_or_create(
        username=CHANNEL, defaults={"is_staff": True}
    )
    user.groups.add(Group.objects.get(name=str(StaffRole.FINANCE)))
    user.staffed_branches.set(Branch.objects.all())
    token, _made = Token.objects.get_or_create(user=user)
    return token.key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, default=20_000)
    parser.add_argument("--hot", type=int, default=3)
    parser.add_argument("--borrowers", type=int, default=500)
    parser.add_argument("--manifest", type=Path, required=True)
    args = parser.parse_args()

    started = time.monotonic()
    on = business_date_current()
    with transaction.atomic():
        template = template_loan(on)
        loan_ids = [template.pk, *copies(template, args.loans - 1)]
        token = channel_token()
    # Fresh statistics, as a database that has lived would have: without
    # them the planner takes 20,000 loans for a few hundred.
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    seconds = time.monotonic() - started

    # Borrowers who sign in: copies 1..n, whose loans are the first copies.
    borrowers = [
        {"phone": phone(serial), "loan": loan_ids[serial]}
        for serial in range(1, args.borrowers + 1)
    ]
    manifest = {
        "business_date": on.isoformat(),
        "token": token,
        "password": BORROWER_PASSWORD,
        "hot_loans": loan_ids[-args.hot :],
        "loans": loan_ids[: -args.hot],
        "borrowers": borrowers,
        "seed_seconds": round(seconds, 1),
    }
    args.manifest.write_text(json.dumps(manifest))
    print(
        f"Seeded {len(loan_ids)} open loans for {on} in {seconds:.1f} s "
        f"({args.hot} shared by all clients); manifest {args.manifest}"
    )


if __name__ == "__main__":
    main()

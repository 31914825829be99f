"""Build a realistic portfolio in a PostgreSQL database of its own, fast.

    python -m bench.generate --loans 100000 --database lending_bench

The database is dropped, created and migrated (`manage.py migrate`), then
filled with set-based SQL (`INSERT ... SELECT` over `generate_series`), never
the ORM row by row. The book stands as the close of the day before `--on`
left it, so closing `--on` is an ordinary nightly close:

- one branch per 50 loans, its first member the branch leader;
- one KYC-verified member per loan, with a user and a credit profile;
- open loans of 12 monthly installments (equal principal, 12 % a year),
  disbursed over the past year, with their history of state moves;
- about 8 % of loans missed an installment, from one to six months ago, so
  some are in grace, overdue (with a collection case and the ladder steps
  taken so far) or blacklisted (member blacklisted, limit zero, frozen),
  and marked delinquent by risk from 30 days past due;
- a balanced ledger: each loan's disbursement, the interest fallen due so far
  and the repayments of the installments paid, as one entry each;
- a webhook endpoint following loan moves and collection stages, so the
  close writes its deliveries as in production.
"""

# ruff: noqa: S608 (table names are constants of this module)

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
SERVER = os.environ.get("BENCH_SERVER", "postgres://postgres@127.0.0.1:5432")
LOANS_PER_BRANCH = 50
MISSED_PERCENT = 8

# Each statement sees %(n)s (loans), %(p)s (the last closed date) and
# %(branches)s. Loan, member and user ids are 1..n; member i has loan i.
STEPS: list[tuple[str, str]] = [
    (
        "plan",
        """
        CREATE UNLOGGED TABLE bench_plan AS
        SELECT i AS id,
               (1000 + ((i::bigint * 7919) %% 19) * 500)::numeric(14, 2)
                   AS principal,
               %(p)s::date - (1 + ((i::bigint * 104729) %% 364))::int
                   AS disbursed_on,
               ((i::bigint * 2654435761) %% 1000003) %% 100 < %(missed)s
                   AS missed,
               ((i::bigint * 40503) %% 1000033) %% 6 AS lag,
               0 AS passed, 13 AS first_unpaid
          FROM generate_series(1, %(n)s) AS i
        """,
    ),
    (
        "schedule",
        """
        CREATE UNLOGGED TABLE bench_schedule AS
        SELECT p.id AS loan_id, k AS number,
               (p.disbursed_on + make_interval(months => k))::date AS due_date,
               CASE WHEN k < 12 THEN trunc(p.principal / 12, 2)
                    ELSE p.principal - 11 * trunc(p.principal / 12, 2)
               END AS principal,
               round((p.principal - (k - 1) * trunc(p.principal / 12, 2))
                     * 0.01, 2) AS interest
          FROM bench_plan p CROSS JOIN generate_series(1, 12) AS k
        """,
    ),
    (
        "arrears",
        """
        UPDATE bench_plan p
           SET passed = s.passed,
               first_unpaid = CASE
                   WHEN p.missed AND s.passed > 0
                   THEN greatest(1, s.passed - p.lag)
                   ELSE s.passed + 1 END
          FROM (SELECT loan_id, count(*) FILTER (WHERE due_date <= %(p)s)
                           AS passed
                  FROM bench_schedule GROUP BY loan_id) s
         WHERE s.loan_id = p.id;
        ALTER TABLE bench_plan ADD COLUMN oldest date,
            ADD COLUMN dpd int, ADD COLUMN state varchar(16);
        UPDATE bench_plan p SET oldest = s.due_date
          FROM bench_schedule s
         WHERE s.loan_id = p.id AND s.number = p.first_unpaid;
        UPDATE bench_plan SET dpd = greatest(0, %(p)s::date - oldest);
        UPDATE bench_plan SET state = CASE
            WHEN dpd > 90 THEN 'blacklisted' WHEN dpd > 3 THEN 'overdue'
            WHEN dpd > 0 THEN 'grace' ELSE 'active' END;
        CREATE INDEX ON bench_plan (id);
        ANALYZE bench_plan; ANALYZE bench_schedule
        """,
    ),
    (
        "branches and people",
        """
        INSERT INTO members_branch (id, name, region, status, paused_reason,
                                    created_on)
        SELECT b, '支部 ' || b, '区域 ' || (b %% 30), 'active', '',
               %(p)s::date - 500
          FROM generate_series(1, %(branches)s) AS b;
        INSERT INTO auth_user (id, password, is_superuser, username,
                               first_name, last_name, email, is_staff,
                               is_active, date_joined)
        SELECT i, '!', false, 'bench' || i, '', '', '', false, true, now()
          FROM generate_series(1, %(n)s + 1) AS i;
        INSERT INTO members_member (
            id, real_name, national_id_encrypted, national_id_digest,
            national_id_masked, phone_encrypted, phone_digest, phone_masked,
            branch_role, kyc_status, kyc_rejection_reason, kyc_reviewed_at,
            status, joined_on, created_at, branch_id, user_id)
        SELECT p.id, '成员' || p.id, '', md5('national-id:' || p.id),
               '110101********' || lpad((p.id %% 10000)::text, 4, '0'),
               '', md5('phone:' || p.id),
               '138****' || lpad((p.id %% 10000)::text, 4, '0'),
               CASE WHEN (p.id - 1) %% %(per_branch)s = 0 THEN 'leader'
                    ELSE 'member' END,
               'verified', '', now(),
               CASE WHEN p.state = 'blacklisted' THEN 'blacklisted'
                    ELSE 'active' END,
               %(p)s::date - 450, now(),
               (p.id - 1) / %(per_branch)s + 1, p.id
          FROM bench_plan p;
        INSERT INTO auth_user (id, password, is_superuser, username,
                               first_name, last_name, email, is_staff,
                               is_active, date_joined)
        VALUES (%(n)s + 2, '!', false, 'bench-partner', '', '', '', false,
                true, now());
        """,
    ),
    (
        "loans",
        """
        INSERT INTO loans_loan (
            id, principal, term_months, annual_rate, repayment_method,
            grace_days, penalty_daily_rate, blacklist_days, cost_cap,
            approvals_required, state, applied_on, disbursed_on,
            days_past_due, penalty_through, created_at, member_id,
            product_id, restructure_count)
        SELECT p.id, p.principal, 12, 0.1200, 'equal_principal', 3, 0.000500,
               90, 0.2400, 1, p.state, p.disbursed_on - 2, p.disbursed_on,
               p.dpd,
               CASE WHEN p.state IN ('overdue', 'blacklisted')
                    THEN %(p)s::date END,
               now(), p.id, %(product)s, 0
          FROM bench_plan p
        """,
    ),
    (
        "installments",
        """
        INSERT INTO loans_installment (
            loan_id, number, due_date, principal, interest, penalty,
            paid_principal, paid_interest, paid_penalty,
            interest_recognised, paid_on, superseded)
        SELECT s.loan_id, s.number, s.due_date, s.principal, s.interest, 0,
               CASE WHEN s.number < p.first_unpaid THEN s.principal ELSE 0 END,
               CASE WHEN s.number < p.first_unpaid THEN s.interest ELSE 0 END,
               0, s.due_date <= %(p)s,
               CASE WHEN s.number < p.first_unpaid THEN s.due_date END, false
          FROM bench_schedule s JOIN bench_plan p ON p.id = s.loan_id
         ORDER BY s.loan_id, s.number
        """,
    ),
    (
        "transitions",
        """
        INSERT INTO loans_loantransition (loan_id, source, target, "on",
                                          reason, at)
        SELECT p.id, m.source, m.target, m.on, '', now()
          FROM bench_plan p
         CROSS JOIN LATERAL (VALUES
               ('', 'applied', p.disbursed_on - 2, true),
               ('applied', 'approved', p.disbursed_on - 1, true),
               ('approved', 'active', p.disbursed_on, true),
               ('active', 'grace', p.oldest + 1, p.dpd >= 1),
               ('grace', 'overdue', p.oldest + 4, p.dpd >= 4),
               ('overdue', 'blacklisted', p.oldest + 91, p.dpd >= 91)
         ) AS m(source, target, "on", happened)
         WHERE m.happened
         ORDER BY p.id, m.on
        """,
    ),
    (
        "ledger",
        """
        CREATE UNLOGGED TABLE bench_money AS
        SELECT s.loan_id,
               sum(s.interest) FILTER (WHERE s.due_date <= %(p)s)
                   AS recognised,
               coalesce(sum(s.principal) FILTER (
                   WHERE s.number < p.first_unpaid), 0) AS paid_principal,
               coalesce(sum(s.interest) FILTER (
                   WHERE s.number < p.first_unpaid), 0) AS paid_interest,
               coalesce(sum(s.principal) FILTER (
                   WHERE s.number >= p.first_unpaid
                     AND s.due_date <= %(p)s), 0) AS late_principal,
               p.principal, p.disbursed_on
          FROM bench_schedule s JOIN bench_plan p ON p.id = s.loan_id
         GROUP BY s.loan_id, p.principal, p.disbursed_on;
        INSERT INTO loans_journalentry (id, loan_id, kind, "on", memo,
                                        dedupe_key, at)
        SELECT 3 * m.loan_id - e.offset_, m.loan_id, e.kind, e.on, '',
               m.loan_id || e.key, now()
          FROM bench_money m
         CROSS JOIN LATERAL (VALUES
               (2, 'disbursement', m.disbursed_on, ':disbursement', true),
               (1, 'interest_due', %(p)s::date, ':interest:history',
                coalesce(m.recognised, 0) > 0),
               (0, 'repayment', %(p)s::date, ':repayment:history',
                m.paid_principal > 0)
         ) AS e(offset_, kind, "on", key, happened)
         WHERE e.happened
         ORDER BY 1;
        INSERT INTO loans_journalline (entry_id, loan_id, account, debit,
                                       credit)
        SELECT 3 * m.loan_id - l.offset_, m.loan_id, l.account, l.debit,
               l.credit
          FROM bench_money m
         CROSS JOIN LATERAL (VALUES
               (2, 'principal_receivable', m.principal, 0),
               (2, 'cash', 0, m.principal),
               (1, 'interest_receivable', coalesce(m.recognised, 0), 0),
               (1, 'interest_income', 0, coalesce(m.recognised, 0)),
               (0, 'cash', m.paid_principal + m.paid_interest, 0),
               (0, 'principal_receivable', 0, m.paid_principal),
               (0, 'interest_receivable', 0, m.paid_interest)
         ) AS l(offset_, account, debit, credit)
         WHERE l.debit > 0 OR l.credit > 0
         ORDER BY 1
        """,
    ),
    (
        "credit",
        """
        INSERT INTO credit_creditprofile (
            member_id, "limit", open_principal, held, overdue_principal,
            frozen, frozen_reason, valid_until, limit_started_on,
            updated_at)
        SELECT p.id,
               CASE WHEN p.state = 'blacklisted' THEN 0 ELSE 10000 END,
               m.principal - m.paid_principal, 0,
               CASE WHEN p.state IN ('overdue', 'blacklisted')
                    THEN m.late_principal ELSE 0 END,
               p.state IN ('overdue', 'blacklisted'), '',
               %(p)s::date + 365, %(p)s::date - 450, now()
          FROM bench_plan p JOIN bench_money m ON m.loan_id = p.id;
        INSERT INTO members_blacklistentry (
            member_id, reason, source, source_reference, blacklisted_on,
            lift_reason, created_at)
        SELECT p.id, 'Loan ' || 'L' || lpad(p.id::text, 8, '0')
                     || ' is 91 days past due.',
               'loan', 'L' || lpad(p.id::text, 8, '0'), p.oldest + 91, '',
               now()
          FROM bench_plan p WHERE p.state = 'blacklisted'
        """,
    ),
    (
        "collections",
        """
        INSERT INTO collection_collectioncase (
            id, loan_id, stage, status, opened_on, next_action_on, cause,
            review, updated_at)
        SELECT p.id, p.id,
               CASE WHEN p.dpd >= 91 THEN 'blacklisted'
                    WHEN p.dpd >= 31 THEN 'late'
                    WHEN p.dpd >= 15 THEN 'mid' ELSE 'early' END,
               'open', p.oldest + 4, %(p)s::date + 1, '', '', now()
          FROM bench_plan p WHERE p.dpd >= 4;
        INSERT INTO collection_stepdone (loan_id, step_id, due_date, case_id,
                                         "on")
        SELECT p.id, st.id, NULL, p.id, p.oldest + st.reached
          FROM bench_plan p
          JOIN (SELECT id, CASE anchor WHEN 'grace_end' THEN 3 + day
                                       WHEN 'blacklist' THEN 90 + day
                                       ELSE day END AS reached
                  FROM collection_ladderstep
                 WHERE stage IN ('early', 'mid', 'late', 'blacklisted'))
               st ON st.reached <= p.dpd
         WHERE p.dpd >= 4;
        INSERT INTO collection_stepdone (loan_id, step_id, due_date, case_id,
                                         "on")
        SELECT p.id, st.id, p.oldest, NULL, %(p)s::date
          FROM bench_plan p
          JOIN collection_ladderstep st ON st.message = CASE
               WHEN %(p)s::date - p.oldest BETWEEN -3 AND -1
                    THEN 'reminder_ahead'
               WHEN %(p)s::date - p.oldest = 0 THEN 'reminder_due'
               WHEN %(p)s::date - p.oldest BETWEEN 1 AND 3 THEN 'grace'
               END
        """,
    ),
    (
        "finish",
        """
        INSERT INTO risk_delinquencymark (loan_id, first_on)
        SELECT id, oldest + 30 FROM bench_plan WHERE dpd >= 30;
        INSERT INTO integrations_endpoint (url, secret, event_types, active,
                                           description, created_at, owner_id)
        VALUES ('https://partner.example/hooks', 'bench-secret',
                '["loan.state_changed", "collection.stage_changed"]', true,
                'Benchmark partner', now(), %(n)s + 2);
        INSERT INTO loans_businessday ("on", started_at, closed_at)
        VALUES (%(p)s, now(), now());
        DROP TABLE bench_plan, bench_schedule, bench_money
        """,
    ),
]

SEQUENCED = [
    "members_branch",
    "auth_user",
    "members_member",
    "loans_loan",
    "loans_journalentry",
    "collection_collectioncase",
]

PRODUCT = """
INSERT INTO loans_product (name, min_amount, max_amount, terms, annual_rate,
    repayment_method, grace_days, penalty_daily_rate, blacklist_days,
    second_approval_above, cost_cap, active)
VALUES ('支部小额贷（基准）', 500, 10000, '[12]', 0.1200, 'equal_principal', 3,
        0.000500, 90, 5000, 0.2400, true)
RETURNING id
"""


def database_url(name: str) -> str:
    return f"{SERVER}/{name}"


def _admin(sql: str) -> None:
    with psycopg.connect(database_url("postgres"), autocommit=True) as admin:
        admin.execute(sql)


def database_recreate(name: str) -> None:
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _admin(f'CREATE DATABASE "{name}"')
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
        cwd=ROOT,
        env={
            **os.environ,
            "DATABASE_URL": database_url(name),
            "DJANGO_MODE": "development",
        },
        check=True,
    )


def portfolio_fill(
    name: str, *, loans: int, on: date, say: Callable[[str], object] = print
) -> None:
    """Fill a migrated database with `loans` open loans as of the close of
    the day before `on`."""
    params: dict[str, object] = {
        "n": loans,
        "p": on - timedelta(days=1),
        "branches": (loans + LOANS_PER_BRANCH - 1) // LOANS_PER_BRANCH,
        "per_branch": LOANS_PER_BRANCH,
        "missed": MISSED_PERCENT,
    }
    with psycopg.connect(database_url(name)) as db:
        row = db.execute(PRODUCT).fetchone()
        assert row is not None
        params["product"] = row[0]
        for label, sql in STEPS:
            started = time.monotonic()
            for statement in sql.split(";"):
                if statement.strip():
                    db.execute(statement, params)
            say(f"  {label}: {time.monotonic() - started:.1f}s")
        for table in SEQUENCED:
            db.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                f" (SELECT max(id) FROM {table}))"
            )
        db.commit()
    with psycopg.connect(database_url(name), autocommit=True) as db:
        db.execute("VACUUM ANALYZE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--loans", type=int, default=100_000)
    parser.add_argument("--database", default="lending_bench")
    parser.add_argument(
        "--on",
        type=date.fromisoformat,
        default=date.today(),
        help="The business date the portfolio is ready to close.",
    )
    args = parser.parse_args()
    started = time.monotonic()
    database_recreate(args.database)
    print(f"migrated {args.database} in {time.monotonic() - started:.1f}s")
    portfolio_fill(args.database, loans=args.loans, on=args.on)
    print(f"{args.loans} loans in {time.monotonic() - started:.1f}s")


if __name__ == "__main__":
    main()

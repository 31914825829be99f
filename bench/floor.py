"""The floor: hand-written set-based SQL making the close's changes for one
business date, what PostgreSQL itself needs without a framework around it.

Each step is a few statements over whole sets, in one transaction per step,
as the close commits per step. It makes the same rows as the close: days
past due, state moves with their transition rows and webhook deliveries,
interest fallen due and penalty accrued with their journal entries and
lines, the members' overdue principal, credit events and freezes of loans
fallen overdue, blacklisting, cases resolved and opened, ladder steps taken,
call tasks and messages queued with their text, case stages raised. What it
leaves out, and the close does not: rescoring members and cutting the
branch's limits when a loan defaults (credit services), mediations and legal
referrals offered by a step, and the risk app's early-warning rules; the
portfolio snapshot is read (one grouped query) but not written.
"""

# ruff: noqa: S608 (the SQL is built from constants of this module)

import time
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg

OPEN = "('active', 'grace', 'overdue', 'blacklisted')"

DELIVER = """
INSERT INTO integrations_delivery (event_id, endpoint_id, event_type, payload,
    status, attempts, next_try, last_error, created_at)
SELECT e.event_id, ep.id, '{kind}',
       jsonb_build_object('id', e.event_id::text, 'type', '{kind}',
                          'occurred_on', %(on)s::date::text, 'data', e.data),
       'queued', 0, now(), '', now()
  FROM (SELECT gen_random_uuid() AS event_id, data FROM {source}) e
  JOIN integrations_endpoint ep
    ON ep.active AND ep.event_types ? '{kind}'
"""


def _move(target: str, sources: str, condition: str, reason: str) -> str:
    return f"""
    CREATE TEMP TABLE f_moved ON COMMIT DROP AS
    WITH moved AS (
        UPDATE loans_loan l SET state = '{target}'
          FROM loans_loan before
         WHERE before.id = l.id AND l.state IN {sources} AND {condition}
        RETURNING l.id, l.member_id, before.state AS source)
    SELECT * FROM moved;
    INSERT INTO loans_loantransition (loan_id, source, target, "on", reason,
                                      at)
    SELECT id, source, '{target}', %(on)s, '{reason}', now() FROM f_moved;
    {
        DELIVER.format(
            kind="loan.state_changed",
            source=f'''(SELECT jsonb_build_object('loan', id, 'member',
                member_id, 'from', source, 'to', '{target}') AS data
                FROM f_moved) m''',
        )
    };
    DROP TABLE f_moved
    """


INTEREST_DUE = f"""
CREATE TEMP TABLE f_interest ON COMMIT DROP AS
SELECT i.id, i.loan_id, i.interest - i.paid_interest AS amount,
       i.loan_id || ':interest:' || i.number AS key
  FROM loans_installment i JOIN loans_loan l ON l.id = i.loan_id
 WHERE l.state IN {OPEN} AND i.due_date <= %(on)s
   AND NOT i.interest_recognised;
CREATE TEMP TABLE f_entry ON COMMIT DROP AS
WITH e AS (
    INSERT INTO loans_journalentry (loan_id, kind, "on", memo, dedupe_key, at)
    SELECT loan_id, 'interest_due', %(on)s, '', key, now()
      FROM f_interest WHERE amount > 0
    RETURNING id, dedupe_key)
SELECT * FROM e;
INSERT INTO loans_journalline (entry_id, loan_id, account, debit, credit)
SELECT e.id, f.loan_id, a.account, a.debit, a.credit
  FROM f_entry e JOIN f_interest f ON f.key = e.dedupe_key
 CROSS JOIN LATERAL (VALUES ('interest_receivable', f.amount, 0),
                            ('interest_income', 0, f.amount))
       AS a(account, debit, credit);
UPDATE loans_installment SET interest_recognised = true
 WHERE id IN (SELECT id FROM f_interest)
"""

AGE = (
    f"""
UPDATE loans_loan l SET days_past_due = coalesce(%(on)s - o.oldest, 0)
  FROM loans_loan l2
  LEFT JOIN (SELECT loan_id, min(due_date) AS oldest FROM loans_installment
              WHERE due_date < %(on)s AND paid_on IS NULL GROUP BY loan_id) o
    ON o.loan_id = l2.id
 WHERE l.id = l2.id AND l2.state IN {OPEN}
   AND l.days_past_due <> coalesce(%(on)s - o.oldest, 0);
"""
    + _move("active", "('grace', 'overdue')", "l.days_past_due = 0", "No arrears.")
    + ";"
    + _move("grace", "('active')", "l.days_past_due >= 1", "Installment unpaid.")
    + ";"
    + _move(
        "overdue",
        "('grace')",
        "l.days_past_due > l.grace_days",
        "Past the grace days.",
    )
    + ";"
    + _move(
        "blacklisted",
        "('overdue')",
        "l.days_past_due > l.blacklist_days",
        "Past the blacklisting threshold.",
    )
)

# The cap grows with the days since disbursement; what is charged against it
# is the interest fallen due and the penalty so far; the room left is given
# to the late installments in their order.
PENALTY = """
CREATE TEMP TABLE f_due ON COMMIT DROP AS
SELECT id, principal, cost_cap, disbursed_on, penalty_daily_rate
  FROM loans_loan
 WHERE state IN ('overdue', 'blacklisted')
   AND (penalty_through IS NULL OR penalty_through < %(on)s);
CREATE TEMP TABLE f_penalty ON COMMIT DROP AS
WITH charged AS (
    SELECT i.loan_id,
           sum(CASE WHEN i.due_date <= %(on)s THEN i.interest ELSE 0 END
               + i.penalty) AS charged
      FROM loans_installment i JOIN f_due d ON d.id = i.loan_id
     GROUP BY i.loan_id),
late AS (
    SELECT i.id, i.loan_id, i.number,
           round((i.principal - i.paid_principal + i.interest
                  - i.paid_interest) * d.penalty_daily_rate, 2) AS wanted,
           greatest(0, round(d.principal * d.cost_cap
               * (%(on)s - coalesce(d.disbursed_on, %(on)s) + 1) / 365, 2)
               - c.charged) AS room
      FROM loans_installment i
      JOIN f_due d ON d.id = i.loan_id
      JOIN charged c ON c.loan_id = i.loan_id
     WHERE i.due_date < %(on)s AND i.paid_on IS NULL)
SELECT id, loan_id,
       greatest(0, least(wanted, room - coalesce(sum(wanted) OVER (
           PARTITION BY loan_id ORDER BY number
           ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0))) AS amount
  FROM late;
UPDATE loans_installment i SET penalty = i.penalty + f.amount
  FROM f_penalty f WHERE f.id = i.id AND f.amount > 0;
CREATE TEMP TABLE f_total ON COMMIT DROP AS
SELECT loan_id, sum(amount) AS total FROM f_penalty
 GROUP BY loan_id HAVING sum(amount) > 0;
CREATE TEMP TABLE f_entry ON COMMIT DROP AS
WITH e AS (
    INSERT INTO loans_journalentry (loan_id, kind, "on", memo, dedupe_key, at)
    SELECT loan_id, 'penalty', %(on)s, '',
           loan_id || ':penalty:' || %(on)s::date::text, now()
      FROM f_total
    RETURNING id, loan_id)
SELECT * FROM e;
INSERT INTO loans_journalline (entry_id, loan_id, account, debit, credit)
SELECT e.id, e.loan_id, a.account, a.debit, a.credit
  FROM f_entry e JOIN f_total t ON t.loan_id = e.loan_id
 CROSS JOIN LATERAL (VALUES ('penalty_receivable', t.total, 0),
                            ('penalty_income', 0, t.total))
       AS a(account, debit, credit);
UPDATE loans_loan SET penalty_through = %(on)s
 WHERE id IN (SELECT id FROM f_due)
"""

REPORT_TO_CREDIT = """
CREATE TEMP TABLE f_moves ON COMMIT DROP AS
SELECT t.target, l.id, l.member_id, l.days_past_due,
       'L' || lpad(l.id::text, 8, '0') AS reference
  FROM loans_loantransition t JOIN loans_loan l ON l.id = t.loan_id
 WHERE t."on" = %(on)s AND t.by_id IS NULL
   AND t.target IN ('overdue', 'blacklisted');
INSERT INTO credit_repaymentevent (member_id, kind, occurred_on,
    days_past_due, on_time, loan_reference, dedupe_key)
SELECT member_id, 'loan_overdue', %(on)s, days_past_due, false, reference,
       member_id || ':' || reference || ':overdue:' || %(on)s::date::text
  FROM f_moves WHERE target = 'overdue'
ON CONFLICT DO NOTHING;
INSERT INTO credit_repaymentevent (member_id, kind, occurred_on,
    days_past_due, on_time, loan_reference, dedupe_key)
SELECT member_id, 'loan_defaulted', %(on)s, days_past_due, false, reference,
       member_id || ':' || reference || ':defaulted'
  FROM f_moves WHERE target = 'blacklisted'
ON CONFLICT DO NOTHING;
UPDATE credit_creditprofile SET frozen = true, updated_at = now()
 WHERE member_id IN (SELECT member_id FROM f_moves WHERE target = 'overdue');
INSERT INTO members_blacklistentry (member_id, reason, source,
    source_reference, blacklisted_on, lift_reason, created_at)
SELECT DISTINCT ON (m.member_id) m.member_id,
       'Loan ' || m.reference || ' is ' || m.days_past_due || ' days past due.',
       'loan', m.reference, %(on)s, '', now()
  FROM f_moves m JOIN members_member mm ON mm.id = m.member_id
 WHERE m.target = 'blacklisted' AND mm.status = 'active';
UPDATE members_member SET status = 'blacklisted'
 WHERE status = 'active'
   AND id IN (SELECT member_id FROM f_moves WHERE target = 'blacklisted');
UPDATE credit_creditprofile SET "limit" = 0, frozen = true, updated_at = now()
 WHERE member_id IN (SELECT member_id FROM f_moves
                      WHERE target = 'blacklisted');
UPDATE credit_creditprofile p SET overdue_principal = coalesce(o.amount, 0),
       updated_at = now()
  FROM credit_creditprofile p2
  LEFT JOIN (SELECT l.member_id, sum(i.principal - i.paid_principal) AS amount
               FROM loans_installment i JOIN loans_loan l ON l.id = i.loan_id
              WHERE l.state IN ('overdue', 'blacklisted')
                AND i.due_date < %(on)s AND i.paid_on IS NULL
              GROUP BY l.member_id) o ON o.member_id = p2.member_id
 WHERE p.id = p2.id AND (o.amount IS NOT NULL OR p2.overdue_principal > 0)
   AND p.overdue_principal <> coalesce(o.amount, 0)
"""

CASES = """
UPDATE collection_collectioncase SET status = 'resolved',
       resolved_on = %(on)s, updated_at = now()
 WHERE status IN ('open', 'promised')
   AND loan_id IN (SELECT id FROM loans_loan
                    WHERE state NOT IN ('grace', 'overdue', 'blacklisted'))
"""

STAGES = "ARRAY['reminder', 'grace', 'early', 'mid', 'late', 'blacklisted']"

LADDER = f"""
CREATE TEMP TABLE f_near ON COMMIT DROP AS
SELECT l.id AS loan_id, l.member_id, l.grace_days, l.blacklist_days,
       l.days_past_due, o.oldest, %(on)s - o.oldest AS relative
  FROM loans_loan l
  JOIN (SELECT loan_id, min(due_date) AS oldest FROM loans_installment
         WHERE paid_on IS NULL GROUP BY loan_id) o ON o.loan_id = l.id
 WHERE l.state IN {OPEN}
   AND %(on)s - o.oldest >= (SELECT min(day) FROM collection_ladderstep);
CREATE TEMP TABLE f_reached ON COMMIT DROP AS
SELECT n.*, s.id AS step_id, s.message, s.call_task,
       array_position({STAGES}, s.stage::text) AS rank,
       CASE s.anchor WHEN 'grace_end' THEN n.grace_days + s.day
                     WHEN 'blacklist' THEN n.blacklist_days + s.day
                     ELSE s.day END AS threshold
  FROM f_near n JOIN collection_ladderstep s ON s.policy_id = 1
 WHERE CASE s.anchor WHEN 'grace_end' THEN n.grace_days + s.day
                     WHEN 'blacklist' THEN n.blacklist_days + s.day
                     ELSE s.day END <= n.relative;
CREATE TEMP TABLE f_case_step ON COMMIT DROP AS
SELECT * FROM f_reached WHERE rank >= 3;
INSERT INTO collection_collectioncase (loan_id, stage, status, opened_on,
    next_action_on, cause, review, updated_at)
SELECT DISTINCT ON (f.loan_id) f.loan_id, ({STAGES})[f.rank], 'open',
       %(on)s, %(on)s + 1, '', '', now()
  FROM f_case_step f
 WHERE NOT EXISTS (SELECT 1 FROM collection_collectioncase c
                    WHERE c.loan_id = f.loan_id
                      AND c.status IN ('open', 'promised', 'legal'))
 ORDER BY f.loan_id, f.threshold, f.rank;
CREATE TEMP TABLE f_stages ON COMMIT DROP AS
SELECT c.id AS case_id, c.loan_id, c.stage AS before FROM collection_collectioncase c
 WHERE c.status IN ('open', 'promised', 'legal')
   AND c.loan_id IN (SELECT loan_id FROM f_case_step);
CREATE TEMP TABLE f_take ON COMMIT DROP AS
SELECT f.loan_id, f.member_id, f.step_id, f.message, f.call_task, f.rank,
       f.days_past_due, f.oldest, s.case_id, NULL::date AS due,
       'case' || s.case_id AS episode
  FROM f_case_step f JOIN f_stages s ON s.loan_id = f.loan_id
 WHERE NOT EXISTS (SELECT 1 FROM collection_stepdone d
                    WHERE d.case_id = s.case_id AND d.step_id = f.step_id)
UNION ALL
SELECT r.loan_id, r.member_id, r.step_id, r.message, r.call_task, r.rank,
       r.days_past_due, r.oldest, NULL, r.oldest, r.oldest::text
  FROM (SELECT DISTINCT ON (loan_id) * FROM f_reached
         WHERE loan_id NOT IN (SELECT loan_id FROM f_case_step)
         ORDER BY loan_id, threshold DESC, rank DESC) r
 WHERE NOT EXISTS (SELECT 1 FROM collection_stepdone d
                    WHERE d.loan_id = r.loan_id AND d.step_id = r.step_id
                      AND d.case_id IS NULL AND d.due_date = r.oldest);
UPDATE collection_collectioncase c SET stage = ({STAGES})[t.rank],
       updated_at = now()
  FROM (SELECT case_id, max(rank) AS rank FROM f_take
         WHERE case_id IS NOT NULL GROUP BY case_id) t
 WHERE t.case_id = c.id AND array_position({STAGES}, c.stage::text) < t.rank;
{
    DELIVER.format(
        kind="collection.stage_changed",
        source='''(SELECT jsonb_build_object('case', c.id, 'loan', c.loan_id,
            'member', l.member_id, 'from', CASE WHEN s.before = c.stage
            THEN NULL ELSE s.before END, 'to', c.stage) AS data
            FROM f_stages s JOIN collection_collectioncase c ON c.id = s.case_id
            JOIN loans_loan l ON l.id = c.loan_id
            WHERE c.updated_at >= now()) m''',
    )
};
INSERT INTO collection_stepdone (loan_id, step_id, due_date, case_id, "on")
SELECT loan_id, step_id, due, case_id, %(on)s FROM f_take;
INSERT INTO collection_calltask (case_id, due_on)
SELECT case_id, %(on)s + 1 FROM f_take WHERE call_task;
CREATE TEMP TABLE f_owed ON COMMIT DROP AS
SELECT i.loan_id,
       sum(i.principal - i.paid_principal + i.interest - i.paid_interest
           + i.penalty - i.paid_penalty) FILTER (WHERE i.due_date < %(on)s)
           AS late,
       min(i.due_date) FILTER (WHERE i.paid_on IS NULL) AS oldest
  FROM loans_installment i
 WHERE i.loan_id IN (SELECT loan_id FROM f_take WHERE message <> '')
 GROUP BY i.loan_id;
INSERT INTO collection_message (member_id, loan_id, purpose, audience,
    channel, language, body, dedupe_key, status, scheduled_for, attempts,
    last_error, created_at)
SELECT t.member_id, t.loan_id, t.message, 'borrower', 'sms', 'zh-hans',
       replace(replace(replace(replace(replace(replace(replace(replace(
           replace(tpl.body,
           '${{name}}', m.real_name), '${{branch}}', b.name),
           '${{loan}}', 'L' || lpad(t.loan_id::text, 8, '0')),
           '${{due_date}}', coalesce(o.oldest::text, '')),
           '${{amount_due}}', '¥' || to_char(coalesce(o.late, 0),
                                              'FM999,999,990.00')),
           '${{overdue_amount}}', '¥' || to_char(coalesce(o.late, 0),
                                                  'FM999,999,990.00')),
           '${{days_past_due}}', t.days_past_due::text),
           '${{grace_days_left}}', greatest(0, 3 - t.days_past_due)::text),
           '${{hotline}}', '400-000-0000'),
       t.loan_id || ':' || t.message || ':' || t.episode, 'queued',
       %(at)s, 0, '', now()
  FROM f_take t
  JOIN members_member m ON m.id = t.member_id
  JOIN members_branch b ON b.id = m.branch_id
  JOIN collection_messagetemplate tpl
    ON tpl.purpose = t.message AND tpl.language = 'zh-hans'
  LEFT JOIN f_owed o ON o.loan_id = t.loan_id
 WHERE t.message <> ''
ON CONFLICT DO NOTHING
"""

SNAPSHOT = f"""
SELECT m.branch_id,
       CASE WHEN l.days_past_due = 0 THEN 'current'
            WHEN l.days_past_due <= 30 THEN '1-30'
            WHEN l.days_past_due <= 90 THEN '31-90' ELSE '90+' END,
       count(DISTINCT l.id), sum(i.principal - i.paid_principal)
  FROM loans_loan l JOIN members_member m ON m.id = l.member_id
  JOIN loans_installment i ON i.loan_id = l.id
 WHERE l.state IN {OPEN}
 GROUP BY 1, 2
"""

STEPS = [
    ("loans.cob.interest_due", INTEREST_DUE),
    ("loans.cob.age", AGE),
    ("loans.cob.penalty", PENALTY),
    ("loans.cob.report_to_credit", REPORT_TO_CREDIT),
    ("collection.cob.cases", CASES),
    ("collection.cob.ladder", LADDER),
    ("risk.cob.snapshot", SNAPSHOT),
]


def _statements(sql: str) -> list[str]:
    """Split on the semicolons that end statements (none sit in strings)."""
    return [part for part in sql.split(";\n") if part.strip()]


def floor_run(url: str, *, on: date) -> dict[str, float]:
    """Make the close's changes for `on`; seconds per step."""
    at = datetime.combine(on + timedelta(days=1), datetime.min.time()).replace(
        hour=9, tzinfo=ZoneInfo("Asia/Shanghai")
    )
    params = {"on": on, "at": at}
    seconds: dict[str, float] = {}
    with psycopg.connect(url) as db:
        for name, sql in STEPS:
            started = time.monotonic()
            with db.transaction():
                for statement in _statements(sql):
                    db.execute(statement, params)
            seconds[name] = time.monotonic() - started
    return seconds

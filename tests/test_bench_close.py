"""The close benchmark's generator makes a book the close can trust: loans
whose days past due and states agree with their installments, a ledger whose
every entry balances and agrees with the schedules, arrears at about the
share asked for."""

from collections.abc import Iterator
from datetime import date

import psycopg
import pytest
from django.db import connection

from bench import generate

pytestmark = pytest.mark.postgres

LOANS = 400
ON = date(2026, 6, 15)


@pytest.fixture
def book(monkeypatch: pytest.MonkeyPatch) -> Iterator[psycopg.Connection]:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    server = f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}"
    monkeypatch.setattr(generate, "SERVER", f"{server}:{db['PORT'] or 5432}")
    name = f"{db['NAME']}_generated"
    generate.database_recreate(name)
    generate.portfolio_fill(name, loans=LOANS, on=ON, say=lambda line: None)
    with psycopg.connect(generate.database_url(name)) as filled:
        yield filled
    with psycopg.connect(generate.database_url("postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def _one(db: psycopg.Connection, sql: str) -> object:
    row = db.execute(sql).fetchone()
    assert row is not None
    return row[0]


def test_the_generated_book_has_every_loan_with_its_twelve_installments(
    book: psycopg.Connection,
) -> None:
    assert _one(book, "SELECT count(*) FROM loans_loan") == LOANS
    assert _one(book, "SELECT count(*) FROM members_member") == LOANS
    assert _one(book, "SELECT count(*) FROM credit_creditprofile") == LOANS
    assert _one(book, "SELECT count(*) FROM loans_installment") == 12 * LOANS
    assert _one(book, "SELECT count(*) FROM members_branch") == LOANS // 50
    # The close of the day before is recorded, so the next close is `ON`.
    assert _one(book, 'SELECT max("on") FROM loans_businessday') == date(2026, 6, 14)


def test_every_entry_balances_and_receivables_agree_with_the_schedules(
    book: psycopg.Connection,
) -> None:
    unbalanced = """
        SELECT count(*) FROM (SELECT entry_id FROM loans_journalline
         GROUP BY entry_id HAVING sum(debit) <> sum(credit)) AS e"""
    assert _one(book, unbalanced) == 0
    principal_disagrees = """
        SELECT count(*) FROM loans_loan l
          JOIN (SELECT loan_id, sum(debit - credit) AS owed
                  FROM loans_journalline WHERE account = 'principal_receivable'
                 GROUP BY loan_id) j ON j.loan_id = l.id
          JOIN (SELECT loan_id, sum(principal - paid_principal) AS owed
                  FROM loans_installment GROUP BY loan_id) i ON i.loan_id = l.id
         WHERE j.owed <> i.owed"""
    assert _one(book, principal_disagrees) == 0
    interest_disagrees = """
        SELECT count(*) FROM (SELECT l.id FROM loans_loan l
          LEFT JOIN loans_journalline j
            ON j.loan_id = l.id AND j.account = 'interest_receivable'
         GROUP BY l.id
        HAVING coalesce(sum(j.debit - j.credit), 0) <> (
            SELECT sum(interest - paid_interest) FROM loans_installment
             WHERE loan_id = l.id AND interest_recognised)) AS d"""
    assert _one(book, interest_disagrees) == 0


def test_days_past_due_and_states_agree_with_the_installments(
    book: psycopg.Connection,
) -> None:
    disagrees = """
        SELECT count(*) FROM loans_loan l
          LEFT JOIN (SELECT loan_id, min(due_date) AS oldest
                       FROM loans_installment
                      WHERE paid_on IS NULL AND due_date < '2026-06-15'
                      GROUP BY loan_id) o ON o.loan_id = l.id
         WHERE l.days_past_due <> coalesce('2026-06-14'::date - o.oldest, 0)
            OR l.state <> CASE
               WHEN l.days_past_due > l.blacklist_days THEN 'blacklisted'
               WHEN l.days_past_due > l.grace_days THEN 'overdue'
               WHEN l.days_past_due > 0 THEN 'grace' ELSE 'active' END"""
    assert _one(book, disagrees) == 0
    behind = _one(
        book,
        """SELECT count(DISTINCT loan_id) FROM loans_installment
            WHERE paid_on IS NULL AND due_date <= '2026-06-14'""",
    )
    assert isinstance(behind, int)
    assert 0.04 * LOANS <= behind <= 0.12 * LOANS
    states: dict[str, int] = dict(
        book.execute("SELECT state, count(*) FROM loans_loan GROUP BY state")
    )
    assert states.get("overdue", 0) > 0
    assert states.get("blacklisted", 0) > 0
    blacklisted = _one(
        book, "SELECT count(*) FROM members_member WHERE status = 'blacklisted'"
    )
    assert blacklisted == states["blacklisted"]
    cases = _one(
        book,
        """SELECT count(*) FROM collection_collectioncase
            WHERE status = 'open'""",
    )
    assert cases == states.get("overdue", 0) + states["blacklisted"]

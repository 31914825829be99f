"""PostgreSQL itself refuses an unbalanced journal entry, and any edit.

A deferred constraint trigger checks, at commit, that every entry touched
has debits equal to credits; a second trigger refuses updates and deletes
of journal lines, since corrections are reversals. SQLite (the demo) relies
on the Python checks in `loans.ledger`.
"""

from django.db import migrations

CREATE = """
CREATE FUNCTION loans_entry_balanced() RETURNS trigger AS $$
DECLARE
    total_debit numeric;
    total_credit numeric;
BEGIN
    SELECT COALESCE(SUM(debit), 0), COALESCE(SUM(credit), 0)
      INTO total_debit, total_credit
      FROM loans_journalline WHERE entry_id = NEW.entry_id;
    IF total_debit <> total_credit THEN
        RAISE EXCEPTION 'journal entry % is unbalanced: debit %, credit %',
            NEW.entry_id, total_debit, total_credit
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE CONSTRAINT TRIGGER loans_journalline_balanced
    AFTER INSERT ON loans_journalline
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION loans_entry_balanced();

CREATE FUNCTION loans_journalline_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'journal lines are never edited; post a reversal'
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER loans_journalline_no_edit
    BEFORE UPDATE OR DELETE ON loans_journalline
    FOR EACH ROW EXECUTE FUNCTION loans_journalline_immutable();
"""

DROP = """
DROP TRIGGER IF EXISTS loans_journalline_no_edit ON loans_journalline;
DROP FUNCTION IF EXISTS loans_journalline_immutable();
DROP TRIGGER IF EXISTS loans_journalline_balanced ON loans_journalline;
DROP FUNCTION IF EXISTS loans_entry_balanced();
"""


def _on_postgresql(sql: str):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("loans", "0001_initial")]

    operations = [migrations.RunPython(_on_postgresql(CREATE), _on_postgresql(DROP))]

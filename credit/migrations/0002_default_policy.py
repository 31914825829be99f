"""Ships scoring policy version 1, in force, so a fresh install can score.

Risk officers replace it by drafting version 2 in the admin and having a
colleague approve it. The numbers are a reasonable start, not a model fit
to data: total points run from about -200 to 540; a new verified member
with no history and no bureau report scores about 370 (grade C).
"""

from decimal import Decimal as D

from django.db import migrations

BANDS = [
    # input, when_missing, lower, upper, points
    ("kyc_verified", False, D("1"), None, 100),
    ("kyc_verified", False, None, D("1"), 0),
    ("tenure_months", False, None, D("3"), 0),
    ("tenure_months", False, D("3"), D("12"), 20),
    ("tenure_months", False, D("12"), None, 40),
    ("on_time_share", True, None, None, 40),
    ("on_time_share", False, None, D("0.8"), 0),
    ("on_time_share", False, D("0.8"), D("0.95"), 40),
    ("on_time_share", False, D("0.95"), None, 80),
    ("late_installments", False, None, D("1"), 0),
    ("late_installments", False, D("1"), D("3"), -10),
    ("late_installments", False, D("3"), None, -30),
    ("worst_days_past_due", False, None, D("1"), 40),
    ("worst_days_past_due", False, D("1"), D("8"), 20),
    ("worst_days_past_due", False, D("8"), D("31"), 0),
    ("worst_days_past_due", False, D("31"), None, -60),
    ("loans_repaid", False, None, D("1"), 0),
    ("loans_repaid", False, D("1"), D("3"), 20),
    ("loans_repaid", False, D("3"), None, 40),
    ("utilisation", True, None, None, 40),
    ("utilisation", False, None, D("0.5"), 60),
    ("utilisation", False, D("0.5"), D("0.9"), 30),
    ("utilisation", False, D("0.9"), None, 0),
    ("branch_overdue_share", True, None, None, 40),
    ("branch_overdue_share", False, None, D("0.05"), 60),
    ("branch_overdue_share", False, D("0.05"), D("0.15"), 30),
    ("branch_overdue_share", False, D("0.15"), None, 0),
    ("tie_defaults", False, None, D("1"), 20),
    ("tie_defaults", False, D("1"), None, -40),
    ("bureau_overdue_count", True, None, None, 20),
    ("bureau_overdue_count", False, None, D("1"), 40),
    ("bureau_overdue_count", False, D("1"), D("3"), 0),
    ("bureau_overdue_count", False, D("3"), None, -60),
    ("debt_to_income", True, None, None, 20),
    ("debt_to_income", False, None, D("0.5"), 40),
    ("debt_to_income", False, D("0.5"), D("1"), 10),
    ("debt_to_income", False, D("1"), None, -40),
    ("inquiries_90d", True, None, None, 10),
    ("inquiries_90d", False, None, D("3"), 20),
    ("inquiries_90d", False, D("3"), D("6"), 0),
    ("inquiries_90d", False, D("6"), None, -30),
]

GRADES = [
    ("A", 450, D("10000.00")),
    ("B", 380, D("6000.00")),
    ("C", 320, D("3000.00")),
    ("D", 260, D("1000.00")),
    ("E", -1000, D("0.00")),
]


def ship_default_policy(apps, schema_editor):
    ScoringPolicy = apps.get_model("credit", "ScoringPolicy")
    if ScoringPolicy.objects.exists():
        return
    policy = ScoringPolicy.objects.create(
        version=1,
        status="in_force",
        notes="Shipped default policy.",
        effective_from="2026-01-01",
    )
    PolicyBand = apps.get_model("credit", "PolicyBand")
    PolicyBand.objects.bulk_create(
        PolicyBand(
            policy=policy,
            input=name,
            when_missing=missing,
            lower=lower,
            upper=upper,
            points=points,
        )
        for name, missing, lower, upper, points in BANDS
    )
    GradeBand = apps.get_model("credit", "GradeBand")
    GradeBand.objects.bulk_create(
        GradeBand(policy=policy, grade=grade, min_points=low, ceiling=ceiling)
        for grade, low, ceiling in GRADES
    )


class Migration(migrations.Migration):
    dependencies = [("credit", "0001_initial")]

    operations = [migrations.RunPython(ship_default_policy, migrations.RunPython.noop)]

"""The shipped classification tiers, early-warning rules and one stress
scenario; risk officers edit them in the admin afterwards.

Tiers follow the five-tier classification with day ranges tightened for
small monthly loans (a loan 90 days behind is lost more often than not),
and the provision rates the regulator's guidance names for each tier.
"""

from decimal import Decimal as D

from django.db import migrations

TIERS = [
    ("normal", 0, D("0.0100")),
    ("special_mention", 1, D("0.0200")),
    ("substandard", 31, D("0.2500")),
    ("doubtful", 61, D("0.5000")),
    ("loss", 91, D("1.0000")),
]

# kind, severity, threshold, window days, pauses the branch
RULES = [
    ("first_installment_missed", "warning", D(0), 0, False),
    ("branch_par30", "critical", D("0.1000"), 0, False),
    ("score_drop", "warning", D(80), 30, False),
    ("bureau_overdue", "warning", D(0), 0, False),
    ("application_burst", "warning", D(3), 7, False),
    ("guarantor_ring", "warning", D(0), 0, False),
    ("branch_concentration", "warning", D("0.4000"), 0, False),
]


def ship(apps, schema_editor):
    Tier = apps.get_model("risk", "Tier")
    Tier.objects.bulk_create(
        Tier(code=code, min_days=days, provision_rate=rate) for code, days, rate in TIERS
    )
    WarningRule = apps.get_model("risk", "WarningRule")
    WarningRule.objects.bulk_create(
        WarningRule(
            kind=kind,
            severity=severity,
            threshold=threshold,
            window_days=window,
            pauses_branch=pauses,
        )
        for kind, severity, threshold, window, pauses in RULES
    )
    StressScenario = apps.get_model("risk", "StressScenario")
    StressScenario.objects.create(
        name="严重衰退 Severe downturn",
        description=(
            "Default probabilities doubled for good grades and tripled for the "
            "weakest, loans already behind twice as likely to default, two in "
            "ten guarantors following the member they back, and three quarters "
            "of a defaulted balance lost."
        ),
        pd_multipliers={
            "A": "2",
            "B": "2",
            "C": "2.5",
            "D": "3",
            "E": "3",
            "1-30": "2",
            "31-60": "2",
            "61-90": "1.5",
        },
        lgd=D("0.7500"),
        contagion=D("0.2000"),
        simulations=10000,
        seed=20261204,
    )


def unship(apps, schema_editor):
    for model in ("StressScenario", "WarningRule", "Tier"):
        apps.get_model("risk", model).objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("risk", "0001_initial")]

    operations = [migrations.RunPython(ship, unship)]

# Installments order by their loan's id, not by the loan: ordering by the
# loan joined loans_loan into every query on installments, grouped ones too.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("loans", "0005_installment_close_indexes"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="installment",
            options={
                "ordering": ["loan_id", "number"],
                "verbose_name": "installment",
                "verbose_name_plural": "installments",
            },
        ),
    ]

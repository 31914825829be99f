# The close reads the installments not yet income and the unpaid ones by loan.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("loans", "0004_admin_list_indexes"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="installment",
            index=models.Index(
                condition=models.Q(("interest_recognised", False)),
                fields=["loan", "due_date"],
                name="loans_inst_interest_todo_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="installment",
            index=models.Index(
                condition=models.Q(("paid_on__isnull", True)),
                fields=["loan", "due_date"],
                name="loans_inst_unpaid_idx",
            ),
        ),
    ]

"""Every audit event is a write, on the sign-in path too, so no index is kept twice: company and
connection are the first column of their time indexes; action and error_code keep a plain
index, without the LIKE one PostgreSQL adds for ``db_index=True`` on text."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0008_user_scim_visible_index"),
        ("audit", "0002_refusal_tally"),
        ("connections", "0008_indexes_written_once"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="auditevent",
            name="action",
            field=models.CharField(max_length=64),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="company",
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to="accounts.company"),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="connection",
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="audit_events", to="connections.connection"),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="error_code",
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["action"], name="audit_action"),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["error_code"], name="audit_error_code"),
        ),
    ]

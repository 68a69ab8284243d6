"""On PostgreSQL the pending SP-initiated requests' table is UNLOGGED, without a foreign key
constraint to lock the connection's row (see ``PendingAuthnRequest``)."""

import django.db.models.deletion
from django.db import migrations, models


def unlogged(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE connections_pendingauthnrequest SET UNLOGGED")


def logged(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE connections_pendingauthnrequest SET LOGGED")


class Migration(migrations.Migration):
    dependencies = [
        ("connections", "0008_indexes_written_once"),
    ]

    operations = [
        migrations.AlterField(
            model_name="pendingauthnrequest",
            name="connection",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="connections.connection",
            ),
        ),
        migrations.RunPython(unlogged, logged),
    ]

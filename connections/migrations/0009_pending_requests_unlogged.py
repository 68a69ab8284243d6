"""On PostgreSQL the pending SP-initiated requests' table is UNLOGGED, without a foreign key
constraint to lock the connection's row (see ``PendingAuthnRequest``)."""

import django.db.models.deletion
from django.db import migrations, models

from core.postgresql.unlogged import set_unlogged


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
        set_unlogged("connections_pendingauthnrequest"),
    ]

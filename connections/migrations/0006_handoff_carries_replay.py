"""The verified sign-in carries the ACS's replay memory (its assertion ID, unique per
connection, kept until the assertion expires); on PostgreSQL its table is UNLOGGED, without a
foreign key constraint to lock the connection's row (see ``VerifiedSignIn``)."""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

from core.postgresql.unlogged import set_unlogged


class Migration(migrations.Migration):
    dependencies = [
        ("connections", "0005_drop_sign_ins_in_flight"),
    ]

    operations = [
        migrations.AlterField(
            model_name="verifiedsignin",
            name="connection",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="connections.connection",
            ),
        ),
        migrations.AlterField(
            model_name="verifiedsignin",
            name="token_hash",
            field=models.CharField(max_length=64, null=True, unique=True),
        ),
        migrations.AddField(
            model_name="verifiedsignin",
            name="assertion_id",
            field=models.CharField(default="", max_length=200),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="verifiedsignin",
            name="remember_until",
            field=models.DateTimeField(db_index=True, default=django.utils.timezone.now),
            preserve_default=False,
        ),
        migrations.AddConstraint(
            model_name="verifiedsignin",
            constraint=models.UniqueConstraint(
                fields=("connection", "assertion_id"), name="verified_sign_in_assertion_unique"
            ),
        ),
        set_unlogged("connections_verifiedsignin"),
    ]

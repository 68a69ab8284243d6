"""Each sign-in writes these rows, so no index is kept twice: the connection of a seen
assertion, a verified sign-in and a SAML session is the first column of another index of its
table, and the token of a verified sign-in is unique by a constraint, without the LIKE index
PostgreSQL adds for ``unique=True``."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("connections", "0007_sign_in_reads_ahead"),
    ]

    operations = [
        migrations.AlterField(
            model_name="samlsession",
            name="connection",
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="+", to="connections.connection"),
        ),
        migrations.AlterField(
            model_name="seenassertion",
            name="connection",
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="+", to="connections.connection"),
        ),
        migrations.AlterField(
            model_name="verifiedsignin",
            name="connection",
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="+", to="connections.connection"),
        ),
        migrations.AlterField(
            model_name="verifiedsignin",
            name="token_hash",
            field=models.CharField(max_length=64, null=True),
        ),
        migrations.AddConstraint(
            model_name="verifiedsignin",
            constraint=models.UniqueConstraint(fields=("token_hash",), name="verified_sign_in_token_unique"),
        ),
    ]

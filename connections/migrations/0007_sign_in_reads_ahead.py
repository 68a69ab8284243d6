"""The verified sign-in keeps the keys its user is read by (the mapped email's key, its domain
and parents): on PostgreSQL the finish step reads the user and the held domain with the take
itself (``connections.sign_in.take``). Rows written before this have none: their finish step
reads the user as before."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("connections", "0006_handoff_carries_replay"),
    ]

    operations = [
        migrations.AddField(
            model_name="verifiedsignin",
            name="user_lookup",
            field=models.JSONField(blank=True, default=dict),
        ),
    ]

"""Sign-ins in flight are dropped before the next migration gives each one an assertion ID
(unique per connection): they live two minutes, and the person signs in again. A migration of
its own: on PostgreSQL a table whose rows were just deleted cannot be altered in the same
transaction (its foreign key's deferred checks are still pending)."""

from django.db import migrations


def drop_sign_ins_in_flight(apps, schema_editor):
    apps.get_model("connections", "VerifiedSignIn").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("connections", "0004_sp_keys_single_logout"),
    ]

    operations = [
        migrations.RunPython(drop_sign_ins_in_flight, migrations.RunPython.noop),
    ]

"""Emails and userNames compare on keys computed in Python (accounts/normalize.py), no longer on
the database's LOWER(), which folds case differently on SQLite and PostgreSQL.

Existing rows get their keys here. Two rows whose keys collide are the same identity spelled two
ways, which the old LOWER() let through (on SQLite a Kelvin sign, U+212A, beside "k"): the older
row keeps the key, the newer one gets its key suffixed with "#<id>" so the unique indexes can be
built, and a warning audit event names both, for support to resolve. Until then the newer row is
found by its id only, and changing its email or userName back to the colliding value is refused.
"""

from django.db import migrations, models

import accounts.models
import accounts.validators
from accounts.normalize import email_key, identity_key


def fill_keys(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    AuditEvent = apps.get_model("audit", "AuditEvent")
    emails: dict[str, str] = {}
    usernames: dict[tuple, str] = {}
    batch = []
    for user in User.objects.order_by("pk").iterator(chunk_size=2000):
        user.email_key = email_key(user.email)
        user.username_key = identity_key(user.username)
        for field, key, seen, scope in (
            ("email", user.email_key, emails, user.email_key),
            ("userName", user.username_key, usernames, (user.company_id, user.username_key)),
        ):
            if scope in seen and (field == "email" or user.company_id is not None):
                AuditEvent.objects.create(
                    action="user.identity_collision",
                    company_id=user.company_id,
                    actor_label="system",
                    severity="warning",
                    target=user.email[:255],
                    details={"field": field, "key": key, "same_as": seen[scope]},
                )
                if field == "email":
                    user.email_key = f"{key}#{user.pk}"
                else:
                    user.username_key = f"{key}#{user.pk}"
            else:
                seen[scope] = user.email
        batch.append(user)
        if len(batch) >= 2000:
            User.objects.bulk_update(batch, ["email_key", "username_key"])
            batch = []
    if batch:
        User.objects.bulk_update(batch, ["email_key", "username_key"])


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0005_deprovision_permission"),
        ("audit", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="user",
            name="email_key",
            field=models.CharField(default="", editable=False, max_length=512),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="user",
            name="username_key",
            field=models.CharField(default="", editable=False, max_length=1024),
            preserve_default=False,
        ),
        migrations.RunPython(fill_keys, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="user",
            name="email_key",
            field=models.CharField(editable=False, max_length=512, unique=True),
        ),
        migrations.RemoveConstraint(
            model_name="user",
            name="user_username_unique_in_company_ci",
        ),
        migrations.AddConstraint(
            model_name="user",
            constraint=models.UniqueConstraint(
                models.F("company"),
                models.F("username_key"),
                name="user_username_key_unique_in_company",
                violation_error_message="A user with this userName already exists.",
            ),
        ),
        migrations.AlterField(
            model_name="domain",
            name="domain",
            field=accounts.models.DomainNameField(
                max_length=253, unique=True, validators=[accounts.validators.validate_domain]
            ),
        ),
    ]

"""Support also reads the refusal tallies (``audit.RefusalTally``): when a customer's IdP posts
to a misspelt connection name, the tally is where that shows, and nowhere else (those requests
are counted, not audited one by one)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP = "Support"
PERMISSION = ("audit", "view_refusaltally")


def grant(apps, schema_editor):
    audit = apps.get_app_config("audit")
    audit.models_module = True
    create_permissions(audit, apps=apps, verbosity=0)
    audit.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    app_label, codename = PERMISSION
    permission = Permission.objects.get(content_type__app_label=app_label, codename=codename)
    for group in Group.objects.filter(name=GROUP):
        group.permissions.add(permission)


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    app_label, codename = PERMISSION
    for group in Group.objects.filter(name=GROUP):
        group.permissions.remove(
            *Permission.objects.filter(content_type__app_label=app_label, codename=codename)
        )


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0002_refusal_tally"),
        ("provisioning", "0005_authorization_code_use"),
    ]

    operations = [migrations.RunPython(grant, revoke)]

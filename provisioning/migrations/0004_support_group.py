"""The "Support" group: what support staff need to complete setups and look after users, and no
more. It can complete setups (view, add and change connections; issue and revoke setup links),
create the team an unmatched division asks for, deprovision and reactivate users, and read the
audit trail. It cannot edit the audit trail (nobody can) or users' access, and it never sees a
SCIM token, an OAuth secret or a password hash (no permission on those models; the admin hides
what would show them).

Running it again resets the group's permissions to this list.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP = "Support"
PERMISSIONS = [
    ("accounts", "view_company"),
    ("accounts", "view_domain"),
    ("accounts", "view_team"),
    ("accounts", "add_team"),
    ("accounts", "view_user"),
    ("accounts", "deprovision_user"),
    ("connections", "view_connection"),
    ("connections", "add_connection"),
    ("connections", "change_connection"),
    ("connections", "view_setuplink"),
    ("connections", "add_setuplink"),
    ("connections", "change_setuplink"),
    ("audit", "view_auditevent"),
    ("provisioning", "view_deprovisioning"),
]


def create_support_group(apps, schema_editor):
    # Permissions are normally made after all migrations ran (post_migrate); make them now so
    # that a fresh database gets a complete group.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=GROUP)
    permissions = []
    for app_label, codename in PERMISSIONS:
        permissions.append(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    group.permissions.set(permissions)


def remove_support_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("accounts", "0005_deprovision_permission"),
        ("audit", "0001_initial"),
        ("connections", "0003_setup_links"),
        ("provisioning", "0003_scim_grant_proxy"),
    ]

    operations = [migrations.RunPython(create_support_group, remove_support_group)]

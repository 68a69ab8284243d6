from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ProvisioningConfig(AppConfig):
    name = "provisioning"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        post_migrate.connect(_install_scim_triggers, sender=self)


def _install_scim_triggers(sender, using, plan=None, **kwargs) -> None:
    """Again after every migrate: SQLite loses a table's triggers when a migration rebuilds it
    (provisioning/scim_triggers.py)."""
    from django.db import connections

    from provisioning.scim_triggers import install_scim_triggers

    install_scim_triggers(connections[using])

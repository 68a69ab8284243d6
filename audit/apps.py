from django.apps import AppConfig


class AuditConfig(AppConfig):
    """Audit events live in an app of their own because every other app writes them and they
    reference both companies (accounts) and connections; keeping them in either would make the
    two apps depend on each other."""

    name = "audit"
    default_auto_field = "django.db.models.BigAutoField"

from django.apps import AppConfig


class ConnectionsConfig(AppConfig):
    name = "connections"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from connections.metrics import signing_certificate_expiry
        from core.metrics import collector_register

        collector_register(signing_certificate_expiry)

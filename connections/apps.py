from django.apps import AppConfig


class ConnectionsConfig(AppConfig):
    name = "connections"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Every process (web, worker, command) stops here, at start-up, when lxml and the
        # xmlsec binding do not run the same libxml2 (see connections/saml_crypto.py).
        from connections import saml_crypto  # noqa: F401 - in ready(): it imports lxml and xmlsec
        from connections.metrics import signing_certificate_expiry
        from core.metrics import collector_register

        collector_register(signing_certificate_expiry)

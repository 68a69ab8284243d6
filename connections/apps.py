from django.apps import AppConfig


class ConnectionsConfig(AppConfig):
    name = "connections"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # In ready(), once the apps are loaded (these import models). Every process (web, worker,
        # command) stops here, at start-up, when lxml and the xmlsec binding do not run the same
        # libxml2 (see connections/saml_crypto.py); the certificate-expiry metric is registered.
        from connections import saml_crypto  # noqa: F401
        from connections.metrics import signing_certificate_expiry
        from core.metrics import collector_register

        collector_register(signing_certificate_expiry)

from django.apps import AppConfig


class ConnectionsConfig(AppConfig):
    name = "connections"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Every process (web, worker, command) stops here, at start-up, when lxml and the
        # xmlsec binding do not run the same libxml2 (see connections/saml_crypto.py); and the
        # deploy checks (manage.py check --deploy) are registered, as Django's are, in ready().
        from connections import checks, saml_crypto  # noqa: F401 - in ready(): lxml and xmlsec

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # In ready(), as Django asks: the receivers' module imports models, loaded only now.
        from accounts import signals  # noqa: F401 - connects the session recording receivers

"""System checks for operators (``manage.py check --deploy``)."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def key_encryption_key_configured(app_configs, **kwargs) -> list[Warning]:
    """Without SAML_KEY_ENCRYPTION_KEY the service runs, but no SP key can be made or read: the
    SP metadata, signed requests and encrypted assertions fail (each saying so). Said before a
    customer meets it."""
    if settings.DEBUG or settings.SAML_KEY_ENCRYPTION_KEYS:
        return []
    return [
        Warning(
            "SAML_KEY_ENCRYPTION_KEY is not set: SP keys can be neither made nor read, so the SP "
            "metadata, signed requests and encrypted assertions are unavailable.",
            hint='Set it to a key made with: python -c "from cryptography.fernet import Fernet; '
            'print(Fernet.generate_key().decode())" (see the README, "Our side").',
            id="connections.W001",
        )
    ]

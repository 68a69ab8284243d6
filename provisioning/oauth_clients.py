from __future__ import annotations

import re
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from oauth2_provider.generators import generate_client_secret
from oauth2_provider.models import get_application_model

from accounts.models import User
from audit.services import audit_record
from core.exceptions import ValidationFailed

_APP_NAME = re.compile(r"^[A-Za-z0-9_-]{1,100}$")


def okta_callbacks(app: str) -> list[str]:
    if not _APP_NAME.match(app):
        raise ValidationFailed(f"'{app}' is not an Okta app name (letters, digits, - and _).")
    return [template.format(app=app) for template in settings.OKTA_OAUTH_CALLBACKS]


def _check_redirect_uri(uri: str) -> None:
    parts = urlsplit(uri)
    allowed = ("https", "http") if settings.DEBUG else ("https",)
    if parts.scheme not in allowed or not parts.netloc or parts.fragment:
        raise ValidationFailed(
            f"'{uri}' is not an allowed redirect URI (absolute https, no fragment)."
        )


@transaction.atomic
def oauth_client_create(
    *,
    name: str,
    redirect_uris: list[str],
    okta_app: str | None = None,
    acting_user: User | None = None,
    actor_label: str = "",
):
    """A confidential authorization-code client. Returns (application, secret); the secret is
    hashed when saved and exists only in this return value."""
    uris = redirect_uris or okta_callbacks(okta_app or name)
    for uri in uris:
        _check_redirect_uri(uri)
    Application = get_application_model()
    secret = generate_client_secret()
    client = Application(
        name=name.strip()[:255],
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=" ".join(uris),
        client_secret=secret,
        skip_authorization=False,
        algorithm="",
    )
    try:
        client.full_clean()
    except ValidationError as error:
        raise ValidationFailed.from_django(error) from None
    client.save()
    audit_record(
        action="oauth.client_created",
        actor=acting_user,
        actor_label=actor_label,
        target=client.name,
        details={"client_id": client.client_id, "redirect_uris": uris},
    )
    return client, secret

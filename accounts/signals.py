from __future__ import annotations

from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.dispatch import receiver

from accounts.models import UserSession


@receiver(user_logged_in)
def record_session(sender, request, user, **kwargs) -> None:
    if request is None or not hasattr(request, "session"):
        return
    if request.session.session_key is None:
        request.session.save()
    UserSession.objects.get_or_create(
        session_key=request.session.session_key, defaults={"user": user}
    )


@receiver(user_logged_out)
def forget_session(sender, request, user, **kwargs) -> None:
    key = getattr(getattr(request, "session", None), "session_key", None)
    if key:
        UserSession.objects.filter(session_key=key).delete()

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
    # One statement (INSERT ... ON CONFLICT DO NOTHING): the key is new at every login but one,
    # the same person signing in again in the same session, whose record is already there.
    UserSession.objects.bulk_create(
        [UserSession(session_key=request.session.session_key, user=user)], ignore_conflicts=True
    )


@receiver(user_logged_out)
def forget_session(sender, request, user, **kwargs) -> None:
    key = getattr(getattr(request, "session", None), "session_key", None)
    if key:
        UserSession.objects.filter(session_key=key).delete()

from __future__ import annotations

from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.db.models.constants import OnConflict
from django.dispatch import receiver
from django.utils import timezone

from accounts.models import User, UserSession
from core.compiled import CompiledQuery, Param, insert_row

# Django's own receiver saves the user (``save(update_fields=["last_login"])``); this one writes
# the same column with an UPDATE compiled once per process (every sign-in runs it).
_LAST_LOGIN_SET = CompiledQuery(
    lambda pk, now: User.objects.filter(pk=pk), update={"last_login": Param("now")}
)


def record_last_login(sender, user, **kwargs) -> None:
    user.last_login = timezone.now()
    # Nothing read back: one of the sign-in's batched writes (core.batched_writes.writes_batched).
    _LAST_LOGIN_SET.apply(pk=user.pk, now=user.last_login)


user_logged_in.disconnect(dispatch_uid="update_last_login")
user_logged_in.connect(record_last_login, dispatch_uid="update_last_login")


@receiver(user_logged_in)
def record_session(sender, request, user, **kwargs) -> None:
    if request is None or not hasattr(request, "session"):
        return
    if request.session.session_key is None:
        request.session.save()
    # One statement (INSERT ... ON CONFLICT DO NOTHING): the key is new at every login but one,
    # the same person signing in again in the same session, whose record is already there.
    insert_row(
        UserSession(session_key=request.session.session_key, user=user),
        on_conflict=OnConflict.IGNORE,
    )


@receiver(user_logged_out)
def forget_session(sender, request, user, **kwargs) -> None:
    key = getattr(getattr(request, "session", None), "session_key", None)
    if key:
        UserSession.objects.filter(session_key=key).delete()

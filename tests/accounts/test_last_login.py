"""Every login records when it happened on the user (``last_login``, shown in the admin), as
Django's own receiver did, with the UPDATE compiled once per process (``accounts.signals``)."""

from __future__ import annotations

from datetime import timedelta

from django.test import Client
from django.utils import timezone

from accounts.models import User


def test_a_login_sets_last_login_on_that_user_only(acme):
    before = timezone.now()
    assert acme.member.last_login is None

    Client().force_login(acme.member)

    member, admin = User.objects.get(pk=acme.member.pk), User.objects.get(pk=acme.admin.pk)
    assert before <= member.last_login <= timezone.now() + timedelta(seconds=1)
    assert admin.last_login is None

"""Deprovisioning (SPEC "Deprovisioning", issue 7) with Celery tasks run in-process (eager).

A person signed in through SAML in two browsers, holding a personal OAuth token and having
authorized Okta's SCIM grant, is deactivated by each entry point (SCIM PATCH active=false, SCIM
DELETE, ``manage.py deprovision``, the admin action). The user is inactive when the request
returns; the task queued on commit then ends both sessions, revokes the personal token and leaves
the company's SCIM grant working with a warning. Then: idempotence, reactivation, a transient
and a permanent failure, the sweep, the periodic jobs, tenancy, and the command's refusals.

The task runs when the transaction that queued it commits: inside pytest-django's test
transaction that is simulated with ``django_capture_on_commit_callbacks(execute=True)``, whose
block ends after the request has returned, as with a real broker. Session store failures come
from a test-only session engine (``tests.session_backends.flaky``); nothing of ours is mocked.
The same story against Redis and a real worker: ``test_deprovisioning_worker.py``.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import OperationalError
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from lxml import html
from oauth2_provider.models import get_access_token_model, get_refresh_token_model

from accounts.models import User, UserSession
from audit.models import AuditEvent, Severity
from config import celery_app
from connections.models import (
    ConnectionStatus,
    PendingAuthnRequest,
    SeenAssertion,
    SigningCertificate,
    VerifiedSignIn,
)
from connections.tasks import certificates_expiry_check, saml_state_cleanup
from provisioning.deprovisioning import deprovisioning_complete
from provisioning.models import Deprovisioning
from provisioning.services import user_deprovision, user_reactivate
from provisioning.tasks import SWEEP_AFTER, deprovisioning_run, deprovisioning_sweep
from tests.certs import make_keypair
from tests.commands import refusal_line, refused_command
from tests.factories import ConnectionFactory
from tests.provisioning.deprovisioning_helpers import (
    Footprint,
    approve,
    assert_browsers_signed_out,
    assert_deprovisioned,
    assert_login_refused,
    assert_personal_token_dead,
    assert_sessions_ended,
    browser_user,
    footprint,
    me,
    saml_browser,
    session_exists,
)
from tests.provisioning.oauth_helpers import OktaClient
from tests.provisioning.scim_helpers import patch_op
from tests.session_backends import flaky

pytestmark = pytest.mark.django_db

EMAIL = "dee.parted@acme.com"
FLAKY_ENGINE = "tests.session_backends.flaky"


@pytest.fixture(autouse=True)
def eager_celery(settings):
    """Tasks in-process for this module, also when REDIS_URL points at a broker. The Celery app
    reads its CELERY_* settings from django.conf.settings when it needs them, so the override
    reaches it (checked here, so that a change of config/celery.py cannot make this silent)."""
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.CELERY_TASK_EAGER_PROPAGATES = True
    assert celery_app.conf.task_always_eager is True
    assert celery_app.conf.task_eager_propagates is True


@pytest.fixture
def staff_client(staff_user) -> Client:
    client = Client()
    client.force_login(staff_user)
    return client


@pytest.fixture
def person(acme) -> Footprint:
    return footprint(acme, EMAIL)


@pytest.fixture
def flaky_sessions(settings):
    """Sessions in the database as usual, through a store whose ``delete`` can be made to fail."""
    settings.SESSION_ENGINE = FLAKY_ENGINE
    flaky.arm(0)
    yield flaky
    flaky.arm(0)


def admin_action(client: Client, model: str, action: str, pks: list[int]):
    return client.post(
        reverse(f"admin:{model}_changelist"),
        {"action": action, "_selected_action": [str(pk) for pk in pks]},
    )


# --- each entry point, the whole story ---------------------------------------------------------


def _scim_patch(person: Footprint, staff_client: Client) -> None:
    scim_id = str(person.user.scim_id)
    status, body = person.scim.patch(
        f"Users/{scim_id}", patch_op({"op": "replace", "value": {"active": False}})
    )
    assert status == 200, body
    assert body["active"] is False


def _scim_delete(person: Footprint, staff_client: Client) -> None:
    status, body = person.scim.delete(f"Users/{person.user.scim_id}")
    assert status == 204, body


def _command(person: Footprint, staff_client: Client) -> None:
    out = StringIO()
    call_command(
        "deprovision", person.user.email.upper(), "--reason", "left the company", stdout=out
    )
    assert f"{person.user.email} is deactivated" in out.getvalue()


def _admin(person: Footprint, staff_client: Client) -> None:
    response = admin_action(staff_client, "accounts_user", "deprovision", [person.user.pk])
    assert response.status_code == 302
    page = staff_client.get(response["Location"])
    assert "Deprovisioned 1 user(s)." in page.content.decode()


ENTRY_POINTS = {
    # name: (how, audit action, actor label (None: the staff user's email), reason)
    "scim-patch": (_scim_patch, "user.deprovisioned", "scim:token scim_", "SCIM active=false"),
    "scim-delete": (_scim_delete, "user.scim_deleted", "scim:token scim_", "SCIM DELETE"),
    "command": (_command, "user.deprovisioned", "command", "left the company"),
    "admin-action": (_admin, "user.deprovisioned", None, "admin action"),
}


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_every_entry_point_deactivates_at_once_then_ends_sessions_and_personal_tokens(
    entry, person, staff_client, staff_user, django_capture_on_commit_callbacks
):
    how, action, actor_label, reason = ENTRY_POINTS[entry]

    with django_capture_on_commit_callbacks(execute=True) as queued:
        how(person, staff_client)

        # The request has returned; the task has not run yet (it runs on commit).
        assert person.reload().is_active is False
        job = Deprovisioning.objects.get(user=person.user)
        assert job.completed_at is None
        # Already refused on their next request, before any session is ended.
        assert_browsers_signed_out(person)
        assert all(session_exists(key) for key in person.session_keys)

    assert len(queued) == 1  # the task, queued on commit
    job = assert_deprovisioned(person)
    assert job.reason == reason
    assert job.attempts == 1
    event = AuditEvent.objects.get(action=action)
    assert event.target == EMAIL
    assert event.company_id == person.tenant.company.pk
    assert event.details["reason"] == reason
    if actor_label is None:
        assert event.actor_id == staff_user.pk
        assert event.actor_label == staff_user.email
    else:
        assert event.actor_id is None
        assert event.actor_label.startswith(actor_label)
    # One deactivation, one task, one completion.
    assert Deprovisioning.objects.count() == 1
    assert AuditEvent.objects.filter(action="user.deprovisioning_completed").count() == 1

    if entry == "scim-delete":
        status, body = person.scim.get(f"Users/{person.user.scim_id}")
        assert status == 404, body
        assert person.reload().scim_deleted_at is not None


@pytest.mark.django_db(transaction=True)
def test_in_process_the_scim_request_itself_runs_the_task_when_it_commits(acme):
    """The default install (no broker): a real commit, no test transaction around it; the task
    runs in the request, on commit, so everything is done when Okta gets its answer."""
    person = footprint(acme, EMAIL)

    _scim_patch(person, None)

    job = assert_deprovisioned(person)
    assert job.attempts == 1


def test_the_task_revokes_only_the_persons_tokens_and_counts_them(
    person, django_capture_on_commit_callbacks
):
    AccessToken, RefreshToken = get_access_token_model(), get_refresh_token_model()
    grant_access = AccessToken.objects.get(
        token_checksum=_checksum(person.scim_grant["access_token"])
    )
    grant_refresh = RefreshToken.objects.get(
        token_checksum=_checksum(person.scim_grant["refresh_token"])
    )

    with django_capture_on_commit_callbacks(execute=True):
        user_deprovision(user=person.user, actor_label="test", reason="left")

    job = Deprovisioning.objects.get()
    # The personal grant: its access and refresh tokens. The SCIM grant: untouched rows.
    assert job.tokens_revoked == 2
    assert not AccessToken.objects.filter(
        token_checksum=_checksum(person.personal["access_token"])
    ).exists()
    assert RefreshToken.objects.get(
        token_checksum=_checksum(person.personal["refresh_token"])
    ).revoked
    assert AccessToken.objects.filter(pk=grant_access.pk).exists()
    grant_refresh.refresh_from_db()
    assert grant_refresh.revoked is None


def _checksum(raw: str) -> str:
    """How django-oauth-toolkit finds a token (it stores no token in clear)."""
    return hashlib.sha256(raw.encode()).hexdigest()


# --- idempotence ---------------------------------------------------------------------------------


def _snapshot(user: User) -> dict:
    return {
        "events": list(AuditEvent.objects.order_by("pk").values_list("pk", "action")),
        "jobs": list(Deprovisioning.objects.values()),
        "sessions": UserSession.objects.filter(user=user).count(),
        "access": sorted(get_access_token_model().objects.values_list("pk", flat=True)),
        "refresh": sorted(get_refresh_token_model().objects.values_list("pk", "revoked")),
        "user": User.objects.filter(pk=user.pk).values().get(),
    }


def test_completing_twice_changes_nothing_the_second_time(
    person, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        user_deprovision(user=person.user, actor_label="test", reason="left")
    job = Deprovisioning.objects.get()
    assert job.completed_at is not None
    before = _snapshot(person.user)

    deprovisioning_complete(deprovisioning_id=job.pk)
    deprovisioning_run.delay(job.pk)  # a duplicate delivery of the message

    assert _snapshot(person.user) == before
    assert AuditEvent.objects.filter(action="user.deprovisioning_completed").count() == 1
    assert AuditEvent.objects.filter(action="oauth.scim_grant_needs_owner").count() == 1


@pytest.mark.parametrize("how", ["service", "scim-patch", "command", "admin-action"])
def test_deactivating_an_inactive_user_writes_nothing(
    how, person, staff_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        user_deprovision(user=person.user, actor_label="test", reason="first")
    before = _snapshot(person.user)

    with django_capture_on_commit_callbacks(execute=True) as queued:
        if how == "service":
            user_deprovision(user=person.user, actor_label="test", reason="again")
        elif how == "scim-patch":
            _scim_patch(person, staff_client)
        elif how == "command":
            out = StringIO()
            call_command("deprovision", person.user.email, stdout=out)
            assert "already deactivated" in out.getvalue()
        else:
            response = admin_action(staff_client, "accounts_user", "deprovision", [person.user.pk])
            assert response.status_code == 302

    assert queued == []
    after = _snapshot(person.user)
    assert after == before


# --- reactivation --------------------------------------------------------------------------------


def test_reactivation_by_scim_lets_the_person_sign_in_again_but_revives_nothing(
    person, django_capture_on_commit_callbacks
):
    scim_id = str(person.user.scim_id)
    with django_capture_on_commit_callbacks(execute=True):
        _scim_patch(person, None)
    assert_login_refused(person)

    status, body = person.scim.patch(
        f"Users/{scim_id}", patch_op({"op": "replace", "value": {"active": True}})
    )

    assert status == 200, body
    assert body["active"] is True
    assert person.reload().is_active is True
    event = AuditEvent.objects.get(action="user.reactivated")
    assert (event.target, event.details["reason"]) == (EMAIL, "SCIM active=true")
    # A new sign-in works...
    fresh = saml_browser(person.tenant, EMAIL)
    _page, user = browser_user(fresh)
    assert user.pk == person.user.pk
    # ...but what deprovisioning ended stays ended: the old browsers and the personal token.
    assert_browsers_signed_out(person)
    assert_personal_token_dead(person)


def test_reactivation_before_the_task_runs_still_ends_what_the_deactivation_ended(
    person, django_capture_on_commit_callbacks
):
    """The deactivation happened: the sessions and personal tokens the person had then are ended
    even when the task arrives after a reactivation; a sign-in made after it is left alone."""
    with django_capture_on_commit_callbacks(execute=False) as queued:
        user_deprovision(user=person.user, actor_label="test", reason="mistake")
    user_reactivate(user=person.user, actor_label="test", reason="undo")
    fresh = saml_browser(person.tenant, EMAIL)

    for callback in queued:  # the task arrives late
        callback()

    job = Deprovisioning.objects.get()
    assert job.completed_at is not None
    assert (job.sessions_ended, job.tokens_revoked) == (2, 2)
    event = AuditEvent.objects.get(action="user.deprovisioning_completed")
    assert event.details["reactivated_since"] is True
    assert_browsers_signed_out(person)
    assert_personal_token_dead(person)
    _page, user = browser_user(fresh)
    assert user.is_authenticated
    # Reactivated: nobody needs to take the SCIM grant over.
    assert not AuditEvent.objects.filter(action="oauth.scim_grant_needs_owner").exists()


# --- failures: retried, shown, swept -------------------------------------------------------------


def test_a_transient_failure_is_retried_and_completes(
    person, flaky_sessions, django_capture_on_commit_callbacks
):
    flaky_sessions.arm(1)  # the session store fails once

    with django_capture_on_commit_callbacks(execute=True):
        user_deprovision(user=person.user, actor_label="test", reason="left")

    assert flaky_sessions.failures == 1
    job = Deprovisioning.objects.get()
    assert job.attempts == 2
    assert job.completed_at is not None
    assert job.last_error == ""
    assert job.sessions_ended == 2
    assert_sessions_ended(person)
    assert_personal_token_dead(person)
    assert AuditEvent.objects.filter(action="user.deprovisioning_completed").count() == 1


def test_a_permanent_failure_shows_in_the_admin_and_the_retry_action_completes_it(
    person, flaky_sessions, staff_client, django_capture_on_commit_callbacks
):
    flaky_sessions.arm(10_000)  # the session store is down for good

    # Eager tasks propagate the last error (config/test_settings.py).
    with (
        pytest.raises(OperationalError) as raised,
        django_capture_on_commit_callbacks(execute=True),
    ):
        user_deprovision(user=person.user, actor_label="test", reason="left")
    assert "session store is unavailable" in str(raised.value)

    job = Deprovisioning.objects.get()
    assert job.completed_at is None
    assert job.attempts == deprovisioning_run.max_retries + 1
    assert job.last_error.startswith("OperationalError: the session store is unavailable")
    assert person.reload().is_active is False  # the deactivation itself stands
    assert not AuditEvent.objects.filter(action="user.deprovisioning_completed").exists()

    changelist = staff_client.get(
        reverse("admin:provisioning_deprovisioning_changelist"), {"completed_at__isempty": "1"}
    )
    assert changelist.status_code == 200
    row = _changelist_row(changelist, job.pk)
    assert EMAIL in row.text_content()
    assert "the session store is unavailable" in row.text_content()
    assert row.xpath(".//td[contains(@class, 'field-failing')]//img[@alt='True']")
    change = staff_client.get(reverse("admin:provisioning_deprovisioning_change", args=[job.pk]))
    assert "OperationalError: the session store is unavailable" in change.content.decode()

    flaky_sessions.arm(0)  # the store is back; support retries from the admin
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_action(staff_client, "provisioning_deprovisioning", "retry", [job.pk])
    assert response.status_code == 302

    job.refresh_from_db()
    assert job.completed_at is not None
    assert job.last_error == ""
    assert_sessions_ended(person)
    assert_personal_token_dead(person)
    row = _changelist_row(
        staff_client.get(reverse("admin:provisioning_deprovisioning_changelist")), job.pk
    )
    assert row.xpath(".//td[contains(@class, 'field-failing')]//img[@alt='False']")


def _changelist_row(response, pk: int):
    assert response.status_code == 200
    document = html.fromstring(response.content)
    rows = [
        row
        for row in document.xpath("//table[@id='result_list']/tbody/tr")
        if row.xpath(f".//input[@name='_selected_action'][@value='{pk}']")
    ]
    assert len(rows) == 1, response.content.decode()[:2000]
    return rows[0]


def test_the_sweep_requeues_a_deprovisioning_whose_task_was_lost(
    person, acme, django_capture_on_commit_callbacks
):
    # The message is lost: the process died between the commit and the publish.
    with django_capture_on_commit_callbacks(execute=False):
        user_deprovision(user=person.user, actor_label="test", reason="left")
    lost = Deprovisioning.objects.get()
    Deprovisioning.objects.filter(pk=lost.pk).update(
        requested_at=timezone.now() - SWEEP_AFTER - timedelta(minutes=1)
    )
    # A younger one may still be on its way, and a completed one is done: both left alone.
    with django_capture_on_commit_callbacks(execute=False):
        user_deprovision(user=acme.member, actor_label="test", reason="young")
    young = Deprovisioning.objects.get(user=acme.member)
    done = Deprovisioning.objects.create(
        user=acme.admin,
        requested_at=timezone.now() - timedelta(days=1),
        completed_at=timezone.now(),
    )
    assert_browsers_signed_out(person)  # refused already (inactive), but...
    assert all(session_exists(key) for key in person.session_keys)  # ...not ended yet

    assert deprovisioning_sweep.delay().get() == 1

    lost.refresh_from_db()
    assert lost.completed_at is not None
    assert lost.attempts == 1
    assert_sessions_ended(person)
    assert_personal_token_dead(person)
    young.refresh_from_db()
    assert (young.completed_at, young.attempts) == (None, 0)
    done.refresh_from_db()
    assert done.attempts == 0
    assert AuditEvent.objects.filter(action="user.deprovisioning_completed").count() == 1


# --- tenancy -------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["command", "admin-action"])
def test_deprovisioning_a_globex_user_leaves_acme_alone(
    how, acme, globex, staff_client, django_capture_on_commit_callbacks
):
    acme_browser = saml_browser(acme, acme.member.email)
    globex_browser = saml_browser(globex, globex.member.email)
    acme_token = approve(OktaClient.register(name="Acme expenses"), acme_browser, "profile")
    globex_token = approve(OktaClient.register(name="Globex expenses"), globex_browser, "profile")
    acme_key = acme_browser.session.session_key

    with django_capture_on_commit_callbacks(execute=True):
        if how == "command":
            call_command("deprovision", globex.member.email, stdout=StringIO())
        else:
            response = admin_action(
                staff_client, "accounts_user", "deprovision", [globex.member.pk]
            )
            assert response.status_code == 302

    globex.member.refresh_from_db()
    assert globex.member.is_active is False
    assert not browser_user(globex_browser)[1].is_authenticated
    assert me(globex_token["access_token"]).status_code == 401
    # acme: every user active, the session and the token untouched, no event about acme.
    assert set(User.objects.filter(company=acme.company).values_list("is_active", flat=True)) == {
        True
    }
    assert browser_user(acme_browser)[1].pk == acme.member.pk
    assert session_exists(acme_key)
    assert UserSession.objects.filter(user=acme.member).count() == 1
    assert me(acme_token["access_token"]).status_code == 200
    assert not Deprovisioning.objects.filter(user__company=acme.company).exists()
    assert not AuditEvent.objects.filter(company=acme.company, action__startswith="user.").exists()
    job = Deprovisioning.objects.get()
    assert (job.user_id, job.sessions_ended, job.tokens_revoked) == (globex.member.pk, 1, 2)


def test_the_admin_action_skips_staff_and_inactive_users(
    acme, staff_user, staff_client, django_capture_on_commit_callbacks
):
    acme.admin.is_active = False
    acme.admin.save(update_fields=["is_active"])

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_action(
            staff_client,
            "accounts_user",
            "deprovision",
            [staff_user.pk, acme.admin.pk, acme.member.pk],
        )

    assert response.status_code == 302
    assert list(Deprovisioning.objects.values_list("user_id", flat=True)) == [acme.member.pk]
    staff_user.refresh_from_db()
    assert staff_user.is_active


# --- the command's refusals ----------------------------------------------------------------------


def test_the_command_refuses_an_unknown_email(acme):
    refused = refused_command(
        "deprovision", "nobody@acme.com", watched=(AuditEvent, Deprovisioning)
    )

    assert "nobody@acme.com" in str(refused)


def test_the_command_refuses_a_staff_user(staff_user):
    refused = refused_command(
        "deprovision", staff_user.email, "--reason", "x", watched=(AuditEvent, Deprovisioning)
    )

    assert "staff" in str(refused)
    staff_user.refresh_from_db()
    assert staff_user.is_active
    assert not Deprovisioning.objects.exists()
    assert not AuditEvent.objects.exists()


def test_the_command_line_exits_1_with_one_line_for_an_unknown_email(manage_py):
    result = manage_py("deprovision", "nobody@example.com", "--reason", "test")

    refusal_line(result)
    assert "nobody@example.com" in result.stderr
    assert "Traceback" not in result.stderr


# --- periodic jobs (celery beat) -----------------------------------------------------------------


def test_every_beat_job_names_a_registered_task():
    schedule = settings.CELERY_BEAT_SCHEDULE
    assert {entry["task"] for entry in schedule.values()} == {
        "provisioning.tasks.deprovisioning_sweep",
        "connections.tasks.certificates_expiry_check",
        "connections.tasks.saml_state_cleanup",
        "connections.tasks.metadata_refresh_all",
    }
    for entry in schedule.values():
        assert entry["task"] in celery_app.tasks, entry["task"]
    assert celery_app.conf.beat_schedule == schedule
    assert schedule["deprovisioning-sweep"]["schedule"] <= SWEEP_AFTER.total_seconds()


def _expiry_warnings():
    return AuditEvent.objects.filter(action="connection.certificate_expiring").order_by("pk")


def test_certificate_expiry_warns_at_30_then_at_7_days_once_each(acme):
    soon = datetime.now(UTC) + timedelta(days=20, hours=12)
    expiring = ConnectionFactory(
        company=acme.company,
        name="acme-old-okta",
        keypair=make_keypair("old.okta.example", slot="expiring", not_after=soon),
    )
    # A connection whose certificate has a year left, and a disabled one: never warned about.
    ConnectionFactory(
        company=acme.company,
        name="acme-gone",
        status=ConnectionStatus.DISABLED,
        keypair=make_keypair("gone.okta.example", slot="expiring", not_after=soon),
    )
    certificate = SigningCertificate.objects.get(connection=expiring)

    assert certificates_expiry_check.delay().get() == 1
    assert certificates_expiry_check.delay().get() == 0  # once

    first = _expiry_warnings().get()
    assert (first.connection_id, first.severity) == (expiring.pk, Severity.WARNING)
    assert first.details["threshold_days"] == 30
    assert first.details["days_left"] == 20
    assert first.details["fingerprint_sha256"] == certificate.fingerprint_sha256

    # Two weeks later (the certificate's expiry comes closer in the only place the job reads it).
    SigningCertificate.objects.filter(pk=certificate.pk).update(
        not_after=timezone.now() + timedelta(days=6, hours=12)
    )
    assert certificates_expiry_check.delay().get() == 1
    assert certificates_expiry_check.delay().get() == 0

    assert [event.details["threshold_days"] for event in _expiry_warnings()] == [30, 7]
    assert {event.connection_id for event in _expiry_warnings()} == {expiring.pk}


def test_saml_state_cleanup_removes_expired_rows_only(acme):
    now = timezone.now()
    past, future = now - timedelta(seconds=1), now + timedelta(minutes=5)
    connection = acme.connection
    for n, expires_at in enumerate((past, future)):
        PendingAuthnRequest.objects.create(
            request_id=f"id-{n}",
            connection=connection,
            browser_binding="b" * 64,
            expires_at=expires_at,
        )
        SeenAssertion.objects.create(
            connection=connection, assertion_id=f"assertion-{n}", expires_at=expires_at
        )
        VerifiedSignIn.objects.create(
            token_hash=f"{n}" * 64,
            connection=connection,
            assertion_id=f"handed-off-{n}",
            identity={"name_id": "ada@acme.com"},
            expires_at=now + timedelta(minutes=2),
            remember_until=expires_at,
        )

    assert saml_state_cleanup.delay().get() == 3

    assert list(PendingAuthnRequest.objects.values_list("request_id", flat=True)) == ["id-1"]
    assert list(SeenAssertion.objects.values_list("assertion_id", flat=True)) == ["assertion-1"]
    assert list(VerifiedSignIn.objects.values_list("token_hash", flat=True)) == ["1" * 64]
    assert saml_state_cleanup.delay().get() == 0

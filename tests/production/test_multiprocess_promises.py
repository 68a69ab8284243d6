"""The multi-process promises (issue 12), with the Procfile's own web line started with two
workers on PostgreSQL (pytest-django's test database) and a private Redis, and the Procfile's
worker line where a test needs one; every promise driven over HTTP from outside.

Which worker answers a request is read from the web process's own JSON log (each line carries
the pid and the request's X-Request-ID). Where a test needs one step answered by the other
worker than the step before, it occupies that worker first (``Web.on_another_worker_than``).

Runs where REDIS_URL is set and the database is PostgreSQL (the CI's second pass), like the
Celery worker tests: the web and worker processes must share the test's database.
"""

from __future__ import annotations

import json
import random
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.sessions.models import Session
from oauth2_provider.models import AccessToken, Application, RefreshToken
from prometheus_client.parser import text_string_to_metric_families

from accounts.models import User
from audit.models import AuditEvent
from provisioning.models import Deprovisioning
from provisioning.tokens import scim_token_issue
from tests.connections.saml_helpers import idp_for, idp_response, refused_events
from tests.http_browser import Browser
from tests.processes import Process, database_url, log_entries, procfile_command, wait_for
from tests.production.conftest import METRICS_TOKEN, Web, production_env
from tests.provisioning.oauth_helpers import (
    OktaClient,
    _basic,
    browser,
    code_from,
    submit_form,
)
from tests.saml_idp import post_data

SIGNED_IN = "You are signed in"
SCIM_JSON = "application/scim+json"
CONCURRENT = 8
MAX_BATCHES = 5

pytestmark = [
    pytest.mark.redis("the processes share rate limits and the Celery broker through Redis"),
    pytest.mark.postgres("the web and worker processes share the test's database"),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def redis_server(start_redis):
    return start_redis()


@pytest.fixture
def web(start_web, redis_server) -> Web:
    return start_web(DATABASE_URL=database_url(), REDIS_URL=redis_server.url, RATE_LIMIT_SSO="4/m")


def an_address() -> str:
    return f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"


def request_id() -> str:
    return uuid.uuid4().hex


def at_once(count: int, send: Callable[[int], requests.Response]) -> list[requests.Response]:
    """``count`` requests released together (they queue for the two workers)."""
    barrier = threading.Barrier(count)

    def go(index: int) -> requests.Response:
        barrier.wait()
        return send(index)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(go, range(count)))


def until_both_workers_took_part(web: Web, batch: Callable[[int], list[str]]) -> int:
    """Run ``batch(attempt)`` (requests released at once, each making its own assertions; it
    returns their X-Request-IDs) until both workers answered some of one batch: the kernel may
    hand a whole batch to one worker on a busy machine. Returns how many batches ran."""
    for attempt in range(1, MAX_BATCHES + 1):
        ids = batch(attempt)
        if len({web.served_by(rid) for rid in ids}) == 2:
            return attempt
    raise AssertionError(f"one worker answered every request of {MAX_BATCHES} batches")


def alternating(web: Web, steps: list[Callable]) -> list[tuple[requests.Response, int]]:
    """Each step answered by the other worker than the step before it. A step is called with
    the previous response and the headers to send; returns [(response, pid)]."""
    served: list[tuple[requests.Response, int]] = []
    for step in steps:
        rid = request_id()
        previous = served[-1][0] if served else None

        def send(step=step, previous=previous, rid=rid):
            return step(previous, {"X-Request-ID": rid})

        response = web.on_another_worker_than(served[-1][1], send) if served else send()
        served.append((response, web.served_by(rid)))
    pids = [pid for _response, pid in served]
    assert all(a != b for a, b in zip(pids, pids[1:], strict=False)), pids
    return served


def metric(text: str, name: str, **labels) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


def scrape_each_worker(web: Web) -> list[str]:
    """/metrics answered once by each of the two workers."""
    rid = request_id()
    first = web.get(
        "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}", "X-Request-ID": rid}
    )
    second = web.on_another_worker_than(
        web.served_by(rid),
        lambda: web.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}),
    )
    assert first.status_code == second.status_code == 200
    return [first.text, second.text]


# --- one response, posted to both workers at once --------------------------------------------


def test_one_signed_response_posted_to_both_workers_at_once_signs_in_exactly_once(web, acme):
    def batch(attempt: int) -> list[str]:
        form = post_data(idp_response(acme, "member@acme.com"))
        browsers = [Browser(an_address()) for _ in range(CONCURRENT)]
        ids = [request_id() for _ in range(CONCURRENT)]

        responses = at_once(
            CONCURRENT,
            lambda i: web.post(
                "/sso/acme/acs/", browser=browsers[i], data=form, headers={"X-Request-ID": ids[i]}
            ),
        )

        accepted = [i for i, response in enumerate(responses) if response.status_code == 303]
        assert len(accepted) == 1, [r.status_code for r in responses]
        for i, response in enumerate(responses):
            if i not in accepted:
                assert response.status_code == 403
                assert '<span class="code">saml_replayed</span>' in response.text
        winner = browsers[accepted[0]]
        done = web.get(responses[accepted[0]].headers["Location"], browser=winner)
        assert done.status_code == 302
        assert SIGNED_IN in web.get("/", browser=winner).text
        assert AuditEvent.objects.filter(action="sso.login").count() == attempt
        assert refused_events("saml_replayed").count() == attempt * (CONCURRENT - 1)
        return ids

    batches = until_both_workers_took_part(web, batch)

    # Counted once per attempt, whichever worker answered it and whichever answers the scrape.
    for text in scrape_each_worker(web):
        assert metric(text, "sso_logins_total", connection="acme", result="ok") == batches
        assert metric(
            text, "sso_logins_total", connection="acme", result="saml_replayed"
        ) == batches * (CONCURRENT - 1)


# --- an SP-initiated sign-in, one step per worker ---------------------------------------------


def test_sp_initiated_sign_ins_finish_whichever_worker_answers_each_step(web, acme):
    for _attempt in range(2):
        browser = Browser(an_address())

        def start(_previous, headers, browser=browser):
            return web.get("/sso/acme/login/?next=/", browser=browser, headers=headers)

        def acs(login, headers, browser=browser):
            assert login.status_code == 302, login.text[:300]
            xml = idp_for(acme).respond_to(login.headers["Location"], name_id="member@acme.com")
            return web.post("/sso/acme/acs/", browser=browser, data=post_data(xml), headers=headers)

        def finish(acs_response, headers, browser=browser):
            assert acs_response.status_code == 303, acs_response.text[:500]
            return web.get(acs_response.headers["Location"], browser=browser, headers=headers)

        def home(finished, headers, browser=browser):
            assert finished.status_code == 302, finished.text[:500]
            assert finished.headers["Location"] == "/"
            return web.get("/", browser=browser, headers=headers)

        served = alternating(web, [start, acs, finish, home])

        assert SIGNED_IN in served[-1][0].text
        assert "member@acme.com" in served[-1][0].text
    assert AuditEvent.objects.filter(action="sso.login").count() == 2


# --- concurrent SCIM creates of one person ---------------------------------------------------


def test_concurrent_scim_creates_of_one_person_give_one_201_and_one_row(web, acme):
    _token, raw = scim_token_issue(connection=acme.connection, label="load")

    def batch(attempt: int) -> list[str]:
        email = f"twice{attempt}@acme.com"
        body = json.dumps(
            {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": email,
                "emails": [{"value": email, "primary": True}],
                "active": True,
            }
        )
        ids = [request_id() for _ in range(CONCURRENT)]

        responses = at_once(
            CONCURRENT,
            lambda i: web.post(
                "/scim/v2/Users",
                data=body,
                headers={
                    "Authorization": f"Bearer {raw}",
                    "Content-Type": SCIM_JSON,
                    "X-Request-ID": ids[i],
                },
            ),
        )

        statuses = sorted(response.status_code for response in responses)
        assert statuses == [201] + [409] * (CONCURRENT - 1), [r.text[:200] for r in responses]
        for response in responses:
            if response.status_code == 409:
                assert response.json()["scimType"] == "uniqueness"
        assert User.objects.filter(email=email).count() == 1
        return ids

    until_both_workers_took_part(web, batch)


# --- one authorization code exchanged by several requests at once ---------------------------


def test_a_code_exchanged_at_once_by_several_requests_leaves_no_live_token(web, acme):
    """RFC 6749 4.1.2 under concurrency: whichever exchange gets the code first, every other
    presentation of it is a replay, and revokes what the code issued."""
    okta = OktaClient.register()
    # The suite hashes with MD5 for speed (config/test_settings.py); the web line verifies the
    # client secret with the production hashers.
    Application.objects.filter(client_id=okta.client_id).update(
        client_secret=PBKDF2PasswordHasher().encode(
            okta.client_secret, PBKDF2PasswordHasher().salt()
        )
    )
    admin = browser()
    admin.force_login(acme.admin)
    page = admin.get(okta.authorize_url(state="s"))
    code = code_from(submit_form(admin, page, allow=True), okta, state="s")
    exchange = {"grant_type": "authorization_code", "code": code, "redirect_uri": okta.redirect_uri}

    responses = at_once(
        4,
        lambda _i: web.post(
            "/oauth/token/",
            data=exchange,
            headers={"Authorization": _basic(okta.client_id, okta.client_secret)},
        ),
    )

    statuses = sorted(response.status_code for response in responses)
    assert statuses.count(200) <= 1 and set(statuses) <= {200, 400}, statuses
    assert all(r.json()["error"] == "invalid_grant" for r in responses if r.status_code == 400)
    for issued in (r.json() for r in responses if r.status_code == 200):
        scim = web.get(
            "/scim/v2/Users", headers={"Authorization": f"Bearer {issued['access_token']}"}
        )
        assert scim.status_code == 401
    assert not AccessToken.objects.exists()
    assert not RefreshToken.objects.filter(revoked__isnull=True).exists()
    assert AuditEvent.objects.filter(action="oauth.code_replayed").exists()


# --- deactivated while no Celery worker runs --------------------------------------------------


def test_a_user_deactivated_without_a_worker_is_signed_out_at_once_and_the_task_waits(
    web, acme, redis_server, tmp_path
):
    person = Browser(an_address())
    accepted = web.post(
        "/sso/acme/acs/", browser=person, data=post_data(idp_response(acme, "member@acme.com"))
    )
    web.get(accepted.headers["Location"], browser=person)
    assert SIGNED_IN in web.get("/", browser=person).text
    session_key = person.cookies["sessionid"]
    _token, raw = scim_token_issue(connection=acme.connection, label="okta")

    deactivated = web.request(
        "PATCH",
        f"/scim/v2/Users/{acme.member.scim_id}",
        data=json.dumps(
            {
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "value": {"active": False}}],
            }
        ),
        headers={
            "Authorization": f"Bearer {raw}",
            "Content-Type": SCIM_JSON,
            "X-Request-ID": "deactivate-member",
        },
    )

    assert deactivated.status_code == 200, deactivated.text
    # Signed out at once: the next request of that browser is anonymous ...
    assert SIGNED_IN not in web.get("/", browser=person).text
    # ... although nothing has ended the session yet: no worker runs.
    job = Deprovisioning.objects.get(user=acme.member)
    assert job.completed_at is None and job.attempts == 0
    assert Session.objects.filter(session_key=session_key).exists()

    worker = Process(
        procfile_command("worker"),
        log=tmp_path / "worker.log",
        env=production_env(
            DATABASE_URL=database_url(),
            REDIS_URL=redis_server.url,
            PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),  # the web line's, this host's
            WORKER_CONCURRENCY="1",
        ),
    ).start(lambda process: " ready." in process.text())
    try:

        def completed():
            job.refresh_from_db()
            return job.completed_at is not None

        wait_for(completed, 60, worker.text)
    finally:
        worker.stop()

    assert not Session.objects.filter(session_key=session_key).exists()
    assert job.sessions_ended == 1
    task = [e for e in log_entries(worker.text(), strict=False) if e["logger"] == "sso.task"]
    assert [(e["task"], e["state"], e["request_id"]) for e in task] == [
        ("provisioning.tasks.deprovisioning_run", "SUCCESS", "deactivate-member")
    ]
    # The worker's count is part of what the web line's /metrics reports.
    for text in scrape_each_worker(web):
        assert metric(text, "deprovisionings_total", outcome="completed") == 1


# --- rate limits are shared by the workers ---------------------------------------------------


def test_the_sso_rate_limit_is_shared_by_every_worker(web):
    browser = Browser(an_address())

    def page(_previous, headers):
        return web.get("/sso/", browser=browser, headers=headers)

    served = alternating(web, [page] * 8)  # RATE_LIMIT_SSO=4/m, half of them on each worker

    assert [response.status_code for response, _pid in served] == [200] * 4 + [429] * 4
    assert all(1 <= int(r.headers["Retry-After"]) <= 60 for r, _ in served[4:])
    assert web.get("/sso/", browser=Browser(an_address())).status_code == 200


# --- /readyz follows Redis -------------------------------------------------------------------


def test_readyz_turns_503_when_redis_stops_and_200_when_it_is_back(web, redis_server):
    assert web.get("/readyz", proxied=False).status_code == 200

    redis_server.stop()
    down = web.get("/readyz", proxied=False)

    assert down.status_code == 503
    assert down.json()["down"] == ["redis"]
    assert down.json()["checks"]["database"] == "ok"
    # Without Redis the rate limits let requests through; sign-in pages keep answering.
    assert web.get("/sso/", browser=Browser(an_address())).status_code == 200

    redis_server.start()
    wait_for(
        lambda: web.get("/readyz", proxied=False).status_code == 200,
        30,
        lambda: web.get("/readyz", proxied=False).text,
    )

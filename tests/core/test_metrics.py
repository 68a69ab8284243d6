"""/metrics (issue 12): Prometheus text for ``Authorization: Bearer $METRICS_TOKEN`` only (404
when unset), with the four named metrics and request duration histograms. That the counts add up
across gunicorn and Celery processes is tests/production/test_procfile_web.py."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from tests.connections.saml_helpers import idp_response, post_to_acs, sign_in
from tests.provisioning.scim_helpers import ScimClient, patch_op

pytestmark = pytest.mark.django_db

TOKEN = secrets.token_urlsafe(24)


@pytest.fixture
def metrics_token(settings):
    settings.METRICS_TOKEN = TOKEN
    return TOKEN


def scrape(client) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_is_a_404_when_no_token_is_configured(client, settings):
    settings.METRICS_TOKEN = ""

    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404


@pytest.mark.parametrize(
    "header",
    [None, "Bearer wrong-token-of-some-length", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer"],
    ids=["none", "wrong", "other-scheme", "longer", "empty"],
)
def test_metrics_refuses_anything_but_the_token(client, metrics_token, header):
    extra = {"HTTP_AUTHORIZATION": header} if header is not None else {}

    response = client.get("/metrics", **extra)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert b"sso_logins" not in response.content


def test_sign_ins_are_counted_per_connection_and_result(client, acme, globex, metrics_token):
    before = scrape(client)

    sign_in(Client(), acme.connection, idp_response(acme, "member@acme.com"))
    replayed = idp_response(globex, "member@globex.com")
    sign_in(Client(), globex.connection, replayed)
    post_to_acs(Client(), globex.connection, replayed)  # the same response again
    client.get("/sso/nobody-by-that-name/login/")

    after = scrape(client)
    for labels, delta in [
        ({"connection": "acme", "result": "ok"}, 1),
        ({"connection": "globex", "result": "ok"}, 1),
        ({"connection": "globex", "result": "saml_replayed"}, 1),
        # An unknown name is the caller's text: counted without it.
        ({"connection": "", "result": "connection_unknown"}, 1),
    ]:
        assert (
            value(after, "sso_logins_total", **labels) - value(before, "sso_logins_total", **labels)
            == delta
        ), labels


def test_scim_requests_and_deprovisionings_are_counted(
    client, acme, metrics_token, django_capture_on_commit_callbacks
):
    scim = ScimClient.for_connection(acme.connection)
    before = scrape(client)

    scim.get("Users")
    ScimClient("scim_not-a-token").get("Users")
    with django_capture_on_commit_callbacks(execute=True):
        status, _ = scim.patch(
            f"Users/{acme.member.scim_id}", patch_op({"op": "replace", "value": {"active": False}})
        )
    assert status == 200

    after = scrape(client)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("scim_requests_total", method="GET", status="200") == 1
    assert delta("scim_requests_total", method="GET", status="401") == 1
    assert delta("scim_requests_total", method="PATCH", status="200") == 1
    assert delta("deprovisionings_total", outcome="completed") == 1


def test_certificate_expiry_is_read_per_enabled_connection(client, acme, globex, metrics_token):
    acme.connection.certificates.update(not_after=timezone.now() + timedelta(days=10, hours=1))
    globex.connection.status = "disabled"
    globex.connection.save(update_fields=["status"])

    samples = scrape(client)

    days = value(samples, "signing_certificate_expiry_days", connection="acme")
    assert 10 < days < 10.1
    assert ("signing_certificate_expiry_days", (("connection", "globex"),)) not in samples


def test_request_durations_are_histograms_per_view(client, metrics_token):
    before = scrape(client)

    client.get("/sso/")
    client.get("/sso/")

    after = scrape(client)
    count = ("http_request_duration_seconds_count", {"method": "GET", "view": "sso-start"})
    inf = {"method": "GET", "view": "sso-start", "le": "+Inf"}
    assert value(after, count[0], **count[1]) - value(before, count[0], **count[1]) == 2
    assert (
        value(after, "http_request_duration_seconds_bucket", **inf)
        - value(before, "http_request_duration_seconds_bucket", **inf)
        == 2
    )
    assert (
        value(after, "http_requests_total", method="GET", view="sso-start", status="200")
        - value(before, "http_requests_total", method="GET", view="sso-start", status="200")
        == 2
    )

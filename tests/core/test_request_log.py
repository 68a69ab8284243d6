"""Structured logs and X-Request-ID (issue 12): one JSON object a line for every request and
every task, the request id taken from the caller when it is sane, else made, and returned on
every response."""

from __future__ import annotations

import json
import re

import pytest
from django.conf import settings

from tests.connections.saml_helpers import idp_response, post_to_acs, sign_in
from tests.provisioning.scim_helpers import ScimClient, patch_op
from tests.saml_idp import strip_signatures

pytestmark = pytest.mark.django_db

GENERATED = re.compile(r"^[0-9a-f]{32}$")


def test_every_response_carries_a_generated_request_id(client, json_logs):
    responses = [
        client.get("/sso/"),
        client.get("/healthz"),
        client.get("/no-such-page/"),
        client.get("/sso/", HTTP_HOST="not-allowed.example"),  # refused by the Host check
    ]

    ids = [response["X-Request-ID"] for response in responses]
    assert [response.status_code for response in responses] == [200, 200, 404, 400]
    assert all(GENERATED.match(value) for value in ids), ids
    assert len(set(ids)) == len(ids)
    logged = [entry["request_id"] for entry in json_logs.entries("sso.request")]
    assert logged == ids


@pytest.mark.parametrize(
    "incoming",
    ["b7c1-4e2a.9f", "trace:1234@edge", "a" * 128],
    ids=["dashed", "colon-at", "128-chars"],
)
def test_a_sane_incoming_request_id_is_kept(client, incoming):
    response = client.get("/sso/", HTTP_X_REQUEST_ID=incoming)

    assert response["X-Request-ID"] == incoming


@pytest.mark.parametrize(
    "incoming",
    ["a" * 129, "has space", 'quote"d', "<script>", "-leading-dash", "é-accent", ""],
    ids=["129-chars", "space", "quote", "markup", "leading-dash", "non-ascii", "empty"],
)
def test_an_unusable_incoming_request_id_is_replaced(client, json_logs, incoming):
    response = client.get("/sso/", HTTP_X_REQUEST_ID=incoming)

    assert GENERATED.match(response["X-Request-ID"])
    assert json_logs.entries("sso.request")[-1]["request_id"] == response["X-Request-ID"]


def test_the_request_line_is_one_json_object_with_method_path_status_and_duration(
    client, json_logs
):
    client.get("/sso/?next=/x", HTTP_X_REQUEST_ID="req-1", HTTP_X_FORWARDED_FOR="203.0.113.9")

    line = json_logs.lines[-1]
    entry = json.loads(line)
    assert "\n" not in line
    assert entry["logger"] == "sso.request"
    assert entry["level"] == "INFO"
    assert (entry["method"], entry["path"], entry["status"]) == ("GET", "/sso/", 200)
    assert isinstance(entry["duration_ms"], float) and entry["duration_ms"] >= 0
    assert entry["request_id"] == "req-1"
    assert entry["client"] == "203.0.113.9"  # TRUSTED_PROXY_HOPS=1: the proxy's entry
    assert entry["view"] == "sso-start"
    assert entry["time"].endswith("+00:00")


def test_a_sign_in_line_names_the_connection_and_the_error_code(client, acme, json_logs):
    refused = post_to_acs(
        client, acme.connection, strip_signatures(idp_response(acme, "member@acme.com"))
    )
    accepted = sign_in(client, acme.connection, idp_response(acme, "member@acme.com"))

    assert refused.status_code == 403
    assert accepted.status_code == 302
    acs, acs_ok, finish = json_logs.entries("sso.request")[-3:]
    assert (acs["path"], acs["connection"], acs["error_code"]) == (
        "/sso/acme/acs/",
        "acme",
        "saml_signature_missing",
    )
    assert "connection" not in acs_ok  # the ACS checked, the sign-in ends at finish
    assert (finish["path"], finish["connection"], finish["error_code"]) == (
        "/sso/acme/finish/",
        "acme",
        "",
    )
    # What was logged during the request carries its id, too.
    refusal = next(e for e in json_logs.entries("connections.views") if "refused" in e["message"])
    assert refusal["request_id"] == acs["request_id"]


# Transactional: the task is queued when the request's change commits. serialized_rollback, like
# the end-to-end tests that run after it: its flush must not recreate what they restore.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_task_gets_a_line_with_the_request_id_that_queued_it(acme, json_logs):
    scim = ScimClient.for_connection(acme.connection)
    status, body = scim.post(
        "Users",
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "leaver@acme.com",
            "emails": [{"value": "leaver@acme.com", "primary": True}],
        },
    )
    assert status == 201, body

    scim.client.defaults["HTTP_X_REQUEST_ID"] = "deactivation-42"
    status, _ = scim.patch(
        f"Users/{body['id']}", patch_op({"op": "replace", "value": {"active": False}})
    )

    assert status == 200
    task = json_logs.entries("sso.task")[-1]
    assert task["task"] == "provisioning.tasks.deprovisioning_run"
    assert task["state"] == "SUCCESS"
    assert task["request_id"] == "deactivation-42"
    assert task["task_id"] and isinstance(task["duration_ms"], float)


def test_logging_is_configured_as_json_lines_on_stdout():
    handler = settings.LOGGING["handlers"]["stdout"]
    assert handler["stream"] == "ext://sys.stdout"
    assert settings.LOGGING["formatters"][handler["formatter"]]["()"] == "core.logs.JsonFormatter"
    assert settings.LOGGING["root"]["handlers"] == ["stdout"]

"""SCIM cannot give anyone an email in another company's domain (issue 11, the review's attack:
acme's token created ceo@globex.com in acme, then the real globex person was refused).

Every refusal is a 409 ``uniqueness`` (the value is reserved for the domain's holder: see
``provisioning/scim/http.py``), writes nothing, and reads the same whether or not globex has a
user with that email.
"""

from __future__ import annotations

import pytest

from accounts.models import User
from audit.models import AuditEvent
from tests.provisioning.scim_helpers import USER_SCHEMA, ScimClient, assert_scim_error, patch_op

pytestmark = pytest.mark.django_db


def _user(user_name: str, email: str | None = None) -> dict:
    body = {"schemas": [USER_SCHEMA], "userName": user_name, "name": {"givenName": "C"}}
    if email:
        body["emails"] = [{"primary": True, "value": email, "type": "work"}]
    return body


def _footprint() -> tuple[int, int]:
    return User.objects.count(), AuditEvent.objects.count()


def _refused(status: int, body: dict) -> None:
    assert_scim_error(status, body, http_status=409, scim_type="uniqueness")
    assert body["detail"].startswith("This email's domain belongs to another company")
    assert "globex" not in body["detail"].lower()


@pytest.mark.parametrize(
    "body",
    [
        _user("ceo@globex.com"),
        _user("CEO@GLOBEX.COM"),
        _user("ceo", "ceo@globex.com"),
        _user("ceo@eu.globex.com"),  # a subdomain
        _user("ceo@ｇｌｏｂｅｘ.com"),  # full-width
    ],
    ids=["userName", "userName-uppercase", "emails-primary", "subdomain", "full-width"],
)
def test_post_refuses_an_email_in_another_companys_domain(acme_scim, globex, body):
    before = _footprint()

    status, answer = acme_scim.post("Users", body)

    _refused(status, answer)
    assert _footprint() == before
    assert not User.objects.filter(company__slug="acme", email__contains="globex").exists()


def test_the_answer_does_not_say_whether_the_holder_has_that_user(acme_scim, globex):
    status_absent, absent = acme_scim.post("Users", _user("nobody@globex.com"))
    status_present, present = acme_scim.post("Users", _user(globex.member.email))

    assert status_absent == status_present == 409
    assert absent == present
    assert User.objects.get(pk=globex.member.pk).company == globex.company


def test_put_refuses_moving_a_user_into_another_companys_domain(acme_scim, acme, globex):
    path = f"Users/{acme.member.scim_id}"
    before = _footprint()

    status, body = acme_scim.put(path, _user("member@acme.com", "cfo@globex.com"))

    _refused(status, body)
    assert _footprint() == before
    assert User.objects.get(pk=acme.member.pk).email == "member@acme.com"


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "replace", "path": 'emails[type eq "work"].value', "value": "cfo@globex.com"},
        {"op": "replace", "value": {"emails": [{"value": "cfo@globex.com", "primary": True}]}},
        {"op": "replace", "path": "emails", "value": [{"value": "cfo@eu.globex.com"}]},
    ],
    ids=["value-path", "no-path", "emails-subdomain"],
)
def test_patch_refuses_moving_a_user_into_another_companys_domain(
    acme_scim, acme, globex, operation
):
    before = _footprint()

    status, body = acme_scim.patch(f"Users/{acme.member.scim_id}", patch_op(operation))

    assert_scim_error(status, body, http_status=409, scim_type="uniqueness")
    assert _footprint() == before
    assert User.objects.get(pk=acme.member.pk).email == "member@acme.com"


def test_a_company_without_domains_cannot_take_a_held_one(stranger, globex):
    connection = globex.connection.__class__.objects.create(
        company=stranger, name="stranger", sign_on_url="https://stranger.okta.example/sso"
    )
    scim = ScimClient.for_connection(connection)

    status, body = scim.post("Users", _user("cfo@globex.com"))

    _refused(status, body)
    assert not User.objects.filter(company=stranger).exists()
    # Addresses nobody holds are its to use.
    status, _ = scim.post("Users", _user("cfo@stranger.example"))
    assert status == 201


def test_the_holder_and_free_domains_are_unaffected(acme_scim, globex_scim, globex):
    assert acme_scim.post("Users", _user("new@eu.acme.com"))[0] == 201
    assert acme_scim.post("Users", _user("contractor@freelance.example"))[0] == 201
    status, body = globex_scim.post("Users", _user("ceo@globex.com"))
    assert status == 201, body
    assert User.objects.get(email="ceo@globex.com").company == globex.company

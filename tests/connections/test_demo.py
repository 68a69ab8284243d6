"""`manage.py demo` and the bundled development IdP: real signed responses through the real ACS."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import urlsplit

import pytest

from accounts.models import Company, User
from audit.models import AuditEvent
from connections.models import Connection
from tests.commands import refused_command, run_command
from tests.connections.saml_helpers import signed_in_email


@pytest.fixture
def dev(db, settings, tmp_path):
    settings.DEBUG = True
    settings.BASE_DIR = tmp_path  # the IdP key goes to tmp_path/var/dev-idp/
    run_command("demo")
    return Connection.objects.get(name="demo")


def _form_fields(html: str) -> dict[str, str]:
    return {
        name: unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', html)
    }


def _post_to_acs(client, page) -> object:
    html = page.content.decode()
    action = unescape(re.search(r'<form method="post" action="([^"]+)"', html).group(1))
    return client.post(urlsplit(action).path, _form_fields(html))


def test_demo_refuses_without_debug(settings, db):
    settings.DEBUG = False
    refused_command("demo", watched=(Company, Connection, AuditEvent))
    assert not Connection.objects.exists()


def test_demo_is_idempotent_and_keeps_the_key_out_of_the_repository(dev, settings, tmp_path):
    run_command("demo")
    assert Connection.objects.filter(name="demo").count() == 1
    assert (tmp_path / "var" / "dev-idp" / "key.pem").stat().st_mode & 0o077 == 0
    assert dev.certificates.count() == 1


def test_a_recreated_idp_key_is_trusted_again(dev, tmp_path):
    for path in (tmp_path / "var" / "dev-idp").iterdir():
        path.unlink()
    run_command("demo")
    assert dev.certificates.count() == 2


def test_idp_initiated_sign_in_through_the_development_idp(dev, client):
    chooser = client.get("/dev-idp/sso/")
    assert "ada@demo.example" in chooser.content.decode()
    page = client.post("/dev-idp/sso/", {"connection": "demo", "persona": "ada@demo.example"})
    answer = _post_to_acs(client, page)
    assert answer.status_code == 303, answer.content[:500]
    done = client.get(answer["Location"])
    assert done.status_code == 302
    assert signed_in_email(client) == "ada@demo.example"
    ada = User.objects.get(email="ada@demo.example")
    assert (ada.role, ada.team.name, ada.company.slug) == ("admin", "Sales", "demo")


def test_sp_initiated_sign_in_through_the_development_idp(dev, client):
    started = client.get("/sso/demo/login/?next=/after/")
    assert started.status_code == 302
    location = urlsplit(started["Location"])
    assert location.path == "/dev-idp/sso/"
    chooser = client.get(f"{location.path}?{location.query}")
    assert "Answering a sign-in started at" in chooser.content.decode()
    fields = _form_fields(chooser.content.decode())
    assert fields["in_response_to"]
    page = client.post("/dev-idp/sso/", {**fields, "persona": "max@demo.example"})
    answer = _post_to_acs(client, page)
    done = client.get(answer["Location"])
    assert done["Location"] == "/after/"
    assert signed_in_email(client) == "max@demo.example"


def test_the_development_idp_is_not_served_without_debug(dev, settings, client):
    settings.DEBUG = False
    assert client.get("/dev-idp/sso/").status_code == 404
    assert (
        client.post(
            "/dev-idp/sso/", {"connection": "demo", "persona": "ada@demo.example"}
        ).status_code
        == 404
    )

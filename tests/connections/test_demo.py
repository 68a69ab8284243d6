"""`manage.py demo` and the bundled development IdP: real signed responses through the real ACS."""

from __future__ import annotations

import os
import re
from html import unescape
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import authenticate

from accounts.models import Company, User
from audit.models import AuditEvent
from connections.models import Connection
from tests.commands import refused_command, run_command, run_python
from tests.connections.saml_helpers import signed_in_email
from tests.factories import CompanyFactory, ConnectionFactory, DomainFactory, UserFactory

# Every test twice: signatures verified in process, and by pysaml2 with xmlsec1 (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("signature_backend")


@pytest.fixture
def dev(db, settings, tmp_path):
    # What config.settings makes of DJANGO_DEBUG=1 (make run).
    settings.DEBUG = True
    settings.DEV_IDP_ENABLED = True
    settings.BASE_DIR = tmp_path  # the IdP key goes to tmp_path/var/dev-idp/
    run_command("demo")
    return Connection.objects.get(name="demo")


def _support_login(output: str) -> tuple[str, str]:
    email = re.search(r"^  Email: +(\S+)$", output, re.M).group(1)
    password = re.search(r"^  Password: +(\S+) ", output, re.M).group(1)
    return email, password


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
    refused_command("demo", watched=(Company, Connection, User, AuditEvent))
    assert not Connection.objects.exists()
    assert not User.objects.exists()


def test_demo_prints_a_support_login_for_the_admin_with_a_new_password_each_run(dev, settings):
    first = run_command("demo")
    assert f"  Admin:    {settings.BASE_URL}/admin/" in first
    email, password = _support_login(first)
    support = authenticate(username=email, password=password)
    assert support is not None and support.is_staff and not support.is_superuser
    assert support.company is None
    assert [group.name for group in support.groups.all()] == ["Support"]
    assert support.has_perm("connections.change_connection")
    assert not support.has_perm("provisioning.view_scimtoken")

    second = run_command("demo")
    assert _support_login(second)[0] == email
    new_password = _support_login(second)[1]
    assert new_password != password
    assert authenticate(username=email, password=password) is None
    assert authenticate(username=email, password=new_password) == support
    assert User.objects.filter(is_staff=True).count() == 1
    assert password not in "".join(str(e.details) for e in AuditEvent.objects.all())


def test_demo_leaves_a_login_it_did_not_make_alone(db, settings, tmp_path):
    settings.DEBUG = True
    settings.BASE_DIR = tmp_path
    company = CompanyFactory(slug="staffco")
    taken = UserFactory(company=company, email="support@staff.example")
    hashed = taken.password
    refused_command("demo", watched=(Company, Connection, User, AuditEvent))
    taken.refresh_from_db()
    assert (taken.password, taken.is_staff, taken.groups.count()) == (hashed, False, 0)


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


def test_the_development_idp_signs_in_people_of_any_company_it_serves(dev, client):
    company = CompanyFactory(slug="initech", name="Initech")
    DomainFactory(company=company, domain="initech.example")
    ConnectionFactory(company=company, name="initech", sign_on_url=dev.sign_on_url)
    chooser = client.get("/dev-idp/sso/").content.decode()
    assert "ada@initech.example" in chooser and "ada@demo.example" in chooser
    refused = client.post("/dev-idp/sso/", {"connection": "initech", "persona": "ada@demo.example"})
    assert refused.status_code == 404


def test_the_development_idp_is_not_served_without_debug(dev, settings, client):
    settings.DEBUG = False
    settings.DEV_IDP_ENABLED = False
    assert client.get("/dev-idp/sso/").status_code == 404
    assert (
        client.post(
            "/dev-idp/sso/", {"connection": "demo", "persona": "ada@demo.example"}
        ).status_code
        == 404
    )


@pytest.mark.parametrize(
    ("debug", "served"), [("0", False), ("1", True)], ids=["production", "debug"]
)
def test_only_debug_serves_the_development_idp_whatever_the_environment_says(debug, served):
    """The switch the end-to-end tests flip is not an environment variable: a production process
    (config.settings, DJANGO_DEBUG=0) never serves the IdP, even asked to by its environment."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("DJANGO_")}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_DEBUG=debug,
        DJANGO_SECRET_KEY="not-a-real-secret-but-long-enough-for-a-test-run-0123456789",
        BASE_URL="https://sso.example.com",
        DJANGO_ALLOWED_HOSTS="sso.example.com",
        DEV_IDP_ENABLED="1",
        DJANGO_DEV_IDP_ENABLED="1",
        DEV_IDP_ORIGIN="https://idp.example.com",
        DATABASE_URL="sqlite:///:memory:",
    )
    probe = (
        "import django; django.setup()\n"
        "from django.conf import settings\n"
        "from django.core.management import call_command\n"
        "from django.test import Client\n"
        "call_command('migrate', verbosity=0)\n"
        "answer = Client().get('/dev-idp/sso/', secure=True, HTTP_HOST='sso.example.com')\n"
        "print(settings.DEV_IDP_ENABLED, settings.DEV_IDP_ORIGIN, answer.status_code)\n"
    )
    result = run_python(probe, env=env)
    assert result.returncode == 0, result.stderr
    status = "200" if served else "404"
    # The probe's line is the last: the request before it is logged on stdout too (JSON).
    assert result.stdout.splitlines()[-1].split() == [str(served), "None", status]

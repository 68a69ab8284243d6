"""Self-serve setup links: the command, the customer's pages (no account), a test sign-in through
the customer's IdP with real signed responses, activation, and every attack on the link."""

from __future__ import annotations

import re
from datetime import timedelta
from io import StringIO
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone
from lxml import html

from accounts.models import User
from audit.models import AuditEvent
from connections.models import Connection, ConnectionStatus, SetupLink
from connections.services import connection_create, connection_set_status
from connections.setup_links import setup_link_issue
from tests import idp_metadata_samples as samples
from tests.certs import make_keypair
from tests.connections.saml_helpers import local, post_to_acs, signed_in_email
from tests.saml_idp import TestIdP, okta_attributes

OKTA_APP = "exk5setup"


@pytest.fixture(scope="module")
def customer_key():
    return make_keypair("acme-okta.setup.test", slot="setup-customer")


@pytest.fixture
def draft(acme) -> Connection:
    return connection_create(
        company=acme.company, name="acme-sso", sign_on_url="", certificate_data=None,
        status=ConnectionStatus.DRAFT, actor_label="command",
    )  # fmt: skip


@pytest.fixture
def link_url(draft) -> str:
    return setup_link_issue(connection=draft, actor_label="command").url


@pytest.fixture
def browser(db) -> Client:
    return Client()


def _open(browser: Client, url: str):
    response = browser.get(local(url))
    assert response.status_code == 302, response.status_code
    assert response["Location"] == "/setup/"
    return browser.get("/setup/")


def _form(page) -> dict:
    tree = html.fromstring(page.content)
    form = tree.xpath('//form[@enctype="multipart/form-data"]')[0]
    return dict(form.form_values())


def _configure(browser: Client, page, customer_key, **overrides):
    data = _form(page)
    data.update(provisioning="jit")
    data["metadata_file"] = SimpleUploadedFile(
        "metadata.xml", samples.okta([customer_key], app=OKTA_APP, org="acme")
    )
    data.update(overrides)
    return browser.post("/setup/", data)


def _idp(customer_key) -> TestIdP:
    return TestIdP(entity_id=f"http://www.okta.com/{OKTA_APP}", keypair=customer_key)


def _test_sign_in(
    browser: Client, connection: Connection, customer_key, email="ada@acme.com", **attrs
):
    page = browser.get("/setup/")
    csrf = html.fromstring(page.content).xpath(
        '//form[@action="/setup/test/"]//input[@name="csrfmiddlewaretoken"]/@value'
    )[0]
    started = browser.post("/setup/test/", {"csrfmiddlewaretoken": csrf})
    assert started.status_code == 302, started.content[:500]
    assert started["Location"].startswith(connection.sign_on_url)
    xml = _idp(customer_key).respond_to(
        started["Location"], name_id=email, attributes=okta_attributes(email, **attrs)
    )
    acs = post_to_acs(browser, connection, xml)
    assert acs.status_code == 303, acs.content[:800]
    return browser.get(acs["Location"])


def _link(draft) -> SetupLink:
    return SetupLink.objects.get(connection=draft)


# --- the command -----------------------------------------------------------------------------------


def test_setup_link_command_prints_the_link_alone_and_stores_only_its_hash(draft):
    out, err = StringIO(), StringIO()

    call_command("connection", "setup-link", "acme-sso", stdout=out, stderr=err)

    url = out.getvalue().strip()
    assert "\n" not in url
    assert re.fullmatch(r"https://sso\.test/setup/[A-Za-z0-9_-]{43}/", url), url
    token = url.rstrip("/").rsplit("/", 1)[1]
    link = SetupLink.objects.get(connection=draft)
    assert link.token_hash != token and token not in str(SetupLink.objects.values().get())
    assert (link.expires_at - link.created_at).days == 7
    assert "7 day(s)" in err.getvalue()
    assert AuditEvent.objects.get(action="connection.setup_link_issued").actor_label == "command"


def test_setup_link_days_and_a_new_link_revokes_the_old_one(draft):
    first = setup_link_issue(connection=draft, days=2)
    out = StringIO()
    call_command("connection", "setup-link", "acme-sso", "--days", "3", stdout=out)

    links = list(SetupLink.objects.filter(connection=draft).order_by("pk"))
    assert links[0].pk == first.link.pk and links[0].revoked_at is not None
    assert (links[1].expires_at - links[1].created_at).days == 3


def test_setup_link_revoke(draft, link_url, browser):
    out = StringIO()
    call_command("connection", "setup-link", "acme-sso", "--revoke", stdout=out)

    assert "Revoked 1 setup link(s)" in out.getvalue()
    assert browser.get(local(link_url)).status_code == 410


@pytest.mark.parametrize("args", [["--days", "0"], ["--days", "31"]])
def test_setup_link_refuses_bad_days(draft, args):
    with pytest.raises(CommandError) as refused:
        call_command("connection", "setup-link", "acme-sso", *args, stdout=StringIO())
    assert refused.value.returncode == 1
    assert not SetupLink.objects.exists()


def test_setup_link_refuses_an_active_connection(acme):
    with pytest.raises(CommandError) as refused:
        call_command("connection", "setup-link", "acme", stdout=StringIO())
    assert "setup links are for draft connections" in str(refused.value)


# --- the whole setup, as the customer's admin does it ------------------------------------------------


def test_a_setup_completed_through_the_link(draft, link_url, browser, customer_key, acme):
    page = _open(browser, link_url)
    assert page.status_code == 200
    content = page.content.decode()
    # Not no-referrer: browsers would post the forms with "Origin: null", which CSRF refuses.
    assert page["Referrer-Policy"] == "same-origin"
    for value in ("acme-sso", draft.acs_url, draft.sp_entity_id):
        assert value in content
    for idp in ("Okta", "Microsoft Entra ID", "Google Workspace", "OneLogin", "JumpCloud"):
        assert f"<summary>{idp}</summary>" in content
    assert "Browse App Catalog" in content  # the guide's Okta steps

    saved = _configure(browser, page, customer_key, default_team=str(acme.teams["Marketing"].pk))
    assert saved.status_code == 302 and saved["Location"] == "/setup/#test"
    draft.refresh_from_db()
    assert draft.sign_on_url == f"https://acme.okta.com/app/acme_sendoso_1/{OKTA_APP}/sso/saml"
    assert draft.idp_entity_id == f"http://www.okta.com/{OKTA_APP}"
    assert draft.default_team == acme.teams["Marketing"]
    assert draft.status == ConnectionStatus.DRAFT

    users = User.objects.count()
    result = _test_sign_in(browser, draft, customer_key, division="Nope", user_type="boss")
    assert result.status_code == 200
    report = result.content.decode()
    assert "ada@acme.com would sign in as sender in team Marketing" in report
    assert "division &#x27;Nope&#x27; matches no team" in report
    assert "userType &#x27;boss&#x27; is not a role" in report
    assert "Back to your setup" in report
    assert User.objects.count() == users and signed_in_email(browser) is None

    activated = browser.post("/setup/activate/", {"csrfmiddlewaretoken": _csrf(browser)})
    assert activated.status_code == 200
    assert "Single sign-on is on" in activated.content.decode()
    draft.refresh_from_db()
    assert draft.status == ConnectionStatus.ACTIVE

    link = _link(draft)
    events = AuditEvent.objects.filter(connection=draft, actor_label=f"setup link #{link.pk}")
    assert set(events.values_list("action", flat=True)) >= {
        "connection.setup_link_opened", "connection.metadata_imported", "connection.updated",
        "connection.setup_link_configured", "connection.setup_link_test_started",
        "sso.test_login", "connection.setup_link_tested", "connection.status_changed",
        "connection.setup_link_used",
    }  # fmt: skip
    # The link died with the activation: the browser forgot it, and opening it again is refused.
    assert browser.get("/setup/").status_code == 404
    assert Client().get(local(link_url)).status_code == 410


def _csrf(browser: Client) -> str:
    page = browser.get("/setup/")
    return html.fromstring(page.content).xpath('//input[@name="csrfmiddlewaretoken"]/@value')[0]


def test_the_link_leaves_the_address_bar(draft, link_url, browser):
    response = browser.get(local(link_url))

    assert response["Location"] == "/setup/"
    token = urlsplit(link_url).path.split("/")[2]
    assert token not in browser.get("/setup/").content.decode()


def test_setup_with_a_sign_on_url_and_certificate(draft, link_url, browser, customer_key):
    page = _open(browser, link_url)
    data = _form(page)
    data.update(provisioning="scim", sign_on_url="https://acme.okta.com/app/acme/exk/sso/saml")
    data["certificate_file"] = SimpleUploadedFile("okta.cert", customer_key.cert_pem)

    assert browser.post("/setup/", data).status_code == 302

    draft.refresh_from_db()
    assert draft.provisioning == "scim"
    assert draft.sign_on_url == "https://acme.okta.com/app/acme/exk/sso/saml"
    assert draft.certificates.get().fingerprint_sha256 == customer_key.fingerprint


def test_setup_from_a_metadata_url(draft, link_url, browser, customer_key, https_server, allow):
    url = https_server.publish("/app/metadata", samples.okta([customer_key], app=OKTA_APP))
    page = _open(browser, link_url)

    saved = browser.post("/setup/", {**_form(page), "provisioning": "jit", "metadata_url": url})

    assert saved.status_code == 302
    draft.refresh_from_db()
    assert draft.metadata_url == url


def test_an_internal_metadata_url_is_refused_on_the_setup_page(draft, link_url, browser, dns):
    page = _open(browser, link_url)

    response = browser.post("/setup/", {**_form(page), "provisioning": "jit",
                                        "metadata_url": "https://idp.example.test/md"})  # fmt: skip

    assert response.status_code == 200
    assert "loopback" in response.content.decode()
    draft.refresh_from_db()
    assert draft.sign_on_url == "" and draft.metadata_url == ""


def test_bad_metadata_shows_beside_its_field_and_saves_nothing(
    draft, link_url, browser, customer_key
):
    page = _open(browser, link_url)
    before = AuditEvent.objects.count()

    response = browser.post("/setup/", {**_form(page), "provisioning": "jit",
                                        "metadata_xml": samples.sp_metadata(customer_key).decode()})  # fmt: skip

    assert response.status_code == 200
    assert "service provider&#x27;s metadata" in response.content.decode()
    assert not draft.certificates.exists()
    assert AuditEvent.objects.count() == before


def test_activation_needs_a_test_after_the_last_change(draft, link_url, browser, customer_key):
    page = _open(browser, link_url)
    _configure(browser, page, customer_key)

    refused = browser.post("/setup/activate/", {"csrfmiddlewaretoken": _csrf(browser)})
    assert "Run a test sign-in" in refused.content.decode()
    assert Connection.objects.get(pk=draft.pk).status == ConnectionStatus.DRAFT

    _test_sign_in(browser, draft, customer_key)
    other_key = make_keypair("acme-okta-2.setup.test", slot="setup-other")
    _configure(browser, browser.get("/setup/"), other_key)  # changed after the test
    refused = browser.post("/setup/activate/", {"csrfmiddlewaretoken": _csrf(browser)})
    assert "Run a test sign-in" in refused.content.decode()
    assert Connection.objects.get(pk=draft.pk).status == ConnectionStatus.DRAFT


def test_a_failed_test_sign_in_is_shown_and_refused(draft, link_url, browser, customer_key):
    _configure(browser, _open(browser, link_url), customer_key)
    wrong = make_keypair("not-the-idp.setup.test", slot="setup-wrong")

    page = browser.get("/setup/")
    csrf = html.fromstring(page.content).xpath(
        '//form[@action="/setup/test/"]//input[@name="csrfmiddlewaretoken"]/@value'
    )[0]
    started = browser.post("/setup/test/", {"csrfmiddlewaretoken": csrf})
    xml = TestIdP(entity_id=f"http://www.okta.com/{OKTA_APP}", keypair=wrong).respond_to(
        started["Location"], name_id="ada@acme.com", attributes=okta_attributes("ada@acme.com")
    )
    refused = post_to_acs(browser, draft, xml)

    assert refused.status_code == 403
    assert "Back to your single sign-on setup" in refused.content.decode()
    assert "saml_signature_invalid" in browser.get("/setup/").content.decode()
    assert _link(draft).tested_at is None


# --- attacks --------------------------------------------------------------------------------------


def test_a_link_cannot_choose_another_companys_team(draft, link_url, browser, customer_key, globex):
    page = _open(browser, link_url)

    response = _configure(browser, page, customer_key, default_team=str(globex.teams["Sales"].pk))

    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    draft.refresh_from_db()
    assert draft.default_team is None and draft.sign_on_url == ""


def test_the_page_offers_only_the_companys_teams(draft, link_url, browser, globex):
    page = _open(browser, link_url)

    options = html.fromstring(page.content).xpath('//select[@name="default_team"]/option/@value')
    assert set(options) - {""} == {str(t.pk) for t in draft.company.teams.all()}


def test_a_link_never_touches_another_connection(
    draft, link_url, browser, customer_key, acme, globex
):
    before = [
        (c.pk, c.sign_on_url, c.status, c.updated_at)
        for c in Connection.objects.exclude(pk=draft.pk)
    ]
    page = _open(browser, link_url)
    _configure(browser, page, customer_key)
    _test_sign_in(browser, draft, customer_key)
    browser.post("/setup/activate/", {"csrfmiddlewaretoken": _csrf(browser)})

    assert [
        (c.pk, c.sign_on_url, c.status, c.updated_at)
        for c in Connection.objects.exclude(pk=draft.pk)
    ] == before
    content = page.content.decode()
    assert "globex" not in content and acme.connection.acs_url not in content


def test_a_link_cannot_start_a_test_login_of_another_connection(
    draft, link_url, browser, customer_key, globex
):
    """The test started through acme's link is bound to acme's draft; a response for globex's
    connection answering it is refused, and globex's test report is never produced."""
    _configure(browser, _open(browser, link_url), customer_key)
    page = browser.get("/setup/")
    csrf = html.fromstring(page.content).xpath(
        '//form[@action="/setup/test/"]//input[@name="csrfmiddlewaretoken"]/@value'
    )[0]
    started = browser.post("/setup/test/", {"csrfmiddlewaretoken": csrf})
    xml = TestIdP(
        entity_id=globex.connection.idp_entity_id, keypair=globex.connection.keypair
    ).respond_to(
        started["Location"],
        name_id="member@globex.com",
        attributes=okta_attributes("member@globex.com"),
        acs_url=globex.connection.acs_url,
        audience=globex.connection.sp_entity_id,
    )

    response = post_to_acs(browser, globex.connection, xml)

    assert response.status_code == 403
    assert signed_in_email(browser) is None


@pytest.mark.parametrize("state", ["expired", "revoked", "used"])
def test_dead_links_are_refused_at_every_step(draft, link_url, browser, customer_key, state):
    page = _open(browser, link_url)
    link = _link(draft)
    if state == "expired":
        link.expires_at = timezone.now() - timedelta(seconds=1)
        link.save()
    elif state == "revoked":
        link.revoked_at = timezone.now()
        link.save()
    else:
        link.used_at = timezone.now()
        link.save()
    data = _form(page)

    assert Client().get(local(link_url)).status_code == 410
    assert browser.get("/setup/").status_code == 410
    assert _configure(browser, page, customer_key).status_code == 410
    assert browser.post("/setup/test/", data).status_code == 410
    assert browser.post("/setup/activate/", data).status_code == 410
    draft.refresh_from_db()
    assert (draft.status, draft.sign_on_url) == (ConnectionStatus.DRAFT, "")


def test_a_link_dies_when_support_activates_the_connection(draft, link_url, browser, customer_key):
    _configure(browser, _open(browser, link_url), customer_key)
    connection_set_status(connection=draft, status=ConnectionStatus.ACTIVE)

    assert browser.get("/setup/").status_code == 410


def test_unknown_and_malformed_tokens_are_refused_alike(db, browser):
    for token in ("x" * 43, "short", "a" * 99, "%00"):
        response = browser.get(f"/setup/{token}/")
        assert response.status_code == 404
        assert "not valid" in response.content.decode()
    assert browser.get("/setup/").status_code == 404  # no link opened in this browser


def test_tokens_have_256_bits_and_never_repeat(draft):
    urls = {setup_link_issue(connection=draft).url for _ in range(20)}

    assert len(urls) == 20
    for url in urls:
        token = url.rstrip("/").rsplit("/", 1)[1]
        assert len(token) >= 43  # 32 random bytes in URL-safe base64


def test_the_form_needs_its_csrf_token(draft, link_url, customer_key):
    browser = Client(enforce_csrf_checks=True)
    page = _open(browser, link_url)
    data = _form(page)
    del data["csrfmiddlewaretoken"]
    data["provisioning"] = "jit"
    data["metadata_xml"] = samples.okta([customer_key]).decode()

    assert browser.post("/setup/", data).status_code == 403
    assert browser.post("/setup/activate/", {}).status_code == 403
    assert browser.post("/setup/test/", {}).status_code == 403
    draft.refresh_from_db()
    assert draft.sign_on_url == ""


# --- the page as people use it ------------------------------------------------------------------------


def test_every_input_has_a_label_and_there_is_no_inline_script_or_style(draft, link_url, browser):
    page = _open(browser, link_url)
    tree = html.fromstring(page.content)

    labelled = set(tree.xpath("//label/@for"))
    for field in tree.xpath("//input[not(@type='hidden')] | //select | //textarea"):
        field_id = field.get("id")
        assert field_id in labelled or field.xpath("ancestor::label"), html.tostring(field)
    assert tree.xpath("//meta[@name='viewport']/@content") == [
        "width=device-width, initial-scale=1"
    ]
    assert not tree.xpath("//script[not(@src)]"), "inline script"
    assert not tree.xpath("//style"), "inline style element"
    assert not tree.xpath("//*[@style]"), "inline style attribute"
    assert not tree.xpath("//*[@*[starts-with(name(), 'on')]]"), "inline event handler"
    css = tree.xpath("//link[@rel='stylesheet']/@href")
    assert css == ["/static/connections/setup.css"]


def test_the_stylesheet_shows_keyboard_focus_and_fits_a_phone():
    css = (
        Path(__file__).resolve().parents[2] / "connections/static/connections/setup.css"
    ).read_text()
    assert ":focus-visible" in css and "outline:" in css
    assert "@media (max-width: 480px)" in css

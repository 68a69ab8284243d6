"""The SSO endpoint paths are computed once per connection name (``connections.sso_paths``),
and still follow what ``reverse`` would: the deployment's script prefix, the URL configuration
in use. The identity kept for the finish step is what ``dataclasses.asdict`` gives."""

from __future__ import annotations

import types
from dataclasses import asdict

from django.urls import path, reverse, set_script_prefix, set_urlconf

from connections.sso_paths import sso_path
from connections.verified_assertion import VerifiedAssertion


def _view(request):  # pragma: no cover - never called, only reversed
    raise AssertionError


def test_the_paths_are_those_reverse_gives():
    for url_name in ("sso-acs", "sso-finish", "sso-metadata", "sso-login", "sso-slo"):
        assert sso_path(url_name, "acme") == reverse(url_name, args=["acme"])


def test_a_script_prefix_is_followed():
    try:
        set_script_prefix("/mounted/")
        assert sso_path("sso-acs", "acme") == "/mounted/sso/acme/acs/"
    finally:
        set_script_prefix("/")
    assert sso_path("sso-acs", "acme") == "/sso/acme/acs/"


def test_another_url_configuration_is_followed():
    other = types.ModuleType("other_urls")
    other.urlpatterns = [path("elsewhere/<str:name>/acs/", _view, name="sso-acs")]
    try:
        set_urlconf(other)
        assert sso_path("sso-acs", "acme") == "/elsewhere/acme/acs/"
    finally:
        set_urlconf(None)
    assert sso_path("sso-acs", "acme") == "/sso/acme/acs/"


def test_the_identity_kept_is_what_asdict_gives():
    verified = VerifiedAssertion(
        issuer="http://www.okta.com/x",
        assertion_id="id1",
        name_id="ada@acme.com",
        name_id_format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
        session_index="s1",
        attributes={"email": ["ada@acme.com"], "groups": ["a", "b"]},
        friendly_names={"email": "mail"},
        name_qualifier="nq",
    )
    identity = verified.as_identity()
    assert identity == asdict(verified)
    assert identity["attributes"] is not verified.attributes
    assert identity["attributes"]["groups"] is not verified.attributes["groups"]

"""What every case of the refusal corpus is made of, and the helpers they share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace

from django.conf import settings
from django.http import HttpResponse
from django.test import Client
from lxml import etree

from audit.models import AuditEvent
from tests.connections.saml_helpers import (
    finish,
    idp_response,
    post_to_acs,
    sign_in,
    signed_in_email,
)

#: A new acme.com address: JIT creates this user on any accepted login through acme.
NEW = "newhire@acme.com"


def accepted(client, connection, xml, relay_state=None, *, email=NEW):
    """Positive control: the same kind of response, but valid, signs ``email`` in."""
    done = sign_in(client, connection, xml, relay_state)
    assert done.status_code == 302, done.content[:800]
    assert signed_in_email(client) == email
    return done


def skew() -> timedelta:
    return timedelta(seconds=settings.SAML_CLOCK_SKEW_SECONDS)


# ================================================================================================
# The corpus
# ================================================================================================

Given = SimpleNamespace  # the fixtures a case needs, by name; arrange may add what it made
Act = Callable[[], HttpResponse]


@dataclass(frozen=True)
class Refusal:
    """One sign-in that must be refused with ``code``, named ``code-name`` in the test ids.

    ``arrange`` sets the scene and returns the request to refuse (users are counted between the
    two); ``on``, ``client``, ``status``, ``never_created`` and ``pending_elsewhere`` are what
    ``assert_refused`` checks beyond the rest; ``then`` checks what is particular to the case.
    """

    code: str
    name: str  # what sets this case apart among those of its code ("" for the only one)
    arrange: Callable[[Given], Act]
    needs: tuple[str, ...] = ("acme", "client")
    status: int | None = None
    on: Callable[[Given], object] | None = None  # the connection the event must name
    client: Callable[[Given], Client] | None = (
        None  # whose session stays empty (default: the requester's)
    )
    never_created: tuple[str, ...] = ()
    pending_elsewhere: int = 0
    tallied: bool = False  # counted (audit.models.RefusalTally), not an audit event each
    then: Callable[[Given, AuditEvent], None] | None = None

    @property
    def id(self) -> str:
        """The case's test id: its code, then what sets it apart."""
        return f"{self.code}-{self.name}" if self.name else self.code


def at_acs(make_xml: Callable[[Given], bytes]) -> Callable[[Given], Act]:
    """The response ``make_xml`` builds, posted to acme's ACS."""

    def arrange(given: Given) -> Act:
        xml = make_xml(given)
        return lambda: post_to_acs(given.client, given.acme.connection, xml)

    return arrange


def at_finish(make_xml: Callable[[Given], bytes]) -> Callable[[Given], Act]:
    """The response ``make_xml`` builds, accepted at acme's ACS, then refused where the ACS
    sends the browser: the finish step."""

    def arrange(given: Given) -> Act:
        posted = post_to_acs(given.client, given.acme.connection, make_xml(given))
        return lambda: finish(given.client, posted)

    return arrange


def acme_response(**options) -> Callable[[Given], bytes]:
    """acme's IdP-initiated response for ``NEW`` with these ``TestIdP.response`` options."""
    return lambda given: idp_response(given.acme, NEW, **options)


def on_acme(given: Given):
    return given.acme.connection


def on_globex(given: Given):
    return given.globex.connection


def fingerprints(
    configured: Callable[[Given], list[str]], in_message: Callable[[Given], list[str]]
) -> Callable[[Given, AuditEvent], None]:
    """Then: what support needs, the certificates configured next to those the message carried."""

    def then(given: Given, event: AuditEvent) -> None:
        assert event.details["configured_certificates"] == configured(given)
        assert event.details["certificates_in_message"] == in_message(given)

    return then


def acme_fingerprint(given: Given) -> list[str]:
    return [given.acme.connection.keypair.fingerprint]


def details_say(key: str, *words: str) -> Callable[[Given, AuditEvent], None]:
    """Then: the audit event's ``key`` detail says each of ``words``: ``reason``, or
    ``diagnosis`` (why a signature did not verify, the same whichever backend refused it)."""

    def then(given: Given, event: AuditEvent) -> None:
        assert all(word in event.details[key] for word in words), event.details

    return then


def all_of(*thens: Callable[[Given, AuditEvent], None]) -> Callable[[Given, AuditEvent], None]:
    def then(given: Given, event: AuditEvent) -> None:
        for each in thens:
            each(given, event)

    return then


def serialized(root) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")

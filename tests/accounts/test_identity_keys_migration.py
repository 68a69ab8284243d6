"""accounts 0006 gives existing users their keys, and settles identities the old LOWER() let
exist twice: the older row keeps the key, the newer one is set aside and named in a warning."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

# serialized_rollback: the flush after this test then leaves the content types to the next
# serialized test (the end-to-end ones restore the database that way).
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

BEFORE = [("accounts", "0005_deprovision_permission"), ("audit", "0001_initial")]
AFTER = [("accounts", "0006_identity_keys")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def old_apps():
    apps = _migrate(BEFORE)
    yield apps
    _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


def test_existing_users_get_their_keys_and_collisions_are_set_aside(old_apps):
    Company = old_apps.get_model("accounts", "Company")
    User = old_apps.get_model("accounts", "User")
    acme = Company.objects.create(slug="acme", name="Acme")
    # Both databases let each pair in under the old rules: LOWER("ß") is "ß" and LOWER("ſ") is
    # "ſ" everywhere; both fold to "ss" and "s".
    first = User.objects.create(email="strasse@acme.com", username="Strasse", company=acme)
    second = User.objects.create(email="other@acme.com", username="STRAßE", company=acme)
    sales = User.objects.create(email="sales@acme.com", username="sales@acme.com", company=acme)
    long_s = User.objects.create(email="ſales@acme.com", username="ſales", company=acme)
    plain = User.objects.create(email="ada@ａｃｍｅ.com", username="Ada", company=acme)

    new_apps = _migrate(AFTER)

    User = new_apps.get_model("accounts", "User")
    keys = dict(User.objects.values_list("pk", "username_key"))
    emails = dict(User.objects.values_list("pk", "email_key"))
    assert keys[first.pk] == "strasse"
    assert keys[second.pk] == f"strasse#{second.pk}"
    assert emails[sales.pk] == "sales@acme.com"
    assert emails[long_s.pk] == f"sales@acme.com#{long_s.pk}"
    assert (emails[plain.pk], keys[plain.pk]) == ("ada@acme.com", "ada")
    AuditEvent = new_apps.get_model("audit", "AuditEvent")
    warnings = AuditEvent.objects.filter(action="user.identity_collision").order_by("pk")
    assert [(e.target, e.details["field"], e.details["same_as"]) for e in warnings] == [
        ("other@acme.com", "userName", "strasse@acme.com"),
        ("ſales@acme.com", "email", "sales@acme.com"),
    ]
    assert {e.severity for e in warnings} == {"warning"}

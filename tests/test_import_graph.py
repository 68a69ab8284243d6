"""The layout rules of the README, checked on the import graph read from the code: apps import
downward only, no import cycle, pysaml2 only behind the adapter. Each failure names the file,
the line and the import that breaks the rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.import_graph import (
    LAYERS,
    TOP,
    import_cycles,
    import_graph,
    saml2_imports,
    upward_imports,
)

ROOT = Path(__file__).resolve().parent.parent
APP_CODE = (*LAYERS, TOP)


@pytest.fixture(scope="module")
def app_edges():
    return import_graph(ROOT, APP_CODE)


def test_the_graph_is_read_from_every_app(app_edges):
    sources = {edge.source for edge in app_edges}
    assert {"connections.sign_in.finish", "provisioning.scim.views", "config.urls"} <= sources
    # A sample of known edges, so a reader that found nothing cannot pass the rules below.
    pairs = {(edge.source, edge.target) for edge in app_edges}
    assert ("connections.sign_in.identity", "accounts.services") in pairs
    assert ("connections.saml", "saml2") in pairs


def test_apps_import_downward_only(app_edges):
    assert upward_imports(app_edges) == []


def test_no_module_imports_itself_through_others(app_edges):
    assert import_cycles(app_edges) == []


def test_only_the_adapter_and_the_development_idp_import_pysaml2(app_edges):
    # Tests and benchmarks may: the test IdP is checked against pysaml2, the ACS benchmark
    # measures against stock pysaml2.
    assert saml2_imports(app_edges) == []


# --- the checks themselves fail on a bad layout -------------------------------------------------


def _project(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for package in APP_CODE:
        (tmp_path / package).mkdir(exist_ok=True)
    return tmp_path


def test_an_upward_import_is_reported_with_its_file_and_line(tmp_path):
    root = _project(
        tmp_path,
        {
            "accounts/__init__.py": "",
            "accounts/admin.py": "import os\n\n\ndef act():\n    from provisioning.services import go\n",
            "connections/views.py": "from config import settings\n",
            "provisioning/__init__.py": "",
            "provisioning/services.py": "from accounts import admin\n",
        },
    )

    found = upward_imports(import_graph(root, APP_CODE))

    assert found == [
        "accounts/admin.py:5: accounts.admin imports provisioning.services, but accounts may "
        "not import provisioning (apps import downward only: core < audit < accounts < "
        "connections < provisioning; config above them all)",
        "connections/views.py:1: connections.views imports config, but connections may not "
        "import config (apps import downward only: core < audit < accounts < connections < "
        "provisioning; config above them all)",
    ]


def test_a_cycle_is_reported_with_each_import_of_it(tmp_path):
    root = _project(
        tmp_path,
        {
            "provisioning/__init__.py": "",
            "provisioning/services.py": "def f():\n    from provisioning.tasks import t\n",
            "provisioning/tasks.py": "from . import helpers\n",
            "provisioning/helpers.py": "from provisioning import services\n",
            "provisioning/alone.py": "from provisioning import tasks\n",
        },
    )

    found = import_cycles(import_graph(root, APP_CODE))

    assert found == [
        "import cycle provisioning.helpers -> provisioning.services -> provisioning.tasks -> "
        "provisioning.helpers: provisioning/helpers.py:1 (provisioning.helpers -> "
        "provisioning.services), provisioning/services.py:2 (provisioning.services -> "
        "provisioning.tasks), provisioning/tasks.py:1 (provisioning.tasks -> "
        "provisioning.helpers)"
    ]


def test_pysaml2_anywhere_else_is_reported(tmp_path):
    root = _project(
        tmp_path,
        {
            "connections/saml.py": "from saml2.client import Saml2Client\n",
            "connections/dev_idp_saml.py": "from saml2.server import Server\n",
            "connections/views.py": "def f():\n    import saml2.sigver\n",
        },
    )

    found = saml2_imports(import_graph(root, APP_CODE))

    assert found == [
        "connections/views.py:2: connections.views imports saml2, but only "
        "connections.dev_idp_saml and connections.saml may (the adapter and the development IdP)"
    ]

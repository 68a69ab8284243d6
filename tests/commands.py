"""What the tests of the management commands share: running a command in-process, and the rules
every refusal follows (exit status 1, one line, nothing written), in-process and on the real
command line (the ``manage_py`` fixture of ``tests/conftest.py``)."""

from __future__ import annotations

import subprocess
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import models


def run_command(name: str, *args: str) -> str:
    """``manage.py <name> <args>`` in-process; returns what it wrote on stdout."""
    out = StringIO()
    call_command(name, *args, stdout=out)
    return out.getvalue()


def row_counts(*watched: type[models.Model]) -> tuple[int, ...]:
    return tuple(model.objects.count() for model in watched)


def refused_command(name: str, *args: str, watched: tuple[type[models.Model], ...]) -> CommandError:
    """The command refuses: exit status 1, a one-line message, and no row of ``watched`` added
    or removed. Returns the error, for its message."""
    before = row_counts(*watched)
    with pytest.raises(CommandError) as refused:
        run_command(name, *args)
    assert refused.value.returncode == 1
    assert "\n" not in str(refused.value)
    assert row_counts(*watched) == before, "a refused command wrote something"
    return refused.value


def refusal_line(result: subprocess.CompletedProcess[str]) -> str:
    """A refusal on the real command line: exit status 1, nothing on stdout, one line on stderr
    (returned)."""
    assert result.returncode == 1, result
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]

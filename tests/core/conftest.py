"""Log capture for the observability tests: the records of a logger, formatted as the production
handler formats them (``core.logs.JsonFormatter``), at the moment they are logged (the request's
context exists only then)."""

from __future__ import annotations

import io
import json
import logging

import pytest

from core.logs import JsonFormatter


class JsonLines:
    def __init__(self) -> None:
        self.stream = io.StringIO()
        self.handler = logging.StreamHandler(self.stream)
        self.handler.setFormatter(JsonFormatter())

    @property
    def lines(self) -> list[str]:
        return self.stream.getvalue().splitlines()

    def entries(self, logger: str | None = None) -> list[dict]:
        entries = [json.loads(line) for line in self.lines]
        return [entry for entry in entries if logger is None or entry["logger"] == logger]


@pytest.fixture
def json_logs():
    capture = JsonLines()
    root = logging.getLogger()
    root.addHandler(capture.handler)
    try:
        yield capture
    finally:
        root.removeHandler(capture.handler)

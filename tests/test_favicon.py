"""Browsers ask every site for /favicon.ico; a 404 there is a console error on every page
(tests/e2e saw it)."""

from __future__ import annotations


def test_the_favicon_is_served(client):
    answer = client.get("/favicon.ico")
    assert answer.status_code == 301
    assert answer["Location"] == "/static/connections/favicon.svg"

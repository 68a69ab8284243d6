"""The browser checks can fail: a page with each fault, served to Chromium by a route (no live
server), is reported for it."""

from __future__ import annotations

import pytest

from tests.e2e.checks import accessibility_problems, watch

BAD_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>bad</title>
<link rel="icon" href="data:,"><style>button:focus { outline: none; }</style></head>
<body><input type="text" id="nameless"><div style="width:600px">wide</div>
<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" alt="">
<button>Go</button><script>console.error("broken");</script></body></html>"""


@pytest.fixture
def served(browser_thread):
    """``served(html, headers)`` -> (problems, accessibility problems) of that page."""
    thread, chromium = browser_thread

    def visit(html: str, headers: dict[str, str]):
        context = chromium.new_context(viewport={"width": 1280, "height": 900})
        try:
            problems = watch(context)
            page = context.new_page()
            page.route(
                "https://checks.test/**",
                lambda route: route.fulfill(
                    status=200, content_type="text/html", headers=headers, body=html
                ),
            )
            page.goto("https://checks.test/")
            return problems.report(), accessibility_problems(page)
        finally:
            context.close()

    return lambda html, headers: thread.call(visit, html, headers)


@pytest.mark.e2e
def test_each_fault_of_a_page_is_reported(served):
    problems, accessibility = served(BAD_PAGE, {"Content-Security-Policy": "img-src 'none'"})
    assert any(p.startswith("CSP violation:") and "img-src" in p for p in problems), problems
    assert any("console error" in p and "broken" in p for p in problems), problems
    assert any("field without a label" in p and "nameless" in p for p in accessibility)
    assert any("sideways at 375px" in p for p in accessibility), accessibility
    assert any("focus not visible on button" in p for p in accessibility), accessibility

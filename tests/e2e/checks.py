"""What every end-to-end test watches in the browser, and the accessibility basics.

``watch(context)`` records, for every page of a browser context, console errors, uncaught script
errors and content-security-policy violations (the ``securitypolicyviolation`` DOM event, reported
through a binding that the policy cannot block). The only console errors forgiven are Chromium's
"Failed to load resource" lines for a page that is *meant* to answer 4xx (an error page), which
the test asserts itself.

``accessibility_problems(page)``: every form field has a label, nothing scrolls sideways at a
phone's width (375 px), and keyboard focus is visible on everything Tab reaches.

These functions take real Playwright objects: they run on the browser thread (``run_in_browser``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

PHONE_WIDTH = 375

_CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.__e2eCspViolation({
    page: location.href, directive: event.violatedDirective, blocked: event.blockedURI,
    source: event.sourceFile, line: event.lineNumber, sample: event.sample,
    disposition: event.disposition,
  });
});
"""


@dataclass
class Problems:
    console: list[tuple[str, str]] = field(default_factory=list)  # (url, text)
    script_errors: list[str] = field(default_factory=list)
    csp_violations: list[dict] = field(default_factory=list)
    error_documents: set[str] = field(default_factory=set)

    def report(self) -> list[str]:
        lines = [f"CSP violation: {v}" for v in self.csp_violations]
        lines += [f"script error: {error}" for error in self.script_errors]
        for url, text in self.console:
            expected = url in self.error_documents and text.startswith(
                "Failed to load resource: the server responded with a status of"
            )
            if not expected:
                lines.append(f"console error on {url or '?'}: {text}")
        return lines


def watch(context) -> Problems:
    problems = Problems()

    def on_console(message) -> None:
        if message.type == "error":
            problems.console.append((message.location.get("url", ""), message.text))

    def on_response(response) -> None:
        if response.request.resource_type == "document" and response.status >= 400:
            problems.error_documents.add(response.url)

    context.on("console", on_console)
    context.on("response", on_response)
    context.on("weberror", lambda web_error: problems.script_errors.append(str(web_error.error)))
    context.expose_binding(
        "__e2eCspViolation", lambda _source, violation: problems.csp_violations.append(violation)
    )
    context.add_init_script(_CSP_LISTENER)
    return problems


_UNLABELLED = """() => [...document.querySelectorAll("input, select, textarea")]
  .filter((el) => !["hidden", "submit", "button", "reset", "image"].includes(el.type))
  .filter((el) => !([...(el.labels || [])].some((label) => label.textContent.trim())
                    || (el.getAttribute("aria-label") || "").trim()
                    || el.getAttribute("aria-labelledby")))
  .map((el) => el.outerHTML.slice(0, 160))"""

_OVERFLOW = """() => document.documentElement.scrollWidth - document.documentElement.clientWidth"""

_FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body || el === document.documentElement) return null;
  const style = getComputedStyle(el);
  const outline = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0;
  const shadow = style.boxShadow && style.boxShadow !== "none";
  const describe = el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
    + (el.name ? `[name=${el.name}]` : "") + " " + (el.textContent || el.value || "").trim().slice(0, 40);
  return {key: el.outerHTML.slice(0, 200), describe, visible: Boolean(outline || shadow)};
}"""


def unlabelled_fields(page) -> list[str]:
    return page.evaluate(_UNLABELLED)


def sideways_scroll_at_phone_width(page) -> int:
    """How many CSS pixels the page scrolls sideways at 375 px wide (0: none)."""
    size = page.viewport_size
    page.set_viewport_size({"width": PHONE_WIDTH, "height": 740})
    try:
        _review_screenshot(page, f"{PHONE_WIDTH}px")
        return page.evaluate(_OVERFLOW)
    finally:
        page.set_viewport_size(size)


def invisible_focus(page, *, max_steps: int = 60) -> list[str]:
    """Tab through the page, as a keyboard user does; the elements whose focus shows neither an
    outline nor a box shadow."""
    page.evaluate(
        "() => { document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0); }"
    )
    seen, invisible = set(), []
    for _ in range(max_steps):
        page.keyboard.press("Tab")
        focused = page.evaluate(_FOCUSED)
        if focused is None or focused["key"] in seen:
            break
        seen.add(focused["key"])
        if not focused["visible"]:
            invisible.append(focused["describe"])
    if not seen:
        invisible.append("Tab reaches nothing on the page")
    return invisible


def accessibility_problems(page) -> list[str]:
    _review_screenshot(page, "desktop")
    problems = [f"field without a label: {html}" for html in unlabelled_fields(page)]
    overflow = sideways_scroll_at_phone_width(page)
    if overflow > 0:
        problems.append(f"scrolls {overflow}px sideways at {PHONE_WIDTH}px wide")
    problems += [f"focus not visible on {element}" for element in invisible_focus(page)]
    return [f"{page.url}: {problem}" for problem in problems]


def _review_screenshot(page, label: str) -> None:
    """With E2E_REVIEW=<dir>, every checked page is saved at both widths, to be looked at."""
    folder = os.environ.get("E2E_REVIEW")
    if folder:
        name = (
            page.url.split("://", 1)[1].split("?")[0].strip("/").replace("/", "_").replace(":", "-")
        )
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}-{label}.png"), full_page=True)

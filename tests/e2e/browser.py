"""Chromium, driven by Playwright in a thread of its own.

Playwright's sync API runs an asyncio event loop (in a greenlet) on the thread that started it,
and Django refuses ORM calls on a thread where an event loop runs (``SynchronousOnlyOperation``).
Rather than switch that check off for the whole process (``DJANGO_ALLOW_ASYNC_UNSAFE``), the
browser lives in a thread of its own: tests hold ``Remote`` proxies whose every attribute read and
call runs on that thread, and the test thread (fixtures, ORM reads, pytest-django's flushes) stays
plain synchronous Django with the check on. The live server answers from a third thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from playwright.sync_api import Playwright, sync_playwright
from playwright.sync_api import expect as playwright_expect


class BrowserThread:
    """Owns Playwright; runs the jobs it is given one at a time, in order."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        started: Future[Playwright] = Future()
        self._thread = threading.Thread(
            target=self._serve, args=(started,), name="e2e-browser", daemon=True
        )
        self._thread.start()
        self.playwright: Playwright = started.result(timeout=60)

    def _serve(self, started: Future) -> None:
        try:
            manager = sync_playwright()
            playwright = manager.start()
        except BaseException as error:  # noqa: BLE001 - handed to the thread that waits
            started.set_exception(error)
            return
        started.set_result(playwright)
        while (job := self._jobs.get()) is not None:
            function, args, kwargs, future = job
            try:
                future.set_result(function(*args, **kwargs))
            except BaseException as error:  # noqa: BLE001 - re-raised on the test thread
                future.set_exception(error)
        manager.__exit__(None, None, None)

    def call(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``function(*args, **kwargs)`` on the browser thread; its result or its exception."""
        future: Future = Future()
        self._jobs.put((function, args, kwargs, future))
        return future.result()

    def remote(self, value: Any) -> Any:
        """Playwright objects (also inside lists) become proxies; plain values stay as they are."""
        if isinstance(value, list):
            return [self.remote(item) for item in value]
        if type(value).__module__.startswith("playwright."):
            return Remote(self, value)
        return value

    def stop(self) -> None:
        self._jobs.put(None)
        self._thread.join(timeout=30)


def _local(value: Any) -> Any:
    if isinstance(value, Remote):
        return object.__getattribute__(value, "_target")
    if isinstance(value, list | tuple):
        return type(value)(_local(item) for item in value)
    if isinstance(value, dict):
        return {key: _local(item) for key, item in value.items()}
    return value


class Remote:
    """A Playwright object of the browser thread, used from the test thread like the object
    itself: ``page.goto(url)``, ``page.get_by_label("Email").fill(...)``, ``with
    page.expect_popup() as popup: ...``. Callbacks given to Playwright (``page.on``,
    ``page.route``) run on the browser thread with the real objects."""

    __slots__ = ("_thread", "_target")

    def __init__(self, thread: BrowserThread, target: Any) -> None:
        object.__setattr__(self, "_thread", thread)
        object.__setattr__(self, "_target", target)

    def __getattr__(self, name: str) -> Any:
        thread, target = self._thread, self._target
        value = thread.call(getattr, target, name)
        if callable(value) and not type(value).__module__.startswith("playwright."):

            def method(*args: Any, **kwargs: Any) -> Any:
                return thread.remote(thread.call(value, *_local(args), **_local(kwargs)))

            return method
        return thread.remote(value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Remote proxies are read-only")

    def __enter__(self) -> Any:
        return self._thread.remote(self._thread.call(self._target.__enter__))

    def __exit__(self, *exc_info: Any) -> Any:
        return self._thread.call(self._target.__exit__, *exc_info)

    def __repr__(self) -> str:
        return f"Remote({self._thread.call(repr, self._target)})"


def expect(subject: Remote, **options: Any) -> Any:
    """Playwright's ``expect`` (retrying assertions) on a proxied page or locator."""
    thread = object.__getattribute__(subject, "_thread")
    return Remote(thread, thread.call(playwright_expect, _local(subject), **options))


def run_in_browser(subject: Remote, function: Callable[..., Any], *args: Any) -> Any:
    """``function(real_object, *args)`` on the browser thread: for a few steps that read better
    as one function than as proxied calls (see checks.py)."""
    thread = object.__getattribute__(subject, "_thread")
    return thread.call(function, _local(subject), *args)

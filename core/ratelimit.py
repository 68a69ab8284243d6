"""Fixed-window rate limits, shared through Redis when REDIS_URL is set, else per process.

A window opens with the first hit of a key and lasts the rate's period; past ``rate.count``
hits the key is refused until the window closes, and the refusal says when that is (the
``Retry-After`` of a 429). If Redis does not answer, requests are let through (and a warning
logged): an outage of the limiter must not become an outage of sign-in and provisioning.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Protocol

import redis
from django.conf import settings

logger = logging.getLogger("sso.ratelimit")

# One round trip, atomic: count the hit and open the window on the first one.
_HIT_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {count, ttl}
"""
REDIS_TIMEOUT_SECONDS = 0.5
# The in-process store forgets expired windows past this many keys, and everything past twice
# as many: a flood of distinct keys costs bounded memory (and at worst resets the counts).
_MEMORY_KEYS = 50_000


class Rate(Protocol):
    """``count`` hits per ``seconds`` (``config.env.Rate``, read from RATE_LIMIT_*)."""

    count: int
    seconds: int


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: int  # seconds until the window closes (when refused)


def rate_limit_hit(*, scope: str, key: str, rate: Rate) -> Decision:
    """Count one hit of ``key`` under ``scope``; refused once past ``rate`` in the window."""
    digest = hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()[:32]
    bucket = f"ratelimit:{scope}:{digest}"
    window_ms = rate.seconds * 1000
    try:
        count, ttl_ms = _store().hit(bucket, window_ms)
    except redis.RedisError as error:
        _warn_limiter_down(error)
        return Decision(allowed=True, retry_after=0)
    if count > rate.count:
        return Decision(allowed=False, retry_after=max(1, math.ceil(ttl_ms / 1000)))
    return Decision(allowed=True, retry_after=0)


class _RedisStore:
    def __init__(self, url: str) -> None:
        client = redis.Redis.from_url(
            url,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        )
        self._script = client.register_script(_HIT_SCRIPT)

    def hit(self, bucket: str, window_ms: int) -> tuple[int, int]:
        count, ttl = self._script(keys=[bucket], args=[window_ms])
        return int(count), int(ttl)


class _MemoryStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[int, float]] = {}

    def hit(self, bucket: str, window_ms: int) -> tuple[int, int]:
        now = time.monotonic()
        with self._lock:
            count, closes = self._windows.get(bucket, (0, 0.0))
            if closes <= now:
                if len(self._windows) >= _MEMORY_KEYS:
                    self._forget_expired(now)
                count, closes = 0, now + window_ms / 1000
            count += 1
            self._windows[bucket] = (count, closes)
            return count, int((closes - now) * 1000)

    def _forget_expired(self, now: float) -> None:
        self._windows = {key: value for key, value in self._windows.items() if value[1] > now}
        if len(self._windows) >= 2 * _MEMORY_KEYS:
            self._windows.clear()


_stores: dict[str, _RedisStore | _MemoryStore] = {}
_stores_lock = threading.Lock()


def _store() -> _RedisStore | _MemoryStore:
    url = settings.REDIS_URL or ""
    store = _stores.get(url)
    if store is None:
        with _stores_lock:
            store = _stores.setdefault(url, _RedisStore(url) if url else _MemoryStore())
    return store


_last_warning = 0.0


def _warn_limiter_down(error: Exception) -> None:
    global _last_warning
    now = time.monotonic()
    if now - _last_warning > 10:  # once per ten seconds, not once per request
        _last_warning = now
        logger.warning("rate limits not enforced: Redis is not answering (%s)", error)

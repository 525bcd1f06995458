"""Failed sign-ins counted in memory: per unknown user name and per client address, bounded in size.

An existing account counts its failures in its own row (every process sees them). A name with no account
must be locked out the same way, or the 429 would tell which names exist; counting those in the database
would let anyone add rows by guessing names. So they are counted here, in a bounded LRU per process: a
flood of names pushes out the oldest, it cannot grow memory. The same structure counts failures per client
address (`request.client.host`: behind a proxy, the proxy's), a cheap brake on one machine guessing
across many names.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

# Per process: 10,000 keys of about 200 bytes each.
MAX_KEYS = 10_000


@dataclass(slots=True)
class _Failures:
    count: int
    first_at: datetime
    locked_until: datetime | None = None


class FailureCounter:
    """Failures per key within a window; `max_failures` of them lock the key for the window."""

    def __init__(self, *, max_failures: int, window: timedelta, max_keys: int = MAX_KEYS) -> None:
        self._max_failures = max_failures
        self._window = window
        self._max_keys = max_keys
        self._lock = threading.Lock()
        self._keys: OrderedDict[str, _Failures] = OrderedDict()

    def locked_until(self, key: str, *, now: datetime) -> datetime | None:
        """When the key's lock-out ends, or None if it is not locked now."""
        with self._lock:
            entry = self._keys.get(key)
            if entry is None or entry.locked_until is None or entry.locked_until <= now:
                return None
            return entry.locked_until

    def fail(self, key: str, *, now: datetime) -> None:
        """Count one failure (the same rule as an account's: a fresh window after the last one ran out)."""
        with self._lock:
            entry = self._keys.pop(key, None)
            if entry is None or now - entry.first_at > self._window:
                entry = _Failures(count=0, first_at=now)
            entry.count += 1
            if entry.count >= self._max_failures:
                entry.locked_until = now + self._window
                entry.count, entry.first_at = 0, now
            self._keys[key] = entry  # most recent last
            while len(self._keys) > self._max_keys:
                self._keys.popitem(last=False)


@dataclass(frozen=True, slots=True)
class LoginThrottle:
    """The two in-memory counters of one app."""

    unknown_names: FailureCounter
    addresses: FailureCounter

    @classmethod
    def create(cls, *, max_failures: int, per_address: int, minutes: int) -> LoginThrottle:
        """Counters for the settings' limits."""
        window = timedelta(minutes=minutes)
        return cls(
            unknown_names=FailureCounter(max_failures=max_failures, window=window),
            addresses=FailureCounter(max_failures=per_address, window=window),
        )

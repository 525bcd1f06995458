"""Each local day's top keywords, kept per process and reused while the day's conversations are unchanged.

Ranking a day's customer keywords groups every keyword row of that day (about 6.6 per conversation: 660,000
rows for 100,000 conversations over 90 days, 1.2 s in PostgreSQL), although past days rarely change. So a
day's ranked list is kept with the day's fingerprint, which the daily volume query already returns: the
number of analysed conversations that started that day and the sum of their `analysed_at`. Keywords are only
ever written by an analysis, which sets `analysed_at` anew; a new, deleted, re-analysed or failed conversation
changes the count or the sum. Nothing on the write path has to remember the cache: a day whose fingerprint
differs is ranked again (one query over the span of such days), so the result is always what the full
query would give.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

# About 100 bytes a term: 10 terms x 4096 days x several databases or zones stays a few MB.
MAX_DAYS = 4096


@dataclass(frozen=True, slots=True)
class DayKeywords:
    """A day's ranked (term, conversations), valid for the fingerprint it was computed at."""

    fingerprint: Hashable
    terms: tuple[tuple[str, int], ...]


class DayCache:
    """A bounded, thread-safe LRU of per-day results, keyed by (database, zone, day)."""

    def __init__(self, max_days: int = MAX_DAYS) -> None:
        self._max = max_days
        self._lock = threading.Lock()
        self._days: OrderedDict[Hashable, DayKeywords] = OrderedDict()

    def get(self, key: Hashable, fingerprint: Hashable) -> tuple[tuple[str, int], ...] | None:
        """The day's terms if cached at this fingerprint, else None."""
        with self._lock:
            hit = self._days.get(key)
            if hit is None or hit.fingerprint != fingerprint:
                return None
            self._days.move_to_end(key)
            return hit.terms

    def put(self, key: Hashable, fingerprint: Hashable, terms: Iterable[tuple[str, int]]) -> None:
        """Keep a day's terms at its fingerprint, dropping the least recently used day when full."""
        with self._lock:
            self._days[key] = DayKeywords(fingerprint=fingerprint, terms=tuple(terms))
            self._days.move_to_end(key)
            while len(self._days) > self._max:
                self._days.popitem(last=False)

    def clear(self) -> None:
        """Forget everything (tests and benchmarks measuring the uncached path)."""
        with self._lock:
            self._days.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._days)


def stale_span(days: Sequence[str], cached: Mapping[str, object]) -> tuple[str, str] | None:
    """The first and last of `days` (ISO, in order) that are not in `cached`; None when all are."""
    missing = [day for day in days if day not in cached]
    return (missing[0], missing[-1]) if missing else None


TOP_KEYWORDS = DayCache()

"""Concurrent single posts stored and audited together (issue 14: group commit).

Storing one transcript costs two write transactions and a dozen statements, most of it per transaction, not
per row: 8 clients posting one each reached a quarter of what /batch of 50 reaches. So a request that finds no
group being stored stores its own at once (a group of one: nothing waits for a timer, a lone client's latency
is unchanged); requests arriving meanwhile queue, and when the running group is done the first of them leads
the next group, with every request queued by then.

A group takes the /batch path for new external ids only (`service.store_group`): one write transaction
stores them, one audit runs over them, one transaction records the results, all committed before any of its
requests answers (a 2xx still means stored and audited). Whatever it does not store, a re-post, a conflict,
a repeat within the group, or every item of a group whose storing failed, goes back to its own request,
which takes the one-by-one path: each conversation is stored exactly once, as before.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Outcome = TypeVar("Outcome")


class _Slot(Generic[Item, Outcome]):
    __slots__ = ("done", "item", "lead", "outcome")

    def __init__(self, item: Item) -> None:
        self.item = item
        self.done = threading.Event()
        self.lead = False  # this request leads the next group
        self.outcome: Outcome | None = None  # None: not handled, the request takes its own path


class Coalescer(Generic[Item, Outcome]):
    """Runs `work` over the items of the requests waiting at once, at most `max_group` of them per call."""

    def __init__(self, *, max_group: int) -> None:
        self.max_group = max_group
        self._lock = threading.Lock()
        self._queue: list[_Slot[Item, Outcome]] = []
        self._busy = False

    def run(self, item: Item, work: Callable[[list[Item]], list[Outcome | None]]) -> Outcome | None:
        """`item`'s outcome from one call of `work` over a group; None when the group did not handle it."""
        slot: _Slot[Item, Outcome] = _Slot(item)
        with self._lock:
            self._queue.append(slot)
            if not self._busy:
                self._busy = slot.lead = True
        if not slot.lead:
            slot.done.wait()  # set with an outcome, or to hand this request the next group
        if slot.lead:
            self._lead(work)
        return slot.outcome

    def _lead(self, work: Callable[[list[Item]], list[Outcome | None]]) -> None:
        with self._lock:
            group = self._queue[: self.max_group]
            del self._queue[: len(group)]
        outcomes: list[Outcome | None] = [None] * len(group)
        try:
            outcomes = work([s.item for s in group])
        except Exception:
            # Nothing of the group is stored (its transaction rolled back): each request tries on its own,
            # and meets the same error, if it persists, with the error handling of the one-by-one path.
            log.exception("storing %d posted conversations together failed; each on its own now", len(group))
        finally:
            # Whatever happened (even a BaseException), no request is left waiting.
            with self._lock:
                successor = self._queue[0] if self._queue else None
                if successor is None:
                    self._busy = False
                else:
                    successor.lead = True
            if successor is not None:
                successor.done.set()
            for s, outcome in zip(group, outcomes, strict=True):
                s.outcome = outcome
                s.done.set()

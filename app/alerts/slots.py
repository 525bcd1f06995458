"""How many live alert streams are open: each holds one of the service's request slots while open."""

from __future__ import annotations

import threading

from app.alerts.exceptions import TooManyStreams

RETRY_AFTER_SECONDS = 3


class StreamSlots:
    """How many streams are open (per app); refuses one over the cap."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.open = 0
        self._lock = threading.Lock()

    def take(self) -> None:
        """Count a new stream, or raise TooManyStreams."""
        with self._lock:
            if self.open >= self.cap:
                raise TooManyStreams(
                    f"at most {self.cap} live alert streams at once; poll GET /v1/alerts/summary instead",
                    details={"retry_after_seconds": RETRY_AFTER_SECONDS},
                )
            self.open += 1

    def give_back(self) -> None:
        """A stream ended."""
        with self._lock:
            self.open -= 1

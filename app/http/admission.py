"""Admission: bound the requests the app works on at once; the others wait in the event loop, holding nothing.

Sync routes and dependencies run in AnyIO's thread pool (40 threads), and a request needs a thread more than
once (dependencies, the route, then validating its response) while it holds a database connection and, on
SQLite once it has written, the write lock. Unbounded, a burst of writers takes every thread waiting for the
write lock while the request holding it waits for a thread to finish: all of them stall until the busy timeout
(measured: 64 concurrent reviews on SQLite, 108 of 192 timed out at 90 s, 50 answered 503). Admitting at
most `max_requests` (fewer than the threads and than the PostgreSQL pool), of which at most `max_writes`
may write, leaves threads for the holder, so writers queue for the lock and finish in turn.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Receive, Scope, Send

_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class AdmissionMiddleware:
    """At most `max_requests` HTTP requests in the app at once, at most `max_writes` of them not reads."""

    def __init__(self, app: ASGIApp, *, max_requests: int, max_writes: int) -> None:
        self.app = app
        self.max_requests = max_requests
        self.max_writes = min(max_writes, max_requests)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._all = asyncio.Semaphore(self.max_requests)
        self._writes = asyncio.Semaphore(self.max_writes)

    def _semaphores(self) -> tuple[asyncio.Semaphore, asyncio.Semaphore]:
        # asyncio primitives belong to one event loop; a test client may run the app in a new one.
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop = loop
            self._all = asyncio.Semaphore(self.max_requests)
            self._writes = asyncio.Semaphore(self.max_writes)
        return self._all, self._writes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Wait for a slot (and a write slot for non-read methods), then run the request."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        every, writes = self._semaphores()
        if scope["method"] in _READ_METHODS:
            async with every:
                await self.app(scope, receive, send)
            return
        # The write slot first: a writer waiting for it does not take a slot a read could use.
        async with writes, every:
            await self.app(scope, receive, send)

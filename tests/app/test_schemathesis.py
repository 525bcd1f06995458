"""Every route against its own OpenAPI document (Schemathesis), with a valid key of each role.

No response may be a 5xx, every response must be one the route documents (status code, content type,
headers and body schema), and every request the schema calls invalid must be refused with a 4xx. Examples are bounded per operation and derandomised, so a run is deterministic.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.main import create_app
from app.settings import Settings

ROLES = ("ingest", "supervisor", "auditor", "admin")
MAX_EXAMPLES = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    # Every request the schema calls invalid (Schemathesis' negative mode) must be refused with a 4xx.
    negative_data_rejection,
]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class _RunningApp:
    """The session's app, whose lifespan the test client already runs (models are loaded once).

    Schemathesis starts a lifespan of its own for the app it is given; refusing the lifespan scope before
    reading a message is how an ASGI app says it has none, so requests go to the app that is running.
    """

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            raise RuntimeError("lifespan is run by the test client")
        await self.app(scope, receive, send)


@pytest.fixture
def running_app(client: TestClient) -> _RunningApp:
    """The session's app, to which Schemathesis sends its requests."""
    return _RunningApp(client.app)


# The document is the app's own, built without starting it; requests go to the running session app.
schema = schemathesis.openapi.from_dict(create_app(Settings(start_worker=False)).openapi())


def _negates_the_key(case: schemathesis.Case) -> bool:
    """Whether the case is a negative one about the Authorization header (removed, or a malformed value).

    Every other case gets the role's key. Given this one, the request would become valid and succeed, and
    the negative-data check would report the 200 as invalid data accepted. That happened in full runs on an
    AMD EPYC Zen 4, though not when this file ran alone. Sent as generated, with no key or its malformed one,
    the request must get a 401.
    """
    meta = case.meta
    if meta is None or not meta.generation.mode.is_negative:
        return False
    data = meta.phase.data
    said = [str(getattr(data, "description", "") or "")]
    said += [repr(m) for m in getattr(data, "mutations", ())]
    return "authorization" in " ".join(said).lower()


def _role_test(role: str) -> Callable[..., None]:
    # Schemathesis drives the SQLite app only; test_validation.py covers both backends.
    @pytest.mark.parametrize("backend_url", ["sqlite"], indirect=True)
    @schema.parametrize()
    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        # Function-scoped fixtures on purpose: one operation's examples share a database, emptied afterwards.
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.filter_too_much,
            HealthCheck.data_too_large,
            HealthCheck.function_scoped_fixture,
        ],
    )
    def test(
        case: schemathesis.Case, running_app: _RunningApp, keys: dict[str, str], stats: dict[str, int]
    ) -> None:
        stats[case.operation.label] = stats.get(case.operation.label, 0) + 1
        headers = {} if _negates_the_key(case) else {"Authorization": f"Bearer {keys[role]}"}
        case.call_and_validate(app=running_app, headers=headers, checks=CHECKS)

    test.__doc__ = f"With a {role} key: no 5xx, and every response matches the schema of its route."
    return test


test_as_ingest = _role_test("ingest")
test_as_supervisor = _role_test("supervisor")
test_as_auditor = _role_test("auditor")
test_as_admin = _role_test("admin")


@pytest.fixture(scope="module")
def stats() -> Iterator[dict[str, int]]:
    """Examples run per operation, printed at the end (`-s`) for the record."""
    counts: dict[str, int] = {}
    yield counts
    print(f"\nschemathesis: {len(counts)} operations, {sum(counts.values())} examples")  # noqa: T201

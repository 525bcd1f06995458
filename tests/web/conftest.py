"""Console fixtures: the API fixtures of tests/app on databases of their own, users per role, and for the
browser tests one `audit demo load` + `audit serve`, one Chromium and a fresh browser context per test."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from app.db.migrate import downgrade, upgrade
from app.db.session import session_scope
from app.settings import REPO_ROOT
from app.users.service import create_user
from tests.app.conftest import BACKENDS, app_client, auth, client, keys  # noqa: F401 (fixtures)
from tests.conftest import ensure_postgres
from tests.live_server import LiveServer
from tests.web.console_support import AUDIT, CHROMIUM, Console
from tests.web.console_support import PASSWORD as DEMO_PASSWORD

PASSWORD = "correct-horse-battery"


@pytest.fixture(scope="session", params=BACKENDS)
def backend_url(request: pytest.FixtureRequest, tmp_data_dir: Path) -> str:
    """Like tests/app's, but its own databases: tests/app's app may still be running on those."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_data_dir / 'web.db'}"
    else:
        import psycopg

        ensure_postgres()
        name = os.environ.get("AUDIT_TEST_PG_DB", "audit_test") + "_web"
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                conn.execute(f'CREATE DATABASE "{name}"')
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
        downgrade(url, "base")  # leftovers of an earlier run
    upgrade(url)
    return url


USERS = {
    "supervisor": ("lead", None),
    "auditor": ("qa", None),
    "admin": ("boss", None),
    "agent": ("agent7", "A7"),
}


@pytest.fixture
def users(client: TestClient) -> Iterator[dict[str, str]]:  # noqa: F811
    """One console user per role (the agent bound to A7), all with PASSWORD; role → user name.

    Afterwards the app's in-memory sign-in counters (unknown names, client addresses) are dropped with the
    tables: the app lives for the whole session, each test starts without failures.
    """
    factory = client.app.state.session_factory  # type: ignore[attr-defined]
    with session_scope(factory) as session:
        for role, (name, agent_id) in USERS.items():
            create_user(session, name=name, role=role, password=PASSWORD, agent_id=agent_id)
    yield {role: name for role, (name, _) in USERS.items()}
    client.app.state.login_throttle = None  # type: ignore[attr-defined]


# --- the browser tests (tests/web/test_console_*.py): one demo server and one Chromium per session ---------


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`audit demo load` (16 JDDC conversations, users per role) into a fresh SQLite, then `audit serve`."""
    data_dir = tmp_path_factory.mktemp("console")
    srv = LiveServer(data_dir=data_dir)
    env = {**srv.env, "AUDIT_START_WORKER": "false"}
    demo = subprocess.run(
        [AUDIT, "demo", "load", "--conversations", "16", "--days", "7", "--password", DEMO_PASSWORD],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=REPO_ROOT,
    )
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert "16 conversations stored" in demo.stdout
    for user in ("demo-supervisor", "demo-auditor", "demo-admin", "demo-agent"):
        assert user in demo.stdout
    # A user made by the operators' command, for the lock-out test.
    made = subprocess.run(
        [AUDIT, "users", "create", "--role", "auditor", "--name", "locky", "--password-stdin"],
        input="locky-password-1\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium through Playwright (skips without Playwright)."""
    playwright_sync = pytest.importorskip("playwright.sync_api")
    with playwright_sync.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--lang=zh-CN"])
        yield b
        b.close()


@pytest.fixture(scope="session")
def ingest(server: LiveServer) -> httpx.Client:
    """An API client with an ingest key: the QA system posting conversations while people work."""
    return httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {server.create_key('ingest')}"}, timeout=120
    )


@pytest.fixture(scope="session")
def admin_api(server: LiveServer) -> httpx.Client:
    return httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {server.create_key('admin')}"}, timeout=60
    )


@pytest.fixture
def console(browser: Any, server: LiveServer) -> Iterator[Console]:
    """A fresh browser context; fails the test on a script error or CSP refusal."""
    c = Console(browser, server)
    yield c
    c.close()

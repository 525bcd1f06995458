"""Console fixtures: the API fixtures of tests/app on databases of their own, and users per role."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.db.migrate import downgrade, upgrade
from app.db.session import session_scope
from app.users.service import create_user
from tests.app.conftest import BACKENDS, app_client, auth, client, keys  # noqa: F401 (fixtures)
from tests.conftest import ensure_postgres

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
def users(client: TestClient) -> dict[str, str]:  # noqa: F811
    """One console user per role (the agent bound to A7), all with PASSWORD; role → user name."""
    factory = client.app.state.session_factory  # type: ignore[attr-defined]
    with session_scope(factory) as session:
        for role, (name, agent_id) in USERS.items():
            create_user(session, name=name, role=role, password=PASSWORD, agent_id=agent_id)
    return {role: name for role, (name, _) in USERS.items()}

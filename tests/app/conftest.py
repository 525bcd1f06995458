"""API fixtures: one app per database backend per session (models load once), clean tables per test."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete

from app.auth.service import create_key
from app.db import Base
from app.db.migrate import downgrade, upgrade
from app.db.session import session_scope
from app.main import create_app
from app.settings import REPO_ROOT, Settings
from tests.conftest import ensure_postgres

BACKENDS = ["sqlite", "postgres"]


def make_settings(data_dir: Path, database_url: str, **overrides: object) -> Settings:
    """Settings for a test app: its own data dir and database, the repo's materialised models."""
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        model_dir=REPO_ROOT / "var" / "models",
        start_worker=False,
        **{
            "callback_secret": "test-callback-secret-0123456789",
            "outbound_allowlist": "127.0.0.1",  # the tests' callback receivers listen on loopback
            **overrides,
        },  # type: ignore[arg-type]
    )


@pytest.fixture(scope="session", params=BACKENDS)
def backend_url(request: pytest.FixtureRequest, tmp_data_dir: Path) -> str:
    """A migrated, empty database on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_data_dir / 'api.db'}"
    else:
        url = ensure_postgres()
        downgrade(url, "base")  # leftovers of an earlier run
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def app_client(backend_url: str, tmp_data_dir: Path) -> Iterator[TestClient]:
    """The app with its lifespan running (models loaded once per process)."""
    app = create_app(make_settings(tmp_data_dir / backend_url.split(":")[0], backend_url))
    with TestClient(app) as client:
        yield client


@pytest.fixture
def client(app_client: TestClient) -> Iterator[TestClient]:
    """The app client; every table is emptied after the test so tests stay independent."""
    yield app_client
    factory = app_client.app.state.session_factory  # type: ignore[attr-defined]
    with session_scope(factory) as session:
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(delete(table))


@pytest.fixture
def keys(client: TestClient) -> dict[str, str]:
    """One API key per role."""
    factory = client.app.state.session_factory  # type: ignore[attr-defined]
    out: dict[str, str] = {}
    with session_scope(factory) as session:
        for role in ("ingest", "supervisor", "auditor", "admin"):
            _, out[role] = create_key(session, name=f"test-{role}", role=role)
        # The agent role is bound to one agent (issue 10): A7's key sees only A7's conversations.
        _, out["agent"] = create_key(session, name="test-agent", role="agent", agent_id="A7")
    return out


@pytest.fixture
def auth(keys: dict[str, str]) -> dict[str, dict[str, str]]:
    """Authorization headers per role."""
    return {role: {"Authorization": f"Bearer {key}"} for role, key in keys.items()}


@pytest.fixture
def lexicon_dir(tmp_path: Path) -> Path:
    """A QA lead's editable copy of the lexicons."""
    target = tmp_path / "lexicons"
    shutil.copytree(REPO_ROOT / "lexicons", target)
    return target


@pytest.fixture
def admin_client(tmp_path: Path, lexicon_dir: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """An app of its own on SQLite over `lexicon_dir`, and an admin key's headers (lexicon edits and reloads)."""
    url = f"sqlite:///{tmp_path / 'lexicons.db'}"
    upgrade(url)
    app = create_app(make_settings(tmp_path, url, lexicon_dir=lexicon_dir))
    with TestClient(app) as client:
        with session_scope(app.state.session_factory) as s:
            _, key = create_key(s, name="lead", role="admin")
        yield client, {"Authorization": f"Bearer {key}"}

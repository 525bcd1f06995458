"""Shared fixtures: real data, the database backends (SQLite and PostgreSQL), the app, API keys."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO_ROOT / ".." / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The company's real data sets (../shared/data)."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


def pytest_configure(config: pytest.Config) -> None:
    # Tests run on the CPU with few cores; keep torch from oversubscribing them.
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    # The fp32 emotion graph, whose labels are the same on every machine: "auto" serves int8 on cores with an
    # int8 dot product, which moves 3.5 % of labels (tests/models/test_emotion_onnx.py tests that graph).
    os.environ.setdefault("AUDIT_EMOTION_INT8", "false")
    # Likewise the full 8-layer encoder whose labels the tests' expectations were written against: the distilled
    # encoder served by default keeps about 88 % of them (tests/models/test_emotion_student.py and
    # tests/app/test_emotion_distilled_api.py test it).
    os.environ.setdefault("AUDIT_EMOTION_ENCODER", "full")
    del config


def ensure_postgres(url_admin: str = "postgresql://postgres@127.0.0.1:5432/test") -> str:
    """Make sure PostgreSQL answers (start it if not) and return a URL to a dedicated test database."""
    import psycopg

    # Its own database name per concurrent test run (several checkouts or helpers on one server).
    name = os.environ.get("AUDIT_TEST_PG_DB", "audit_test")
    for attempt in range(2):
        try:
            with psycopg.connect(url_admin, autocommit=True, connect_timeout=3) as conn:
                exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
                if not exists:
                    conn.execute(f'CREATE DATABASE "{name}"')
            return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
        except psycopg.OperationalError:
            if attempt or shutil.which("pg_ctlcluster") is None:
                raise
            versions = sorted(os.listdir("/etc/postgresql"))
            subprocess.run(
                ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"], check=False
            )
            time.sleep(3)
    raise RuntimeError("unreachable")


@pytest.fixture(scope="session")
def tmp_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory for the session's databases and audio."""
    return tmp_path_factory.mktemp("audit-data")

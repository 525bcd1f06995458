"""`audit users …` as operators run it: a subprocess with AUDIT_* settings; then signing in with the result."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from app.settings import REPO_ROOT

AUDIT = str(REPO_ROOT / ".venv" / "bin" / "audit")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "AUDIT_DATA_DIR": str(tmp_path), "AUDIT_DATABASE_URL": ""}


def run(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [AUDIT, *args], env=env, input=stdin, capture_output=True, text=True, timeout=120, check=False
    )


class TestUsersCommand:
    def test_create_list_refuse_unlock_disable(self, env: dict[str, str], tmp_path: Path) -> None:
        assert run(env, "db", "upgrade").returncode == 0
        ok = run(
            env,
            "users",
            "create",
            "--role",
            "agent",
            "--agent-id",
            "A7",
            "--name",
            "小王",
            "--password-stdin",
            stdin="a-long-password-1\n",
        )
        assert (ok.returncode, ok.stdout.strip()) == (
            0,
            "created agent user 小王, agent A7; sign in at /login",
        )
        for args, stdin, message in (
            (("--role", "agent", "--name", "nobody"), "a-long-password-1\n", "needs --agent-id"),
            (("--role", "root", "--name", "x"), "a-long-password-1\n", "unknown role"),
            (("--role", "auditor", "--name", "short"), "short\n", "10 to 256 characters"),
            (("--role", "auditor", "--name", "小王"), "a-long-password-1\n", "exists"),
            (("--role", "auditor", "--name", "13911112222"), "a-long-password-1\n", "personal data"),
        ):
            bad = run(env, "users", "create", *args, "--password-stdin", stdin=stdin)
            assert bad.returncode == 2, args
            assert message in bad.stderr, (args, bad.stderr)
        engine = create_engine(f"sqlite:///{tmp_path / 'audit.db'}")
        with engine.begin() as conn:
            stored = conn.execute(text("SELECT password_hash FROM users WHERE name = '小王'")).scalar_one()
            assert stored.startswith("$argon2id$")
            conn.execute(text("UPDATE users SET locked_until = '2999-01-01 00:00:00'"))
        assert run(env, "users", "list").stdout == "小王\tagent\tA7\tlocked\n"
        assert run(env, "users", "unlock", "--name", "小王").returncode == 0
        assert run(env, "users", "list").stdout == "小王\tagent\tA7\tactive\n"
        assert run(env, "users", "disable", "--name", "小王").returncode == 0
        assert run(env, "users", "list").stdout == "小王\tagent\tA7\tdisabled\n"
        missing = run(env, "users", "unlock", "--name", "nobody")
        assert (missing.returncode, "no user named" in missing.stderr) == (2, True)

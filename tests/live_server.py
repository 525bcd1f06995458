"""A real `audit serve` in a subprocess on a free port, for load and crash tests (real uvicorn, real models).

    with live_server(data_dir=tmp_path, database_url=url) as server:
        key = server.create_key("ingest")
        httpx.get(f"{server.url}/v1/health")
        server.kill()            # SIGKILL, for crash tests
        server.restart()         # same data dir, database and port

`database_url=None` means the embedded SQLite default under `data_dir`. The schema is migrated before start
(`audit serve` does it too, but only for SQLite). The server's output goes to `server.log_path`.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port nothing listens on right now (never 8000, which a developer's server may hold)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port != 8000:
            return port


class LiveServer:
    """One `audit serve` subprocess; `start()` waits until /v1/health answers 200."""

    def __init__(
        self,
        *,
        data_dir: Path,
        database_url: str | None = None,
        port: int | None = None,
        env: Mapping[str, str] | None = None,
        start_timeout: float = 180.0,
        serve_args: Sequence[str] = (),
    ) -> None:
        self.data_dir = Path(data_dir)
        self.serve_args = tuple(serve_args)  # extra `audit serve` options, e.g. ("--workers", "2")
        self.database_url = database_url or f"sqlite:///{self.data_dir / 'audit.db'}"
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.data_dir / "server.log"
        self.start_timeout = start_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.env = {
            **os.environ,
            "AUDIT_DATA_DIR": str(self.data_dir),
            "AUDIT_DATABASE_URL": self.database_url,
            "AUDIT_MODEL_DIR": str(REPO_ROOT / "var" / "models"),
            "AUDIT_CALLBACK_SECRET": secrets.token_hex(32),
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2"),
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }

    def _command(self) -> list[str]:
        script = Path(sys.executable).parent / "audit"
        serve = ["serve", "--host", "127.0.0.1", "--port", str(self.port), *self.serve_args]
        if script.exists():
            return [str(script), *serve]
        return [sys.executable, "-c", "from app.cli import main; main()", *serve]

    def start(self) -> LiveServer:
        """Migrate the database, start the server and wait for /v1/health; raises with the log tail if not."""
        from app.db.migrate import upgrade

        self.data_dir.mkdir(parents=True, exist_ok=True)
        upgrade(self.database_url)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self._command(), cwd=REPO_ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"audit serve exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/v1/health", timeout=5).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"audit serve not healthy after {self.start_timeout:.0f} s:\n{self.log_tail()}")

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM (graceful shutdown), SIGKILL if it has not exited after `timeout`; returns the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def kill(self) -> int | None:
        """SIGKILL now, as a crash would; returns the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.kill()
        return self.process.wait()

    def restart(self) -> LiveServer:
        """Stop (if running) and start again on the same port, data dir and database."""
        self.stop()
        return self.start()

    def create_key(self, role: str, name: str | None = None) -> str:
        """Create an API key in the server's database (as `audit keys create` does) and return it."""
        from app.auth.service import create_key
        from app.db.session import make_engine, make_session_factory, session_scope

        engine = make_engine(self.database_url)
        try:
            with session_scope(make_session_factory(engine)) as session:
                _, plain = create_key(session, name=name or f"live-{role}", role=role)
        finally:
            engine.dispose()
        return plain

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the server's output, for failure messages."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return ""


@contextmanager
def live_server(
    *,
    data_dir: Path,
    database_url: str | None = None,
    port: int | None = None,
    env: Mapping[str, str] | None = None,
    start_timeout: float = 180.0,
) -> Iterator[LiveServer]:
    """Start `audit serve` for the block and stop it afterwards (see the module docstring)."""
    server = LiveServer(
        data_dir=data_dir, database_url=database_url, port=port, env=env, start_timeout=start_timeout
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()

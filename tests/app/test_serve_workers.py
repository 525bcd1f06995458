"""`audit serve --workers 2`: two server processes on one port, one database; every post stored exactly once."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.factories.conversations import jddc_transcript
from tests.live_server import LiveServer

pytestmark = pytest.mark.slow


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended while we looked
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer(
        data_dir=tmp_path / "data",
        env={"AUDIT_EMOTION_ENABLED": "false", "AUDIT_START_WORKER": "false"},
        serve_args=("--workers", "2"),
    )
    live.start()
    try:
        yield live
    finally:
        live.stop()


def test_two_workers_serve_one_database(server: LiveServer) -> None:
    assert server.process is not None
    # uvicorn's supervisor and its two worker processes (multiprocessing may add a resource tracker).
    assert len([c for c in _children(server.process.pid) if Path(f"/proc/{c}/cmdline").exists()]) >= 2
    headers = {"Authorization": f"Bearer {server.create_key('ingest')}"}
    bodies = [jddc_transcript(i, external_id=f"workers-{i}") for i in range(12)]

    def post(body: dict[str, object]) -> int:
        r = httpx.post(f"{server.url}/v1/conversations", json=body, headers=headers, timeout=60)
        return r.status_code

    with ThreadPoolExecutor(6) as pool:
        assert list(pool.map(post, bodies)) == [201] * len(bodies)
        # The same conversations again, answered by either process: stored once.
        assert all(code in (200, 201) for code in pool.map(post, bodies))
    reader = {"Authorization": f"Bearer {server.create_key('auditor')}"}
    listed = httpx.get(f"{server.url}/v1/conversations?limit=100", headers=reader, timeout=60).json()
    assert sorted(item["external_id"] for item in listed["items"]) == sorted(b["external_id"] for b in bodies)

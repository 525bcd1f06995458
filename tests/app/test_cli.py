"""The `audit` command line, run as operators run it: a subprocess with AUDIT_* settings."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from app.settings import REPO_ROOT
from tests.factories.conversations import jddc_transcript, transcript, utterance

AUDIT = str(REPO_ROOT / ".venv" / "bin" / "audit")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """Environment of an operator's shell: a fresh data dir, the repo's materialised models."""
    return {
        **os.environ,
        "AUDIT_DATA_DIR": str(tmp_path / "data"),
        "AUDIT_MODEL_DIR": str(REPO_ROOT / "var" / "models"),
        "AUDIT_DATABASE_URL": "",
    }


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AUDIT, *args], env=env, capture_output=True, text=True, timeout=300, check=False)


class TestKeysAndDb:
    def test_upgrade_then_create_keys(self, env: dict[str, str]) -> None:
        assert run(env, "db", "upgrade").returncode == 0
        assert (Path(env["AUDIT_DATA_DIR"]) / "audit.db").is_file()
        ok = run(env, "keys", "create", "--role", "auditor", "--name", "王主管")
        assert ok.returncode == 0
        key = ok.stdout.strip()
        assert key.startswith("qa_")
        assert len(key) > 40
        assert "auditor key" in ok.stderr
        bad = run(env, "keys", "create", "--role", "root")
        assert bad.returncode == 2
        assert "unknown role" in bad.stderr


class TestImportExport:
    def test_import_reports_stored_and_failed_then_export(self, env: dict[str, str], tmp_path: Path) -> None:
        assert run(env, "db", "upgrade").returncode == 0
        rude = transcript(
            "cli-rude", [utterance("customer", "怎么还没发货"), utterance("agent", "不知道，你自己查")]
        )
        lines = [json.dumps(jddc_transcript(n), ensure_ascii=False) for n in range(2)]
        lines += [json.dumps(rude, ensure_ascii=False), "{not json", json.dumps({"external_id": "x"})]
        src = tmp_path / "in.jsonl"
        src.write_text("\n".join(lines) + "\n", encoding="utf-8")

        first = run(env, "import", str(src))
        assert first.returncode == 1  # some lines failed
        summary = json.loads(first.stdout.strip().splitlines()[-1])
        assert summary == {"stored": 3, "existing": 0, "failed": 2, "flagged": 1}
        assert "line 4: invalid JSON" in first.stderr
        assert "line 5: " in first.stderr
        again = json.loads(run(env, "import", str(src)).stdout.strip().splitlines()[-1])
        assert (again["stored"], again["existing"], again["failed"]) == (0, 3, 2)

        out = tmp_path / "findings.csv"
        exported = run(env, "export", "--format", "csv", "--flagged-only", "-o", str(out))
        assert exported.returncode == 0
        rows = list(csv.DictReader(out.open(encoding="utf-8")))
        assert {r["external_id"] for r in rows} == {"cli-rude"}
        hit = next(r for r in rows if r["term"] == "不知道" and r["kind"] == "sensitive_word")
        assert (hit["category"], hit["utterance_index"], hit["start"], hit["end"]) == (
            "服务禁语",
            "1",
            "0",
            "3",
        )
        jsonl = run(env, "export")
        records = [json.loads(line) for line in jsonl.stdout.splitlines()]
        rude_records = [(r["kind"], r["rule"], r["start"]) for r in records if r["external_id"] == "cli-rude"]
        csv_rows = [(r["kind"], r["rule"], int(r["start"]) if r["start"] else None) for r in rows]
        assert rude_records == csv_rows


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TestServe:
    def test_serve_migrates_and_answers(self, env: dict[str, str]) -> None:
        port = _free_port()
        proc = subprocess.Popen(
            [AUDIT, "serve", "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + 120
            body = None
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    body = httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=2).json()
                    break
                except httpx.HTTPError:
                    time.sleep(0.5)
            assert body is not None, proc.stdout.read().decode() if proc.stdout else ""
            assert body == {"status": "ok"}
            docs = httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=5).json()
            assert "/v1/conversations" in docs["paths"]
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    def test_refuses_to_start_without_models(self, env: dict[str, str], tmp_path: Path) -> None:
        empty = tmp_path / "no-models"
        empty.mkdir()
        proc = subprocess.run(
            [AUDIT, "serve", "--port", str(_free_port())],
            env={**env, "AUDIT_MODEL_DIR": str(empty)},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode != 0
        assert "audit models setup" in proc.stdout + proc.stderr

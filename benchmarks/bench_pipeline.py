"""Throughput of the text audit on the 994 real JDDC sessions: pipeline alone vs through HTTP.

    .venv/bin/python benchmarks/bench_pipeline.py [--limit N] [--no-emotion]

Prints conversations/s for (a) the pure pipeline and (b) POST /v1/conversations on an embedded SQLite
database, measured in the same run; the ratio is the cost of validation, storage and HTTP.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

from app.auth.service import create_key
from app.db.migrate import upgrade
from app.db.session import session_scope
from app.main import create_app
from app.settings import REPO_ROOT, Settings
from pipelines import types as pt

DATA = REPO_ROOT.parent / "shared" / "data" / "dialogues" / "jddc_sample_sessions.jsonl"


def _sessions(limit: int | None) -> list[dict[str, object]]:
    rows = [json.loads(line) for line in DATA.open(encoding="utf-8") if line.strip()]
    return rows[:limit] if limit else rows


def _payload(i: int, s: dict[str, object]) -> dict[str, object]:
    turns = [t for t in s["turns"] if str(t["text"]).strip()]  # type: ignore[index,union-attr]
    return {
        "external_id": f"bench-{i}",
        "channel": "chat",
        "agent_id": "agent-bench",
        "started_at": "2026-11-20T09:30:00+08:00",
        "utterances": [{"speaker": t["role"], "text": t["text"]} for t in turns],  # type: ignore[index]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--no-emotion", action="store_true", help="leave the emotion model out")
    args = parser.parse_args()
    payloads = [_payload(i, s) for i, s in enumerate(_sessions(args.limit))]
    payloads = [p for p in payloads if p["utterances"]]
    n_utts = sum(len(p["utterances"]) for p in payloads)  # type: ignore[arg-type]

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            data_dir=Path(tmp), model_dir=REPO_ROOT / "var" / "models", start_worker=False,
            emotion_enabled=not args.no_emotion,
        )  # fmt: skip
        upgrade(settings.database_url)
        app = create_app(settings)
        with TestClient(app) as client:
            runtime = app.state.runtime
            convs = [
                pt.Conversation(
                    "chat",
                    tuple(pt.Utterance(i, u["speaker"], u["text"]) for i, u in enumerate(p["utterances"])),  # type: ignore[arg-type,index]
                )
                for p in payloads
            ]
            t0 = time.perf_counter()
            flagged = sum(runtime.pipeline.run(c).flagged for c in convs)
            t_pipe = time.perf_counter() - t0

            with session_scope(app.state.session_factory) as s:
                _, key = create_key(s, name="bench", role="ingest")
            headers = {"Authorization": f"Bearer {key}"}
            t0 = time.perf_counter()
            for p in payloads:
                r = client.post("/v1/conversations", json=p, headers=headers)
                assert r.status_code == 201, r.text
            t_http = time.perf_counter() - t0

    print(
        f"sessions: {len(payloads)}  utterances: {n_utts}  emotion: {not args.no_emotion}  flagged: {flagged}"
    )
    print(f"pipeline alone : {len(payloads) / t_pipe:8.1f} conv/s  ({t_pipe:.1f} s)")
    print(f"HTTP + SQLite  : {len(payloads) / t_http:8.1f} conv/s  ({t_http:.1f} s)")
    print(f"ratio HTTP/pipeline throughput: {t_pipe / t_http:.2f}")


if __name__ == "__main__":
    main()

"""Throughput of the text audit on the 994 real JDDC sessions: one conversation at a time vs in batches.

    .venv/bin/python benchmarks/bench_pipeline.py [--limit N] [--no-emotion] [--batch 50]

Prints conversations/s and utterances/s, measured in the same run, for
(a) the pipeline one conversation at a time (the baseline), (b) the pipeline over batches of conversations
(`run_masked_many`: the emotion model sees all their utterances at once), (c) POST /v1/conversations one by
one and (d) POST /v1/conversations/batch, both on an embedded SQLite database. (c)/(a) is the cost of
validation, storage and HTTP; (b)/(a) and (d)/(c) what cross-conversation batching buys.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import TypeVar

from fastapi.testclient import TestClient

from app.auth.service import create_key
from app.db.migrate import upgrade
from app.db.session import session_scope
from app.main import create_app
from app.settings import REPO_ROOT, Settings
from pipelines import types as pt
from pipelines.audit import mask_conversation

T = TypeVar("T")
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
    parser.add_argument("--batch", type=int, default=50, help="conversations per batch (at most 100)")
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

            t0 = time.perf_counter()
            batched = []
            for conv_chunk in _chunks(convs, args.batch):
                masked = [mask_conversation(runtime.pipeline.stages.masker, c) for c in conv_chunk]
                batched.extend(runtime.pipeline.run_masked_many(masked))
            t_pipe_batch = time.perf_counter() - t0
            assert sum(r.flagged for r in batched) == flagged, "batched audit disagrees with one-by-one"

            with session_scope(app.state.session_factory) as s:
                _, key = create_key(s, name="bench", role="ingest")
            headers = {"Authorization": f"Bearer {key}"}
            t0 = time.perf_counter()
            for p in payloads:
                r = client.post("/v1/conversations", json=p, headers=headers)
                assert r.status_code == 201, r.text
            t_http = time.perf_counter() - t0

            t0 = time.perf_counter()
            for payload_chunk in _chunks(payloads, args.batch):
                items = [{**p, "external_id": f"batch-{p['external_id']}"} for p in payload_chunk]
                r = client.post("/v1/conversations/batch", json={"conversations": items}, headers=headers)
                assert r.status_code == 200, r.text
                assert r.json()["created"] == len(items), r.text
            t_http_batch = time.perf_counter() - t0

    n = len(payloads)
    print(f"sessions: {n}  utterances: {n_utts}  emotion: {not args.no_emotion}  flagged: {flagged}")
    rows = [
        ("pipeline, one at a time (baseline)", t_pipe),
        (f"pipeline, batches of {args.batch}", t_pipe_batch),
        ("HTTP + SQLite, one POST each", t_http),
        (f"HTTP + SQLite, /batch of {args.batch}", t_http_batch),
    ]
    for name, t in rows:
        print(
            f"{name:38s} {n / t:8.1f} conv/s {n_utts / t:8.1f} utt/s  ({t:.1f} s, x{t_pipe / t:.2f} baseline)"
        )


def _chunks(items: list[T], size: int) -> list[list[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


if __name__ == "__main__":
    main()

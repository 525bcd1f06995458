"""Throughput of the text audit on the 994 real JDDC sessions: one conversation at a time vs in batches.

    .venv/bin/python benchmarks/bench_pipeline.py [--limit N] [--no-emotion] [--batch 50] [--clients 8]
                                                  [--baseline-ref HEAD]

Prints conversations/s and utterances/s, measured in the same run, for
(a) the pipeline one conversation at a time (the baseline), (b) the pipeline over batches of conversations
(`run_masked_many`: the emotion model sees all their utterances at once), (c) POST /v1/conversations one by
one, (d) POST /v1/conversations/batch and (e) `--clients` concurrent clients posting one conversation each,
all on an embedded SQLite database. (c)/(a) is the cost of validation, storage and HTTP; (b)/(a) and
(d)/(c) what cross-conversation batching buys.

`--baseline-ref` also runs (c)–(e) on the code of a git commit (extracted with `git archive` into a
temporary directory, the same models and data) right before this tree's, and prints the ratio: the machine
is shared, so only figures from one run compare. The load average is printed with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[1]  # this tree, also when the app is imported from another commit's
DATA = ROOT.parent / "shared" / "data" / "dialogues" / "jddc_sample_sessions.jsonl"
HTTP_ROWS = (
    "HTTP + SQLite, one POST each",
    "HTTP + SQLite, /batch of {batch}",
    "HTTP + SQLite, {clients} clients",
)


def _sessions(limit: int | None) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in DATA.open(encoding="utf-8") if line.strip()]
    return rows[:limit] if limit else rows


def _payload(i: int, s: dict[str, Any]) -> dict[str, Any]:
    turns = [t for t in s["turns"] if str(t["text"]).strip()]
    return {
        "external_id": f"bench-{i}",
        "channel": "chat",
        "agent_id": "agent-bench",
        "started_at": "2026-11-20T09:30:00+08:00",
        "utterances": [{"speaker": t["role"], "text": t["text"]} for t in turns],
    }


def _load() -> str:
    return "load {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def _chunks(items: list[T], size: int) -> list[list[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _measure(args: argparse.Namespace, payloads: list[dict[str, Any]], *, pipeline: bool) -> dict[str, float]:
    """Seconds per measurement, on the app importable here (this tree's, or a baseline's)."""
    from fastapi.testclient import TestClient

    from app.auth.service import create_key
    from app.db.migrate import upgrade
    from app.db.session import session_scope
    from app.main import create_app
    from app.settings import Settings
    from pipelines import types as pt
    from pipelines.audit import mask_conversation

    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            data_dir=Path(tmp), model_dir=ROOT / "var" / "models", start_worker=False,
            emotion_enabled=not args.no_emotion,
        )  # fmt: skip
        upgrade(settings.database_url)
        app = create_app(settings)
        with TestClient(app) as client:
            runtime = app.state.runtime
            if pipeline:
                convs = [
                    pt.Conversation(
                        "chat",
                        tuple(
                            pt.Utterance(i, u["speaker"], u["text"]) for i, u in enumerate(p["utterances"])
                        ),
                    )
                    for p in payloads
                ]
                t0 = time.perf_counter()
                flagged = sum(runtime.pipeline.run(c).flagged for c in convs)
                out["pipe"] = time.perf_counter() - t0
                t0 = time.perf_counter()
                batched = []
                for conv_chunk in _chunks(convs, args.batch):
                    masked = [mask_conversation(runtime.pipeline.stages.masker, c) for c in conv_chunk]
                    batched.extend(runtime.pipeline.run_masked_many(masked))
                out["pipe_batch"] = time.perf_counter() - t0
                assert sum(r.flagged for r in batched) == flagged, "batched audit disagrees with one-by-one"
                out["flagged"] = flagged

            with session_scope(app.state.session_factory) as s:
                _, key = create_key(s, name="bench", role="ingest")
            headers = {"Authorization": f"Bearer {key}"}

            def post_one(p: dict[str, Any]) -> None:
                r = client.post("/v1/conversations", json=p, headers=headers)
                assert r.status_code == 201, r.text

            t0 = time.perf_counter()
            for p in payloads:
                post_one(p)
            out["http"] = time.perf_counter() - t0

            t0 = time.perf_counter()
            for payload_chunk in _chunks(payloads, args.batch):
                items = [{**p, "external_id": f"batch-{p['external_id']}"} for p in payload_chunk]
                r = client.post("/v1/conversations/batch", json={"conversations": items}, headers=headers)
                assert r.status_code == 200, r.text
                assert r.json()["created"] == len(items), r.text
            out["http_batch"] = time.perf_counter() - t0

            t0 = time.perf_counter()
            with ThreadPoolExecutor(args.clients) as pool:
                list(pool.map(post_one, [{**p, "external_id": f"conc-{p['external_id']}"} for p in payloads]))
            out["http_clients"] = time.perf_counter() - t0
    return out


def _baseline(args: argparse.Namespace) -> dict[str, float]:
    """(c)-(e) measured on the code of `--baseline-ref`, in a process of its own."""
    with tempfile.TemporaryDirectory() as tree:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", args.baseline_ref], check=True, capture_output=True
        )
        subprocess.run(["tar", "-x", "-C", tree], input=archive.stdout, check=True)
        argv = [
            sys.executable,
            __file__,
            "--http-only",
            "--batch",
            str(args.batch),
            "--clients",
            str(args.clients),
        ]
        argv += ["--limit", str(args.limit)] if args.limit else []
        argv += ["--no-emotion"] if args.no_emotion else []
        env = {**os.environ, "PYTHONPATH": tree}
        done = subprocess.run(argv, env=env, cwd=tree, check=True, capture_output=True, text=True)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--no-emotion", action="store_true", help="leave the emotion model out")
    parser.add_argument("--batch", type=int, default=50, help="conversations per batch (at most 100)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients posting one each")
    parser.add_argument("--baseline-ref", help="also measure the HTTP paths on this git commit's code")
    parser.add_argument("--http-only", action="store_true", help=argparse.SUPPRESS)  # the baseline's process
    args = parser.parse_args()
    payloads = [p for p in (_payload(i, s) for i, s in enumerate(_sessions(args.limit))) if p["utterances"]]
    n, n_utts = len(payloads), sum(len(p["utterances"]) for p in payloads)
    if args.http_only:
        print(json.dumps(_measure(args, payloads, pipeline=False)))
        return

    before = _load()
    base = _baseline(args) if args.baseline_ref else None
    base_load = _load()
    new = _measure(args, payloads, pipeline=True)
    print(
        f"sessions: {n}  utterances: {n_utts}  emotion: {not args.no_emotion}  flagged: {int(new['flagged'])}"
    )
    print(f"{before} at the start; {base_load} after the baseline; {_load()} at the end")

    def line(name: str, t: float, extra: str = "") -> None:
        ratio = new["pipe"] / t
        print(
            f"{name:40s} {n / t:8.1f} conv/s {n_utts / t:8.1f} utt/s  ({t:.1f} s, x{ratio:.2f} pipeline){extra}"
        )

    line("pipeline, one at a time (baseline)", new["pipe"])
    line(f"pipeline, batches of {args.batch}", new["pipe_batch"])
    for key, label in zip(("http", "http_batch", "http_clients"), HTTP_ROWS, strict=True):
        name = label.format(batch=args.batch, clients=args.clients)
        if base is not None:
            line(f"{name} [{args.baseline_ref}]", base[key])
        line(name, new[key], f"  x{base[key] / new[key]:.2f} vs {args.baseline_ref}" if base else "")


if __name__ == "__main__":
    main()

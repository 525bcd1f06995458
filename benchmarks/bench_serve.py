"""Text audits through a real `audit serve` (uvicorn, embedded SQLite), with 1 and with 2 worker processes.

    .venv/bin/python -m benchmarks.bench_serve [--limit 300] [--workers 1,2] [--no-emotion] [--clients 8]
                                               [--baseline-ref 728ab9f] [--rounds 2]

For each worker count, on the real JDDC sessions (benchmarks/bench_pipeline.py's payloads): one POST at a time,
`/batch` of 50, and `--clients` concurrent clients posting one conversation each (with p50/p95 latency).
With `--workers 2` each process runs its models on `AUDIT_TORCH_THREADS=1`, so both together use the two
cores that one worker uses with 2 threads: the comparison is at equal CPU. One worker is the baseline,
measured in the same run. The load average is printed with every row (the machine is shared).

`--baseline-ref` serves a git commit's code (extracted with `git archive` into a temporary directory, the same
models, data and client) alternately with this tree's, `--rounds` times each, and prints every row with the
ratio to the baseline of its round: only figures from one run compare.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_pipeline import _chunks, _payload, _sessions  # noqa: E402
from tests.live_server import LiveServer  # noqa: E402


def _measure(
    workers: int,
    payloads: list[dict[str, Any]],
    *,
    emotion: bool,
    clients: int,
    batch: int,
    tree: Path | None = None,
) -> dict[str, float]:
    """Seconds per measurement against a fresh server; `tree`: serve that extracted commit's code instead."""
    env = {
        "AUDIT_EMOTION_ENABLED": "true" if emotion else "false",
        "AUDIT_TORCH_THREADS": "2" if workers == 1 else "1",
        "OMP_NUM_THREADS": "2" if workers == 1 else "1",
        "AUDIT_START_WORKER": "false",
    }
    if tree is not None:
        # The `audit` script's own directory comes first on sys.path, then PYTHONPATH, then the editable
        # install of this tree: the baseline's `app` is the one imported.
        env["PYTHONPATH"] = str(tree)
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        server = LiveServer(data_dir=Path(tmp), env=env, serve_args=("--workers", str(workers))).start()
        try:
            headers = {"Authorization": f"Bearer {server.create_key('ingest')}"}
            with httpx.Client(base_url=server.url, headers=headers, timeout=120) as http:

                def post(p: dict[str, Any]) -> float:
                    t = time.perf_counter()
                    r = http.post("/v1/conversations", json=p)
                    assert r.status_code == 201, r.text
                    return time.perf_counter() - t

                for p in payloads[:5]:  # warm every worker's models before timing
                    post({**p, "external_id": f"warm-{p['external_id']}"})
                t0 = time.perf_counter()
                for p in payloads:
                    post(p)
                out["single"] = time.perf_counter() - t0

                t0 = time.perf_counter()
                for chunk in _chunks(payloads, batch):
                    items = [{**p, "external_id": f"b-{p['external_id']}"} for p in chunk]
                    r = http.post("/v1/conversations/batch", json={"conversations": items})
                    assert r.status_code == 200, r.text
                    assert r.json()["created"] == len(items), r.text
                out["batch"] = time.perf_counter() - t0

                t0 = time.perf_counter()
                with ThreadPoolExecutor(clients) as pool:
                    lat = list(
                        pool.map(post, [{**p, "external_id": f"c-{p['external_id']}"} for p in payloads])
                    )
                out["clients"] = time.perf_counter() - t0
                out["p50"] = statistics.median(lat)
                out["p95"] = statistics.quantiles(lat, n=20)[-1]
        finally:
            server.stop()
    return out


def _extract(ref: str, into: Path) -> Path:
    """The code of commit `ref` in `into` (git archive: the repository's state is left as it is)."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--limit", type=int, default=300)
    ap.add_argument("--workers", default="1,2", help="worker counts to compare; the first is the baseline")
    ap.add_argument("--no-emotion", action="store_true")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--baseline-ref", help="also serve this git commit's code, alternating with this tree's")
    ap.add_argument("--rounds", type=int, default=2, help="baseline/this-tree alternations (--baseline-ref)")
    args = ap.parse_args()
    payloads = [p for p in (_payload(i, s) for i, s in enumerate(_sessions(args.limit))) if p["utterances"]]
    n = len(payloads)
    print(
        f"{n} JDDC sessions, {sum(len(p['utterances']) for p in payloads)} utterances, emotion {not args.no_emotion}"
    )
    print(f"{'code':>8s} {'workers':>7s} {'one POST each':>14s} {'/batch':>9s} "
          f"{str(args.clients) + ' clients':>11s} {'p50 ms':>7s} {'p95 ms':>7s}  load")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        tree = _extract(args.baseline_ref, Path(tmp)) if args.baseline_ref else None
        # Without a baseline ref the first worker count is the baseline; with one, the baseline's run in
        # the same round and with the same worker count.
        sides: list[tuple[str, Path | None]] = [("this", None)]
        if tree is not None:
            sides.insert(0, (args.baseline_ref[:8], tree))
        first: dict[str, float] | None = None  # without a baseline ref: the first worker count's figures
        for _ in range(args.rounds if tree is not None else 1):
            for w in (int(x) for x in args.workers.split(",")):
                base: dict[str, float] | None = None  # with one: the baseline's, same round and workers
                for label, code in sides:
                    r = _measure(
                        w, payloads, emotion=not args.no_emotion, clients=args.clients, batch=args.batch,
                        tree=code,
                    )  # fmt: skip
                    first, base = first or r, base or r
                    ref = base if tree is not None else first
                    cells = [f"{n / r[k]:7.1f} x{ref[k] / r[k]:4.2f}" for k in ("single", "batch", "clients")]
                    print(f"{label:>8s} {w:7d} {cells[0]:>14s} {cells[1]:>9s} {cells[2]:>11s} "
                          f"{r['p50'] * 1000:7.0f} {r['p95'] * 1000:7.0f}  {os.getloadavg()[0]:.1f}",
                          flush=True)  # fmt: skip
    if tree is not None:
        print(f"(conversations/s, and the ratio to {args.baseline_ref} in the same round)")
    else:
        print("(conversations/s, and the ratio to the first worker count)")


if __name__ == "__main__":
    main()

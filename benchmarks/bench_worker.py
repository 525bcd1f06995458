"""Throughput of one `audit worker` process: seconds of recorded call audio finished per wall second.

    .venv/bin/python -m benchmarks.bench_worker [--calls 3] [--minutes 1] [--threads 2]

The distributed set-up as processes: `audit serve` with Redis (database 12, flushed) and PostgreSQL
(database `audit_bench_queue`), stereo calls built from AISHELL utterances uploaded first, then one worker
(`--queues asr,audit --concurrency 1`, emotion on, as in production) started and timed from its first job's
start to its last job's end. The baseline, measured in the same run on the same calls: bare
`WhisperModel.transcribe` of both channels in this process (so the ratio is what queueing, VAD regions, word
timestamps, masking, redaction, the audit and the database cost on top of Whisper). Prints the load average:
the machine is shared, so figures move with it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psycopg
import redis
from sqlalchemy import create_engine, text

from app.settings import REPO_ROOT
from benchmarks.bench_audio_e2e import RATE, build_call
from tests.live_server import LiveServer

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
DB = "audit_bench_queue"
REDIS_DB = 12


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _fresh_database() -> str:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB}"')
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{DB}"


def _baseline(calls: list[Path], threads: int) -> float:
    from faster_whisper import decode_audio

    from models.whisper import load_whisper

    model = load_whisper(REPO_ROOT / "var" / "models" / "whisper-base", cpu_threads=threads)
    started = time.perf_counter()
    for call in calls:
        for channel in decode_audio(str(call), sampling_rate=RATE, split_stereo=True):
            segments, _ = model.transcribe(channel, language="zh")
            list(segments)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3)
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    print(f"load average at start: {_load()}")
    with tempfile.TemporaryDirectory() as tmp:
        calls, audio_s = [], 0.0
        for i in range(args.calls):
            path = Path(tmp) / f"call-{i}.wav"
            audio_s += build_call(path, args.minutes + 0.01 * i)  # slightly different files
            calls.append(path)
        t_base = _baseline(calls, args.threads)
        print(f"baseline: bare transcribe of both channels, {audio_s:.0f} s of calls in {t_base:.1f} s")

        redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB).flushdb()
        url = _fresh_database()
        env = {
            "AUDIT_BROKER_URL": f"redis://127.0.0.1:6379/{REDIS_DB}",
            "AUDIT_WHISPER_THREADS": str(args.threads),
        }
        api = LiveServer(data_dir=Path(tmp) / "data", database_url=url, env=env).start()
        worker = None
        try:
            headers = {"Authorization": f"Bearer {api.create_key('ingest')}"}
            for i, call in enumerate(calls):
                with call.open("rb") as fh:
                    resp = httpx.post(
                        f"{api.url}/v1/conversations/audio",
                        headers=headers,
                        data={
                            "external_id": f"bench-{i}",
                            "agent_id": "a1",
                            "started_at": "2026-11-21T10:00:00+08:00",
                        },
                        files={"file": (call.name, fh, "audio/wav")},
                        timeout=120,
                    )
                assert resp.status_code == 202, resp.text
            spawned = time.perf_counter()
            command = [
                str(Path(sys.executable).parent / "audit"),
                "worker",
                "--queues",
                "asr,audit",
                "--concurrency",
                "1",
            ]
            with (Path(tmp) / "worker.log").open("wb") as log:
                worker = subprocess.Popen(command, env=dict(api.env), stdout=log, stderr=subprocess.STDOUT)
            engine = create_engine(url)
            while True:
                with engine.connect() as conn:
                    done = conn.execute(
                        text("SELECT count(*) FROM jobs WHERE status IN ('done', 'failed')")
                    ).scalar_one()
                if done == len(calls):
                    break
                if worker.poll() is not None:
                    raise SystemExit((Path(tmp) / "worker.log").read_text()[-3000:])
                time.sleep(0.5)
            t_spawned = time.perf_counter() - spawned
            with engine.connect() as conn:
                first, last, statuses = conn.execute(
                    text(
                        "SELECT min(started_at), max(finished_at), string_agg(DISTINCT status, ',') FROM jobs"
                    )
                ).one()
            engine.dispose()
        finally:
            if worker is not None:
                worker.terminate()
                worker.wait(30)
            api.stop()
    t_worker = (last - first).total_seconds()
    print(f"worker: {args.calls} stereo calls, {audio_s:.0f} s of audio, jobs {statuses}")
    print(
        f"  first job start to last job end : {t_worker:6.1f} s  -> {audio_s / t_worker:.2f} audio s per wall s"
    )
    print(
        f"  from process start (model loads): {t_spawned:6.1f} s  -> {audio_s / t_spawned:.2f} audio s per wall s"
    )
    print(f"baseline (bare Whisper, this process): {audio_s / t_base:.2f} audio s per wall s")
    print(f"ratio worker / baseline throughput: {t_base / t_worker:.2f}")
    print(f"load average at end: {_load()}")


if __name__ == "__main__":
    main()

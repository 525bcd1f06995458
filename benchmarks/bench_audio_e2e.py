"""End to end: a 3-minute stereo call from upload to findings, per-region vs packed batched decoding.

    .venv/bin/python benchmarks/bench_audio_e2e.py [--minutes 3] [--threads 2]
        [--configs int8:4,int8:8,int8:16,float32:8] [--concurrency 1,2,4 --concurrency-minutes 1]

The call is built from real AISHELL utterances: agent on the left channel, customer on the right, turns
alternating with 0.5–1.5 s gaps. One run prints, side by side:
- the baseline: bare `WhisperModel.transcribe(language="zh")` of both channels;
- upload to findings through the API with per-region decoding (`AUDIT_ASR_BATCH_SIZE=0`, the path before
  issue 14) and with the packed batched path (batch 8, the default), each with its ratio to the baseline;
- the ASR stage alone (packed batched, `compute_type:batch_size` per row) with the shift of every turn start
  against the per-region path's turns of the same speaker (nearest start; mean and max);
- with `--concurrency`, N worker processes each taking one call (of `--concurrency-minutes`) from upload to
  findings at the same time: real-time factor per worker and peak RSS per worker.
Load averages are printed with every block: the machine is shared.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import soundfile as sf
from fastapi.testclient import TestClient

from app.auth.service import create_key
from app.db.migrate import upgrade
from app.db.session import session_scope
from app.main import create_app
from app.settings import REPO_ROOT, Settings

SPEECH = REPO_ROOT.parent / "shared" / "data" / "speech" / "aishell_dev"
RATE = 16_000
MODEL_DIR = REPO_ROOT / "var" / "models"


def build_call(path: Path, minutes: float) -> float:
    """Write a stereo call of about `minutes` and return its duration in seconds."""
    rng = np.random.default_rng(7)
    files = sorted(SPEECH.glob("*.wav"))
    left: list[np.ndarray] = []
    right: list[np.ndarray] = []
    total, turn = 0, 0
    while total < minutes * 60 * RATE:
        audio, sr = sf.read(files[turn % len(files)], dtype="float32")
        assert sr == RATE
        gap = np.zeros(int(rng.uniform(0.5, 1.5) * RATE), dtype=np.float32)
        speak, quiet = (left, right) if turn % 2 == 0 else (right, left)
        speak.extend([audio, gap])
        quiet.append(np.zeros(len(audio) + len(gap), dtype=np.float32))
        total += len(audio) + len(gap)
        turn += 1
    stereo = np.stack([np.concatenate(left), np.concatenate(right)], axis=1)
    sf.write(path, stereo, RATE)
    return len(stereo) / RATE


def load() -> str:
    """The 1-minute load average, for the record."""
    return f"load {os.getloadavg()[0]:.2f}"


@dataclasses.dataclass
class Run:
    """One call from upload to findings: timings, turns (speaker, start ms), findings, the process's peak RSS."""

    upload_s: float
    job_s: float
    turns: list[tuple[str, int]]
    findings: int
    peak_rss_mib: float = 0.0

    @property
    def total_s(self) -> float:
        """Upload to findings."""
        return self.upload_s + self.job_s


def upload_to_findings(
    call: Path, data_dir: Path, *, threads: int, batch_size: int, loaded: Callable[[], None] | None = None
) -> Run:
    """Upload `call` to a fresh app and run its job; timings, utterances (speaker, start ms) and findings."""
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = Settings(
        data_dir=data_dir, model_dir=MODEL_DIR, start_worker=False, whisper_threads=threads,
        asr_batch_size=batch_size,
    )  # fmt: skip
    upgrade(settings.database_url)
    app = create_app(settings)
    with TestClient(app) as client:
        with session_scope(app.state.session_factory) as s:
            _, key = create_key(s, name="bench", role="ingest")
        runner = app.state.job_runner
        runner.transcriber()  # load Whisper before timing
        if loaded is not None:
            loaded()
        headers = {"Authorization": f"Bearer {key}"}
        t0 = time.perf_counter()
        with call.open("rb") as fh:
            resp = client.post(
                "/v1/conversations/audio",
                data={
                    "external_id": "bench-call",
                    "agent_id": "a1",
                    "started_at": "2026-11-21T10:00:00+08:00",
                    "channel_layout": "stereo_agent_left",
                },  # fmt: skip
                files={"file": ("call.wav", fh, "audio/wav")},
                headers=headers,
            )
        t_upload = time.perf_counter() - t0
        assert resp.status_code == 202, resp.text
        t0 = time.perf_counter()
        assert runner.run_pending() == ["done"]
        t_job = time.perf_counter() - t0
        conv = client.get(f"/v1/conversations/{resp.json()['conversation_id']}", headers=headers).json()
    turns = [(u["speaker"], u["start_ms"]) for u in conv["utterances"]]
    return Run(t_upload, t_job, turns, len(conv["findings"]))


def shift_ms(reference: Sequence[tuple[str, int]], turns: Sequence[tuple[str, int]]) -> tuple[float, int]:
    """Mean and max distance from each reference turn start to the nearest start of the same speaker."""
    shifts = [
        min((abs(start - s) for sp, s in turns if sp == speaker), default=10**9)
        for speaker, start in reference
    ]
    return float(np.mean(shifts)), max(shifts)


def child(call: Path, threads: int, go: Path) -> None:
    """One concurrent worker: load everything, wait for `go`, take the call from upload to findings."""

    def wait_for_all() -> None:
        # Every worker has its models loaded before any starts its call, so the timed parts overlap fully.
        (go.parent / f"ready-{go.name}-{os.getpid()}").touch()
        while not go.exists():
            time.sleep(0.05)

    with tempfile.TemporaryDirectory() as tmp:
        row = upload_to_findings(call, Path(tmp), threads=threads, batch_size=8, loaded=wait_for_all)
    row.peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(dataclasses.asdict(row)))


def concurrency(counts: list[int], minutes: float, threads: int) -> None:
    """N processes each taking one call at the same time: RTF and peak RSS per worker."""
    with tempfile.TemporaryDirectory() as tmp:
        call = Path(tmp) / "call.wav"
        duration = build_call(call, minutes)
        print(f"\nconcurrent calls ({duration:.1f} s each, packed batch 8, {threads} threads per worker):")
        print(
            "| workers | RTF per worker (mean / max) | upload→findings s (mean) | peak RSS MiB per worker (max) |"
        )
        print("|---|---|---|---|")
        for n in counts:
            go = Path(tmp) / f"go-{n}"
            cmd = [sys.executable, __file__, "--child", str(call), "--go", str(go), "--threads", str(threads)]
            procs = [
                subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
                for _ in range(n)
            ]
            while len(list(Path(tmp).glob(f"ready-{go.name}-*"))) < n:
                if any(p.poll() is not None for p in procs):
                    raise RuntimeError("a worker process died while loading")
                time.sleep(0.1)
            go.touch()
            rows = []
            for proc in procs:
                out, _ = proc.communicate()
                assert proc.returncode == 0
                rows.append(Run(**json.loads(out.strip().splitlines()[-1])))
            total = [r.total_s for r in rows]
            rtf = [t / duration for t in total]
            rss = max(r.peak_rss_mib for r in rows)
            print(
                f"| {n} | {np.mean(rtf):.3f} / {max(rtf):.3f} | {np.mean(total):.1f} | {rss:.0f} |  ({load()})",
                flush=True,
            )


def main() -> None:
    """Run the side-by-side comparison (and the concurrency rows) and print them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--configs", default="int8:4,int8:8,int8:16,float32:8")
    parser.add_argument("--concurrency", default="", help="e.g. 1,2,4 (worker processes)")
    parser.add_argument("--concurrency-minutes", type=float, default=1.0)
    parser.add_argument("--skip-e2e", action="store_true", help="only the concurrency rows")
    parser.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--go", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.threads, args.go)
        return
    if not args.skip_e2e:
        side_by_side(args)
    if args.concurrency:
        concurrency([int(n) for n in args.concurrency.split(",")], args.concurrency_minutes, args.threads)


def side_by_side(args: argparse.Namespace) -> None:
    """Bare Whisper, per-region and packed upload to findings, and the ASR-only configs, in one run."""
    from faster_whisper import decode_audio

    from models.whisper import load_whisper
    from pipelines.asr import TranscribeOptions, Transcriber

    with tempfile.TemporaryDirectory() as tmp:
        call = Path(tmp) / "call.wav"
        duration = build_call(call, args.minutes)
        print(f"call: {duration:.1f} s stereo, {args.threads} CPU threads ({load()})", flush=True)
        models = {"int8": load_whisper(MODEL_DIR / "whisper-base", cpu_threads=args.threads)}
        channels = decode_audio(str(call), sampling_rate=RATE, split_stereo=True)
        t0 = time.perf_counter()
        for channel in channels:
            segments, _ = models["int8"].transcribe(channel, language="zh")
            list(segments)
        t_base = time.perf_counter() - t0
        print(
            f"baseline: bare transcribe(language='zh'), both channels: {t_base:.2f} s  ({load()})", flush=True
        )

        e2e = {}
        for name, batch in (
            ("per-region (before)", 0),
            ("packed batched, batch 8 (served)", 8),
        ):
            e2e[name] = upload_to_findings(
                call, Path(tmp) / f"app-{batch}", threads=args.threads, batch_size=batch
            )
            row = e2e[name]
            print(
                f"{name}: upload {row.upload_s:.2f} s + job {row.job_s:.2f} s, {len(row.turns)} "
                f"utterances, {row.findings} findings  ({load()})",
                flush=True,
            )
        reference = e2e["per-region (before)"].turns
        print("\n| path | upload→findings s | RTF | ratio to bare | turns | turn-start shift mean / max ms |")
        print("|---|---|---|---|---|---|")
        print(f"| bare transcribe, both channels | {t_base:.2f} | {t_base / duration:.3f} | 1.00 | — | — |")
        for name, row in e2e.items():
            mean, worst = shift_ms(reference, row.turns)
            print(
                f"| {name} | {row.total_s:.2f} | {row.total_s / duration:.3f} | {row.total_s / t_base:.2f} | "
                f"{len(row.turns)} | {mean:.0f} / {worst} |"
            )

        print("\nASR stage alone (packed batched), same call:")
        print("| compute:batch | ASR s | ratio to bare | turns | turn-start shift mean / max ms | load |")
        print("|---|---|---|---|---|---|")
        for config in filter(None, args.configs.split(",")):
            compute, batch = config.split(":")
            if compute not in models:
                models[compute] = load_whisper(
                    MODEL_DIR / "whisper-base", compute_type=compute, cpu_threads=args.threads
                )
            options = dataclasses.replace(
                TranscribeOptions(word_timestamps=True), batched=True, batch_size=int(batch)
            )
            t0 = time.perf_counter()
            result = Transcriber(models[compute], options).transcribe(call, layout="stereo_agent_left")
            elapsed = time.perf_counter() - t0
            turns = [(u.speaker, u.start_ms or 0) for u in result.utterances]
            mean, worst = shift_ms(reference, turns)
            print(
                f"| {config} | {elapsed:.2f} | {elapsed / t_base:.2f} | {len(turns)} | {mean:.0f} / {worst} "
                f"| {load()} |",
                flush=True,
            )


if __name__ == "__main__":
    main()

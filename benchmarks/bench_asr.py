"""ASR speed and memory: real-time factor and peak RSS for int8 vs float32, per-region vs packed batched.

Usage:
    .venv/bin/python -m benchmarks.bench_asr                 # ~60 s of AISHELL speech, every config
    .venv/bin/python -m benchmarks.bench_asr --seconds 30 --configs int8,int8_batched8

Each config runs in its own child process so its peak RSS (resource.getrusage ru_maxrss) is its own.
RTF = processing seconds per second of audio (lower is faster); the first config is the baseline and the
other rows print their ratio to it. Model load and a short warm-up are excluded from the RTF.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
SPEECH_DIR = REPO / ".." / "shared" / "data" / "speech"
RATE = 16_000

CONFIGS: dict[str, tuple[str, bool]] = {  # name -> (compute_type, batched)
    "int8": ("int8", False),
    "float32": ("float32", False),
    "int8_batched8": ("int8", True),
    "float32_batched8": ("float32", True),
}


def build_audio(seconds: float, dst: Path) -> float:
    """Concatenate AISHELL dev utterances with 0.5 s pauses until `seconds` of audio; returns the duration."""
    pause = np.zeros(RATE // 2, dtype=np.float32)
    pieces: list[np.ndarray] = []
    total = 0
    for wav in sorted((SPEECH_DIR / "aishell_dev").glob("*.wav")):
        data, rate = sf.read(wav, dtype="float32")
        assert rate == RATE
        pieces += [data, pause]
        total += len(data) + len(pause)
        if total >= seconds * RATE:
            break
    sf.write(dst, np.concatenate(pieces), RATE, subtype="PCM_16")
    return total / RATE


def run_one(name: str, audio: Path, threads: int) -> dict[str, float | int | str]:
    """Load the model for one config, transcribe `audio` once, report timings and peak RSS (child side)."""
    from models.whisper import load_whisper, materialize
    from pipelines.asr import TranscribeOptions, Transcriber

    compute_type, batched = CONFIGS[name]
    started = time.perf_counter()
    model = load_whisper(materialize(), compute_type=compute_type, cpu_threads=threads)
    load_s = time.perf_counter() - started
    options = dataclasses.replace(TranscribeOptions(), batched=batched, batch_size=8)
    transcriber = Transcriber(model, options)
    transcriber.transcribe(SPEECH_DIR / "BAC009S0764W0121.wav", layout="mono")  # warm-up
    started = time.perf_counter()
    result = transcriber.transcribe(audio, layout="mono")
    elapsed = time.perf_counter() - started
    return {
        "config": name,
        "load_s": load_s,
        "elapsed_s": elapsed,
        "audio_s": result.duration_s,
        "rtf": elapsed / result.duration_s,
        "utterances": len(result.utterances),
        "chars": sum(len(u.text) for u in result.utterances),
        # ru_maxrss is in KiB on Linux.
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    """Run every config in a child process and print the table with ratios to the first (baseline)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--audio", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        print(json.dumps(run_one(args.child, args.audio, args.threads)))
        return

    with tempfile.TemporaryDirectory() as tmp:
        audio = Path(tmp) / "bench.wav"
        duration = build_audio(args.seconds, audio)
        print(f"audio: {duration:.1f} s of AISHELL dev speech, {args.threads} CPU threads")
        rows = []
        for name in args.configs.split(","):
            cmd = [sys.executable, "-m", "benchmarks.bench_asr", "--child", name, "--audio", str(audio)]
            cmd += ["--threads", str(args.threads)]
            out = subprocess.run(cmd, cwd=REPO, check=True, capture_output=True, text=True).stdout
            row = json.loads(out.strip().splitlines()[-1])
            rows.append(row)
            print(
                f"{name:18s} RTF {row['rtf']:.3f}  ({row['elapsed_s']:.1f} s)  load {row['load_s']:.1f} s  "
                f"peak RSS {row['peak_rss_mib']:.0f} MiB  {row['utterances']} utts / {row['chars']} chars",
                flush=True,
            )
    base = rows[0]
    print(f"\n| config | RTF | speed vs {base['config']} | peak RSS MiB | RSS vs {base['config']} |")
    print("|---|---|---|---|---|")
    for row in rows:
        speed = float(base["rtf"]) / float(row["rtf"])
        rss = float(row["peak_rss_mib"]) / float(base["peak_rss_mib"])
        print(
            f"| {row['config']} | {row['rtf']:.3f} | {speed:.2f}× | {row['peak_rss_mib']:.0f} | {rss:.2f}× |"
        )


if __name__ == "__main__":
    main()

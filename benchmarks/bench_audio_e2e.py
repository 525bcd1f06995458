"""End to end: a 3-minute stereo call from upload to findings, wall time and real-time factor.

    .venv/bin/python benchmarks/bench_audio_e2e.py [--minutes 3] [--threads 2]

The call is built from real AISHELL utterances: agent on the left channel, customer on the right, turns
alternating with 0.5–1.5 s gaps. Prints upload latency, transcription+audit time, RTF, and as the baseline
measured in the same run the bare `WhisperModel.transcribe` time over the same two channels (so the ratio
is the cost of our VAD/filters, masking, audit and storage on top of Whisper itself).
"""

from __future__ import annotations

import argparse
import tempfile
import time
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        call = Path(tmp) / "call.wav"
        duration = build_call(call, args.minutes)
        settings = Settings(
            data_dir=Path(tmp), model_dir=REPO_ROOT / "var" / "models", start_worker=False,
            whisper_threads=args.threads,
        )  # fmt: skip
        upgrade(settings.database_url)
        app = create_app(settings)
        with TestClient(app) as client:
            with session_scope(app.state.session_factory) as s:
                _, key = create_key(s, name="bench", role="ingest")
            runner = app.state.job_runner
            runner.transcriber()  # load Whisper before timing
            from faster_whisper import decode_audio

            from models.whisper import load_whisper

            assert settings.whisper_model_dir is not None
            bare = load_whisper(settings.whisper_model_dir, cpu_threads=args.threads)
            t0 = time.perf_counter()
            for channel in decode_audio(str(call), sampling_rate=RATE, split_stereo=True):
                segments, _ = bare.transcribe(channel, language="zh")
                list(segments)
            t_base = time.perf_counter() - t0

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

    print(
        f"call: {duration:.1f} s stereo, {len(conv['utterances'])} utterances, {len(conv['findings'])} findings"
    )
    print(f"upload (store + probe)           : {t_upload:6.2f} s")
    print(f"job (transcribe + audit + store) : {t_job:6.2f} s   RTF {t_job / duration:.3f}")
    print(
        f"upload to findings               : {t_upload + t_job:6.2f} s   RTF {(t_upload + t_job) / duration:.3f}"
    )
    print(
        f"baseline: bare transcribe(language='zh') of both channels: {t_base:.2f} s  RTF {t_base / duration:.3f}"
    )
    print(f"ratio job / baseline: {t_job / t_base:.2f}")


if __name__ == "__main__":
    main()

"""Metrics of the work itself, counted in the process that does it (the API in the embedded default, else
each `audit worker`, scraped on its `--metrics-port`)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

AUDIO_SECONDS = Counter(
    "audit_audio_seconds_transcribed", "Seconds of recorded audio transcribed by this process."
)
MODEL_LATENCY = Histogram(
    "audit_model_latency_seconds",
    "Wall time of one model call: whisper (one recording), audit (text stages of one conversation).",
    ["model"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600),
)
TASKS = Counter("audit_tasks", "Tasks run by this process, by queue and outcome.", ["queue", "outcome"])


def observe_transcription(seconds: float, *, audio_seconds: float) -> None:
    """Count one transcription: its wall time and the audio it covered."""
    MODEL_LATENCY.labels(model="whisper").observe(seconds)
    AUDIO_SECONDS.inc(audio_seconds)

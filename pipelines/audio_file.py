"""Audio files before transcription: probe what a file holds, check the channel layout asked for it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import av

from pipelines.types import Speaker

Layout = Literal["stereo_agent_left", "stereo_agent_right", "mono"]
LAYOUTS: tuple[Layout, ...] = ("stereo_agent_left", "stereo_agent_right", "mono")


class AsrError(Exception):
    """Base class of the ASR stage's errors."""


class AudioDecodeError(AsrError):
    """The file is not decodable audio: not audio, corrupt, empty, or without an audio stream."""


class LayoutError(AsrError, ValueError):
    """The requested channel layout does not fit the audio (a stereo layout for mono audio)."""


@dataclass(frozen=True, slots=True)
class AudioInfo:
    """What probe_audio found: decoded duration, channel count, native sample rate, codec and container."""

    duration_s: float
    channels: int
    sample_rate: int
    codec: str
    format: str


def probe_audio(path: Path) -> AudioInfo:
    """Decode the file once with PyAV and describe it; raise AudioDecodeError with the reason if unusable."""
    if not path.is_file():
        raise AudioDecodeError(f"{path.name}: file does not exist")
    if path.stat().st_size == 0:
        raise AudioDecodeError(f"{path.name}: file is empty (0 bytes)")
    try:
        container = av.open(str(path), mode="r", metadata_errors="ignore")
    except av.FFmpegError as exc:
        raise AudioDecodeError(f"{path.name}: not a recognised audio file ({exc.strerror})") from exc
    with container:
        if not container.streams.audio:
            raise AudioDecodeError(f"{path.name}: no audio stream in {container.format.name} container")
        stream = container.streams.audio[0]
        # canonical_name is the format ("mp3"), not the decoder chosen for it ("mp3float").
        codec = stream.codec_context.codec.canonical_name
        channels = stream.codec_context.channels
        rate = stream.codec_context.sample_rate
        # Count decoded samples rather than trusting header durations, which lie for truncated files.
        samples = 0
        errors = 0
        try:
            for frame in container.decode(stream):
                samples += frame.samples
                rate = frame.sample_rate or rate
        except av.FFmpegError as exc:
            errors += 1
            if samples == 0:
                raise AudioDecodeError(f"{path.name}: corrupt {codec} audio ({exc.strerror})") from exc
        fmt = container.format.name
    if samples == 0 or not rate:
        raise AudioDecodeError(f"{path.name}: audio stream has no samples (zero-length audio)")
    if channels < 1:
        raise AudioDecodeError(f"{path.name}: audio stream reports {channels} channels")
    return AudioInfo(duration_s=samples / rate, channels=channels, sample_rate=rate, codec=codec, format=fmt)


def check_layout(info: AudioInfo, layout: str) -> Layout:
    """Validate a layout name against the probed audio; raise LayoutError (a ValueError) if they disagree."""
    if layout not in LAYOUTS:
        raise LayoutError(f"unknown layout {layout!r}; expected one of {', '.join(LAYOUTS)}")
    if layout != "mono" and info.channels != 2:
        raise LayoutError(
            f"layout {layout} needs 2-channel audio (agent on one channel, customer on the other), "
            f"but the file has {info.channels} channel(s); use layout=mono"
        )
    return layout


def channel_speakers(layout: Layout) -> tuple[Speaker, ...]:
    if layout == "stereo_agent_left":
        return ("agent", "customer")
    if layout == "stereo_agent_right":
        return ("customer", "agent")
    return ("unknown",)

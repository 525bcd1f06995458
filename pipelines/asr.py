"""ASR stage: probe an audio file, transcribe it with faster-whisper, one utterance list with speaker roles."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import opencc

from pipelines.asr_phantoms import PHANTOM_ANYWHERE, PHANTOM_WHOLE

# Re-exported: callers import the file checks from the ASR stage, where they began.
from pipelines.audio_file import (
    LAYOUTS,
    AsrError,
    AudioDecodeError,
    AudioInfo,
    Layout,
    LayoutError,
    channel_speakers,
    check_layout,
    probe_audio,
)
from pipelines.types import Utterance, WordTiming

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

SAMPLE_RATE = 16_000
MAX_CLIP_S = 30.0  # Whisper's window
Audio = npt.NDArray[np.float32]

_PUNCT = r"\s,.!?;:'\"，。！？；：、…“”‘’（）()《》\-—~～"
SIMPLIFIED_PROMPT = "以下是普通话的句子，使用简体中文和标点符号。"


@dataclass(frozen=True, slots=True)
class Transcript:
    """ASR result: utterances in time order with speaker from channel, plus what was transcribed."""

    utterances: tuple[Utterance, ...]
    duration_s: float
    channels: int
    language: str
    layout: Layout


def _default_vad() -> Mapping[str, float | int]:
    # Shorter silences than faster-whisper's 2 s default split turns closer to where the speaker pauses;
    # 500 ms padding keeps word onsets (CER 0.2090 vs 0.2175 with 300 ms, models/whisper/model_card.md).
    return MappingProxyType({"threshold": 0.5, "min_silence_duration_ms": 500, "speech_pad_ms": 500})


@dataclass(frozen=True, slots=True)
class TranscribeOptions:
    """Decoding settings for faster-whisper plus our post-filters; defaults chosen on evaluation/eval_asr.py."""

    language: str = "zh"
    beam_size: int = 5
    best_of: int = 5
    vad_filter: bool = True
    vad_parameters: Mapping[str, float | int] = field(default_factory=_default_vad)
    # Without the previous text as context a single bad window cannot start a repetition loop.
    condition_on_previous_text: bool = False
    # No prompt by default: SIMPLIFIED_PROMPT raised CER on our AISHELL set (models/whisper/model_card.md);
    # t2s already fixes Traditional output. Set it when punctuated text matters more than CER.
    initial_prompt: str | None = None
    temperature: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    no_speech_threshold: float = 0.6
    compression_ratio_threshold: float = 2.4
    log_prob_threshold: float = -1.0
    # Post-filters on each returned segment (whisper's own thresholds only trigger a retry or skip a window).
    drop_no_speech_prob: float = 0.8
    drop_compression_ratio: float = 2.6
    drop_avg_logprob: float = -1.5
    hotwords: str | None = None
    # Text-only decoding: one utterance per speech clip instead of Whisper's sentence segments.
    without_timestamps: bool = False
    # Word timings (cross-attention alignment) on every utterance, for audio redaction; costs decode time
    # (evaluation/eval_redaction.py measures it). Off by default: the text is the same either way.
    word_timestamps: bool = False
    # Speech regions closer than this are decoded as one clip (fewer 30 s encoder passes); a longer
    # silence on this channel may hold the other party's turn, so it must stay a clip boundary.
    merge_gap_s: float = 1.0
    phantom_anywhere: tuple[str, ...] = PHANTOM_ANYWHERE
    phantom_whole: tuple[str, ...] = PHANTOM_WHOLE
    # Packed batched decoding (pipelines/asr_batched.py): all channels' VAD regions in ≤ 30 s windows, one
    # batched call, turns placed by word timestamps (always on there). Off: each region decoded on its own.
    batched: bool = False
    batch_size: int = 8

    def decode_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for WhisperModel.transcribe / BatchedInferencePipeline.transcribe."""
        kwargs: dict[str, Any] = {
            "language": self.language,
            "beam_size": self.beam_size,
            "best_of": self.best_of,
            "condition_on_previous_text": self.condition_on_previous_text,
            "initial_prompt": self.initial_prompt,
            "temperature": list(self.temperature),
            "no_speech_threshold": self.no_speech_threshold,
            "compression_ratio_threshold": self.compression_ratio_threshold,
            "log_prob_threshold": self.log_prob_threshold,
            "hotwords": self.hotwords,
            "word_timestamps": self.word_timestamps,
        }
        if not self.batched:
            kwargs["without_timestamps"] = self.without_timestamps
        return kwargs


def _phrase_pattern(phrases: Iterable[str]) -> str:
    # Allow spaces/punctuation between characters: Whisper spaces these credits out inconsistently.
    alternatives = [
        f"[{_PUNCT}]*".join(re.escape(ch) for ch in p) for p in sorted(phrases, key=len, reverse=True)
    ]
    return "|".join(alternatives) or "(?!)"


@dataclass(frozen=True, slots=True)
class Segment:
    """One kept Whisper segment of a single channel, in seconds from the start of the file.

    `words` (with word timestamps only): where each recognised word lies in `text` and when it was said.
    """

    start_s: float
    end_s: float
    text: str
    words: tuple[WordTiming, ...] = ()


class Transcriber:
    """Transcribes call recordings with an already-loaded WhisperModel (load it once per process)."""

    def __init__(self, model: WhisperModel, options: TranscribeOptions | None = None) -> None:
        self.model = model
        self.options = options or TranscribeOptions()
        self._t2s = opencc.OpenCC("t2s")
        anywhere = _phrase_pattern(self.options.phantom_anywhere)
        self._phantom_anywhere = re.compile(anywhere, re.IGNORECASE)
        whole = _phrase_pattern((*self.options.phantom_anywhere, *self.options.phantom_whole))
        self._phantom_whole = re.compile(rf"^(?:[{_PUNCT}]|{whole})*$", re.IGNORECASE)
        self._has_content = re.compile(rf"[^{_PUNCT}]")

    def transcribe(
        self,
        path: Path,
        *,
        layout: Layout,
        progress: Callable[[float], None] | None = None,
    ) -> Transcript:
        """Transcribe a file; stereo layouts give one speaker per channel, merged by start time."""
        info = probe_audio(path)
        layout = check_layout(info, layout)
        from faster_whisper import decode_audio

        if layout == "mono":
            channels: tuple[Audio, ...] = (decode_audio(str(path), sampling_rate=SAMPLE_RATE),)
        else:
            left, right = decode_audio(str(path), sampling_rate=SAMPLE_RATE, split_stereo=True)
            # All-zero channels are equal too, but silence is a valid (empty) call, not a layout mistake.
            if np.array_equal(left, right) and np.any(left):
                raise LayoutError(
                    f"layout {layout} needs separate agent and customer channels, but both channels of "
                    f"{path.name} carry the same signal; use layout=mono"
                )
            channels = (left, right)
        duration_s = max(len(ch) for ch in channels) / SAMPLE_RATE
        speakers = channel_speakers(layout)
        if self.options.batched:
            from pipelines.asr_batched import transcribe_packed

            per_channel = transcribe_packed(self, channels, progress=progress)
        else:
            per_channel = [
                self.transcribe_array(
                    audio, progress=_channel_progress(progress, i, len(channels), duration_s)
                )
                for i, audio in enumerate(channels)
            ]
        timed = [(seg.start_s, ch, seg) for ch, segs in enumerate(per_channel) for seg in segs]
        # Ties (both parties start together) keep channel order so the result is deterministic.
        timed.sort(key=lambda item: (item[0], item[1]))
        utterances = tuple(
            Utterance(
                index=i,
                speaker=speakers[ch_index],
                text=seg.text,
                start_ms=round(seg.start_s * 1000),
                end_ms=round(min(seg.end_s, duration_s) * 1000),
                words=seg.words,
            )
            for i, (_, ch_index, seg) in enumerate(timed)
        )
        if progress is not None:
            progress(1.0)
        return Transcript(
            utterances=utterances,
            duration_s=duration_s,
            channels=info.channels,
            language=self.options.language,
            layout=layout,
        )

    def transcribe_array(
        self, audio: Audio, *, progress: Callable[[float], None] | None = None
    ) -> list[Segment]:
        """Transcribe one 16 kHz mono channel region by region; filtered, t2s-converted segments (seconds)."""
        if len(audio) == 0:
            return []
        return self.decode_clips(audio, self.speech_clips(audio), progress=progress)

    def decode_clips(
        self,
        audio: Audio,
        clips: Sequence[tuple[float, float]],
        *,
        progress: Callable[[float], None] | None = None,
    ) -> list[Segment]:
        """Decode these clips (seconds) of one channel, each on its own; filtered, t2s-converted segments."""
        duration_s = len(audio) / SAMPLE_RATE
        kwargs = self.options.decode_kwargs()
        kept: list[Segment] = []
        if clips:
            # Whisper decodes each clip on its own, so timestamps stay in the original timeline. (Letting
            # faster-whisper's VAD glue all speech together shifted a turn by seconds when two turns of
            # one channel shared a window, which broke the stereo merge order.)
            flat = [t for clip in clips for t in clip]
            segments, _ = self.model.transcribe(audio, clip_timestamps=flat, vad_filter=False, **kwargs)
            for seg in segments:
                if progress is not None:
                    progress(min(seg.end / duration_s, 1.0))
                text = self.clean_text(seg.text)
                if text is None or self._unreliable(
                    seg.no_speech_prob, seg.compression_ratio, seg.avg_logprob
                ):
                    continue
                words = self.word_timings(text, seg.words or ())
                kept.append(
                    Segment(
                        start_s=max(seg.start, 0.0), end_s=max(seg.end, seg.start), text=text, words=words
                    )
                )
        if progress is not None:
            progress(1.0)  # trailing silence yields no segment, so report the channel as done
        return kept

    def speech_clips(self, audio: Audio) -> list[tuple[float, float]]:
        """Speech regions (seconds) to decode: Silero VAD regions merged across short pauses, each <= 30 s."""
        return self.merge_clips(self.speech_regions(audio))

    def merge_clips(self, regions: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
        """Regions (seconds, in order) joined across pauses under `merge_gap_s` while a clip stays <= 30 s."""
        clips: list[tuple[float, float]] = []
        for start, end in regions:
            if clips and start - clips[-1][1] < self.options.merge_gap_s and end - clips[-1][0] <= MAX_CLIP_S:
                clips[-1] = (clips[-1][0], end)
            else:
                clips.append((start, end))
        return clips

    def speech_regions(self, audio: Audio) -> list[tuple[float, float]]:
        """Silero VAD speech regions (seconds, padded, each <= 30 s), or 30 s windows with VAD off."""
        duration_s = len(audio) / SAMPLE_RATE
        if not self.options.vad_filter:
            return [
                (float(start), min(start + MAX_CLIP_S, duration_s))
                for start in np.arange(0.0, duration_s, MAX_CLIP_S)
            ]
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        vad = VadOptions(**{**self.options.vad_parameters, "max_speech_duration_s": MAX_CLIP_S})
        return [
            (r["start"] / SAMPLE_RATE, r["end"] / SAMPLE_RATE)
            for r in get_speech_timestamps(audio, vad, sampling_rate=SAMPLE_RATE)
        ]

    def word_timings(self, text: str, words: Iterable[Any]) -> tuple[WordTiming, ...]:
        """Place faster-whisper words (`.word`, `.start`, `.end` in s) on the cleaned segment `text`, in order.

        Words are found left to right after the same t2s conversion as the text; a word that cannot be
        found (a phantom phrase cut out of the text, a conversion that differs alone) is left out.
        """
        out: list[WordTiming] = []
        cursor = 0
        for word in words:
            needle = self._t2s.convert(word.word).strip()
            at = text.find(needle, cursor) if needle else -1
            if at < 0:
                bare = re.sub(rf"[{_PUNCT}]", "", needle)
                at = text.find(bare, cursor) if bare else -1
                needle = bare
            if at < 0:
                continue
            start_ms = round(max(word.start, 0.0) * 1000)
            out.append(WordTiming(at, at + len(needle), start_ms, max(round(word.end * 1000), start_ms)))
            cursor = at + len(needle)
        return tuple(out)

    def _unreliable(self, no_speech_prob: float, compression_ratio: float, avg_logprob: float) -> bool:
        opts = self.options
        return (
            no_speech_prob > opts.drop_no_speech_prob
            or compression_ratio > opts.drop_compression_ratio
            or avg_logprob < opts.drop_avg_logprob
        )

    def clean_text(self, raw: str) -> str | None:
        """t2s-convert one segment's text and cut phantom phrases; None when nothing real is left."""
        text = self._t2s.convert(raw.strip())
        if self._phantom_whole.match(text):
            return None
        text = self._phantom_anywhere.sub("", text).strip()
        return text if self._has_content.search(text) else None


def _channel_progress(
    progress: Callable[[float], None] | None, index: int, count: int, duration_s: float
) -> Callable[[float], None] | None:
    if progress is None or duration_s <= 0:
        return None

    def report(fraction: float) -> None:
        progress((index + fraction) / count)

    return report


__all__ = [
    "LAYOUTS",
    "PHANTOM_ANYWHERE",
    "PHANTOM_WHOLE",
    "SIMPLIFIED_PROMPT",
    "Segment",
    "AsrError",
    "AudioDecodeError",
    "AudioInfo",
    "Layout",
    "LayoutError",
    "Transcriber",
    "TranscribeOptions",
    "Transcript",
    "channel_speakers",
    "check_layout",
    "probe_audio",
]

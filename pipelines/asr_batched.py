"""Packed, batched decoding: every channel's speech regions packed into 30 s windows, decoded in one batch.

Decoding each speech region on its own (`Transcriber` with `batched=False`) pays a full 30 s encoder pass and a
decoder run per region, however short; a call of short turns costs about twice a plain `transcribe` of its
channels. Here the Silero VAD regions of each channel are cut out and laid end to end into windows of at
most 30 s (one channel per window, so a window never mixes speakers), all windows of all channels go through
one `BatchedInferencePipeline` call, and Whisper's word timestamps carry every word back to the region it
was said in. A turn is one VAD region: a silence of `min_silence_duration_ms` on that channel ends it,
except inside a number read out in groups (the pause between 139 and 2319 is not the end of a turn, and a
number cut in two would escape the PII masker and the recording's redaction).
A window whose text fails Whisper's own quality thresholds, or with a region that got no word, is decoded
again the per-region way (`Transcriber.decode_clips`), with timestamps and temperature fallback.
"""

from __future__ import annotations

import bisect
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pipelines.pii_numbers import CN_DIGITS

if TYPE_CHECKING:
    from pipelines.asr import Audio, Segment, Transcriber

SAMPLE_RATE = 16_000
WINDOW_SAMPLES = 30 * SAMPLE_RATE
_JOINERS = ",，、;； "
_DIGITS = frozenset("0123456789０１２３４５６７８９" + "".join(CN_DIGITS))
_END_SLACK_S = 0.02  # word timings are on a 20 ms grid; a word ending on a piece boundary belongs before it


@dataclass(frozen=True, slots=True)
class Piece:
    """One VAD region of one channel: where it lies in the channel and where it lies in the packed audio."""

    channel: int
    start: int  # samples, channel timeline
    end: int
    packed: int  # samples, packed timeline


@dataclass(frozen=True, slots=True)
class Window:
    """A run of one channel's pieces laid end to end, at most 30 s: one Whisper window."""

    start: int  # samples, packed timeline
    end: int
    pieces: tuple[Piece, ...]


@dataclass(frozen=True, slots=True)
class _Word:
    """A decoded word on the channel timeline (seconds), duck-typed like faster-whisper's Word."""

    word: str
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class _Decoded:
    """Words of one decoded segment (packed timeline) with the segment's quality measures."""

    words: tuple[Any, ...]
    no_speech_prob: float
    avg_logprob: float


def pack(
    regions: Sequence[Sequence[tuple[int, int]]], window: int = WINDOW_SAMPLES, keep_together: int = 0
) -> list[Window]:
    """Lay each channel's regions (sample spans, in order) end to end into windows of at most `window`.

    Regions less than `keep_together` apart go into the same window while together they fit in one: a turn
    that goes on across such a pause (a number read out in groups) is only joined inside a window.
    Window k starts at k * `window` of the packed timeline: the rest of its slot stays silent audio.
    """
    windows: list[Window] = []
    packed = 0
    for channel, spans in enumerate(regions):
        current: list[Piece] = []
        for group in _groups(spans, window, keep_together):
            size = sum(e - s for s, e in group)
            if current and packed + size - current[0].packed > window:
                windows.append(Window(current[0].packed, packed, tuple(current)))
                current = []
                packed = len(windows) * window
            for s, e in group:
                current.append(Piece(channel, s, e, packed))
                packed += e - s
        if current:
            windows.append(Window(current[0].packed, packed, tuple(current)))
            packed = len(windows) * window
    return windows


def _groups(spans: Iterable[tuple[int, int]], window: int, keep_together: int) -> list[list[tuple[int, int]]]:
    """Spans cut to at most `window` (VAD regions are capped at 30 s; without VAD a span is not), grouped
    while less than `keep_together` apart and at most `window` long together."""
    groups: list[list[tuple[int, int]]] = []
    size = 0
    for start, end in spans:
        for s in range(start, end, window):
            e = min(s + window, end)
            if groups and s - groups[-1][-1][1] < keep_together and size + e - s <= window:
                groups[-1].append((s, e))
                size += e - s
            else:
                groups.append([(s, e)])
                size = e - s
    return groups


def transcribe_packed(
    transcriber: Transcriber,
    channels: Sequence[Audio],
    *,
    progress: Callable[[float], None] | None = None,
) -> list[list[Segment]]:
    """Transcribe every channel in one batched call; returns each channel's kept segments (seconds)."""
    regions = [transcriber.speech_regions(audio) for audio in channels]
    spans = [[(round(s * SAMPLE_RATE), round(e * SAMPLE_RATE)) for s, e in r] for r in regions]
    windows = pack(spans, keep_together=round(transcriber.options.merge_gap_s * SAMPLE_RATE))
    out: list[list[Segment]] = [[] for _ in channels]
    if not windows:
        return out
    # Each window is padded with silent audio to 30 s here, not left to the batched pipeline, which pads
    # the log-mel features with zeros instead (not what Whisper was trained on): decoding short clips that
    # way cost 0.017 CER on the AISHELL set.
    packed = np.zeros(len(windows) * WINDOW_SAMPLES, dtype=np.float32)
    for piece in (p for w in windows for p in w.pieces):
        packed[piece.packed : piece.packed + piece.end - piece.start] = channels[piece.channel][
            piece.start : piece.end
        ]
    for done, (window, decoded) in enumerate(_decode(transcriber, packed, windows), 1):
        turns, missed = _window_turns(transcriber, window, decoded) if decoded is not None else ([], True)
        if missed:
            # Decoding without timestamp tokens sometimes ends a window after its first sentences (a spoken
            # phone number after a pause, tests/app/test_audio_redaction.py): a window with a piece that got
            # no word is decoded again the per-region way, on the channel's own timeline with its pauses,
            # timestamps and temperature fallback. Decoding the packed window again that way still stopped
            # after the first sentence (evaluation/eval_redaction.py --batched, calls 2 and 8), and a piece
            # alone was not enough: Whisper looped on "232." without the sentence before it.
            turns = _per_region(transcriber, channels, window)
        for channel, seg in turns:
            out[channel].append(seg)
        if progress is not None:
            progress(done / len(windows))
    return out


def _window_turns(
    transcriber: Transcriber, window: Window, decoded: list[_Decoded]
) -> tuple[list[tuple[int, Segment]], bool]:
    """The window's kept turns (channel, segment), and whether any of its pieces got no word at all."""
    turns: list[tuple[int, Segment]] = []
    heard: set[Piece] = set()
    merge_gap = round(transcriber.options.merge_gap_s * SAMPLE_RATE)
    groups: list[tuple[Piece, list[_Word], _Decoded]] = []
    for piece, words, quality in _assign(window, decoded):
        heard.add(piece)
        if groups and piece.start - groups[-1][0].end < merge_gap and _number_goes_on(groups[-1][1], words):
            groups[-1] = (piece, [*groups[-1][1], *words], groups[-1][2])
        else:
            groups.append((piece, words, quality))
    for piece, words, quality in groups:
        seg = _turn(transcriber, words, quality)
        if seg is not None:
            turns.append((piece.channel, seg))
    return turns, len(heard) < len(window.pieces)


def _number_goes_on(before: Sequence[_Word], after: Sequence[_Word]) -> bool:
    """Whether a pause falls inside a number: the turn so far ends in a digit and the next piece starts with one."""
    tail = "".join(w.word for w in before[-2:]).rstrip(_JOINERS)
    head = "".join(w.word for w in after[:2]).lstrip(_JOINERS)
    return bool(tail) and bool(head) and tail[-1] in _DIGITS and head[0] in _DIGITS


def _decode(
    transcriber: Transcriber, packed: Audio, windows: list[Window]
) -> Iterator[tuple[Window, list[_Decoded] | None]]:
    """Each window with its decoded segments; None where it is to be decoded the per-region way."""
    from faster_whisper import BatchedInferencePipeline

    opts = transcriber.options
    kwargs = opts.decode_kwargs()
    kwargs.update(word_timestamps=True, batch_size=opts.batch_size)
    clips = [
        {"start": w.start / SAMPLE_RATE, "end": (w.start + WINDOW_SAMPLES) / SAMPLE_RATE} for w in windows
    ]
    # Without timestamp tokens each window comes back as exactly one segment, in window order; asking for
    # them would cost the batch its speed (models/whisper/model_card.md) and the words place the turns.
    segments, _ = BatchedInferencePipeline(transcriber.model).transcribe(
        packed, clip_timestamps=clips, without_timestamps=True, vad_filter=False, **kwargs
    )
    for window, seg in zip(windows, segments, strict=True):
        # The batch decodes at temperature 0 only; a window that Whisper itself would retry (repetitive or
        # unlikely text that is not silence) is decoded again the sequential way, with the fallback.
        retry = seg.compression_ratio > opts.compression_ratio_threshold or (
            seg.avg_logprob < opts.log_prob_threshold and seg.no_speech_prob <= opts.no_speech_threshold
        )
        if retry and len(opts.temperature) > 1:
            yield window, None
        else:
            yield window, [_Decoded(tuple(seg.words or ()), seg.no_speech_prob, seg.avg_logprob)]


def _per_region(
    transcriber: Transcriber, channels: Sequence[Audio], window: Window
) -> list[tuple[int, Segment]]:
    """The window's speech decoded as the per-region path decodes it: its pieces on their channel's timeline,
    merged across short pauses into clips, each clip with timestamps and temperature fallback."""
    channel = window.pieces[0].channel
    clips = transcriber.merge_clips((p.start / SAMPLE_RATE, p.end / SAMPLE_RATE) for p in window.pieces)
    return [(channel, seg) for seg in transcriber.decode_clips(channels[channel], clips)]


def _assign(window: Window, decoded: Iterable[_Decoded]) -> Iterator[tuple[Piece, list[_Word], _Decoded]]:
    """Group the window's words by the piece their midpoint falls in, mapped back to the channel timeline."""
    starts = [p.packed for p in window.pieces]
    grouped: dict[int, tuple[list[_Word], _Decoded]] = {}
    lo, hi = window.start / SAMPLE_RATE, window.end / SAMPLE_RATE
    for part in decoded:
        for word in part.words:
            # A word's end, not its middle: cross-attention alignment stretches the first word after a
            # pause back over the silence (faster-whisper trims it for the same reason), so its start
            # and middle can fall in the previous piece while its end is where it was said.
            at = min(max(word.end - _END_SLACK_S, word.start, lo), hi)
            index = max(bisect.bisect_right(starts, at * SAMPLE_RATE) - 1, 0)
            piece = window.pieces[index]
            shift = (piece.start - piece.packed) / SAMPLE_RATE
            first, last = piece.start / SAMPLE_RATE, piece.end / SAMPLE_RATE
            start = min(max(word.start + shift, first), last)
            end = min(max(word.end + shift, start), last)
            grouped.setdefault(index, ([], part))[0].append(_Word(word.word, start, end))
    for index in sorted(grouped):
        words, quality = grouped[index]
        yield window.pieces[index], words, quality


def _turn(transcriber: Transcriber, words: list[_Word], quality: _Decoded) -> Segment | None:
    """One utterance from a piece's words, through the same filters as the sequential path; None if dropped."""
    from pipelines.asr import Segment

    opts = transcriber.options
    raw = "".join(w.word for w in words)
    text = transcriber.clean_text(raw)
    # The window's text runs on across turns: a comma that joined this turn to the next one is not its own.
    text = text.strip(_JOINERS) if text is not None else None
    if not text:
        return None
    encoded = text.encode("utf-8")
    # Whisper's compression ratio, per turn: a repetition loop inside one region shows here.
    ratio = len(encoded) / len(zlib.compress(encoded))
    if (
        quality.no_speech_prob > opts.drop_no_speech_prob
        or quality.avg_logprob < opts.drop_avg_logprob
        or ratio > opts.drop_compression_ratio
    ):
        return None
    return Segment(
        start_s=words[0].start,
        end_s=max(words[-1].end, words[0].start),
        text=text,
        words=transcriber.word_timings(text, words),
    )


__all__ = ["Piece", "Window", "pack", "transcribe_packed"]

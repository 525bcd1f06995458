"""A second look for audio redaction: re-decode, biased to digits, the speech where a number may hide.

Whisper base drops or garbles spoken digit strings: a call whose customer reads out an ID number can come
back as the words before it and nothing else (the decoder ends the window early), so the masker never sees
the number and the first pass (`pipelines.redact.plan_redactions`) silences nothing. Two kinds of region are
suspicious, per channel:

- speech the transcript has no word for: a VAD speech region minus every word's time, where at least
  `min_uncovered_ms` of a stretch is loud (20 dB under the channel's speech level or less);
- an utterance that looks like a partly recognised number: a run of `min_digits` or more digits (一三九…,
  幺, 两 too) that the first pass left audible.

Each region (padded by `context_ms`, on its channel alone) is decoded again with a prompt of spoken digits,
at temperature 0 only and capped at `max_tokens_per_s` tokens a second, with word timestamps: first with the
utterances either side of it, then (when that gives no run of digits) alone; a looping segment is dropped and
the audio from its start decoded afresh; when neither gives one, the region without its context margin is
tried last. The masker and the digit-run rule then plan redactions on that text exactly as on the transcript,
and a value found in speech without words is stretched to the end of the phrase it was read in. Only the redaction
uses it: the stored transcript stays the first decoding, whose text is the better one everywhere else (evaluation/eval_redaction.py measures what the second look adds and costs).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from pipelines.asr import SAMPLE_RATE, Layout, Transcriber, channel_speakers
from pipelines.pii import PiiMasker
from pipelines.pii_numbers import DIGIT_TABLE
from pipelines.redact import (
    DEFAULT_MIN_DIGIT_RUN,
    Redaction,
    Samples,
    fit_to_pauses,
    merge_redactions,
    pause_edges,
    plan_redactions,
)
from pipelines.types import Speaker, Utterance, WordTiming

__all__ = ["DIGIT_PROMPT", "SecondLook", "SecondLookOptions", "second_look", "suspicious_regions"]

# The spoken digits themselves, not a number: a number in the prompt is copied into the output ("139…").
DIGIT_PROMPT = "一二三四五六七八九零幺两"


# A pause at least this long ends a read-out number; its digit groups (3-4-4, 6-8-4) come with shorter ones.
PHRASE_PAUSE_MS = 400


@dataclass(frozen=True, slots=True)
class SecondLookOptions:
    """Which regions are decoded again, and how."""

    # A dropped phone or ID number is 3 s of speech or more; shorter uncovered stretches are mostly word-timing
    # slack at turn edges, and re-decoding them tripled the cost of a number-free call (91 s call: 43 → 135 s).
    min_uncovered_ms: int = 1500
    min_digits: int = 5
    context_ms: int = 300
    prompt: str = DIGIT_PROMPT
    beam_size: int = 5
    max_tokens_per_s: float = 10.0
    max_compression_ratio: float = 2.4  # Whisper's own loop test (compression_ratio_threshold)
    restarts: int = 2


@dataclass(frozen=True, slots=True)
class SecondLook:
    """What the second look found: redactions (first pass's included, merged), regions decoded, seconds spent."""

    redactions: tuple[Redaction, ...]
    regions: tuple[tuple[int, int, int], ...]  # (channel, start_ms, end_ms)
    decode_s: float


def _loud_span(audio: Samples, start_ms: int, end_ms: int, floor: float) -> tuple[int, int, int] | None:
    """First and last 10 ms frame of [start_ms, end_ms) louder than `floor` (RMS), and how long is loud (ms)."""
    frame = SAMPLE_RATE // 100
    a, b = start_ms * SAMPLE_RATE // 1000, min(end_ms * SAMPLE_RATE // 1000, len(audio))
    if b - a < frame:
        return None
    chunk = audio[a : a + (b - a) // frame * frame].reshape(-1, frame)
    loud = np.flatnonzero(np.sqrt(np.mean(np.square(chunk, dtype=np.float64), axis=1)) > floor)
    if loud.size == 0:
        return None
    return start_ms + int(loud[0]) * 10, start_ms + (int(loud[-1]) + 1) * 10, int(loud.size) * 10


def _gaps(span: tuple[int, int], covered: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Parts of `span` that no interval of `covered` (sorted) touches."""
    out: list[tuple[int, int]] = []
    pos = span[0]
    for a, b in covered:
        if b <= pos:
            continue
        if a >= span[1]:
            break
        if a > pos:
            out.append((pos, a))
        pos = max(pos, b)
    if pos < span[1]:
        out.append((pos, span[1]))
    return out


def suspicious_regions(
    transcriber: Transcriber,
    utterances: Sequence[Utterance],
    planned: Sequence[Redaction],
    *,
    layout: Layout,
    channels: Sequence[Samples],
    options: SecondLookOptions,
) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]:
    """(channel, start_ms, end_ms) to decode again, uncovered loud speech and unredacted digit runs (merged, with
    context), and the stretches of loud speech without words they came from (not merged)."""
    speakers = channel_speakers(layout)
    regions: list[tuple[int, int, int]] = []
    uncovered: list[tuple[int, int, int]] = []
    for channel, audio in enumerate(channels[: len(speakers)]):
        mine = [
            u for u in utterances if (speakers.index(u.speaker) if u.speaker in speakers else 0) == channel
        ]
        silenced = sorted((r.start_ms, r.end_ms) for r in planned if r.channel == channel)
        covered = sorted(
            iv
            for u in mine
            for iv in ([(w.start_ms, w.end_ms) for w in u.words] or [(u.start_ms or 0, u.end_ms or 0)])
        )
        # Loud: 20 dB under the channel's speech level (its 90th percentile frame, as fit_to_pauses does).
        frames = audio[: len(audio) // 160 * 160].reshape(-1, 160)
        level = float(np.percentile(np.sqrt(np.mean(np.square(frames, dtype=np.float64), axis=1)), 90))
        for start_s, end_s in transcriber.speech_clips(audio):
            for gap in _gaps((round(start_s * 1000), round(end_s * 1000)), covered):
                loud = _loud_span(audio, *gap, 0.1 * level) if level > 0 else None
                if loud is not None and loud[2] >= options.min_uncovered_ms:
                    regions.append((channel, loud[0], loud[1]))
                    uncovered.append((channel, *gap))
        for u in mine:
            if u.start_ms is None or u.end_ms is None:
                continue
            digits = u.text.translate(DIGIT_TABLE)
            runs = [(i, i + len(m)) for i, m in _digit_runs(digits) if len(m) >= options.min_digits]
            for a, b in runs:
                # A run the first pass silenced any of was found (its edges fitted to pauses): not suspicious.
                times = [(w.start_ms, w.end_ms) for w in u.words if w.start < b and w.end > a]
                if not times or not any(s < t1 and e > t0 for t0, t1 in times for s, e in silenced):
                    regions.append((channel, u.start_ms, u.end_ms))
                    break
    lengths = [len(a) * 1000 // SAMPLE_RATE for a in channels]
    return _merge_regions(regions, options.context_ms, lengths), uncovered


def _over_phrase(
    found: Redaction, uncovered: Sequence[tuple[int, int, int]], channels: Sequence[Samples], pad_ms: int
) -> Redaction:
    """A value found in speech the transcript had no word for, stretched over the phrase it was read in.

    Whisper gives up on a digit string it half hears before its end (18 digits read over 5.4 s came back as
    12 digits timed over the first 4.2 s), so the rest of the number would stay audible: the end moves to the
    end of the phrase, that stretch's speech joined across pauses shorter than `PHRASE_PAUSE_MS` (a number's
    digit groups). The start stays: the first digits' times are right, and moving it back took the words
    before the number with it (5 % of a call lost in the evaluation).
    """
    for channel, a, b in uncovered:
        if channel != found.channel or found.end_ms <= a or found.start_ms >= b:
            continue
        audio = channels[channel]
        phrases: list[tuple[int, int]] = []
        pos = a
        for pause_start, pause_end in [*pause_edges(audio, SAMPLE_RATE, a, b, 120), (b, b)]:
            if pause_start > pos:
                if phrases and pos - phrases[-1][1] < PHRASE_PAUSE_MS:
                    phrases[-1] = (phrases[-1][0], pause_start)
                else:
                    phrases.append((pos, pause_start))
            pos = max(pos, pause_end)
        end = max([found.end_ms, *(p1 for p0, p1 in phrases if p0 < found.end_ms and p1 > found.start_ms)])
        if end > found.end_ms:
            _, end = fit_to_pauses(audio, SAMPLE_RATE, found.start_ms, end, pad_ms=pad_ms, reach_ms=(0, 0))
            found = replace(found, end_ms=max(end, found.end_ms))
    return found


def _widened(start_ms: int, end_ms: int, utterances: Sequence[Utterance]) -> tuple[int, int]:
    """[start_ms, end_ms) stretched over the utterances it touches or that end/start next to it (≤ 30 s)."""
    before = [u.start_ms for u in utterances if u.start_ms is not None and u.start_ms < start_ms
              and (u.end_ms or 0) >= start_ms - 1000]  # fmt: skip
    after = [u.end_ms for u in utterances if u.end_ms is not None and u.end_ms > end_ms
             and (u.start_ms or 0) <= end_ms + 1000]  # fmt: skip
    a, b = min([start_ms, *before]), max([end_ms, *after])
    return (a, b) if b - a <= 30_000 else (start_ms, end_ms)


def _digit_runs_of(text: str, min_digits: int) -> bool:
    return any(len(run) >= min_digits for _, run in _digit_runs(text.translate(DIGIT_TABLE)))


def _digit_runs(text: str) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    start = None
    for i, ch in enumerate([*text, " "]):
        if ch.isdigit() and start is None:
            start = i
        elif not ch.isdigit() and start is not None:
            out.append((start, text[start:i]))
            start = None
    return out


def _merge_regions(
    regions: list[tuple[int, int, int]], context_ms: int, lengths_ms: list[int]
) -> list[tuple[int, int, int]]:
    out: list[tuple[int, int, int]] = []
    for ch, a, b in sorted(regions):
        a, b = max(a - context_ms, 0), min(b + context_ms, lengths_ms[ch])
        if out and out[-1][0] == ch and a <= out[-1][2]:
            out[-1] = (ch, out[-1][1], max(out[-1][2], b))
        else:
            out.append((ch, a, b))
    return out


def second_look(
    transcriber: Transcriber,
    masker: PiiMasker,
    utterances: Sequence[Utterance],
    planned: Sequence[Redaction],
    *,
    layout: Layout,
    channels: Sequence[Samples],
    duration_ms: int,
    pad_ms: int,
    min_digit_run: int = DEFAULT_MIN_DIGIT_RUN,
    options: SecondLookOptions | None = None,
) -> SecondLook:
    """Decode the suspicious regions again and plan redactions on that text; `planned` merged in."""
    options = options or SecondLookOptions()
    regions, uncovered = suspicious_regions(
        transcriber, utterances, planned, layout=layout, channels=channels, options=options
    )
    speakers = channel_speakers(layout)
    found: list[Utterance] = []
    started = time.perf_counter()
    for channel, start_ms, end_ms in regions:
        mine = [u for u in utterances if u.speaker == speakers[channel]]
        # With the utterances either side Whisper has the context it decoded well the first time; some
        # windows still come back without the number (it gives up after a few digits), so then the region
        # alone is tried too, and last without its context margin: a region that starts on the tail of the
        # word before it made Whisper read "二二三 三中二中…" for 18 clear digits (seen on AVX-512 cores).
        inner = (start_ms + options.context_ms, end_ms - options.context_ms)
        tries = [_widened(start_ms, end_ms, mine), (start_ms, end_ms)]
        if inner[1] - inner[0] >= options.min_uncovered_ms:
            tries.append(inner)
        for a, b in dict.fromkeys(tries):
            decoded = _decode(transcriber, channels[channel], a, b, speakers[channel], options)
            found.extend(decoded)
            if any(_digit_runs_of(u.text, options.min_digits) for u in decoded):
                break
    decode_s = time.perf_counter() - started
    extra = plan_redactions(
        masker,
        found,
        layout=layout,
        duration_ms=duration_ms,
        pad_ms=pad_ms,
        min_digit_run=min_digit_run,
        audio=channels,
    )
    extra = tuple(_over_phrase(r, uncovered, channels, pad_ms) for r in extra)
    return SecondLook(merge_redactions([*planned, *extra]), tuple(regions), decode_s)


def _decode(
    transcriber: Transcriber,
    audio: Samples,
    start_ms: int,
    end_ms: int,
    speaker: Speaker,
    options: SecondLookOptions,
) -> list[Utterance]:
    """Utterances (times in the file) of one region decoded with the digit prompt, ≤ 30 s at a time.

    A segment that loops ("1,1,1,…": its text compresses too well) is dropped and the audio from its start
    decoded afresh, at most `options.restarts` times a region: kept, a loop's words smear over the speech
    after the number and silence it.
    """
    out: list[Utterance] = []
    pending = [(a, min(a + 30_000, end_ms)) for a in range(start_ms, end_ms, 30_000)]
    restarts = 0
    while pending:
        a, b = pending.pop(0)
        chunk = audio[a * SAMPLE_RATE // 1000 : b * SAMPLE_RATE // 1000]
        segments, _ = transcriber.model.transcribe(
            chunk,
            language=transcriber.options.language,
            initial_prompt=options.prompt,
            beam_size=options.beam_size,
            temperature=0.0,
            condition_on_previous_text=False,
            without_timestamps=True,
            word_timestamps=True,
            vad_filter=False,
            max_new_tokens=min(int((b - a) / 1000 * options.max_tokens_per_s) + 10, 200),
        )
        for seg in segments:
            seg_start = a + round(max(seg.start, 0.0) * 1000)
            if seg.compression_ratio > options.max_compression_ratio:
                loop_start = a + round(seg.words[0].start * 1000) if seg.words else seg_start
                if restarts < options.restarts and b - loop_start >= 1000:
                    restarts += 1
                    pending.insert(0, (loop_start, b))
                break
            text = transcriber.clean_text(seg.text)
            if text is None:
                continue
            words = tuple(
                replace(w, start_ms=w.start_ms + a, end_ms=w.end_ms + a)
                for w in transcriber.word_timings(text, seg.words or ())
            )
            seg_end = a + round(max(seg.end, seg.start) * 1000)
            out.append(Utterance(-1, speaker, text, seg_start, seg_end, words))
    return _joined(out)


def _joined(parts: list[Utterance]) -> list[Utterance]:
    """The region's segments as one utterance, joined by spaces: a number a restart split in two (9 + 8
    digits) is one digit run again for the masker and the digit-run rule."""
    if len(parts) < 2:
        return parts
    text = ""
    words: list[WordTiming] = []
    for part in parts:
        at = len(text) + (1 if text else 0)
        text = f"{text} {part.text}" if text else part.text
        words.extend(replace(w, start=w.start + at, end=w.end + at) for w in part.words)
    first, last = parts[0], parts[-1]
    return [Utterance(-1, first.speaker, text, first.start_ms, last.end_ms, tuple(words))]

"""Audio redaction: silence, in the recording, every value the PII masker removed from the transcript.

Each masked span of a transcribed utterance is mapped from its characters in the ORIGINAL (unmasked) text to
the words that overlap it (Whisper's word timestamps; digits come as "139", "1234," or 一三九, and word edges
rarely fall on the value's edges, so every overlapping word counts), padded, and zeroed on the channel that
spoke it. An utterance without word timings, or a span no word overlaps, falls back to the gap between its
neighbouring words, then to the whole utterance: over-silencing is the safe side. Whisper's alignment gives a
pause to the word after it, so with the audio an overlong edge word is trimmed at the pause inside it, and
each edge is then put a margin into the pause that bounds the value instead of padded into the neighbouring
words (where the speech runs on without a pause, the padding stays).

The masker only masks numbers that validate, but a recogniser mishears digits ("1993 1393 1999" for a spoken
19931393199) while the recording still says the real number; so any run of `min_digit_run` or more digits that
the masker left alone is silenced too (kind ``digits``), in the audio only.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
import soundfile as sf

from pipelines.asr import Layout, channel_speakers
from pipelines.pii import PiiMasker
from pipelines.pii_numbers import CN_DIGITS, NumberScanner
from pipelines.types import Conversation, Finding, Severity, Speaker, Utterance, WordTiming

__all__ = ["DEFAULT_PAD_MS", "RedactedAudio", "Redaction", "char_range_ms", "fit_to_pauses", "load_channels",
           "merge_redactions", "plan_redactions", "redact_file", "silence", "snap_to_pauses"]  # fmt: skip

# Longer than prices, dates (2023-01-15) and quantities; a misheard mobile number still has about 10.
DEFAULT_MIN_DIGIT_RUN = 9
_DIGIT = "0-9０-９" + "".join(CN_DIGITS)
# Digit groups joined by what recognisers put between spoken groups: spaces, dashes, commas, dots.
_DIGIT_RUN_RE = re.compile(rf"[{_DIGIT}]+(?:[ \-,，、.]{{1,2}}[{_DIGIT}]+)*")
DEFAULT_PAD_MS = 200  # Whisper's word edges are off by up to ~100-200 ms (20 ms attention frames, DTW)
# Containers soundfile writes back in the same format and encoding; anything else becomes 16-bit WAV.
_SAME_FORMAT = {"WAV": ("audio/wav", ".wav"), "FLAC": ("audio/flac", ".flac"), "OGG": ("audio/ogg", ".ogg")}
_DIGIT_CHARS = frozenset("0123456789０１２３４５６７８９" + "".join(CN_DIGITS))
Samples = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Redaction:
    """One silenced stretch of the recording: [start_ms, end_ms) on `channel` (0 = left or mono)."""

    start_ms: int
    end_ms: int
    kind: str
    speaker: Speaker
    channel: int
    utterance_index: int


@dataclass(frozen=True, slots=True)
class RedactedAudio:
    """The redacted recording as file bytes, with the suffix and content type of its format."""

    data: bytes
    suffix: str
    content_type: str


def char_range_ms(utt: Utterance, start: int, end: int) -> tuple[int, int]:
    """Time range (ms) covering characters [start, end) of `utt.text`: every word overlapping them."""
    words: Sequence[WordTiming] = utt.words
    hit = [w for w in words if w.start < end and w.end > start]
    if hit:
        return min(w.start_ms for w in hit), max(w.end_ms for w in hit)
    utt_start = utt.start_ms or 0
    utt_end = utt.end_ms if utt.end_ms is not None else utt_start
    before = [w.end_ms for w in words if w.end <= start]
    after = [w.start_ms for w in words if w.start >= end]
    # No word overlaps (the words were not all placed on the text): the gap the value must lie in.
    return (max(before) if before else utt_start), (min(after) if after else utt_end)


def pause_edges(
    audio: Samples,
    rate: int,
    start_ms: int,
    end_ms: int,
    min_pause_ms: int,
    *,
    level: tuple[int, int] | None = None,
) -> list[tuple[int, int]]:
    """Pauses (ms) of at least `min_pause_ms` inside [start_ms, end_ms): frames 20 dB under the loud part
    of the range, or of `level` (another range, ms) when given."""
    frame = rate // 100  # 10 ms
    start_ms = max(start_ms, 0)
    a, b = start_ms * rate // 1000, min(end_ms * rate // 1000, len(audio))
    if b - a < frame:
        return []
    chunk = audio[a : a + (b - a) // frame * frame].reshape(-1, frame)
    rms = np.sqrt(np.mean(np.square(chunk, dtype=np.float64), axis=1))
    ref = rms
    if level is not None:
        lo, hi = (max((t - start_ms) // 10, 0) for t in level)
        ref = rms[lo:hi] if hi > lo else rms
    quiet = rms <= 0.1 * float(np.percentile(ref, 90))
    pauses: list[tuple[int, int]] = []
    run_start: int | None = None
    for i, q in enumerate([*quiet.tolist(), False]):
        if q and run_start is None:
            run_start = i
        elif not q and run_start is not None:
            if (i - run_start) * 10 >= min_pause_ms:
                pauses.append((start_ms + run_start * 10, start_ms + i * 10))
            run_start = None
    return pauses


def fit_to_pauses(
    audio: Samples,
    rate: int,
    start_ms: int,
    end_ms: int,
    *,
    pad_ms: int,
    reach_ms: tuple[int, int],
    min_pause_ms: int = 120,
    margin_ms: int = 100,
) -> tuple[int, int]:
    """The range to silence for a value said in [start_ms, end_ms): each edge at the pause that bounds the
    value, `margin_ms` into it, or padded by `pad_ms` where no pause is near (speech runs on).

    A pause holding the edge bounds it; else the first pause ending (last starting) within `pad_ms` outside
    or `reach_ms` (start, end) inside the edge, so a late word start still reaches back to the onset and
    the value's own group pauses (deeper than `reach_ms`) never cut it. The padding otherwise spent on
    the neighbouring words is what this saves; the margin keeps weak onsets (四 s-, 七 q-) that sit under
    the pause threshold.
    """
    pauses = pause_edges(
        audio, rate, start_ms - pad_ms - 1000, end_ms + pad_ms + 1000, min_pause_ms, level=(start_ms, end_ms)
    )
    holding = [p for p in pauses if p[0] <= start_ms < p[1]]
    ending = [p[1] for p in pauses if start_ms - pad_ms <= p[1] <= start_ms + reach_ms[0]]
    if holding:
        start = holding[0][1] - margin_ms
    elif ending:
        start = min(ending) - margin_ms
    else:
        start = start_ms - pad_ms
    holding = [p for p in pauses if p[0] < end_ms <= p[1]]
    starting = [p[0] for p in pauses if end_ms - reach_ms[1] <= p[0] <= end_ms + pad_ms]
    if holding:
        end = holding[0][0] + margin_ms
    elif starting:
        end = max(starting) + margin_ms
    else:
        end = end_ms + pad_ms
    return max(start, 0), max(end, start)


def snap_to_pauses(
    utt: Utterance, start: int, end: int, audio: Samples, rate: int, *, min_pause_ms: int = 150
) -> tuple[int, int]:
    """Word time range of characters [start, end), an overlong outer word trimmed at the pause inside it.

    Whisper's alignment gives a pause to a neighbouring word, so the first digit of a number read after a
    breath often "starts" at the end of the word before it. An outer word much longer than the value's other
    words has swallowed a pause: the value starts after the first pause inside it (or ends before the last).
    Words of ordinary length are left alone, so a pause between digit groups never cuts a digit off.
    """
    hit = [w for w in utt.words if w.start < end and w.end > start]
    start_ms, end_ms = char_range_ms(utt, start, end)
    if not hit:
        return start_ms, end_ms
    typical = float(np.median([w.end_ms - w.start_ms for w in hit]))

    def overlong(w: WordTiming) -> bool:
        return w.end_ms - w.start_ms > max(1.5 * typical, 400)  # never a lone word: no other to compare

    first, last = hit[0], hit[-1]
    # A pause that starts inside the overlong word and ends before the next word does (it may run past the
    # overlong word's own end: the alignment is off by the whole pause there).
    if overlong(first):
        inner = hit[1].end_ms if len(hit) > 1 else first.end_ms
        pauses = [p for p in pause_edges(audio, rate, first.start_ms, inner, min_pause_ms)
                  if p[0] < first.end_ms - 50 and p[1] < inner - 50]  # fmt: skip
        if pauses:
            start_ms = max(start_ms, pauses[0][1])
    if overlong(last):
        outer = hit[-2].start_ms if len(hit) > 1 else last.start_ms
        pauses = [p for p in pause_edges(audio, rate, outer, last.end_ms, min_pause_ms)
                  if p[1] > last.start_ms + 50 and p[0] > max(start_ms, outer) + 50]  # fmt: skip
        if pauses:
            end_ms = min(end_ms, pauses[-1][0])
    return start_ms, max(end_ms, start_ms)


def plan_redactions(
    masker: PiiMasker,
    utterances: Iterable[Utterance],
    *,
    layout: Layout,
    duration_ms: int,
    pad_ms: int = DEFAULT_PAD_MS,
    min_digit_run: int = DEFAULT_MIN_DIGIT_RUN,
    audio: Sequence[Samples] | None = None,
    rate: int = 16_000,
) -> tuple[Redaction, ...]:
    """Where to silence: one padded range per PII value the masker finds in the raw transcript, and per run
    of `min_digit_run` or more digits it did not mask, unless an order number (0: none).

    With `audio` (one array per channel, at `rate`) the outer words are trimmed at pauses (snap_to_pauses)
    and each edge is fitted to the pause that bounds the value (fit_to_pauses) instead of padded.
    """
    speakers = channel_speakers(layout)
    out: list[Redaction] = []
    for utt in utterances:
        found: list[tuple[str, int, int]] = []
        for span in masker.mask(utt.text).spans:
            if span.source_start is None or span.source_end is None:  # a masker without source offsets
                found.append((span.kind, 0, len(utt.text)))
            else:
                found.append((span.kind, span.source_start, span.source_end))
        # A value is silenced with the whole digit run it sits in: digits the masker trimmed off its edges
        # (一三九…八九 read on, a misheard extra digit) were said as part of it.
        runs = [m.span() for m in _DIGIT_RUN_RE.finditer(utt.text)]
        found = [
            (
                kind,
                min([s, *(a for a, b in runs if a < e and b > s)]),
                max([e, *(b for a, b in runs if a < e and b > s)]),
            )
            for kind, s, e in found
        ]
        if min_digit_run > 0:
            masked = list(found)
            found.extend(
                ("digits", m.start(), m.end())
                for m in _DIGIT_RUN_RE.finditer(utt.text)
                if sum(ch in _DIGIT_CHARS for ch in m.group()) >= min_digit_run
                and not any(s < m.end() and e > m.start() for _, s, e in masked)
                and not NumberScanner._after_order_cue(utt.text, m.start())  # order and waybill numbers stay
            )
        channel = speakers.index(utt.speaker) if utt.speaker in speakers else 0
        for kind, start, end in found:
            if audio is not None and channel < len(audio):
                start_ms, end_ms = snap_to_pauses(utt, start, end, audio[channel], rate)
                hit = [w.end_ms - w.start_ms for w in utt.words if w.start < end and w.end > start]
                reach = (min(hit[0] * 3 // 5, 400), min(hit[-1] * 3 // 5, 400)) if hit else (0, 0)
                start_ms, end_ms = fit_to_pauses(
                    audio[channel], rate, start_ms, end_ms, pad_ms=pad_ms, reach_ms=reach
                )
            else:
                start_ms, end_ms = char_range_ms(utt, start, end)
                start_ms, end_ms = start_ms - pad_ms, end_ms + pad_ms
            out.append(
                Redaction(
                    start_ms=max(start_ms, 0),
                    end_ms=min(end_ms, duration_ms),
                    kind=kind,
                    speaker=utt.speaker,
                    channel=channel,
                    utterance_index=utt.index,
                )
            )
    return merge_redactions(out)


def unmasked_digit_runs(text: str, min_digit_run: int = DEFAULT_MIN_DIGIT_RUN) -> list[tuple[int, int]]:
    """Spans of the runs of `min_digit_run` or more digits in `text`, except order and waybill numbers (0: none).

    The rule plan_redactions silences in the recording; run on masked text, the masker's values are already
    stars and do not count.
    """
    if min_digit_run <= 0:
        return []
    return [
        m.span()
        for m in _DIGIT_RUN_RE.finditer(text)
        if sum(ch in _DIGIT_CHARS for ch in m.group()) >= min_digit_run
        and not NumberScanner._after_order_cue(text, m.start())
    ]


def mask_digit_runs(
    conversation: Conversation, min_digit_run: int = DEFAULT_MIN_DIGIT_RUN
) -> tuple[Conversation, list[Finding]]:
    """A call transcript with the digit runs the recording has silenced masked too: each digit becomes '*'
    (offsets unchanged), one `pii` finding of category `digits` per run.

    Why: Whisper mishears spoken numbers (a phone number comes out as 13 digits that validate as nothing), so
    the masker keeps them, yet they are the customer's real number read out; the recording silences them
    (plan_redactions) and the stored text must not keep them either.
    """
    utterances: list[Utterance] = []
    findings: list[Finding] = []
    for utt in conversation.utterances:
        spans = unmasked_digit_runs(utt.text, min_digit_run)
        text = utt.text
        for start, end in spans:
            text = (
                text[:start]
                + "".join("*" if ch in _DIGIT_CHARS else ch for ch in text[start:end])
                + text[end:]
            )
            findings.append(
                Finding(
                    kind="pii",
                    category="digits",
                    severity=Severity.NONE,
                    rule="pii:digits",
                    term=None,
                    utterance_index=utt.index,
                    start=start,
                    end=end,
                )
            )
        utterances.append(replace(utt, text=text) if spans else utt)
    return Conversation(conversation.channel, tuple(utterances)), findings


def merge_redactions(redactions: Iterable[Redaction]) -> tuple[Redaction, ...]:
    """Overlapping ranges of one channel as one, in time order; a masker kind wins over ``digits``.

    Padding and a second decoding of the same speech give overlapping ranges; the conversation lists
    what was silenced, once.
    """
    out: list[Redaction] = []
    for r in sorted(redactions, key=lambda r: (r.channel, r.start_ms, r.end_ms)):
        last = out[-1] if out else None
        if last is not None and last.channel == r.channel and r.start_ms < last.end_ms:
            kind = r.kind if last.kind == "digits" else last.kind
            out[-1] = replace(last, end_ms=max(last.end_ms, r.end_ms), kind=kind)
        else:
            out.append(r)
    return tuple(sorted(out, key=lambda r: (r.start_ms, r.channel)))


def silence(samples: Samples, rate: int, redactions: Iterable[Redaction]) -> Samples:
    """A copy of `samples` (frames x channels) with every redaction's range zeroed on its channel."""
    out = samples.copy()
    for r in redactions:
        a = max(int(r.start_ms * rate // 1000), 0)
        b = min(-(-r.end_ms * rate // 1000), len(out))  # ceil: never leave the last partial sample
        channel = min(r.channel, out.shape[1] - 1)
        out[a:b, channel] = 0.0
    return out


def load_channels(path: Path, *, stereo: bool) -> list[Samples]:
    """The recording as Whisper heard it: 16 kHz, one array per channel (both for a stereo layout)."""
    from faster_whisper import decode_audio

    if not stereo:
        return [decode_audio(str(path), sampling_rate=16_000)]
    return list(decode_audio(str(path), sampling_rate=16_000, split_stereo=True))


def _decode(path: Path) -> tuple[Samples, int]:
    """Any format PyAV reads, at its native rate, as float32 frames x channels."""
    with av.open(str(path), metadata_errors="ignore") as container:
        stream = container.streams.audio[0]
        chunks: list[npt.NDArray[np.float32]] = []
        rate = stream.codec_context.sample_rate
        resampler = av.AudioResampler(format="fltp", layout=stream.codec_context.layout, rate=rate)
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                chunks.append(np.asarray(out.to_ndarray(), dtype=np.float32))
        for out in resampler.resample(None):
            chunks.append(np.asarray(out.to_ndarray(), dtype=np.float32))
    return np.concatenate(chunks, axis=1).T.astype(np.float32, copy=False), rate


def redact_file(path: Path, redactions: Sequence[Redaction]) -> RedactedAudio:
    """Read a recording, silence the redactions, and encode it again (same format where soundfile can)."""
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError):
        info = None
    buf = io.BytesIO()
    if info is not None and info.format in _SAME_FORMAT:
        samples, rate = sf.read(str(path), dtype="float32", always_2d=True)
        sf.write(buf, silence(samples, rate, redactions), rate, format=info.format, subtype=info.subtype)
        content_type, suffix = _SAME_FORMAT[info.format]
    else:
        samples, rate = _decode(path)
        sf.write(buf, silence(samples, rate, redactions), rate, format="WAV", subtype="PCM_16")
        content_type, suffix = _SAME_FORMAT["WAV"]
    return RedactedAudio(data=buf.getvalue(), suffix=suffix, content_type=content_type)

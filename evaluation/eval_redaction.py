"""Audio redaction on spliced test calls: share of spoken-number time silenced, speech lost, re-transcription.

No recording we have says a phone or ID number, so test calls are built from the shared AISHELL speech: every
digit syllable (一 二 两 三 四 五 九 …) is cut out of the utterances that contain it, at the times Whisper's
cross-attention alignment gives for the reference text, and joined into a valid mobile or ID number in the same
speaker's voice, between two other utterances of that speaker (the carrier). Control calls (`--controls`) are
two utterances of a speaker and no number. Each call then goes through transcription with word timestamps, the
PII masker, `pipelines.redact` (the first pass, on the transcript's words) and `pipelines.redact_second_look`
(suspicious speech decoded again, biased to digits), and is measured after each:

- coverage: share of the number's syllable time (the spliced samples) that the redacted file has silenced
  (target >= 98 %);
- loss: carrier speech silenced, as a share of the call (target <= 2 %), number calls and controls alike;
- re-transcription: the redacted file transcribed again must not yield the number (nor any PII).

Also prints what the second look and word timestamps cost: decoding seconds.

    .venv/bin/python -m evaluation.eval_redaction [--best-clips] [--calls 12] [--controls 4] [--seed 15]
        [--batched] [--no-second-look]

About 7 minutes on 2 busy cores.
"""

from __future__ import annotations

import argparse
import random
import re
import tempfile
import time
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import soundfile as sf

from pipelines.pii_numbers import CN_DIGITS, DIGIT_TABLE, id_check_digit

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

    from pipelines.asr import Transcriber
    from pipelines.redact import Redaction
    from pipelines.types import Utterance

RATE = 16_000
AISHELL = Path(__file__).resolve().parents[2] / "shared" / "data" / "speech" / "aishell_dev"
Audio = npt.NDArray[np.float32]
_GAP_DIGIT_S = 0.06
_GAP_GROUP_S = 0.25
_GAP_CARRIER_S = 0.5
# Whisper base misreads many lone spliced syllables (一 alone is often heard as "A", some 三 as 一): with
# --best-clips only these (speaker S0150, one clip per digit, the ones it read back) are used.
BEST_CLIPS: dict[str, dict[str, int]] = {"S0150": {"1": 0, "2": 0, "3": 1, "9": 0}}


@dataclass(frozen=True)
class Speaker:
    """One AISHELL speaker's material: digit syllables by digit, and whole utterances for carriers."""

    name: str
    digits: dict[str, list[Audio]]
    utterances: list[Audio]


@dataclass(frozen=True)
class Call:
    """A spliced mono test call: where each digit syllable lies (samples) and where the carrier speech lies."""

    audio: Audio
    number: str
    kind: str
    pii: list[tuple[int, int]]
    carrier: list[tuple[int, int]]


def _trim(clip: Audio, *, threshold: float = 0.02, frame: int = 160) -> Audio:
    """Cut low-energy frames off both ends (the alignment's first word starts at the utterance's start)."""
    energy = np.sqrt(np.mean(clip[: len(clip) // frame * frame].reshape(-1, frame) ** 2, axis=1))
    loud = np.flatnonzero(energy > threshold * max(float(energy.max()), 1e-6) * 5)
    if loud.size == 0:
        return clip
    return clip[loud[0] * frame : (loud[-1] + 1) * frame]


def _fade(clip: Audio, ms: int = 10) -> Audio:
    n = min(len(clip) // 2, RATE * ms // 1000)
    ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)
    out = clip.copy()
    out[:n] *= ramp
    out[len(out) - n :] *= ramp[::-1]
    return out


def load_speakers(
    model: WhisperModel, root: Path = AISHELL, *, names: Collection[str] | None = None
) -> dict[str, Speaker]:
    """Digit syllables cut at forced-alignment times of the reference text, and every utterance, per speaker
    (only those in `names` when given)."""
    from faster_whisper.audio import pad_or_trim
    from faster_whisper.tokenizer import Tokenizer

    tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language="zh")
    refs = dict(line.rstrip("\n").split("\t") for line in (root / "text.tsv").open(encoding="utf-8"))
    digits: dict[str, dict[str, list[Audio]]] = defaultdict(lambda: defaultdict(list))
    utterances: dict[str, list[Audio]] = defaultdict(list)
    for utt_id, text in sorted(refs.items()):
        name = utt_id[6:11]
        if names is not None and name not in names:
            continue
        audio, rate = sf.read(root / f"{utt_id}.wav", dtype="float32")
        assert rate == RATE
        utterances[name].append(np.asarray(audio, dtype=np.float32))
        if not any(ch in CN_DIGITS for ch in text):
            continue
        features = model.feature_extractor(audio)[..., :-1]
        encoded = model.encode(pad_or_trim(features))
        (words,) = model.find_alignment(tokenizer, [tokenizer.encode(text)], encoded, features.shape[-1])
        for w in words:
            ch = w["word"].strip()
            # 十 after a digit makes it 二十/三十 (tens): still one clean syllable of the digit itself.
            if ch in CN_DIGITS and ch not in "零〇":
                a, b = int(w["start"] * RATE), int(w["end"] * RATE)
                clip = _trim(np.asarray(audio[a:b], dtype=np.float32))
                if len(clip) > RATE * 0.08:
                    digits[name][CN_DIGITS[ch]].append(_fade(clip))
    return {
        name: Speaker(name, {d: list(c) for d, c in digits[name].items()}, utterances[name])
        for name in sorted(utterances)
        if name in digits
    }


def best_clip_speaker(model: WhisperModel, root: Path = AISHELL) -> Speaker:
    """The BEST_CLIPS speaker with only those clips: numbers of theirs Whisper base reads back (for tests)."""
    ((name, clips),) = BEST_CLIPS.items()
    full = load_speakers(model, root, names={name})[name]
    return Speaker(name, {d: [full.digits[d][i]] for d, i in clips.items()}, full.utterances)


def make_number(kind: str, available: str, rng: random.Random) -> str:
    """A valid mobile or ID number written only with the digits this speaker has said."""

    def pick(n: int) -> str:
        return "".join(rng.choice(available) for _ in range(n))

    if kind == "mobile":
        second = [d for d in available if d in "3456789"]
        return "1" + rng.choice(second) + pick(9)
    for _ in range(100_000):
        province = pick(2)
        if province not in {"11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "41",
                            "42", "43", "44", "45", "51", "52", "53", "54"}:  # fmt: skip
            continue
        year = "19" + pick(2)
        month = rng.choice([m for m in ("11", "12") if set(m) <= set(available)])
        day = rng.choice([d for d in ("11", "12", "13", "14", "15", "19", "21", "22", "23", "24", "25", "29")
                          if set(d) <= set(available)])  # fmt: skip
        first17 = province + pick(4) + year + month + day + pick(3)
        check = id_check_digit(first17)
        if check in available:
            return first17 + check
    raise ValueError(f"no valid ID number from digits {available}")


def build_call(speaker: Speaker, number: str, kind: str, rng: random.Random) -> Call:
    """Carrier utterance, the number digit by digit (3-4-4 or 6-8-4 groups), another carrier utterance."""
    groups = (3, 4, 4) if kind == "mobile" else (6, 8, 4)
    parts: list[Audio] = []
    pii: list[tuple[int, int]] = []
    carrier: list[tuple[int, int]] = []
    pos = 0

    def add(clip: Audio, *, gap_s: float, spans: list[tuple[int, int]]) -> None:
        nonlocal pos
        spans.append((pos, pos + len(clip)))
        parts.append(clip)
        gap = np.zeros(int(gap_s * RATE), dtype=np.float32)
        parts.append(gap)
        pos += len(clip) + len(gap)

    before, after = rng.sample(speaker.utterances, 2)
    add(np.zeros(int(0.3 * RATE), dtype=np.float32), gap_s=0, spans=[])
    add(before, gap_s=_GAP_CARRIER_S, spans=carrier)
    i = 0
    for size in groups:
        for j in range(size):
            last = j == size - 1
            add(
                rng.choice(speaker.digits[number[i]]), gap_s=_GAP_GROUP_S if last else _GAP_DIGIT_S, spans=pii
            )
            i += 1
    add(after, gap_s=0.3, spans=carrier)
    return Call(np.concatenate(parts), number, kind, pii, carrier)


def build_control(speaker: Speaker, rng: random.Random) -> Call:
    """A call without a number: two utterances of one speaker (what the second look must leave alone)."""
    first, second = rng.sample(speaker.utterances, 2)
    gap = np.zeros(int(_GAP_CARRIER_S * RATE), dtype=np.float32)
    lead = np.zeros(int(0.3 * RATE), dtype=np.float32)
    a = len(lead)
    b = a + len(first) + len(gap)
    spans = [(a, a + len(first)), (b, b + len(second))]
    return Call(np.concatenate([lead, first, gap, second, lead]), "", "none", [], spans)


def make_calls(
    speakers: Sequence[Speaker], count: int, *, seed: int = 15, controls: int = 0
) -> list[tuple[str, Call]]:
    """(speaker name, call): `count` calls with a number (every third an ID number), then `controls` without."""
    rng = random.Random(seed)
    calls: list[tuple[str, Call]] = []
    for n in range(count):
        speaker = speakers[n % len(speakers)]
        # ID numbers need a 9 (born 19xx) in the speaker's syllables; the others say mobile numbers only.
        kind = "id_card" if n % 3 == 2 and "9" in speaker.digits else "mobile"
        number = make_number(kind, "".join(sorted(speaker.digits)), rng)
        calls.append((speaker.name, build_call(speaker, number, kind, rng)))
    control_rng = random.Random(seed + 1)  # the number calls stay the same with or without controls
    for n in range(controls):
        speaker = speakers[n % len(speakers)]
        calls.append((speaker.name, build_control(speaker, control_rng)))
    return calls


def _digits_said(text: str) -> str:
    return re.sub(r"\D", "", text.translate(DIGIT_TABLE))


def measure(call: Call, plan: Sequence[Redaction]) -> tuple[Audio, float, float]:
    """The redacted call, the share of the number's samples silenced (1 without a number), carrier lost."""
    from pipelines.redact import silence

    redacted = silence(call.audio.reshape(-1, 1), RATE, plan)[:, 0]
    zero = redacted == 0.0
    pii_total = sum(b - a for a, b in call.pii)
    covered = sum(int(zero[a:b].sum()) for a, b in call.pii)
    # Carrier samples that were sound before and are silent now (its own pauses were already zero).
    lost = sum(int((zero[a:b] & (call.audio[a:b] != 0.0)).sum()) for a, b in call.carrier)
    return redacted, covered / pii_total if pii_total else 1.0, lost / len(call.audio)


def _transcribe(transcriber: Transcriber, audio: Audio) -> list[Utterance]:
    """A mono call through `Transcriber.transcribe`, the path the service takes (batched or not)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "call.wav"
        sf.write(path, audio, RATE)
        return list(transcriber.transcribe(path, layout="mono").utterances)


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=12)
    parser.add_argument("--controls", type=int, default=4, help="calls without a number (false positives)")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--pad-ms", type=int, default=200)
    parser.add_argument("--no-snap", action="store_true", help="word edges as Whisper gives them")
    parser.add_argument("--no-second-look", action="store_true", help="the transcript's words only")
    parser.add_argument(
        "--batched", action="store_true", help="packed batched decoding (AUDIT_ASR_BATCH_SIZE)"
    )
    parser.add_argument("--verbose", action="store_true", help="print the word timings of each call")
    parser.add_argument("--best-clips", action="store_true", help="only the clips in BEST_CLIPS")
    parser.add_argument(
        "--timing-calls", type=int, default=6, help="calls also decoded without word timestamps"
    )
    return parser.parse_args()


def main() -> None:
    """Build the calls, redact them, print the table."""
    from models.whisper import DEFAULT_CACHE_DIR, load_whisper
    from pipelines.asr import TranscribeOptions, Transcriber
    from pipelines.pii import PiiMasker
    from pipelines.redact import plan_redactions
    from pipelines.redact_second_look import second_look

    args = _args()
    model = load_whisper(DEFAULT_CACHE_DIR, compute_type="int8", cpu_threads=2)
    plain = Transcriber(model, TranscribeOptions(batched=args.batched))
    timed = Transcriber(model, TranscribeOptions(word_timestamps=True, batched=args.batched))
    masker = PiiMasker()
    speakers = load_speakers(model)
    if args.best_clips:
        speakers = {
            name: Speaker(
                name, {d: [speakers[name].digits[d][i]] for d, i in clips.items()}, speakers[name].utterances
            )
            for name, clips in BEST_CLIPS.items()
        }
    print("digit syllables per speaker:",
          {s.name: {d: len(c) for d, c in sorted(s.digits.items())} for s in speakers.values()})  # fmt: skip

    calls = make_calls(list(speakers.values()), args.calls, seed=args.seed, controls=args.controls)

    rows: list[dict[str, object]] = []
    t_plain = t_words = t_second = 0.0
    second_regions = 0
    for n, (name, call) in enumerate(calls):
        t0 = time.perf_counter()
        utterances = _transcribe(timed, call.audio)
        t1 = time.perf_counter()
        if n < args.timing_calls:  # the same call without word timestamps, for their cost
            _transcribe(plain, call.audio)
            t_words, t_plain = t_words + t1 - t0, t_plain + time.perf_counter() - t1
        text = "".join(u.text for u in utterances)
        channels = None if args.no_snap else [call.audio]
        duration_ms = len(call.audio) * 1000 // RATE
        first = plan_redactions(
            masker, utterances, layout="mono", duration_ms=duration_ms, pad_ms=args.pad_ms, audio=channels
        )
        plan = first
        if not args.no_second_look:
            look = second_look(timed, masker, utterances, first, layout="mono", channels=[call.audio],
                               duration_ms=duration_ms, pad_ms=args.pad_ms)  # fmt: skip
            plan, t_second, second_regions = (
                look.redactions,
                t_second + look.decode_s,
                second_regions + len(look.regions),
            )
        redacted, coverage, loss = measure(call, plan)
        _, first_coverage, first_loss = measure(call, first)
        again = " ".join(u.text for u in _transcribe(plain, redacted))
        truth = (call.pii[0][0] * 1000 // RATE, call.pii[-1][1] * 1000 // RATE) if call.pii else None
        silenced = [(r.start_ms, r.end_ms, r.kind) for r in plan]
        print(f"call {n}: {call.number or '-'} {truth} -> {text} | silenced {silenced} | redacted: {again}",
              flush=True)  # fmt: skip
        if args.verbose:
            print(
                "   words:",
                [(u.text[w.start : w.end], w.start_ms, w.end_ms) for u in utterances for w in u.words],
            )
        rows.append({
            "call": n, "speaker": name, "kind": call.kind, "number": call.number or "-",
            "found": bool(first), "coverage": coverage, "loss": loss, "first_coverage": first_coverage,
            "first_loss": first_loss, "leak": bool(call.number) and call.number in _digits_said(again),
            "pii_again": bool(masker.mask(again).spans), "text": text, "again": again,
        })  # fmt: skip
    _report(rows, args, t_plain=t_plain, t_words=t_words, t_second=t_second, regions=second_regions)


def _report(
    rows: list[dict[str, object]], args: argparse.Namespace, *, t_plain: float, t_words: float,
    t_second: float, regions: int,
) -> None:  # fmt: skip
    print(f"\n{'call':>4} {'spk':5} {'kind':8} {'number':18} {'found':>5} {'cover':>7} {'loss':>6} "
          f"{'1st cov':>7} {'1st loss':>8} {'leak':>5}")  # fmt: skip
    for r in rows:
        print(f"{r['call']:>4} {r['speaker']:5} {r['kind']:8} {r['number']!s:18} {r['found']!s:>5} "
              f"{r['coverage']:7.1%} {r['loss']:6.2%} {r['first_coverage']:7.1%} {r['first_loss']:8.2%} "
              f"{r['leak']!s:>5}  | {r['text']} -> {r['again']}")  # fmt: skip
    numbers = [r for r in rows if r["kind"] != "none"]
    controls = [r for r in rows if r["kind"] == "none"]

    def stat(key: str, of: list[dict[str, object]]) -> list[float]:
        return [float(r[key]) for r in of]  # type: ignore[arg-type]

    for label, cov_key, loss_key in (("first pass (transcript words)", "first_coverage", "first_loss"),
                                     ("with the second look", "coverage", "loss")):  # fmt: skip
        if label.startswith("with") and args.no_second_look:
            continue
        cov, loss = stat(cov_key, numbers), stat(loss_key, rows)
        print(f"\n{label}: PII speech silenced {np.mean(cov):.1%} over {len(numbers)} calls (min {min(cov):.1%}); "
              f"non-PII speech lost: mean {np.mean(loss):.2%} of the call, max {max(loss):.2%} "
              f"(calls without a number: max {max(stat(loss_key, controls), default=0):.2%})")  # fmt: skip
    print(f"number detected in the transcript {sum(bool(r['found']) for r in numbers)}/{len(numbers)}")
    print(f"re-transcription of redacted audio yields the number: {sum(bool(r['leak']) for r in numbers)}/{len(numbers)}; "
          f"any PII found again: {sum(bool(r['pii_again']) for r in rows)}/{len(rows)}")  # fmt: skip
    print(f"second look: {regions} regions decoded again in {t_second:.1f} s "
          f"({t_second / max(len(rows), 1):.1f} s per call)")  # fmt: skip
    print(
        f"decode time, first {min(args.timing_calls, len(rows))} calls: {t_plain:.1f} s without word timestamps, {t_words:.1f} s with "
        f"(+{(t_words / max(t_plain, 1e-9) - 1):.0%})"
    )


if __name__ == "__main__":
    main()

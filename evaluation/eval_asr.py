"""Character error rate of the ASR stage on the shared AISHELL speech, one row per decoding setting.

Usage:
    .venv/bin/python -m evaluation.eval_asr                    # default settings, all 102 utterances
    .venv/bin/python -m evaluation.eval_asr --limit 34         # 34 utterances spread over the set
    .venv/bin/python -m evaluation.eval_asr --settings baseline_defaults,pipeline --write-card

All settings run in the same process on the same files, so the rows are comparable. Both hypothesis and
reference are normalised the same way before scoring (see `normalize_for_cer`). Each CER comes with a 95 %
bootstrap interval over utterances, and each row with the paired bootstrap interval of its difference to the
first setting (same resampled utterances for both): a difference whose interval holds 0 is noise.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import time
import unicodedata
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import opencc
import soundfile as sf

from models.whisper import DEFAULT_CACHE_DIR, load_whisper, materialize
from pipelines.asr import SIMPLIFIED_PROMPT, TranscribeOptions, Transcriber

REPO = Path(__file__).resolve().parents[1]
SPEECH_DIR = REPO / ".." / "shared" / "data" / "speech"
MODEL_CARD = REPO / "models" / "whisper" / "model_card.md"
TABLE_BEGIN = "<!-- eval_asr table begin -->"
TABLE_END = "<!-- eval_asr table end -->"

# E-commerce vocabulary for the hotwords / prompt-biasing experiments.
ECOMMERCE_TERMS = "订单 退款 退货 换货 快递 物流 发票 售后 客服 优惠券 京东 淘宝 七天无理由"

_DIGITS = "零一二三四五六七八九"
_SMALL_UNITS = ("", "十", "百", "千")
_BIG_UNITS = ("", "万", "亿", "万亿")


def _four_digits_to_zh(n: int) -> str:
    """0 < n < 10000 as Chinese with 零 for inner gaps (e.g. 1005 → 一千零五)."""
    out: list[str] = []
    zero_pending = False
    for pos in range(3, -1, -1):
        d = (n // 10**pos) % 10
        if d == 0:
            zero_pending = bool(out)
            continue
        if zero_pending:
            out.append("零")
            zero_pending = False
        out.append(_DIGITS[d] + _SMALL_UNITS[pos])
    return "".join(out)


def int_to_zh(n: int) -> str:
    """Cardinal reading of a non-negative integer: 29 → 二十九, 10 → 十, 100200 → 十万零二百."""
    if n == 0:
        return "零"
    groups: list[int] = []
    while n:
        groups.append(n % 10000)
        n //= 10000
    if len(groups) > len(_BIG_UNITS):
        raise ValueError("number too large")
    out: list[str] = []
    for i in range(len(groups) - 1, -1, -1):
        g = groups[i]
        if g == 0:
            continue
        # A group below 1000 after a higher non-zero group is read with 零 (一万零五百).
        if out and (g < 1000 or groups[i + 1] == 0):
            out.append("零")
        out.append(_four_digits_to_zh(g) + _BIG_UNITS[i])
    text = "".join(out)
    # 一十 at the very start is read 十 (十五, 十万); inside a number it keeps 一 (一百一十).
    return text[1:] if text.startswith("一十") else text


def digits_to_zh(digits: str) -> str:
    """Digit-by-digit reading (phone numbers, years, codes): 2015 → 二零一五."""
    return "".join(_DIGITS[int(d)] for d in digits)


def _number_to_zh(token: str) -> str:
    if "." in token:
        whole, frac = token.split(".", 1)
        return int_to_zh(int(whole)) + "点" + digits_to_zh(frac)
    # Leading zeros and long digit runs are codes (phone, order numbers), read digit by digit.
    if (len(token) > 1 and token.startswith("0")) or len(token) > 8:
        return digits_to_zh(token)
    return int_to_zh(int(token))


_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def numbers_to_zh(text: str) -> str:
    """Replace Arabic numbers with their Chinese reading (years, decimals, percent, codes)."""
    text = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", text)
    text = re.sub(r"(\d+(?:\.\d+)?)\s*[%％]", lambda m: "百分之" + _number_to_zh(m.group(1)), text)
    text = re.sub(r"\d{2,4}(?=\s*年)", lambda m: digits_to_zh(m.group(0)), text)
    return _NUMBER.sub(lambda m: _number_to_zh(m.group(0)), text)


_T2S = opencc.OpenCC("t2s")


def normalize_for_cer(text: str) -> str:
    """NFKC, t2s, numbers → Chinese, 两 → 二, lower case, then keep only letters and digits."""
    text = unicodedata.normalize("NFKC", text)
    text = numbers_to_zh(_T2S.convert(text))
    # 两 and 二 are the same number read two ways; Whisper's digits cannot tell which one was said.
    text = text.replace("两", "二").lower()
    return "".join(ch for ch in text if unicodedata.category(ch)[0] in "LN")


def edit_distance(ref: str, hyp: str) -> int:
    """Levenshtein distance over characters."""
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def load_references(speech_dir: Path = SPEECH_DIR) -> list[tuple[Path, str]]:
    """(wav path, reference) for aishell_dev/text.tsv and s3tokenizer_text.tsv, in file order."""
    pairs: list[tuple[Path, str]] = []
    for tsv, folder in (
        (speech_dir / "aishell_dev" / "text.tsv", speech_dir / "aishell_dev"),
        (speech_dir / "s3tokenizer_text.tsv", speech_dir),
    ):
        for line in tsv.read_text(encoding="utf-8").splitlines():
            if line.strip():
                utt, ref = line.split("\t", 1)
                pairs.append((folder / f"{utt}.wav", ref.strip()))
    return pairs


Decoder = Callable[[Path], str]
# Run by default. Also available: cond_prev_text (no effect on these single-sentence files) and batched8
# (same windows as unbatched on short files; its speed is measured in benchmarks/bench_asr.py).
# `served_sequential` is the job's decoding before issue 14 (regions one by one, word timestamps on);
# `served_batched` is the packed batched path (pipelines/asr_batched.py) the job uses now.
DEFAULT_SETTINGS = [
    "served_sequential",
    "baseline_defaults",
    "plain_prompt",
    "served_batched",
    "batched_prompt",
]
BOOTSTRAP_ROUNDS = 2000


def subset(pairs: list[tuple[Path, str]], limit: int | None) -> list[tuple[Path, str]]:
    """`limit` utterances evenly spaced over the list (both AISHELL speakers), or all of them."""
    if limit is None or limit >= len(pairs):
        return pairs
    step = len(pairs) / limit
    return [pairs[int(i * step)] for i in range(limit)]


def build_settings(model: object) -> dict[str, Decoder]:
    """Every decoding setting compared by this script, by name."""
    from faster_whisper import WhisperModel

    assert isinstance(model, WhisperModel)

    def plain(path: Path) -> str:
        segments, _ = model.transcribe(str(path), language="zh")
        return "".join(s.text for s in segments)

    def plain_prompt(path: Path) -> str:
        segments, _ = model.transcribe(
            str(path), language="zh", initial_prompt=SIMPLIFIED_PROMPT, condition_on_previous_text=False
        )
        return "".join(s.text for s in segments)

    def pipeline(options: TranscribeOptions) -> Decoder:
        transcriber = Transcriber(model, options)
        return lambda path: "".join(u.text for u in transcriber.transcribe(path, layout="mono").utterances)

    base = TranscribeOptions()
    served = dataclasses.replace(base, word_timestamps=True)
    batched = dataclasses.replace(served, batched=True)
    return {
        "baseline_defaults": plain,
        "plain_prompt": plain_prompt,
        "served_sequential": pipeline(served),
        "served_batched": pipeline(batched),
        "batched_prompt": pipeline(dataclasses.replace(batched, initial_prompt=SIMPLIFIED_PROMPT)),
        "pipeline": pipeline(base),
        "beam1": pipeline(dataclasses.replace(base, beam_size=1, best_of=1)),
        "prompt_simplified": pipeline(dataclasses.replace(base, initial_prompt=SIMPLIFIED_PROMPT)),
        "no_vad": pipeline(dataclasses.replace(base, vad_filter=False)),
        "no_fallback": pipeline(dataclasses.replace(base, temperature=(0.0,))),
        "cond_prev_text": pipeline(dataclasses.replace(base, condition_on_previous_text=True)),
        "prompt_ecommerce": pipeline(
            dataclasses.replace(
                base,
                initial_prompt="以下是普通话的客服通话，使用简体中文和标点符号："
                + ECOMMERCE_TERMS.replace(" ", "、")
                + "。",
            )
        ),
        "hotwords": pipeline(dataclasses.replace(base, hotwords=ECOMMERCE_TERMS)),
        "no_timestamps": pipeline(dataclasses.replace(base, without_timestamps=True)),
        "beam10": pipeline(dataclasses.replace(base, beam_size=10, best_of=10)),
        "vad_pad300": pipeline(
            dataclasses.replace(base, vad_parameters={**base.vad_parameters, "speech_pad_ms": 300})
        ),
    }


def bootstrap(
    errors: npt.NDArray[np.int64], lengths: npt.NDArray[np.int64], rounds: int = BOOTSTRAP_ROUNDS
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Resampled utterance indices (rounds × n, seed 0) and the CER of `errors` on each resample."""
    rng = np.random.default_rng(0)
    idx = rng.integers(0, len(lengths), size=(rounds, len(lengths)))
    return idx, errors[idx].sum(axis=1) / lengths[idx].sum(axis=1)


def interval(values: npt.NDArray[np.float64]) -> str:
    """95 % percentile interval, formatted."""
    lo, hi = np.percentile(values, [2.5, 97.5])
    return f"[{lo:+.4f}, {hi:+.4f}]" if lo < 0 else f"[{lo:.4f}, {hi:.4f}]"


def main() -> None:
    """Run the chosen settings over the speech set and print (and optionally store) the CER table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--limit", type=int, default=None, help="only N utterances, evenly spaced over the set"
    )
    parser.add_argument("--settings", default=None, help="comma-separated setting names (default: all)")
    parser.add_argument("--threads", type=int, default=2, help="CTranslate2 CPU threads")
    parser.add_argument("--model-dir", type=Path, default=DEFAULT_CACHE_DIR)
    parser.add_argument("--write-card", action="store_true", help="write the table into model_card.md")
    parser.add_argument("--show-errors", action="store_true", help="print every utterance with errors")
    args = parser.parse_args()

    materialize(args.model_dir)
    model = load_whisper(args.model_dir, cpu_threads=args.threads)
    settings = build_settings(model)
    names = args.settings.split(",") if args.settings else DEFAULT_SETTINGS
    pairs = subset(load_references(), args.limit)
    refs = [normalize_for_cer(ref) for _, ref in pairs]
    ref_chars = sum(len(r) for r in refs)
    audio_s = sum(sf.info(str(path)).duration for path, _ in pairs)
    rows: list[tuple[str, float, float, int]] = []
    per_utt: dict[str, list[int]] = {}
    for name in names:
        decode = settings[name]
        errors = 0
        empty = 0
        per_utt[name] = []
        started = time.perf_counter()
        for (path, raw_ref), ref in zip(pairs, refs, strict=True):
            hyp = normalize_for_cer(decode(path))
            dist = edit_distance(ref, hyp)
            per_utt[name].append(dist)
            errors += dist
            empty += not hyp
            if args.show_errors and dist:
                print(f"  {name} {path.stem} ref={raw_ref} hyp={hyp} ({dist})")
        elapsed = time.perf_counter() - started
        rows.append((name, errors / ref_chars, elapsed / audio_s, empty))
        print(
            f"{name:20s} CER {errors / ref_chars:.4f}  RTF {elapsed / audio_s:.3f}  empty {empty}  "
            f"per-utterance errors {per_utt[name]}",
            flush=True,
        )

    lengths = np.array([len(r) for r in refs], dtype=np.int64)
    first = names[0]
    idx, first_boot = bootstrap(np.array(per_utt[first], dtype=np.int64), lengths)
    lines = [
        f"Utterances: {len(pairs)} ({ref_chars} reference characters, {audio_s:.0f} s audio); "
        f"int8, {args.threads} CPU threads; 95 % intervals from {BOOTSTRAP_ROUNDS} bootstrap resamples "
        "of the utterances.",
        "",
        f"| setting | CER | 95 % CI | vs {first} (paired 95 % CI) | RTF | empty outputs |",
        "|---|---|---|---|---|---|",
    ]
    for name, cer, rtf, empty in rows:
        errs = np.array(per_utt[name], dtype=np.int64)
        boot = errs[idx].sum(axis=1) / lengths[idx].sum(axis=1)
        diff = "—" if name == first else f"{cer - rows[0][1]:+.4f} {interval(boot - first_boot)}"
        lines.append(f"| {name} | {cer:.4f} | {interval(boot)} | {diff} | {rtf:.3f} | {empty} |")
    table = "\n".join(lines)
    print()
    print(table)
    if args.write_card:
        card = MODEL_CARD.read_text(encoding="utf-8")
        head, _, rest = card.partition(TABLE_BEGIN)
        _, _, tail = rest.partition(TABLE_END)
        MODEL_CARD.write_text(f"{head}{TABLE_BEGIN}\n{table}\n{TABLE_END}{tail}", encoding="utf-8")
        print(f"\nwrote {MODEL_CARD}")


if __name__ == "__main__":
    main()

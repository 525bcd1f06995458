"""Cost of the text audit on ordinary vs adversarial utterances of growing size: is every stage near-linear?

    .venv/bin/python -m benchmarks.bench_cost [--sizes 1000,4000,16000,64000] [--emotion] [--stages]

Each case is one conversation holding one utterance of N characters, audited once as said by the customer
and once as said by the agent (the agent's turns run more service-norm checks), through the full
`AuditPipeline` built as `app/runtime.py` builds it (emotion off unless `--emotion`). Ordinary text is real
JDDC utterances concatenated; the adversarial kinds are the inputs that make naive matchers superlinear.
Prints µs per character (best of `--repeats` runs), the ratio to ordinary text of the same size measured
alternately with it (target ≤ 3×) and the peak memory traced by tracemalloc in a separate run (timings are
taken without tracing). `--stages` adds a breakdown
per stage (masking, sensitive words, keywords, service norms, scoring).
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from pipelines.audit import AuditPipeline, build_stages, mask_conversation
from pipelines.emotion import EmotionClassifier
from pipelines.types import Conversation, Speaker, Utterance

REPO = Path(__file__).resolve().parents[1]
LEXICONS = REPO / "lexicons"
JDDC = REPO.parent / "shared" / "data" / "dialogues" / "chat_0.1per.txt"
MODELS = REPO / "var" / "models" / "e5-small"
SPEAKERS: tuple[Speaker, ...] = ("customer", "agent")
TARGET_RATIO = 3.0


def _repeat(unit: str) -> Callable[[int], str]:
    def make(size: int) -> str:
        return (unit * (size // len(unit) + 1))[:size]

    return make


# Each kind is one way hostile or broken input has made a matcher superlinear somewhere.
ADVERSARIAL: dict[str, Callable[[int], str]] = {
    "digit-space": _repeat("1 "),  # every start x end pair of separator groups
    "digit-run": _repeat("1"),
    "digit-comma": _repeat("138，"),
    "digit-dash": _repeat("1 - "),
    "phones": _repeat("13812345678，"),  # every window is real PII
    "spoken-digits": _repeat("一三八幺两零"),
    "one-char": _repeat("啊"),
    "sensitive-prefix": _repeat("操你八辈"),  # a long term's prefix, never completed
    "sensitive-hits": _repeat("傻逼"),  # one finding every two characters
    "refusal-space": lambda n: " " * (n - 3) + "不知道",
    "rare-chars": _repeat("龘靐齉爩"),  # no row in jieba's POS HMM tables: 23 ms a character before
    "emoji": _repeat("😡"),
    "combining": _repeat("a\u0301\u0301\u0301"),
    "email-like": _repeat("a"),  # a regex e-mail scan restarting at every letter
    "at-dots": _repeat("a@a."),
    "id-cues": _repeat("微信号qq"),
    "pinyin-run": _repeat("shabi"),  # one Latin word of pinyin: every syllable a candidate
    "mixed-digits": _repeat("x1"),  # one long letters-and-digits word for the look-alike pass
    "regex-prefix": _repeat("再不退就"),  # every character a regex rule needs, never completed
}


def ordinary(size: int) -> str:
    """Real JDDC utterances (last tab-separated column) concatenated up to `size` characters."""
    parts: list[str] = []
    total = 0
    with JDDC.open(encoding="utf-8") as handle:
        for row in handle:
            content = row.rstrip("\n").split("\t")[-1]
            parts.append(content)
            total += len(content)
            if total >= size:
                break
    text = "".join(parts)
    if len(text) < size:
        text = (text * (size // len(text) + 1))[:size]
    return text[:size]


def build_pipeline(*, emotion: bool) -> AuditPipeline:
    """The pipeline as `app/runtime.py` builds it, with the emotion model only when asked for."""
    classifier: EmotionClassifier | None = None
    if emotion:
        from models.emotion.loader import load_emotion_classifier

        classifier = load_emotion_classifier(MODELS, num_threads=2, batch_size=32)
    return AuditPipeline(build_stages(LEXICONS), emotion=classifier)


def _conversations(text: str) -> list[Conversation]:
    return [Conversation("chat", (Utterance(0, speaker, text, None, None),)) for speaker in SPEAKERS]


def _stage_times(pipeline: AuditPipeline, text: str) -> dict[str, float]:
    """Seconds per stage for the two conversations of `text`."""
    s = pipeline.stages
    times = dict.fromkeys(("mask", "sensitive", "keywords", "norms", "score"), 0.0)
    for conv in _conversations(text):
        t0 = time.perf_counter()
        masked, pii = mask_conversation(s.masker, conv)
        t1 = time.perf_counter()
        findings = pii + s.matcher.findings(masked.utterances)
        t2 = time.perf_counter()
        s.keywords.for_conversation(masked.utterances)
        t3 = time.perf_counter()
        norm_findings, _ = s.norms.check(masked)
        findings += norm_findings
        t4 = time.perf_counter()
        s.scorer.score(findings, utterances=masked.utterances)
        s.scorer.severity(findings)
        t5 = time.perf_counter()
        for key, dt in zip(times, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True):
            times[key] += dt
    return times


def _seconds(pipeline: AuditPipeline, text: str) -> float:
    """Seconds to audit `text` once as the customer and once as the agent."""
    gc.collect()
    started = time.perf_counter()
    for conv in _conversations(text):
        pipeline.run(conv)
    return time.perf_counter() - started


def _paired_per_char(
    pipeline: AuditPipeline, text: str, baseline: str, *, repeats: int, min_seconds: float
) -> tuple[float, float]:
    """Best seconds per character of `text` and of the ordinary `baseline`, measured alternately.

    Alternating keeps both under the same load from whatever else runs on the machine, so their ratio
    stays meaningful on a shared box even when the absolute figures drift.
    """
    best, best_base = float("inf"), float("inf")
    spent = 0.0
    runs = 0
    while runs < repeats or spent < min_seconds:
        base = _seconds(pipeline, baseline)
        took = _seconds(pipeline, text)
        best_base, best = min(best_base, base), min(best, took)
        spent += base + took
        runs += 1
    chars = len(text) * len(SPEAKERS)
    return best / chars, best_base / chars


def _peak_mib(pipeline: AuditPipeline, text: str) -> float:
    gc.collect()
    tracemalloc.start()
    for conv in _conversations(text):
        pipeline.run(conv)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,4000,16000,64000", help="comma-separated character counts")
    parser.add_argument("--emotion", action="store_true", help="include the emotion model")
    parser.add_argument("--stages", action="store_true", help="also print µs/char per stage")
    parser.add_argument("--kinds", default="", help="comma-separated adversarial kinds (default all)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each text (best is kept)")
    parser.add_argument("--min-seconds", type=float, default=0.5, help="repeat small cases up to this long")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    kinds = [k for k in args.kinds.split(",") if k] or list(ADVERSARIAL)
    pipeline = build_pipeline(emotion=args.emotion)
    pipeline.run(_conversations(ordinary(1000))[0])  # warm caches (jieba, normaliser tables)
    # Long-lived objects (jieba's dictionary, the lexicons) leave the collector's scans, as a server that
    # calls gc.freeze() after start-up has it; otherwise every full collection walks them again.
    gc.freeze()

    print(
        f"emotion={'on' if args.emotion else 'off'}; µs/char over customer+agent runs; ratio = kind / ordinary"
    )
    print(f"{'kind':<17}" + "".join(f"{n:>9}c µs/ch ratio  MiB" for n in sizes))
    texts = {size: ordinary(size) for size in sizes}
    base_best: dict[int, float] = dict.fromkeys(sizes, float("inf"))
    rows: list[str] = []
    worst = 0.0
    for kind in kinds:
        cells = []
        for size in sizes:
            text = ADVERSARIAL[kind](size)
            per_char, base = _paired_per_char(
                pipeline, text, texts[size], repeats=args.repeats, min_seconds=args.min_seconds
            )
            base_best[size] = min(base_best[size], base)
            ratio = per_char / base
            worst = max(worst, ratio)
            cells.append(f"{per_char * 1e6:>16.2f} {ratio:5.2f} {_peak_mib(pipeline, text):5.1f}")
            if args.stages:
                stage = _stage_times(pipeline, text)
                detail = " ".join(f"{k}={v * 1e6 / (2 * size):.2f}" for k, v in stage.items())
                print(f"    {kind} {size}: {detail}", flush=True)
        rows.append(f"{kind:<17}" + "".join(cells))
        print(rows[-1], flush=True)
    cells = [f"{base_best[n] * 1e6:>16.2f} {1.0:5.2f} {_peak_mib(pipeline, texts[n]):5.1f}" for n in sizes]
    print(f"{'ordinary (best)':<17}" + "".join(cells))
    verdict = "OK" if worst <= TARGET_RATIO else "OVER TARGET"
    print(f"worst adversarial/ordinary ratio {worst:.2f} (target ≤ {TARGET_RATIO:g}): {verdict}")


if __name__ == "__main__":
    main()

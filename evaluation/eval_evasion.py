"""Evasion recall and JDDC precision of the sensitive-word matcher, plain (listed spellings) against evasion-aware.

Run: .venv/bin/python -m evaluation.eval_evasion [--data ../shared/data] [--regenerate]

Recall: a generated set of evasive spellings of lexicon entries, one kind per evasion (pinyin, initials,
homophone, numeral, regex, split, lookalike), made once with a fixed seed and saved to
`evaluation/data/evasion_set.tsv`; the matcher is measured on the saved file, never tuned on it. A case counts
as caught when a hit names the expected term. Precision: the share of JDDC utterances flagged, per speaker,
before and after, and every hit the evasion passes add (read them). The 62,774 shopping reviews are scanned
too, as a stress test: their new hits are counted per variant and sampled.
"""

from __future__ import annotations

import argparse
import csv
import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import jieba
from pypinyin import Style, lazy_pinyin

from evaluation.eval_sensitive import ESCALATION, Line, load_jddc
from pipelines.evasion import SPLITS, is_cjk
from pipelines.sensitive import LexiconEntry, SensitiveHit, SensitiveWordMatcher, load_sensitive_lexicon
from pipelines.types import Speaker

REPO = Path(__file__).resolve().parents[1]
SET_PATH = REPO / "evaluation" / "data" / "evasion_set.tsv"
SEED = 13
PER_KIND = 50
KINDS = ("pinyin", "initials", "homophone", "numeral", "regex", "split", "lookalike")
CARRIERS = ("你这个{}", "{}，什么东西", "真是{}啊", "{}", "那{}吧", "我看{}了", "就是{}呢", "{}！")
_FULL_WIDTH = {str(d): chr(0xFF10 + d) for d in range(10)}
_SPOKEN = {
    "1": "一幺",
    "2": "二两",
    "3": "三",
    "4": "四",
    "5": "五",
    "6": "六",
    "7": "七",
    "8": "八",
    "9": "九",
    "0": "零〇",
}
_LOOK = {"o": "0", "i": "1", "l": "1", "e": "3", "a": "4", "s": "5", "t": "7"}


@dataclass(frozen=True, slots=True)
class Case:
    """One evasive utterance and the entry it should be reported as."""

    kind: str
    speaker: Speaker
    category: str
    term: str
    text: str


def _speaker(entry: LexiconEntry, rng: random.Random) -> Speaker:
    if entry.scope == "any":
        return rng.choice(("customer", "agent"))
    return entry.scope


def _spellings(entry: LexiconEntry) -> list[str]:
    return [entry.term, *entry.variants]


def _homophone_pool() -> dict[str, list[str]]:
    """Common characters (jieba single-character frequency ≥ 2000) grouped by toneless pinyin."""
    pool: dict[str, list[str]] = defaultdict(list)
    with jieba.get_dict_file() as handle:
        for raw in handle:
            word, freq, *_ = raw.decode("utf-8").split(" ")
            if len(word) == 1 and is_cjk(word) and int(freq) >= 2000:
                pool[lazy_pinyin(word)[0]].append(word)
    return pool


def _pinyin_case(spelling: str, rng: random.Random, *, initials: bool) -> str | None:
    cjk = [i for i, c in enumerate(spelling) if is_cjk(c)]
    if len(cjk) < 2 or (initials and len(cjk) < 3):
        return None
    readings = lazy_pinyin("".join(spelling[i] for i in cjk), style=Style.NORMAL)
    chosen = set(rng.sample(cjk, rng.randint(1, len(cjk))))
    if initials and rng.random() < 0.5:
        chosen = set(cjk)  # all initials: tmd, nmsl style
    out = []
    for i, char in enumerate(spelling):
        if i in chosen:
            reading = readings[cjk.index(i)]
            out.append(reading[0] if initials else reading)
        else:
            out.append(char)
    text = "".join(out)
    return text.upper() if rng.random() < 0.3 else text


def generate(lexicon_entries: tuple[LexiconEntry, ...], seed: int = SEED) -> list[Case]:
    """The evasion set: PER_KIND cases per kind, drawn with `seed` from the lexicon's spellings."""
    rng = random.Random(seed)
    words = [e for e in lexicon_entries if e.regex is None]
    pool = _homophone_pool()
    cases: list[Case] = []

    def add(kind: str, entry: LexiconEntry, body: str) -> None:
        cases.append(
            Case(kind, _speaker(entry, rng), entry.category, entry.term, rng.choice(CARRIERS).format(body))
        )

    def draw(kind: str, make: object) -> None:
        seen: set[str] = set()
        for _ in range(5000):
            if len(seen) >= PER_KIND:
                return
            entry = rng.choice(words)
            body = make(entry, rng.choice(_spellings(entry)))  # type: ignore[operator]
            if body and body not in seen:
                seen.add(body)
                add(kind, entry, body)

    def homophone(entry: LexiconEntry, spelling: str) -> str | None:
        cjk = [i for i, c in enumerate(spelling) if is_cjk(c)]
        if len(cjk) < 3 and entry.homophones is not True or entry.homophones is False:
            return None
        readings = lazy_pinyin("".join(spelling[i] for i in cjk), style=Style.NORMAL)
        chars = list(spelling)
        for i in rng.sample(cjk, rng.randint(1, min(2, len(cjk)))):
            others = [c for c in pool.get(readings[cjk.index(i)], []) if c != spelling[i]]
            if not others:
                return None
            chars[i] = rng.choice(others)
        return "".join(chars)

    def numeral(_entry: LexiconEntry, spelling: str) -> str | None:
        if not any(c.isdigit() for c in spelling):
            return None
        out = [
            rng.choice(_SPOKEN[c])
            if c.isdigit() and rng.random() < 0.6
            else _FULL_WIDTH[c]
            if c.isdigit() and rng.random() < 0.3
            else c
            for c in spelling
        ]
        body = (" " if rng.random() < 0.3 else "").join(out)
        return body if body != spelling and any(not c.isascii() for c in body) else None

    def split(_entry: LexiconEntry, spelling: str) -> str | None:
        joined = {v: k for k, v in SPLITS.items()}
        hits = [i for i, c in enumerate(spelling) if c in joined]
        if not hits:
            return None
        chars = list(spelling)
        for i in rng.sample(hits, rng.randint(1, len(hits))):
            chars[i] = joined[chars[i]]
        return "".join(chars)

    def lookalike(_entry: LexiconEntry, spelling: str) -> str | None:
        places = [i for i, c in enumerate(spelling) if c in _LOOK]
        if not spelling.isascii() or not spelling.isalpha() or len(spelling) < 3 or not places:
            return None
        chars = list(spelling)
        for i in rng.sample(places, rng.randint(1, min(2, len(places)))):
            chars[i] = _LOOK[chars[i]]
        body = "".join(chars)
        return (
            f" {body.upper() if rng.random() < 0.3 else body} "  # a Latin word stands apart from its carrier
        )

    draw("pinyin", lambda e, s: _pinyin_case(s, rng, initials=False) if e.pinyin else None)
    draw(
        "initials",
        lambda e, s: _pinyin_case(s, rng, initials=True) if e.pinyin and e.initials is not False else None,
    )
    draw("homophone", homophone)
    draw("numeral", numeral)
    draw("split", split)
    draw("lookalike", lookalike)
    rules = [e for e in lexicon_entries if e.regex is not None]
    fills = ("退款", "发货", "处理", "给我解决", "回复", "退钱", "安排", "补发")
    threats = ("投诉", "差评", "举报", "打12315")
    for index in range(PER_KIND):
        entry = rules[index % len(rules)]
        sep = rng.choice(("", "，", " ", "的话，"))
        if entry.term.startswith("再"):
            body = f"你们再不{rng.choice(fills)}{sep}我就{rng.choice(threats)}"
        else:
            body = f"不给我{rng.choice(fills[:3])}{sep}{rng.choice(('我就', '马上'))}{rng.choice(threats)}"
        cases.append(Case("regex", "customer", entry.category, entry.term, body))
    return cases


def save(cases: list[Case], path: Path) -> None:
    """Write the set as TSV (kind, speaker, category, term, text)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(f"# evasion set: evaluation/eval_evasion.py --regenerate, seed {SEED}; not tuned on\n")
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(["kind", "speaker", "category", "term", "text"])
        writer.writerows([c.kind, c.speaker, c.category, c.term, c.text] for c in cases)


def load(path: Path) -> list[Case]:
    """Read the saved set."""
    with path.open(encoding="utf-8") as handle:
        rows = csv.DictReader((line for line in handle if not line.startswith("#")), delimiter="\t")
        return [Case(r["kind"], r["speaker"], r["category"], r["term"], r["text"]) for r in rows]  # type: ignore[arg-type]


def recall(before: SensitiveWordMatcher, after: SensitiveWordMatcher, cases: list[Case]) -> float:
    """Print recall per kind, plain and evasion-aware, and the misses; return the overall evasion-aware recall."""
    caught: Counter[tuple[str, str]] = Counter()
    named: Counter[str] = Counter()
    totals: Counter[str] = Counter(case.kind for case in cases)
    misses: list[str] = []
    for case in cases:
        for label, matcher in (("before", before), ("after", after)):
            hits = [h for h in matcher.find(case.text, speaker=case.speaker) if h.term == case.term]
            if hits:
                caught[(label, case.kind)] += 1
                if label == "after" and any(h.variant == case.kind for h in hits):
                    named[case.kind] += 1
            elif label == "after":
                misses.append(f"  MISS {case.kind:9s} [{case.speaker}] {case.text!r} (expected {case.term})")
    print(f"\n== Evasion recall on {len(cases)} generated cases ({SET_PATH.relative_to(REPO)})")
    print(f"{'kind':10s} {'cases':>5s} {'before':>9s} {'after':>9s} {'variant named':>14s}")
    for kind in KINDS:
        n = totals[kind]
        print(
            f"{kind:10s} {n:5d} {100 * caught[('before', kind)] / n:8.1f}% {100 * caught[('after', kind)] / n:8.1f}%"
            f" {100 * named[kind] / n:13.1f}%"
        )
    total_before = sum(caught[("before", k)] for k in KINDS)
    total_after = sum(caught[("after", k)] for k in KINDS)
    print(
        f"{'all':10s} {len(cases):5d} {100 * total_before / len(cases):8.1f}% "
        f"{100 * total_after / len(cases):8.1f}% {100 * sum(named.values()) / len(cases):13.1f}%"
    )
    print("\n".join(misses) or "  no misses")
    return total_after / len(cases)


def _context(text: str, hit: SensitiveHit) -> str:
    return f"{text[max(0, hit.start - 10) : hit.start]}【{text[hit.start : hit.end]}】{text[hit.end : hit.end + 10]}"


def jddc_precision(
    before: SensitiveWordMatcher, after: SensitiveWordMatcher, lines: list[Line]
) -> dict[str, float]:
    """Print JDDC flag rates per speaker before and after, and every hit the evasion passes add."""
    totals: Counter[str] = Counter(line.speaker for line in lines)
    flagged: Counter[tuple[str, str, bool]] = Counter()  # (label, speaker, escalation)
    new_hits: list[str] = []
    for line in lines:
        found = {}
        for label, matcher in (("before", before), ("after", after)):
            hits = matcher.find(line.text, speaker=line.speaker)
            found[label] = {(h.start, h.end, h.term) for h in hits}
            cats = {h.category for h in hits}
            flagged[(label, line.speaker, False)] += bool(cats - {ESCALATION})
            flagged[(label, line.speaker, True)] += ESCALATION in cats
            if label == "after":
                new_hits.extend(
                    f"  [{line.speaker}] {h.category} {h.term} ({h.variant}): {_context(line.text, h)}"
                    for h in hits
                    if (h.start, h.end, h.term) not in found["before"]
                )
    print(f"\n== JDDC precision ({len(lines)} utterances): share of utterances flagged")
    print(f"{'speaker':9s} {'categories':16s} {'before':>9s} {'after':>9s}")
    rates: dict[str, float] = {}
    for speaker in ("customer", "agent"):
        for escalation in (False, True):
            label = ESCALATION if escalation else "non-escalation"
            b, a = (flagged[(x, speaker, escalation)] / totals[speaker] for x in ("before", "after"))
            rates[f"{speaker}_{'escalation' if escalation else 'other'}"] = a
            print(f"{speaker:9s} {label:16s} {100 * b:8.3f}% {100 * a:8.3f}%")
    print(f"hits added by the evasion passes: {len(new_hits)}")
    print("\n".join(new_hits))
    return rates


def reviews_stress(
    before: SensitiveWordMatcher, after: SensitiveWordMatcher, data: Path, examples: int
) -> None:
    """New hits on 62,774 shopping reviews per variant, with samples to read (many angry reviews are real)."""
    path = data / "sentiment" / "online_shopping_10_cats.csv"
    if not path.is_file():
        return
    with path.open(encoding="utf-8") as handle:
        reviews = [row["review"] or "" for row in csv.DictReader(handle)]
    per_variant: Counter[str] = Counter()
    samples: defaultdict[str, list[str]] = defaultdict(list)
    for review in reviews:
        old = {(h.start, h.end, h.term) for h in before.find(review, speaker="customer")}
        for hit in after.find(review, speaker="customer"):
            if (hit.start, hit.end, hit.term) not in old:
                per_variant[hit.variant] += 1
                if len(samples[hit.variant]) < examples:
                    samples[hit.variant].append(f"{hit.term}: {_context(review, hit)}")
    print(f"\n== Stress test: hits added on {len(reviews)} shopping reviews (as customer)")
    for variant, count in per_variant.most_common():
        print(f"  {variant:10s} {count:5d}")
        for sample in samples[variant]:
            print(f"      {sample}")


def main() -> None:
    """Recall on the evasion set and precision on JDDC, plain against evasion-aware matching."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=REPO / "../shared/data")
    parser.add_argument("--lexicons", type=Path, default=REPO / "lexicons")
    parser.add_argument("--regenerate", action="store_true", help=f"rewrite {SET_PATH.name} (seed {SEED})")
    parser.add_argument("--examples", type=int, default=15)
    args = parser.parse_args()
    lexicon = load_sensitive_lexicon(args.lexicons)
    if args.regenerate or not SET_PATH.is_file():
        save(generate(lexicon.entries), SET_PATH)
    cases = load(SET_PATH)
    before = SensitiveWordMatcher(lexicon, evasion=False)
    after = SensitiveWordMatcher(lexicon)
    print(f"lexicon {lexicon.version}")
    rate = recall(before, after, cases)
    rates = jddc_precision(before, after, load_jddc(args.data))
    reviews_stress(before, after, args.data, args.examples)
    print(
        f"\nSUMMARY evasion recall {100 * rate:.1f} %; JDDC non-escalation flagged: customer "
        f"{100 * rates['customer_other']:.3f} %, agent {100 * rates['agent_other']:.3f} %"
    )


if __name__ == "__main__":
    main()

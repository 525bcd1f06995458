"""Sensitive-word quality: false positives on ordinary JDDC chats, and recall on hand-written evasive positives.

Run: .venv/bin/python -m evaluation.eval_sensitive [--data ../shared/data] [--lexicons lexicons] [--examples 3]
"""

from __future__ import annotations

import argparse
import csv
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ahocorasick

from pipelines.sensitive import SensitiveHit, SensitiveLexicon, SensitiveWordMatcher, load_sensitive_lexicon
from pipelines.types import Speaker

REPO = Path(__file__).resolve().parents[1]
ESCALATION = "投诉升级"  # complaint threats are what the QA desk wants to see: true positives, counted apart


@dataclass(frozen=True, slots=True)
class Line:
    """One JDDC utterance."""

    session: str
    speaker: Speaker
    text: str


def load_jddc(data: Path) -> list[Line]:
    """Utterances of chat_0.1per.txt (session, user, waiter_send, is_transfer, is_repeat, sku, content)."""
    lines: list[Line] = []
    with (data / "dialogues" / "chat_0.1per.txt").open(encoding="utf-8") as handle:
        for row in handle:
            fields = row.rstrip("\n").split("\t", 6)
            if len(fields) == 7 and fields[6].strip():
                lines.append(Line(fields[0], "agent" if fields[2] == "1" else "customer", fields[6]))
    return lines


# (text, speaker, expected category). The last group are homophones and pinyin the lexicon does not
# list: they are here so that the rate is honest, not to be "fixed" one by one. The evasion passes
# (pipelines/evasion.py) now catch 煞笔 and tou诉; 伞兵 (a pun on the initials sb) stays a miss. The
# generated evasion set is in evaluation/eval_evasion.py.
EVASIVE_POSITIVES: tuple[tuple[str, Speaker, str], ...] = (
    ("我要去１２３１５投诉你们", "customer", ESCALATION),
    ("打 12 3 1 5 告你们", "unknown", ESCALATION),
    ("我要打幺二三幺五", "unknown", ESCALATION),
    ("我要投 诉", "customer", ESCALATION),
    ("我要投*诉", "customer", ESCALATION),
    ("我要投-诉你", "customer", ESCALATION),
    ("我要投\u200b诉", "customer", ESCALATION),
    ("我要投😡诉", "customer", ESCALATION),
    ("我要投訴你們", "customer", ESCALATION),
    ("這是消費欺詐", "customer", ESCALATION),
    ("我去找消 协", "unknown", ESCALATION),
    ("等着收律師函吧", "unknown", ESCALATION),
    ("我們法院見", "unknown", ESCALATION),
    ("你个傻@逼", "customer", "辱骂"),
    ("傻 逼客服", "customer", "辱骂"),
    ("傻_逼", "customer", "辱骂"),
    ("你是ＳＢ吧", "customer", "辱骂"),
    ("你是s b吧", "customer", "辱骂"),
    ("Ｔ٠Ｍ٠Ｄ什么破服务", "customer", "辱骂"),
    ("ＣＮＭ", "customer", "辱骂"),
    ("操 你 妈", "customer", "辱骂"),
    ("ＦＵＣＫ", "customer", "辱骂"),
    ("王八蛋!", "agent", "辱骂"),
    ("這不歸我管", "agent", "服务禁语"),
    ("你問我我問誰", "agent", "服务禁语"),
    ("愛買不買", "agent", "服务禁语"),
    ("爱 买 不 买", "agent", "服务禁语"),
    ("不是跟你說了嗎", "agent", "服务禁语"),
    ("冰-毒有吗", "customer", "毒品"),
    ("Ｋ粉", "customer", "毒品"),
    ("網絡賭博", "customer", "赌博"),
    ("殺了你", "customer", "暴力"),
    ("一夜情", "customer", "色情"),
    # not listed in the lexicon (homophone, pun, pinyin)
    ("你个煞笔", "customer", "辱骂"),
    ("伞兵客服", "customer", "辱骂"),
    ("我要tou诉", "customer", ESCALATION),
)


def _context(text: str, start: int, end: int, width: int = 14) -> str:
    left = text[max(0, start - width) : start]
    right = text[end : end + width]
    return f"{left}【{text[start:end]}】{right}".replace("\n", " ")


def _pct(count: int, total: int) -> str:
    return f"{count:5d} / {total:5d} = {100 * count / max(total, 1):6.3f} %"


def false_positives(matcher: SensitiveWordMatcher, lines: list[Line], examples: int) -> dict[str, Any]:
    """Print flagged-utterance rates on JDDC per speaker and category; return the headline numbers."""
    totals: Counter[str] = Counter(line.speaker for line in lines)
    flagged: Counter[tuple[str, str]] = Counter()  # (speaker, category) -> utterances
    other_flagged: Counter[str] = Counter()  # utterances with a non-escalation hit, per speaker
    escalation_flagged: Counter[str] = Counter()
    term_counts: Counter[tuple[str, str, str]] = Counter()
    contexts: defaultdict[tuple[str, str, str], list[str]] = defaultdict(list)
    for line in lines:
        hits: list[SensitiveHit] = matcher.find(line.text, speaker=line.speaker)
        categories = {hit.category for hit in hits}
        for category in categories:
            flagged[(line.speaker, category)] += 1
        if categories - {ESCALATION}:
            other_flagged[line.speaker] += 1
        if ESCALATION in categories:
            escalation_flagged[line.speaker] += 1
        for hit in hits:
            key = (hit.category, hit.term, line.speaker)
            term_counts[key] += 1
            if len(contexts[key]) < examples:
                contexts[key].append(_context(line.text, hit.start, hit.end))
    print(f"\n== Curated lexicon {matcher.version} on JDDC ({len(lines)} utterances)")
    for role in ("customer", "agent"):
        print(f"{role:9s} non-escalation flagged: {_pct(other_flagged[role], totals[role])}")
        print(f"{role:9s} escalation ({ESCALATION}):  {_pct(escalation_flagged[role], totals[role])}")
        for category in matcher.lexicon.categories:
            if flagged[(role, category)]:
                print(f"    {category:6s} {_pct(flagged[(role, category)], totals[role])}")
    print("\nTop flagged terms (category, term, speaker: count, examples):")
    for top_key, count in term_counts.most_common(25):
        print(f"  {top_key[0]} {top_key[1]} [{top_key[2]}]: {count}")
        for example in contexts[top_key]:
            print(f"      {example}")
    return {
        "customer_other": other_flagged["customer"] / max(totals["customer"], 1),
        "agent_other": other_flagged["agent"] / max(totals["agent"], 1),
        "customer_escalation": escalation_flagged["customer"] / max(totals["customer"], 1),
    }


def raw_substring_baseline(lines: list[Line], words: Iterable[str], label: str, top: int = 12) -> None:
    """Flag rate of a raw source dictionary matched as plain lower-cased substrings (what not to ship)."""
    automaton = ahocorasick.Automaton()
    for word in words:
        term = word.strip().split(" ")[0].lower()  # houbb's tags file and some konsheng lines carry a suffix
        if term:
            automaton.add_word(term, term)
    if len(automaton) == 0:
        print(f"{label}: no terms found")
        return
    automaton.make_automaton()
    totals: Counter[str] = Counter(line.speaker for line in lines)
    flagged: Counter[str] = Counter()
    terms: Counter[str] = Counter()
    for line in lines:
        found = {term for _, term in automaton.iter(line.text.lower())}
        if found:
            flagged[line.speaker] += 1
            terms.update(found)
    print(f"\n== Raw {label} ({len(automaton)} terms) as plain substrings")
    for speaker in ("customer", "agent"):
        print(f"{speaker:9s} flagged: {_pct(flagged[speaker], totals[speaker])}")
    print("  top terms: " + ", ".join(f"{term} {count}" for term, count in terms.most_common(top)))


def _source_words(paths: Iterable[Path]) -> Iterator[str]:
    for path in paths:
        yield from path.read_text(encoding="utf-8", errors="replace").splitlines()


def allowlist_effect(matcher: SensitiveWordMatcher, lexicon: SensitiveLexicon, lines: list[Line]) -> None:
    """Print which hits the allow-list suppresses on JDDC (the matcher rebuilt without it, same run)."""
    bare = SensitiveWordMatcher(
        SensitiveLexicon(entries=lexicon.entries, allowlist=(), version=f"{lexicon.version}-noallow")
    )
    suppressed: Counter[str] = Counter()
    for line in lines:
        kept = {(hit.start, hit.end, hit.term) for hit in matcher.find(line.text, speaker=line.speaker)}
        for hit in bare.find(line.text, speaker=line.speaker):
            if (hit.start, hit.end, hit.term) not in kept:
                suppressed[f"{hit.term}<{_context(line.text, hit.start, hit.end, 4)}>"] += 1
    print(
        f"\nallow-list ({len(lexicon.allowlist)} phrases) suppressed {sum(suppressed.values())} hits on JDDC:"
    )
    for what, count in suppressed.most_common(10):
        print(f"  {count:4d}  {what}")


def reviews_stress(matcher: SensitiveWordMatcher, data: Path, examples: int) -> None:
    """Flag rates on 62k e-commerce reviews: customer voice, often angry, so many hits are real (curation aid)."""
    path = data / "sentiment" / "online_shopping_10_cats.csv"
    if not path.is_file():
        return
    with path.open(encoding="utf-8") as handle:
        reviews = [row["review"] or "" for row in csv.DictReader(handle)]
    per_category: Counter[str] = Counter()
    terms: Counter[tuple[str, str]] = Counter()
    contexts: defaultdict[tuple[str, str], list[str]] = defaultdict(list)
    for review in reviews:
        hits = matcher.find(review, speaker="customer")
        per_category.update({hit.category for hit in hits})
        for hit in hits:
            key = (hit.category, hit.term)
            terms[key] += 1
            if len(contexts[key]) < examples:
                contexts[key].append(_context(review, hit.start, hit.end, 8))
    print(
        f"\n== Stress test: {len(reviews)} online_shopping_10_cats reviews (as customer), reviews with a hit"
    )
    for category in matcher.lexicon.categories:
        print(f"    {category:6s} {_pct(per_category[category], len(reviews))}")
    print(
        "  top terms (read them: 差评 / 投诉 / profanity in angry reviews are real, 杀人犯 in a book review is not):"
    )
    for key, count in terms.most_common(15):
        print(f"    {key[0]} {key[1]}: {count}  " + " | ".join(contexts[key]))


def recall(matcher: SensitiveWordMatcher) -> float:
    """Print which evasive positives are detected (with the expected category); return the detection rate."""
    print("\n== Recall on hand-written evasive positives")
    detected = 0
    for text, speaker, category in EVASIVE_POSITIVES:
        hits = matcher.find(text, speaker=speaker)
        ok = any(hit.category == category for hit in hits)
        detected += ok
        found = ", ".join(f"{hit.category}:{hit.term}:{text[hit.start : hit.end]!r}" for hit in hits) or "-"
        print(f"  {'ok  ' if ok else 'MISS'} [{speaker}] {text!r} -> {found}")
    rate = detected / len(EVASIVE_POSITIVES)
    print(f"detected {detected} / {len(EVASIVE_POSITIVES)} = {100 * rate:.1f} %")
    return rate


def main() -> None:
    """Print FP rates on JDDC, raw-dictionary baselines and evasion recall."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=REPO / "../shared/data")
    parser.add_argument("--lexicons", type=Path, default=REPO / "lexicons")
    parser.add_argument("--examples", type=int, default=2)
    args = parser.parse_args()
    lexicon = load_sensitive_lexicon(args.lexicons)
    matcher = SensitiveWordMatcher(lexicon)
    lines = load_jddc(args.data)
    headline = false_positives(matcher, lines, args.examples)
    allowlist_effect(matcher, lexicon, lines)
    reviews_stress(matcher, args.data, args.examples)
    sources = args.data / "lexicon_sources"
    houbb = sources / "houbb_sensitive_word" / "sensitive_word_dict.txt"
    raw_substring_baseline(lines, _source_words([houbb]), "houbb full dictionary")
    konsheng = sorted((sources / "konsheng_sensitive_lexicon").glob("*.txt"))
    raw_substring_baseline(lines, _source_words(konsheng), "konsheng lexicon (all 17 files)")
    rate = recall(matcher)
    print(
        "\nSUMMARY non-escalation FP: customer {:.3f} %, agent {:.3f} %; customer escalation {:.3f} %; "
        "evasion recall {:.1f} %".format(
            100 * headline["customer_other"],
            100 * headline["agent_other"],
            100 * headline["customer_escalation"],
            100 * rate,
        )
    )


if __name__ == "__main__":
    main()

"""Personal-data masking quality: recall on the PII test corpus, false masks on real JDDC chats and reviews.

    .venv/bin/python -m evaluation.eval_pii [--data ../shared/data] [--examples 20]

- Recall per kind over tests/pipelines/data/pii_corpus.jsonl (synthetic values in the forms people and speech
  recognisers write them): a value counts as masked when a span of its kind was produced for its case, its
  raw form is gone from the masked text and its digits are gone from the masked text's digits.
- JDDC false-mask rate: JDDC already replaced personal data with placeholders ([数字x], [电话x] …), so every
  mask on its 12,136 utterances is a false mask (target ≤ 0.5 % of utterances). Each one is listed so a human
  can judge it.
- The same count on the 62,774 online-shopping reviews, for information (their personal data was not
  scrubbed, so a mask there may be right).
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from pipelines.pii import PII_KINDS, MaskedText, PiiMasker

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "tests" / "pipelines" / "data" / "pii_corpus.jsonl"
_NON_DIGIT = re.compile(r"\D")


def corpus_recall(masker: PiiMasker) -> tuple[Counter[str], Counter[str], list[str]]:
    """(values per kind, masked per kind, descriptions of misses and of negatives that were masked)."""
    total: Counter[str] = Counter()
    masked: Counter[str] = Counter()
    problems: list[str] = []
    for line in CORPUS.read_text(encoding="utf-8").splitlines():
        case = json.loads(line)
        result = masker.mask(case["text"])
        kinds = Counter(span.kind for span in result.spans)
        digits = _NON_DIGIT.sub("", result.text)
        for value in case["pii"]:
            total[value["kind"]] += 1
            leaked = value["raw"] in result.text or (value["value"].isdigit() and value["value"] in digits)
            if kinds[value["kind"]] > 0 and not leaked:
                kinds[value["kind"]] -= 1
                masked[value["kind"]] += 1
            else:
                problems.append(f"missed {value['kind']} ({case['form']}): {case['text']} -> {result.text}")
        if not case["pii"] and result.spans:
            problems.append(f"masked a negative: {case['text']} -> {result.text}")
    return total, masked, problems


def jddc_utterances(data: Path) -> Iterator[str]:
    """Contents of chat_0.1per.txt (last tab-separated column)."""
    with (data / "dialogues" / "chat_0.1per.txt").open(encoding="utf-8") as handle:
        for row in handle:
            yield row.rstrip("\n").split("\t")[-1]


def reviews(data: Path) -> Iterator[str]:
    """The review column of online_shopping_10_cats.csv."""
    with (data / "sentiment" / "online_shopping_10_cats.csv").open(
        encoding="utf-8-sig", newline=""
    ) as handle:
        for row in csv.DictReader(handle):
            yield row["review"] or ""


def false_masks(masker: PiiMasker, texts: Iterator[str]) -> tuple[int, list[tuple[str, MaskedText]]]:
    """(utterance count, the utterances that got any mask with their masked form)."""
    count = 0
    masked: list[tuple[str, MaskedText]] = []
    for text in texts:
        count += 1
        result = masker.mask(text)
        if result.spans:
            masked.append((text, result))
    return count, masked


def _show(text: str, result: MaskedText, width: int = 40) -> str:
    first = result.spans[0]
    left = max(0, first.start - width)
    kinds = ",".join(span.kind for span in result.spans)
    return f"[{kinds}] …{result.text[left : first.end + width]}…  (was …{text[left : first.end + width]}…)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--examples", type=int, default=20, help="review false masks to print")
    args = parser.parse_args()
    masker = PiiMasker()

    total, masked, problems = corpus_recall(masker)
    print(f"PII corpus {CORPUS.relative_to(REPO)}: {sum(total.values())} values")
    for kind in PII_KINDS:
        if total[kind]:
            print(f"  {kind:<10} {masked[kind]:>4} / {total[kind]:<4} {masked[kind] / total[kind]:7.1%}")
    all_total, all_masked = sum(total.values()), sum(masked.values())
    print(f"  {'all':<10} {all_masked:>4} / {all_total:<4} {all_masked / all_total:7.1%}  (target ≥ 99 %)")
    for problem in problems:
        print("  " + problem)

    t0 = time.perf_counter()
    count, jddc = false_masks(masker, jddc_utterances(args.data))
    elapsed = time.perf_counter() - t0
    print(
        f"\nJDDC: {len(jddc)} of {count} utterances masked = {len(jddc) / count:.3%} false-mask rate "
        f"(target ≤ 0.5 %), {elapsed / count * 1e6:.0f} µs/utterance"
    )
    for text, result in jddc:
        print("  " + _show(text, result))

    count, masked_reviews = false_masks(masker, reviews(args.data))
    by_kind = Counter(span.kind for _, result in masked_reviews for span in result.spans)
    print(
        f"\nReviews (information; not scrubbed, so some may be real): {len(masked_reviews)} of {count} "
        f"masked = {len(masked_reviews) / count:.3%}; spans by kind {dict(by_kind)}"
    )
    for text, result in masked_reviews[: args.examples]:
        print("  " + _show(text, result))


if __name__ == "__main__":
    main()

"""Sensitive-word matcher throughput on JDDC text, against a plain `str.find` loop measured in the same run.

Run: .venv/bin/python -m benchmarks.bench_matcher [--repeat 3]
Both sides scan the same normalised utterances for the same patterns and return every occurrence; the
ratio compares the matching step, per utterance as `find()` calls it. End-to-end `find()` (normalisation, scope, allow-list, longest match,
offset mapping) and lexicon (re)load time are printed too.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from pipelines.normalize import Normalizer
from pipelines.sensitive import SensitiveWordMatcher, load_sensitive_lexicon
from pipelines.types import Speaker

REPO = Path(__file__).resolve().parents[1]


def load_texts(data: Path) -> list[tuple[Speaker, str]]:
    """(speaker, content) of every JDDC utterance."""
    texts: list[tuple[Speaker, str]] = []
    with (data / "dialogues" / "chat_0.1per.txt").open(encoding="utf-8") as handle:
        for row in handle:
            fields = row.rstrip("\n").split("\t", 6)
            if len(fields) == 7 and fields[6]:
                texts.append(("agent" if fields[2] == "1" else "customer", fields[6]))
    return texts


def _mb_per_s(n_bytes: int, seconds: float) -> float:
    return n_bytes / 1e6 / seconds


def main() -> None:
    """Print MB/s of the Aho-Corasick matcher and of a str.find loop, and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=REPO / "../shared/data")
    parser.add_argument("--lexicons", type=Path, default=REPO / "lexicons")
    parser.add_argument("--repeat", type=int, default=3, help="copies of the JDDC text (about 1 MB each)")
    args = parser.parse_args()

    started = time.perf_counter()
    lexicon = load_sensitive_lexicon(args.lexicons)
    loaded = time.perf_counter()
    normalizer = Normalizer()
    matcher = SensitiveWordMatcher(lexicon, normalizer=normalizer)
    built = time.perf_counter()
    print(
        f"lexicon {lexicon.version}: {len(lexicon.entries)} entries; load {1e3 * (loaded - started):.1f} ms, "
        f"automaton build {1e3 * (built - loaded):.1f} ms (a hot reload costs both)"
    )

    texts = load_texts(args.data) * args.repeat
    n_bytes = sum(len(text.encode("utf-8")) for _, text in texts)
    patterns = sorted(
        {normalizer.fold(s) for e in lexicon.entries for s in (e.term, *e.variants)}
        | {normalizer.fold(p) for p in lexicon.allowlist}
    )
    print(f"corpus: {len(texts)} utterances, {n_bytes / 1e6:.2f} MB UTF-8; {len(patterns)} patterns")

    t0 = time.perf_counter()
    normalized = [normalizer(text).text for _, text in texts]
    t_norm = time.perf_counter() - t0

    automaton = matcher._automaton  # the matching step alone, without the per-hit bookkeeping of find()
    t0 = time.perf_counter()
    ac_hits = sum(1 for text in normalized for _ in automaton.iter(text))
    t_ac = time.perf_counter() - t0

    t0 = time.perf_counter()
    find_hits = 0
    for text in normalized:
        for pattern in patterns:
            index = text.find(pattern)
            while index != -1:
                find_hits += 1
                index = text.find(pattern, index + 1)
    t_find = time.perf_counter() - t0
    if ac_hits != find_hits:
        raise SystemExit(f"the two scans disagree: {ac_hits} vs {find_hits} occurrences")

    t0 = time.perf_counter()
    e2e_hits = sum(len(matcher.find(text, speaker=speaker)) for speaker, text in texts)
    t_e2e = time.perf_counter() - t0

    print(f"normalise only            {_mb_per_s(n_bytes, t_norm):8.2f} MB/s")
    print(f"Aho-Corasick scan         {_mb_per_s(n_bytes, t_ac):8.2f} MB/s  ({ac_hits} occurrences)")
    print(f"str.find loop (baseline)  {_mb_per_s(n_bytes, t_find):8.2f} MB/s  ({find_hits} occurrences)")
    print(f"ratio scan / baseline     {t_find / t_ac:8.1f} x")
    print(
        f"matcher.find end to end   {_mb_per_s(n_bytes, t_e2e):8.2f} MB/s  ({e2e_hits} hits); "
        f"vs normalise + str.find loop {(t_find + t_norm) / t_e2e:.1f} x"
    )


if __name__ == "__main__":
    main()

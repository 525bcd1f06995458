"""Keyword extraction (关键词提取): TF-IDF over a dedicated jieba tokenizer with an e-commerce user dictionary.

The extractor never touches jieba's global tokenizer, so other code (or a second extractor with another
dictionary) cannot change its segmentation. Everything heavy (jieba's prefix dictionary, the POS table, the
IDF table) is loaded once in `__init__`; after that `extract` only reads shared state and is thread-safe.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import jieba
import jieba.analyse
import jieba.posseg

from pipelines.types import Keyword, Speaker, Utterance

# Content-bearing POS tags only: nouns, verbal nouns, verbs, idioms/fixed phrases, abbreviations, English.
ALLOW_POS: tuple[str, ...] = ("n", "nz", "nt", "ns", "nr", "vn", "v", "l", "i", "j", "an", "eng")
# JDDC placeholders ([数字x], [订单x] …) and the system order card are not words the customer said.
_PLACEHOLDER_RE = re.compile(r"\[[^\[\]\n]{1,10}x\]")
# Both patterns are linear on hostile text: the card's body is bounded (an unclosed "[订单编号:" repeated would
# otherwise rescan to the end of the line from every occurrence) and a mask only starts where a token does.
_ORDER_CARD_RE = re.compile(r"\[订单编号:[^\n\]]{0,100}\]\]?")
_MASK_RE = re.compile(r"(?<![0-9A-Za-z@._-])[0-9A-Za-z@._-]*\*{3,}[0-9A-Za-z@._-]*")  # masks: 138****5678
_WORD_RE = re.compile(r"[\u4e00-\u9fffA-Za-z]")
_SPEAKERS: tuple[Speaker, ...] = ("customer", "agent")
_ALLOWED = frozenset(ALLOW_POS)
_WEIGHT_DIGITS = 6


def read_word_list(path: Path) -> list[str]:
    """Lines of a lexicon file, without blank lines and `#` comment lines."""
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _is_keyword(word: str, stopwords: frozenset[str]) -> bool:
    # Pure numbers, punctuation and single characters carry no topic; jieba's TF-IDF drops <2 chars itself.
    return len(word) >= 2 and word.lower() not in stopwords and _WORD_RE.search(word) is not None


class KeywordExtractor:
    """Top-k TF-IDF keywords of a conversation, overall and per speaker."""

    def __init__(self, *, userdict: Path, stopwords: Path, top_k: int = 10) -> None:
        if top_k < 1:
            raise ValueError("top_k must be >= 1")
        self.top_k = top_k
        # jieba logs "Building prefix dict…" on every initialize; keep service logs to warnings.
        logging.getLogger("jieba").setLevel(logging.WARNING)
        tokenizer = jieba.Tokenizer()
        tokenizer.initialize()
        for line in read_word_list(userdict):
            parts = line.split()
            word, freq = parts[0], int(parts[1]) if len(parts) > 1 else None
            tag = parts[2] if len(parts) > 2 else None
            if freq == 0:
                # freq 0 would call finalseg.add_force_split, which mutates jieba's GLOBAL HMM state.
                raise ValueError(f"{userdict}: frequency 0 is not allowed ({word})")
            tokenizer.add_word(word, freq, tag)
        postokenizer = jieba.posseg.POSTokenizer(tokenizer)
        # The first cut copies the user dictionary's tags into the POS table (a one-time mutation): do it
        # here, single-threaded, instead of racing inside concurrent requests.
        postokenizer.lcut("退款")
        self._stopwords = frozenset(w.lower() for w in read_word_list(stopwords))
        self._tfidf = jieba.analyse.TFIDF(idf_path=None)
        self._tfidf.tokenizer = tokenizer
        self._tfidf.postokenizer = _DictionaryPosTokenizer(postokenizer)
        self._tfidf.stop_words = set(self._stopwords) | set(self._tfidf.stop_words)
        self._tokenizer = tokenizer

    def tokenize(self, text: str) -> list[str]:
        """Segment `text` with the extractor's own dictionary (no POS filter, no stopword filter)."""
        return list(self._tokenizer.lcut(text))

    def extract(self, texts: Sequence[str], *, top_k: int | None = None) -> list[tuple[str, float]]:
        """Top-k (term, TF-IDF weight) over the concatenation of `texts`, heaviest first."""
        return self._rank(self._counts(texts), self.top_k if top_k is None else top_k)

    def for_conversation(self, utterances: Sequence[Utterance]) -> list[Keyword]:
        """Keywords of the whole conversation (speaker None), then of the customer's and the agent's turns."""
        by_speaker: dict[str, list[str]] = {}
        for u in utterances:
            by_speaker.setdefault(u.speaker, []).append(u.text)
        # Each speaker's text is segmented once: the whole conversation's word counts are their sums (jieba
        # never segments across the newline between turns), which halves the cost of keywords (issue 14).
        counts = {speaker: self._counts(texts) for speaker, texts in by_speaker.items()}
        whole: dict[str, float] = {}
        for per_speaker in counts.values():
            for word, n in per_speaker.items():
                whole[word] = whole.get(word, 0.0) + n
        keywords = [Keyword(t, w, None) for t, w in self._rank(whole, self.top_k)]
        for speaker in _SPEAKERS:
            keywords.extend(
                Keyword(t, w, speaker) for t, w in self._rank(counts.get(speaker, {}), self.top_k)
            )
        return keywords

    def _counts(self, texts: Iterable[str]) -> dict[str, float]:
        """Word counts of the concatenated `texts` as jieba's TF-IDF counts them (POS and stopword filters)."""
        document = "\n".join(_clean(t) for t in texts)
        if not document.strip():
            return {}
        stop_words = self._tfidf.stop_words
        counts: dict[str, float] = {}
        for pair in self._tfidf.postokenizer.cut(document):
            word = pair.word
            if pair.flag not in _ALLOWED or len(word.strip()) < 2 or word.lower() in stop_words:
                continue
            counts[word] = counts.get(word, 0.0) + 1.0
        return counts

    def _rank(self, counts: dict[str, float], k: int) -> list[tuple[str, float]]:
        """Top-k (term, weight) of `counts`, weighted exactly as jieba's `TFIDF.extract_tags`."""
        total = sum(counts.values())
        idf, median = self._tfidf.idf_freq, self._tfidf.median_idf
        ranked: list[tuple[str, float]] = []
        for word, n in counts.items():
            if _is_keyword(word, self._stopwords):
                ranked.append((word, round(float(n * (idf.get(word, median) / total)), _WEIGHT_DIGITS)))
        # Stable order for equal weights: TF-IDF ties are common in short chats.
        ranked.sort(key=lambda item: (-item[1], item[0]))
        return ranked[:k]


class _DictionaryPosTokenizer:
    """POS segmentation from the dictionaries alone, without jieba's POS HMM for unknown characters.

    The POS HMM's Viterbi tries every pair of its 256 states for a character it has no table row for: a
    5,000-character utterance of rare characters took 118 s, and spoken digits or unknown words cost 4-9x
    ordinary text (benchmarks/bench_cost.py). Dictionary-only segmentation is linear and 8x faster on
    ordinary chats; unknown words fall apart into single characters, which are never keywords anyway.
    """

    def __init__(self, postokenizer: jieba.posseg.POSTokenizer) -> None:
        self._postokenizer = postokenizer

    def cut(self, sentence: str) -> Iterator[jieba.posseg.pair]:
        """Dictionary-only (word, flag) pairs of `sentence`."""
        return self._postokenizer.cut(sentence, HMM=False)  # type: ignore[no-any-return]


def _texts(utterances: Iterable[Utterance]) -> list[str]:
    return [u.text for u in utterances]


def _clean(text: str) -> str:
    text = _ORDER_CARD_RE.sub(" ", text)
    text = _PLACEHOLDER_RE.sub(" ", text)
    return _MASK_RE.sub(" ", text)

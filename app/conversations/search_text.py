"""The full-text index of a conversation's text: every character bigram and trigram of its utterances.

`q=` is a substring search. An index of jieba words would change its meaning (`q=评然` finds nothing, a word
jieba splits differently is missed); character n-grams keep it exact: every substring of two or three
characters is itself a lexeme exactly when some utterance contains it (n-grams never span two utterances),
and every longer substring has all its trigrams in the text, so a tsquery AND of them (GIN, locale-free, so
it works for CJK under this cluster's C.UTF-8 ctype where pg_trgm would not) narrows the candidates to a
small superset and the stored text decides. A one-character query is a prefix query (`'x':*`): each
utterance's last character is kept on its own so that a character at the end is found too. Trigrams, not
bigrams alone, for longer queries: common bigrams (的， 请问) each occur in most conversations, and their AND
let through ten candidates for each real match (measured at a million conversations).
"""

from __future__ import annotations

from collections.abc import Iterable

# Joins a conversation's utterances in `search_text`: a control character, refused in posted text and in `q`.
TEXT_SEPARATOR = "\x1f"

# A conversation whose gram set would not fit comfortably in one tsvector (1 MiB hard limit) stores NULL;
# NULL means "not indexed, check the text", so such a conversation (or one written before the migration)
# is never missed, only checked the slow way.
MAX_GRAMS = 60_000


def grams(texts: Iterable[str]) -> set[str] | None:
    """The distinct bigrams (plus each text's last character) of `texts`; None when too many to index."""
    out: set[str] = set()
    for text in texts:
        n = len(text)
        out.update(text[i : i + 2] for i in range(n))  # i = n - 1 gives the last character alone
        out.update(text[i : i + 3] for i in range(n - 2))
        if len(out) > MAX_GRAMS:
            return None
    return out


def query_grams(q: str) -> tuple[list[str], bool]:
    """The grams every text containing `q` has, and whether they are a prefix (a one-character query)."""
    if len(q) == 1:
        return [q], True
    if len(q) <= 3:
        return [q], False
    return sorted({q[i : i + 3] for i in range(len(q) - 2)}), False


def grams_decide(q: str) -> bool:
    """Whether the grams alone decide a match: a query of up to three characters is itself a gram, in a
    conversation's set exactly when some utterance contains it; a longer one needs its trigrams next to
    each other, which only the text can say."""
    return len(q) <= 3


def _quote(lexeme: str) -> str:
    # tsvector/tsquery input: a lexeme in single quotes, with ' and \ escaped by a backslash.
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "\\'") + "'"


def tsvector_literal(lexemes: Iterable[str]) -> str:
    """`lexemes` in tsvector input syntax (no positions): what COPY writes and `::tsvector` reads."""
    return " ".join(_quote(x) for x in sorted(lexemes))


def tsquery_literal(q: str) -> str:
    """A tsquery every conversation containing the substring `q` satisfies (a superset; LIKE decides)."""
    lexemes, prefix = query_grams(q)
    if prefix:
        return _quote(lexemes[0]) + ":*"
    return " & ".join(_quote(x) for x in lexemes)

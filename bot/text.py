"""Words, stems and sentences of complaint and proposal text: one tokenizer for every module."""

from __future__ import annotations

import re
import threading
from functools import lru_cache

import snowballstemmer

# Function words plus the words proposals use for their own mechanics ("switch", "cut" …):
# they say what a team will do, not what customers complain about.
_STOPWORDS_TEXT = """
    a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing don down during each etc every
    few for from further get gets got had has have having he her here hers herself him himself
    his how i if in into is it its itself just let lets let's me more most much my myself no nor
    not now of off on once one only or other our ours ourselves out over own per same she should
    so some such than that the their theirs them themselves then there these they this those
    through to too under until up us very via was we we'll we're were what when where which
    while who whom why will with would you your yours yourself yourselves it's don't
    propose proposal proposed plan planning plans decide decision consider considering introduce
    introducing start stop starting stopping make making move moving switch switching replace
    replacing cut cutting reduce reducing increase increasing change changing new default
    defaults instead rather policy team teams customers customer users user company going want
    need needs require requiring allow allowing use using everyone every let's
"""
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())
WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?", re.UNICODE)
# A sentence ends at . ! ? (or a paragraph break) followed by space and a capital, digit or quote.
# Not after an initial ("U.S.C. 1692g", "J. Smith"): a lone capital and a period end no
# sentence.
_SENTENCE_END = re.compile(
    r"(?<=[.!?])(?<![\s.(][A-Z]\.)[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9{])|\n\s*\n")

_local = threading.local()


def _stemmer() -> snowballstemmer.stemmer:
    # snowballstemmer objects keep state between calls: one per thread.
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        stemmer = _local.stemmer = snowballstemmer.stemmer("porter")
    return stemmer


@lru_cache(maxsize=65_536)
def stem(word: str) -> str:
    """Porter stem, the same algorithm as SQLite FTS5's porter tokenizer."""
    return str(_stemmer().stemWord(word))


def words(text: str) -> list[str]:
    """Lower-cased words of `text`, apostrophes dropped ("don't" → "dont")."""
    return [m.group(0).replace("'", "") for m in WORD.finditer(text.casefold())]


def content_terms(text: str, max_terms: int = 24) -> list[str]:
    """Content words of a proposal, in order, deduplicated, no stop words or lone digits."""
    seen: dict[str, None] = {}
    for match in WORD.finditer(text.casefold()):
        raw = match.group(0)
        word = raw.replace("'", "")
        if len(word) < 2 or raw in STOPWORDS or word in STOPWORDS:
            continue
        seen.setdefault(word, None)
        if len(seen) >= max_terms:
            break
    return list(seen)


def stems(text: str) -> set[str]:
    return {stem(w) for w in words(text)}


def sentences(text: str) -> list[str]:
    """Sentences of a complaint, in order; a text with no sentence ends is one sentence."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]

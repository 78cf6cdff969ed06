"""Static sentence embeddings (model2vec, shipped in bot/embedding_model) and query expansion."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from model2vec import StaticModel

log = logging.getLogger(__name__)

MODEL_DIR = Path(__file__).resolve().parent / "embedding_model"
# What model2vec needs to load a folder; checked up front so a missing file can never make
# model2vec fall back to treating the path as a hub id (which would try the network).
REQUIRED_FILES = ("model.safetensors", "tokenizer.json", "config.json")

# Function words plus the words proposals use for their own mechanics ("switch", "cut"…): their
# neighbours say nothing about what customers complain about.
_STOPWORDS_TEXT = """
    a about above after again against all also am an and any are as at be because been before being
    below between both but by can could did do does doing don down during each etc every few
    for from further get gets got had has have having he her here hers herself him himself his how i
    if in into is it its itself just let lets me more most much my myself no nor not now of off on
    once one only or other our ours ourselves out over own per same she should so some such than
    that the their theirs them themselves then there these they this those through to too under
    until up us very via was we were what when where which while who whom why will with would you
    your yours yourself yourselves
    propose proposal proposed plan planning plans decide decision consider considering introduce
    introducing start stop starting stopping make making move moving switch switching replace
    replacing cut cutting reduce reducing increase increasing change changing new default defaults
    instead rather policy team teams customers customer users user company going want need needs
    require requiring allow allowing use using"""
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())
_TEXT_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
_VOCAB_WORD = re.compile(r"[a-z]{3,}")
# Endings that FTS5's porter stemmer folds anyway, so a word that differs from another only by
# one of them adds nothing to a full-text query.
_INFLECTION_TEXT = "s es e ed d ing ings er ers est ly y ies ied ily ment ments ness"
_INFLECTIONS = frozenset([*_INFLECTION_TEXT.split(), ""])

# Below these scores a vocabulary word is unrelated noise (tuned by eye on complaint-style
# proposals; static-embedding cosines between true near-synonyms sit around 0.5–0.9).
NEIGHBOUR_FLOOR = 0.30
EXPANSION_FLOOR = 0.36
# Expansion blends "close to one query word" with "close to the query as a whole": the second
# term favours the sense that fits the proposal and words that fit several of its words.
WORD_WEIGHT = 0.5
# The "whole query" is partly the plain mean of its word vectors and partly the model's own
# SIF-weighted sentence vector, which leans towards rarer, more specific words ("refund" over
# "period"); fully weighted, one rare word would crowd out the others ("weekdays" over "phone").
SIF_SHARE = 0.35


def is_variant(a: str, b: str) -> bool:
    """True when one word inflects, or is built on, the other (phones, shipping, charger).

    Such words add nothing to a porter-stemmed FTS query, and words built on a query word
    (window → windowpane) sit close to it only because they share its first sub-word piece.
    """
    if a == b:
        return True
    # From four letters on: "app" must not shut out "application".
    if min(len(a), len(b)) >= 4 and (a.startswith(b) or b.startswith(a)):
        return True
    n = 0
    for ca, cb in zip(a, b, strict=False):
        if ca != cb:
            break
        n += 1
    if n < 3:
        return False
    ra, rb = a[n:], b[n:]

    def ok(rest: str) -> bool:
        # "shipping" = "ship" + "p" + "ing": allow the doubled final consonant.
        return rest in _INFLECTIONS or (rest[:1] == a[n - 1] and rest[1:] in _INFLECTIONS)

    return ok(ra) and ok(rb)


def content_words(text: str) -> list[str]:
    """Lower-cased words of text that carry meaning, in order, deduplicated."""
    seen: dict[str, None] = {}
    for match in _TEXT_WORD.finditer(text.casefold()):
        word = match.group(0).replace("'", "")
        if len(word) >= 2 and word not in STOPWORDS:
            seen.setdefault(word, None)
    return list(seen)


class Embedder:
    """A loaded static embedding model; thread-safe, cheap to call."""

    def __init__(self, model: StaticModel, path: Path) -> None:
        self._model = model
        self.path = path
        self.dim: int = int(model.dim)
        self._vocab_lock = threading.Lock()
        self._vocab_words: list[str] | None = None
        self._vocab_index: dict[str, int] = {}
        self._vocab_matrix: np.ndarray | None = None

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """float32 (n, dim), rows L2-normalised (all-zero for text with no known token)."""
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        # No multiprocessing: callers batch already, and a bot must not fan out threads per call.
        raw = self._model.encode(list(texts), use_multiprocessing=False, normalize=False)
        return _normalise(np.asarray(raw, dtype=np.float32).reshape(len(texts), self.dim))

    def neighbours(self, word: str, k: int = 8) -> list[tuple[str, float]]:
        """Nearest whole-word vocabulary entries to word, by cosine, best first."""
        word = word.strip().casefold()
        if not word or k <= 0:
            return []
        words, matrix = self._vocabulary()
        sims = matrix @ self._word_vector(word)
        return self._pick(sims, words, [word], k, NEIGHBOUR_FLOOR)

    def expand_terms(self, text: str, k: int = 12) -> list[str]:
        """Related whole words for the content words of text, best first, none already in it."""
        terms = content_words(text)
        if not terms or k <= 0:
            return []
        words, matrix = self._vocabulary()
        vectors = np.stack([self._word_vector(t) for t in terms])
        plain = _normalise(vectors.mean(axis=0, keepdims=True))[0]
        weighted = self.encode([" ".join(terms)])[0]
        centre = _normalise(((1 - SIF_SHARE) * plain + SIF_SHARE * weighted)[None, :])[0]
        sims = matrix @ np.vstack([vectors, centre]).T  # (vocab, terms + 1)
        scores = WORD_WEIGHT * sims[:, :-1].max(axis=1) + (1 - WORD_WEIGHT) * sims[:, -1]
        # Words of the text that the content filter dropped must not come back either, but only
        # as themselves: "for" must not shut out "forward".
        verbatim = {w.replace("'", "") for w in _TEXT_WORD.findall(text.casefold())}
        picked = self._pick(scores, words, terms, k + len(verbatim), EXPANSION_FLOOR)
        return [w for w, _ in picked if w not in verbatim][:k]

    def _pick(
        self, scores: np.ndarray, words: list[str], exclude: list[str], k: int, floor: float
    ) -> list[tuple[str, float]]:
        # Look a little past k: some of the best are inflections of each other or of the query.
        pool = min(len(words), k * 8 + len(exclude) * 4)
        if pool == 0:
            return []
        top = np.argpartition(-scores, pool - 1)[:pool]
        top = top[np.argsort(-scores[top], kind="stable")]
        kept: list[tuple[str, float]] = []
        for i in top:
            score = float(scores[i])
            if score < floor:
                break
            cand = words[i]
            # A candidate that begins a query word is usually that word's first sub-word piece
            # (rename → "ren"), close to it for no reason of meaning.
            if any(is_variant(cand, x) or x.startswith(cand) for x in exclude) or any(
                is_variant(cand, w) for w, _ in kept
            ):
                continue
            kept.append((cand, round(score, 4)))
            if len(kept) >= k:
                break
        return kept

    def _word_vector(self, word: str) -> np.ndarray:
        _, matrix = self._vocabulary()
        i = self._vocab_index.get(word)
        if i is not None:
            return matrix[i]
        # Not a whole-word token: average its sub-word pieces.
        return self.encode([word])[0]

    def _vocabulary(self) -> tuple[list[str], np.ndarray]:
        """Whole-word vocabulary entries and their unit vectors, built once on first use."""
        if self._vocab_words is not None and self._vocab_matrix is not None:
            return self._vocab_words, self._vocab_matrix
        with self._vocab_lock:
            if self._vocab_words is None or self._vocab_matrix is None:
                vocab = self._model.tokenizer.get_vocab()
                pairs = sorted(
                    (i, t) for t, i in vocab.items()
                    if _VOCAB_WORD.fullmatch(t) and t not in STOPWORDS
                )
                ids = np.array([i for i, _ in pairs], dtype=np.int64)
                matrix = _normalise(np.asarray(self._model.embedding[ids], dtype=np.float32))
                words = [t for _, t in pairs]
                self._vocab_index = {t: n for n, t in enumerate(words)}
                self._vocab_matrix = matrix
                self._vocab_words = words
            return self._vocab_words, self._vocab_matrix


def _normalise(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    # Rows with no known token stay zero instead of becoming NaN.
    return np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)


def to_blob(vec: np.ndarray) -> bytes:
    """float16 bytes of one vector, for a SQLite BLOB (half the size, ample precision)."""
    return np.asarray(vec, dtype=np.float16).reshape(-1).tobytes()


def from_blob(blob: bytes, dim: int) -> np.ndarray:
    """float32 vector back from to_blob's bytes."""
    if len(blob) != dim * 2:
        raise ValueError(f"vector blob has {len(blob)} bytes, expected {dim * 2}")
    return np.frombuffer(blob, dtype=np.float16).astype(np.float32)


_cache: dict[Path, Embedder] = {}
_cache_lock = threading.Lock()


def load_embedder(path: Path | None = None) -> Embedder | None:
    """The shipped (or given) model folder as an Embedder; None when it cannot be used."""
    folder = (path or MODEL_DIR).resolve()
    with _cache_lock:
        cached = _cache.get(folder)
        if cached is not None:
            return cached
        missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
        if missing:
            log.debug("no embedding model in %s (missing %s)", folder, ", ".join(missing))
            return None
        try:
            from model2vec import StaticModel
        except ImportError as exc:
            log.debug("model2vec is not installed: %s", exc)
            return None
        try:
            # float32 in memory: numpy emulates float16 arithmetic (encoding is ~15% faster).
            model = StaticModel.from_pretrained(folder, quantize_to="float32", force_download=False)
        except Exception as exc:  # a damaged model must cost the semantic signal, not the bot
            log.warning("could not load the embedding model from %s: %s", folder, exc)
            return None
        embedder = Embedder(model, folder)
        _cache[folder] = embedder
        return embedder


__all__ = ["Embedder", "content_words", "from_blob", "is_variant", "load_embedder", "to_blob"]

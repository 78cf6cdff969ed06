"""Proposal text → ranked, diverse, recent complaints: FTS5 BM25, semantic signal, recency."""

from __future__ import annotations

import logging
import math
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

from bot.models import Complaint, ScoredComplaint
from bot.store.complaints import ComplaintStore, FtsHit
from bot.store.db import Store

if TYPE_CHECKING:
    from bot.embedding import Embedder

log = logging.getLogger(__name__)

# Words that carry the proposal's mechanics, not what customers talk about.
STOPWORDS = frozenset(
    [
        "a", "about", "above", "after", "again", "against", "all", "am", "an", "and", "any", "are",
        "as", "at", "be", "because", "been", "before", "being", "below", "between", "both", "but",
        "by", "can", "could", "did", "do", "does", "doing", "down", "during", "each", "few", "for",
        "from", "further", "had", "has", "have", "having", "he", "her", "here", "hers", "herself",
        "him", "himself", "his", "how", "i", "if", "in", "into", "is", "it", "its", "itself",
        "just", "let", "me", "more", "most", "my", "myself", "no", "nor", "not", "now", "of", "off",
        "on", "once", "only", "or", "other", "our", "ours", "ourselves", "out", "over", "own",
        "same", "she", "should", "so", "some", "such", "than", "that", "the", "their", "theirs",
        "them", "themselves", "then", "there", "these", "they", "this", "those", "through", "to",
        "too", "under", "until", "up", "very", "was", "we", "were", "what", "when", "where",
        "which", "while", "who", "whom", "why", "will", "with", "would", "you", "your", "yours",
        "yourself", "yourselves", "also", "via", "per", "etc", "us", "let's", "lets", "we'll",
        "we're", "it's", "don't", "propose", "proposal", "proposed", "plan", "planning", "plans",
        "decide", "decision", "consider", "considering", "introduce", "introducing", "start",
        "stop", "starting", "stopping", "make", "making", "move", "moving", "switch", "switching",
        "replace", "replacing", "cut", "cutting", "reduce", "reducing", "increase", "increasing",
        "change", "changing", "new", "default", "defaults", "instead", "rather", "policy", "team",
        "teams", "customers", "customer", "users", "user", "company", "our", "going", "want",
        "should", "would", "need", "require", "requiring", "allow", "allowing",
    ]
)
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?", re.UNICODE)

SEMANTIC_SCAN_CAP = 20_000  # most recent vectors scanned per query
CANDIDATES = 300
SEARCH_SLOTS = 1  # searches run at once per process (see Retriever.__init__)


def query_terms(text: str, max_terms: int = 24) -> list[str]:
    """Content words of a proposal, in order, deduplicated."""
    seen: dict[str, None] = {}
    for match in _WORD.finditer(text.casefold()):
        word = match.group(0).replace("'", "")
        if len(word) < 2 or word in STOPWORDS or word.isdigit() and len(word) < 2:
            continue
        seen.setdefault(word, None)
        if len(seen) >= max_terms:
            break
    return list(seen)


def fts_or_query(terms: list[str]) -> str:
    """An FTS5 MATCH expression that ORs quoted terms (quoting defuses FTS syntax in input)."""
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)


@dataclass
class Retrieval:
    """What retrieval found for one proposal."""

    hits: list[ScoredComplaint]
    considered: int  # distinct candidate complaints weighed
    since: datetime
    until: datetime
    terms: list[str] = field(default_factory=list)
    expansion: list[str] = field(default_factory=list)

    semantic_available: bool = True

    @property
    def relevant(self) -> list[ScoredComplaint]:
        """The hits that are customer signal, judged on absolute evidence (the combined score is
        relative to the best candidate, so it cannot tell "nothing bears on this" apart)."""
        return [h for h in self.hits if is_relevant(h, self.semantic_available)]


# Calibrated on the sample corpus (bench/labels_sample.json) and on proposals nothing bears on
# ("Rename the tabs of the internal finance spreadsheet" tops out near 0.34 cosine and 0.2
# coverage); see bench/README.md.
SEMANTIC_STRONG = 0.45
SEMANTIC_WEAK = 0.28
COVERAGE_MIN = 0.34
MATCHED_MIN = 2  # one shared word ("stand" in "standard") is a coincidence, two are a topic


def is_relevant(hit: ScoredComplaint, semantic_available: bool = True) -> bool:
    lexical = hit.coverage >= COVERAGE_MIN and hit.matched >= MATCHED_MIN
    if not semantic_available:
        return lexical and hit.coverage >= 0.5
    return hit.semantic >= SEMANTIC_STRONG or (hit.semantic >= SEMANTIC_WEAK and lexical)


def term_coverage(terms: list[str], text: str) -> tuple[float, int]:
    """(share, count) of terms found in text, on a 5-letter stem so "weekends" finds "weekend"."""
    # Numbers ("from 30 to 14 days") are the proposal's mechanics; customers rarely repeat them.
    terms = [t for t in terms if not t.isdigit()]
    if not terms:
        return 0.0, 0
    words = {w[:5] for w in _WORD.findall(text.casefold())}
    matched = sum(1 for t in terms if t[:5] in words)
    return matched / len(terms), matched


@dataclass
class _Candidate:
    rowid: int
    complaint: Complaint | None = None
    bm25: float = 0.0
    bm25_expansion: float = 0.0
    semantic: float = 0.0


class Retriever:
    """Ranks stored complaints for a proposal; safe to share between threads."""

    def __init__(
        self,
        store: Store,
        embedder: Embedder | None = None,
        *,
        window_days: int = 90,
        clock: Callable[[], datetime] | None = None,
        # Tuned with bench/retrieval_quality.py on both labelled corpora (see bench/README.md).
        semantic_weight: float = 0.55,
        bm25_weight: float = 0.35,
        recency_weight: float = 0.10,
        expansion_weight: float = 0.25,
        diversity: float = 0.98,
    ) -> None:
        self.complaints = ComplaintStore(store)
        self.embedder = embedder
        self.window_days = window_days
        self.clock = clock or (lambda: datetime.now(UTC))
        self.weights = (bm25_weight, semantic_weight, recency_weight)
        self.expansion_weight = expansion_weight
        self.diversity = diversity
        self._cache_lock = threading.Lock()
        # Searches are CPU-bound Python and share one GIL: running several at once makes none
        # faster, but starves the request threads that must ack Slack within 3 s. One at a
        # time kept the bot's own ack p99 at 33 ms instead of 131 ms with 50 commands in
        # flight (bench/ack_latency.py, 2 cores).
        self._search_slot = threading.BoundedSemaphore(SEARCH_SLOTS)
        self._scan_cache: dict[tuple[object, ...], tuple[np.ndarray, np.ndarray]] = {}

    def search(
        self,
        text: str,
        *,
        limit: int = 10,
        since_days: int | None = None,
        diverse: bool = True,
    ) -> Retrieval:
        with self._search_slot:
            return self._search(text, limit=limit, since_days=since_days, diverse=diverse)

    def _search(
        self, text: str, *, limit: int, since_days: int | None, diverse: bool
    ) -> Retrieval:
        until = self.clock()
        since = until - timedelta(days=since_days or self.window_days)
        terms = query_terms(text)
        expansion: list[str] = []
        if self.embedder is not None and terms:
            expansion = [t for t in self.embedder.expand_terms(text, k=12) if t not in terms]
        candidates: dict[int, _Candidate] = {}
        if terms:
            for hit in self.complaints.fts(fts_or_query(terms), since=since, limit=CANDIDATES):
                candidates[hit.rowid] = _Candidate(hit.rowid, hit.complaint, bm25=-hit.bm25)
        if expansion:
            for hit in self.complaints.fts(
                fts_or_query(expansion), since=since, limit=CANDIDATES // 2
            ):
                cand = candidates.setdefault(hit.rowid, _Candidate(hit.rowid, hit.complaint))
                cand.bm25_expansion = -hit.bm25
        if self.embedder is not None and text.strip():
            self._add_semantic(text, since, candidates)
        missing = [rid for rid, c in candidates.items() if c.complaint is None]
        for rid, complaint in self.complaints.by_rowids(missing).items():
            candidates[rid].complaint = complaint
        scored = self._score(list(candidates.values()), until)
        hits = self._diversify(scored, limit, self.diversity) if diverse else scored[:limit]
        for i, h in enumerate(hits):
            share, matched = term_coverage(terms, h.complaint.text)
            hits[i] = h.model_copy(update={"coverage": round(share, 4), "matched": matched})
        return Retrieval(hits, len(candidates), since, until, terms, expansion,
                         semantic_available=self.embedder is not None)

    def bm25_baseline(self, text: str, *, limit: int = 10, since_days: int | None = None) -> list[
        Complaint
    ]:
        """Plain BM25 over the OR'd proposal terms: the benchmark's baseline."""
        until = self.clock()
        since = until - timedelta(days=since_days or self.window_days)
        terms = query_terms(text)
        if not terms:
            return []
        return [h.complaint for h in self.complaints.fts(fts_or_query(terms), since=since,
                                                         limit=limit)]

    def _add_semantic(self, text: str, since: datetime, candidates: dict[int, _Candidate]) -> None:
        assert self.embedder is not None
        from bot.embedding import from_blob, to_blob

        query = self.embedder.encode([text])[0]
        rowids, matrix = self._scan_matrix(since)
        if len(rowids):
            sims = matrix @ query
            top = np.argsort(-sims)[: CANDIDATES // 2]
            for i in top:
                rid = int(rowids[i])
                candidates.setdefault(rid, _Candidate(rid)).semantic = float(sims[i])
        # FTS candidates outside the scanned set still need a semantic score.
        need = [rid for rid, c in candidates.items() if c.semantic == 0.0]
        stored = self.complaints.vectors_for(need)
        fresh: list[tuple[int, str]] = []
        for rid in need:
            blob = stored.get(rid)
            if blob is not None:
                candidates[rid].semantic = float(from_blob(blob, self.embedder.dim) @ query)
            elif candidates[rid].complaint is not None:
                fresh.append((rid, candidates[rid].complaint.text))  # type: ignore[union-attr]
        if fresh:
            vectors = self.embedder.encode([t for _, t in fresh])
            for (rid, _), vec in zip(fresh, vectors, strict=True):
                candidates[rid].semantic = float(vec @ query)
            blobs = [(rid, to_blob(v)) for (rid, _), v in zip(fresh, vectors, strict=True)]
            try:
                self.complaints.put_vectors(blobs)
            except Exception as exc:  # a busy writer must not fail a search
                log.debug("could not cache vectors: %s", exc)

    def _scan_matrix(self, since: datetime) -> tuple[np.ndarray, np.ndarray]:
        assert self.embedder is not None
        from bot.embedding import from_blob

        key = (since.date().isoformat(), self.complaints.data_version())
        with self._cache_lock:
            cached = self._scan_cache.get(key)
        if cached is not None:
            return cached
        rows = self.complaints.vectors_since(since, SEMANTIC_SCAN_CAP)
        dim = self.embedder.dim
        rowids = np.array([r for r, _ in rows], dtype=np.int64)
        matrix = (
            np.vstack([from_blob(b, dim) for _, b in rows]) if rows
            else np.zeros((0, dim), dtype=np.float32)
        )
        with self._cache_lock:
            self._scan_cache = {key: (rowids, matrix)}
        return rowids, matrix

    def _score(self, cands: list[_Candidate], now: datetime) -> list[ScoredComplaint]:
        w_bm25, w_sem, w_rec = self.weights
        if self.embedder is None:
            w_bm25, w_sem = w_bm25 + w_sem, 0.0
        w_exp = self.expansion_weight
        top_lex = max((c.bm25 + w_exp * c.bm25_expansion for c in cands), default=0.0) or 1.0
        out = []
        for c in cands:
            if c.complaint is None:
                continue
            if not c.bm25 and not c.bm25_expansion and c.semantic < SEMANTIC_WEAK:
                continue  # a nearest neighbour that shares no word and little meaning is noise
            lexical = (c.bm25 + w_exp * c.bm25_expansion) / top_lex
            semantic = max(0.0, min(1.0, (c.semantic - 0.1) / 0.6))
            age_days = max(0.0, (now - c.complaint.created_at).total_seconds() / 86400)
            recency = math.exp(-age_days / 45.0)
            score = w_bm25 * lexical + w_sem * semantic + w_rec * recency
            out.append(
                ScoredComplaint(
                    complaint=c.complaint, score=round(score, 6), bm25=round(lexical, 6),
                    semantic=round(c.semantic, 6), recency=round(recency, 6),
                )
            )
        out.sort(key=lambda s: (-s.score, s.complaint.id))
        return out

    @staticmethod
    def _diversify(
        scored: list[ScoredComplaint], limit: int, factor: float
    ) -> list[ScoredComplaint]:
        """Greedy pick with a per-theme penalty so one loud theme does not hide the others.

        The penalty stops growing after two picks of a theme: diversity should lift a second
        theme into view, not bury the complaints that bear on the proposal most."""
        picked: list[ScoredComplaint] = []
        per_theme: dict[str, int] = {}
        pool = scored[: max(limit * 5, 50)]
        while pool and len(picked) < limit:
            best_i = max(
                range(len(pool)),
                key=lambda i: pool[i].score
                * factor ** min(2, per_theme.get(pool[i].complaint.theme, 0)),
            )
            choice = pool.pop(best_i)
            per_theme[choice.complaint.theme] = per_theme.get(choice.complaint.theme, 0) + 1
            picked.append(choice)
        return picked


def index_vectors(store: Store, embedder: Embedder, *, batch: int = 2000) -> int:
    """Compute the missing complaint vectors; returns how many were added."""
    from bot.embedding import to_blob

    complaints = ComplaintStore(store)
    total = 0
    while True:
        rows = complaints.missing_vectors(batch)
        if not rows:
            return total
        vectors = embedder.encode([t for _, t in rows])
        complaints.put_vectors([(rid, to_blob(v)) for (rid, _), v in zip(rows, vectors,
                                                                         strict=True)])
        total += len(rows)


__all__ = ["FtsHit", "Retrieval", "Retriever", "index_vectors", "query_terms"]

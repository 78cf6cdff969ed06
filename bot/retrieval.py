"""Proposal text → ranked, diverse, recent complaints: FTS5 BM25, semantic signal, recency."""

from __future__ import annotations

import logging
import math
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

import numpy as np

from bot.models import Complaint, ScoredComplaint
from bot.store.complaints import FTS_WEIGHTS, ComplaintStore, FtsHit
from bot.store.db import Store
from bot.text import content_terms, sentences, stem, words

if TYPE_CHECKING:
    from bot.embedding import Embedder
    from bot.foreground import Foreground
    from bot.sentence_encoder import SentenceEncoder
    from bot.store.complaints import VectorTable

log = logging.getLogger(__name__)


SEMANTIC_SCAN_CAP = 20_000  # most recent vectors scanned per query
# Weight of each ranked list in the fusion, where the sentence encoder's vectors are built:
# BM25 over the text and the source's categories, BM25 over the text alone, the encoder's
# nearest neighbours, and customers' words from an LLM when one is configured. Chosen on the
# tune half and the fourth round's fresh proposals (bench/dev/README.md): the static model's
# lists added on the tune half's labels and cost a sixth of BM25's recall@50 on fresh ones.
FUSION_WEIGHTS = {"lexical": 1.0, "text": 1.0, "dense": 1.0, "rewrite": 0.6}
# Without those vectors (encoder off, or not built yet) the static model stands in for it.
WITHOUT_ENCODER_WEIGHTS = {
    "lexical": 1.0, "passage": 0.3, "semantic": 0.6, "expansion": 0.3, "amount": 0.5,
    "rewrite": 0.6,
}
CANDIDATES = 300
MATCH_BUDGET = 30_000  # rows FTS5 may score for one OR query (see Retriever._within_budget)
SEARCH_SLOTS = 1  # searches run at once per process (see Retriever.__init__)


def query_terms(text: str, max_terms: int = 24) -> list[str]:
    """Content words of a proposal, in order, deduplicated."""
    return content_terms(text, max_terms)


_AMOUNT = re.compile(r"[$€£]\s?\d[\d,]*(?:\.\d+)?|\b\d+\.\d+\b")


def amount_phrases(text: str) -> list[str]:
    """The money amounts a proposal names ("$7.99") as FTS5 phrases of their digit groups: a
    complaint quoting the same amount is talking about the same thing."""
    out: dict[str, None] = {}
    for match in _AMOUNT.finditer(text):
        parts = re.findall(r"\d+", match.group(0))
        if parts and not (len(parts) == 1 and len(parts[0]) < 2):
            out.setdefault('"' + " ".join(parts) + '"', None)
    return list(out)


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
        words = len({stem(t) for t in self.terms if not t.isdigit()})
        return [h for h in self.hits if is_relevant(h, self.semantic_available, words)]


# Calibrated on the tune half of the dev set (bench/dev) and on proposals nothing bears on
# ("Rename the tabs of the internal finance spreadsheet"); see bench/README.md.
SEMANTIC_STRONG = 0.45
SEMANTIC_WEAK = 0.28
# The sentence encoder's cosine below which a complaint is not about the proposal whatever words
# they share, and below which its nearest neighbours are not candidates at all.
DENSE_MIN = 0.30
DENSE_CANDIDATE = 0.20
COVERAGE_MIN = 0.34
COVERAGE_STRONG = 0.66
MATCHED_MIN = 2  # one shared word ("stand" in "standard") is a coincidence, two are a topic
RRF_K = 60  # reciprocal-rank fusion constant (Cormack et al. 2009); damps the top ranks' lead
COVERAGE_BOOST = 0.5  # how much a passage holding all the proposal's words lifts a candidate
RELATED_WEIGHT = 0.5  # an expansion word in a passage, against a word of the proposal
PASSAGE_POOL = 200  # candidates whose best passage is scored, by their first-pass fused rank


def is_relevant(
    hit: ScoredComplaint, semantic_available: bool = True, query_words: int = 3
) -> bool:
    # The sentence encoder reads meaning the shared words and the static model miss: a
    # stand-up "on Tuesday mornings" is not a parcel that "never came that morning".
    if hit.dense is not None and hit.dense < DENSE_MIN:
        return False
    # Two sentences that hold most of the proposal's words are on its topic whatever the
    # static embedding says (it is weak on long letters); fewer words need the meaning to agree.
    if hit.matched >= MATCHED_MIN and hit.coverage >= COVERAGE_STRONG:
        return True
    lexical = hit.coverage >= COVERAGE_MIN and hit.matched >= MATCHED_MIN
    if not semantic_available:
        return lexical and hit.coverage >= 0.5
    return hit.semantic >= SEMANTIC_STRONG or (hit.semantic >= SEMANTIC_WEAK and lexical)


@dataclass(frozen=True)
class Passage:
    """The best window of one or two sentences of a complaint for a set of query stems."""

    text: str
    score: float  # sum of the IDF of the query stems it holds
    matched: int
    coverage: float  # matched / number of query stems


def best_passage(
    text: str, query: dict[str, float], window: int = 2,
    related: dict[str, float] | None = None,
) -> Passage:
    """The `window` consecutive sentences holding the most (IDF-weighted) query stems.

    `related` stems (words retrieval found close to the proposal's: "weekend" for "weekdays")
    add RELATED_WEIGHT of their IDF to the score, which picks and ranks the passage; the
    coverage (what the relevance rule reads) counts the proposal's own words only."""
    if not query:
        return Passage("", 0.0, 0, 0.0)
    related = {s: w for s, w in (related or {}).items() if s not in query}
    parts = sentences(text) or [text]
    stemmed = [{stem(w) for w in words(part)} for part in parts]
    best = Passage(parts[0], -1.0, 0, 0.0)
    for i in range(len(parts)):
        seen = set().union(*stemmed[i: i + window])
        held, near = seen & query.keys(), seen & related.keys()
        score = sum(query[s] for s in held) + RELATED_WEIGHT * sum(related[s] for s in near)
        if score > best.score:
            best = Passage(" ".join(parts[i: i + window]), score, len(held),
                           len(held) / len(query))
    return best


@dataclass
class _Candidate:
    rowid: int
    complaint: Complaint | None = None
    ranks: dict[str, int] = field(default_factory=dict)  # list name -> 0-based rank
    semantic: float = 0.0
    dense: float | None = None
    passage: Passage | None = None
    fused: float = 0.0


class Retriever:
    """Ranks stored complaints for a proposal; safe to share between threads.

    Each signal ranks candidates on its own (BM25 over text and the source's categories, BM25
    over expansion words, cosine to the proposal, the best passage) and the ranks are fused:
    rank fusion needs no calibration between scores that live on different scales, which is
    what made weighted score sums overfit the corpus they were tuned on."""

    def __init__(
        self,
        store: Store,
        embedder: Embedder | None = None,
        *,
        window_days: int = 90,
        clock: Callable[[], datetime] | None = None,
        weights: dict[str, float] | None = None,
        recency_weight: float = 0.1,
        coverage_boost: float = COVERAGE_BOOST,
        diversity: float = 0.98,
        foreground: Foreground | None = None,
        encoder: SentenceEncoder | None = None,
    ) -> None:
        self.complaints = ComplaintStore(store)
        self.embedder = embedder
        self.encoder = encoder
        self.window_days = window_days
        self.clock = clock or (lambda: datetime.now(UTC))
        # Explicit weights (benchmarks, experiments) hold with and without the encoder.
        self.weights = dict(FUSION_WEIGHTS if weights is None else weights)
        self.fallback_weights = dict(WITHOUT_ENCODER_WEIGHTS if weights is None else weights)
        self.recency_weight = recency_weight
        self.coverage_boost = coverage_boost
        self.foreground = foreground
        self.diversity = diversity
        self._cache_lock = threading.Lock()
        # Searches are CPU-bound Python and share one GIL: running several at once makes none
        # faster, but starves the request threads that must ack Slack within 3 s.
        self._search_slot = threading.BoundedSemaphore(SEARCH_SLOTS)
        self._scan_cache: dict[str, tuple[tuple[object, ...], np.ndarray, np.ndarray]] = {}

    def search(
        self,
        text: str,
        *,
        limit: int = 10,
        since_days: int | None = None,
        diverse: bool = True,
        audience: str | None = None,
        also: Sequence[str] = (),
    ) -> Retrieval:
        """Best first. `audience` is the Slack conversation asking (None: the CLI, sees all);
        `also` are more phrases for the same need (customers' words from an LLM): searched as
        one more ranked list, never counted as the proposal's own words."""
        with self._search_slot:
            if self.foreground is not None:
                self.foreground.wait_quiet()
            return self._search(text, limit=limit, since_days=since_days, diverse=diverse,
                                audience=audience, also=also)

    def _search(
        self, text: str, *, limit: int, since_days: int | None, diverse: bool,
        audience: str | None, also: Sequence[str] = (),
    ) -> Retrieval:
        # Stored times are whole seconds: a complaint logged earlier in this second is in.
        now = self.clock()
        until = now.replace(microsecond=0) + timedelta(seconds=1) if now.microsecond else now
        since = until - timedelta(days=since_days or self.window_days)
        terms = query_terms(text)
        expansion: list[str] = []
        if self.embedder is not None and terms:
            expansion = [t for t in self.embedder.expand_terms(text, k=12) if t not in terms]
        candidates: dict[int, _Candidate] = {}
        dense = self._dense_matrix(since, audience) if text.strip() else None
        weights = self.weights if dense is not None else self.fallback_weights

        def add(name: str, rowids: list[int], found: dict[int, Complaint] | None = None) -> None:
            for rank, rid in enumerate(rowids):
                cand = candidates.setdefault(rid, _Candidate(rid))
                cand.ranks[name] = rank
                if found is not None and cand.complaint is None:
                    cand.complaint = found.get(rid)

        def search_list(name: str, match: str, limit: int,
                        columns: tuple[float, float, float] = FTS_WEIGHTS) -> None:
            hits = self.complaints.fts(match, since=since, limit=limit, audience=audience,
                                       weights=columns)
            add(name, [h.rowid for h in hits], {h.rowid: h.complaint for h in hits})

        # A list the fusion does not weigh is not worth a query.
        if terms:
            match = fts_or_query(self._within_budget(terms))
            search_list("lexical", match, CANDIDATES)
            if weights.get("text"):
                search_list("text", f"text : ({match})", CANDIDATES, columns=(1.0, 0.0, 0.0))
        if expansion and weights.get("expansion"):
            search_list("expansion", fts_or_query(self._within_budget(expansion)),
                        CANDIDATES // 2)
        customers = [t for t in query_terms(" ".join(also)) if t not in terms]
        if customers and weights.get("rewrite"):
            search_list("rewrite", fts_or_query(self._within_budget(customers)),
                        CANDIDATES // 2)
        amounts = amount_phrases(text)
        if amounts and weights.get("amount"):
            search_list("amount", " OR ".join(amounts), CANDIDATES // 2)
        if self.embedder is not None and text.strip():
            self._add_semantic(text, since, candidates, audience)
        if dense is not None:
            self._add_dense(text, dense, candidates)
        missing = [rid for rid, c in candidates.items() if c.complaint is None]
        for rid, complaint in self.complaints.by_rowids(missing, audience=audience).items():
            candidates[rid].complaint = complaint
        pool = [c for c in candidates.values() if c.complaint is not None]
        self._fuse(pool, weights)
        pool.sort(key=lambda c: -c.fused)
        idf = self._idf([t for t in terms if not t.isdigit()])
        related = self._idf(expansion) if RELATED_WEIGHT > 0 else {}
        scored_pool = pool[:PASSAGE_POOL]
        for cand in scored_pool:
            cand.passage = best_passage(cand.complaint.text, idf,  # type: ignore[union-attr]
                                        related=related)
        ranked = sorted(
            (c for c in scored_pool if c.passage is not None and c.passage.score > 0),
            key=lambda c: -c.passage.score,  # type: ignore[union-attr]
        )
        for rank, cand in enumerate(ranked):
            cand.ranks["passage"] = rank
        self._fuse(pool, weights)
        # A candidate only lists the fusion does not weigh found is not ranked at all.
        scored = self._score([c for c in pool if c.fused > 0], until)
        hits_out = self._diversify(scored, limit, self.diversity) if diverse else scored[:limit]
        return Retrieval(hits_out, len(candidates), since, until, terms, expansion,
                         semantic_available=self.embedder is not None)

    def _within_budget(self, terms: list[str]) -> list[str]:
        """The terms to OR, rarest kept first, so BM25 scores at most about MATCH_BUDGET rows.

        FTS5 scores every row that matches any OR'd term before it can keep the best few; in a
        large store a common word ("order", "account") matches a large share of it while adding
        almost nothing to the ranking (its IDF is near zero). Small stores are never pruned."""
        total, freqs = self.complaints.doc_freqs(sorted({stem(t) for t in terms}))
        if sum(freqs.values()) <= MATCH_BUDGET:
            return terms
        kept: list[str] = []
        matches = 0
        for term in sorted(terms, key=lambda t: freqs.get(stem(t), 0)):
            n = freqs.get(stem(term), 0)
            if kept and matches + n > MATCH_BUDGET:
                break
            kept.append(term)
            matches += n
        return [t for t in terms if t in kept]  # in the proposal's order

    def _idf(self, terms: list[str]) -> dict[str, float]:
        """Query stem -> inverse document frequency over the whole store."""
        query = {stem(t) for t in terms}
        if not query:
            return {}
        total, freqs = self.complaints.doc_freqs(sorted(query))
        return {s: math.log(1 + (total - n + 0.5) / (n + 0.5)) for s, n in
                ((s, freqs.get(s, 0)) for s in query)}

    @staticmethod
    def _fuse(pool: list[_Candidate], weights: dict[str, float]) -> None:
        for cand in pool:
            cand.fused = sum(weights.get(name, 0.0) / (RRF_K + rank)
                             for name, rank in cand.ranks.items())

    def _add_semantic(
        self, text: str, since: datetime, candidates: dict[int, _Candidate],
        audience: str | None,
    ) -> None:
        assert self.embedder is not None
        from bot.embedding import from_blob, to_blob

        query = self.embedder.encode([text])[0]
        rowids, matrix = self._scan_matrix(since, audience, "complaint_vectors",
                                           self.embedder.dim)
        ranked_sims = np.zeros(0, dtype=np.float32)  # the scanned similarities, descending
        if len(rowids):
            sims = matrix @ query
            top = np.argsort(-sims)[: CANDIDATES // 2]
            ranked_sims = sims[top]
            for rank, i in enumerate(top):
                if sims[i] < SEMANTIC_WEAK:
                    break  # a nearest neighbour that shares little meaning is noise
                rid = int(rowids[i])
                cand = candidates.setdefault(rid, _Candidate(rid))
                cand.semantic = float(sims[i])
                cand.ranks["semantic"] = rank
        # FTS candidates outside the scanned set still need a semantic score.
        # A complaint logged since the scan's vectors were built takes the place its
        # similarity earns in that list, or it would rank below weaker ones until then.
        need = [rid for rid, c in candidates.items() if c.semantic == 0.0]
        stored = self.complaints.vectors_for(need)
        fresh: list[tuple[int, str]] = []

        def place(rid: int, sim: float) -> None:
            candidates[rid].semantic = sim
            rank = int(np.count_nonzero(ranked_sims > sim))
            if sim >= SEMANTIC_WEAK and rank < CANDIDATES // 2:
                candidates[rid].ranks["semantic"] = rank

        for rid in need:
            blob = stored.get(rid)
            if blob is not None:
                place(rid, float(from_blob(blob, self.embedder.dim) @ query))
            elif candidates[rid].complaint is not None:
                fresh.append((rid, candidates[rid].complaint.text))  # type: ignore[union-attr]
        if fresh:
            vectors = self.embedder.encode([t for _, t in fresh])
            for (rid, _), vec in zip(fresh, vectors, strict=True):
                place(rid, float(vec @ query))
            blobs = [(rid, to_blob(v)) for (rid, _), v in zip(fresh, vectors, strict=True)]
            try:
                self.complaints.put_vectors(blobs)
            except Exception as exc:  # a busy writer must not fail a search
                log.debug("could not cache vectors: %s", exc)

    def meaning(self, text: str, rowids: Sequence[int]) -> dict[int, float] | None:
        """The sentence encoder's cosine of `text` to each of these complaints, or None when
        there is no encoder or one of them has no sentence vector yet: a count must not mix
        complaints judged by meaning with complaints judged by words alone."""
        if self.encoder is None:
            return None
        from bot.embedding import from_blob

        wanted = list(dict.fromkeys(rowids))
        blobs = self.complaints.vectors_for(wanted, table="sentence_vectors")
        if len(blobs) < len(wanted):
            return None
        if not wanted:
            return {}
        matrix = np.vstack([from_blob(blobs[rid], self.encoder.dim) for rid in wanted])
        sims = matrix @ self.encoder.encode([text])[0]
        return {rid: float(sim) for rid, sim in zip(wanted, sims, strict=True)}

    def _dense_matrix(
        self, since: datetime, audience: str | None
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """The window's sentence vectors, or None when there is no encoder or none is built."""
        if self.encoder is None:
            return None
        rowids, matrix = self._scan_matrix(since, audience, "sentence_vectors",
                                           self.encoder.dim)
        return (rowids, matrix) if len(rowids) else None

    def _add_dense(
        self, text: str, dense: tuple[np.ndarray, np.ndarray],
        candidates: dict[int, _Candidate],
    ) -> None:
        """The sentence encoder's nearest neighbours, as one more ranked list. Only complaints
        whose vectors are built take part: encoding candidates on the fly, as the static model
        does, would cost seconds per search."""
        assert self.encoder is not None
        rowids, matrix = dense
        sims = matrix @ self.encoder.encode([text])[0]
        for rank, i in enumerate(np.argsort(-sims)[: CANDIDATES // 2]):
            if sims[i] < DENSE_CANDIDATE:
                break
            rid = int(rowids[i])
            candidates.setdefault(rid, _Candidate(rid)).ranks["dense"] = rank
        order = np.argsort(rowids)
        found = list(candidates)
        positions = np.minimum(np.searchsorted(rowids[order], found), len(rowids) - 1)
        for rid, pos in zip(found, positions, strict=True):
            if rowids[order[pos]] == rid:
                candidates[rid].dense = float(sims[order[pos]])

    def _scan_matrix(
        self, since: datetime, audience: str | None, table: VectorTable, dim: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """The window's newest vectors of one table as a matrix, cached until the data
        changes."""
        from bot.embedding import from_blob

        key = (since.date().isoformat(), audience, self.complaints.data_version())
        with self._cache_lock:
            cached = self._scan_cache.get(table)
        if cached is not None and cached[0] == key:
            return cached[1], cached[2]
        rows = self.complaints.vectors_since(since, SEMANTIC_SCAN_CAP, audience=audience,
                                             table=table)
        rowids = np.array([r for r, _ in rows], dtype=np.int64)
        matrix = (
            np.vstack([from_blob(b, dim) for _, b in rows]) if rows
            else np.zeros((0, dim), dtype=np.float32)
        )
        with self._cache_lock:
            self._scan_cache[table] = (key, rowids, matrix)
        return rowids, matrix

    def _score(self, cands: list[_Candidate], now: datetime) -> list[ScoredComplaint]:
        top = max((c.fused for c in cands), default=0.0) or 1.0
        out = []
        for c in cands:
            if c.complaint is None:
                continue
            age_days = max(0.0, (now - c.complaint.created_at).total_seconds() / 86400)
            recency = math.exp(-age_days / 45.0)
            # Recency only breaks near-ties: a fresh complaint must not outrank a fitting one.
            passage = c.passage
            if passage is None:  # outside the passage pool: judged on its opening lines
                passage = Passage(c.complaint.text[:300], 0.0, 0, 0.0)
            score = (c.fused / top) * (1 + self.recency_weight * recency
                                       + self.coverage_boost * passage.coverage)
            out.append(
                ScoredComplaint(
                    complaint=c.complaint, score=round(score, 6),
                    bm25=round(1 / (RRF_K + c.ranks["lexical"]), 6) if "lexical" in c.ranks
                    else 0.0,
                    semantic=round(c.semantic, 6),
                    dense=None if c.dense is None else round(c.dense, 6),
                    recency=round(recency, 6),
                    coverage=round(passage.coverage, 4), matched=passage.matched,
                    passage=passage.text,
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


class Encoder(Protocol):
    """What builds vectors: the static model or the sentence encoder."""

    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


def index_vectors(
    store: Store, embedder: Encoder, *, batch: int = 2000,
    progress: Callable[[int], None] | None = None, stop: threading.Event | None = None,
    table: VectorTable = "complaint_vectors", foreground: Foreground | None = None,
    limit: int | None = None,
) -> int:
    """Compute the missing complaint vectors of `table` (at most `limit`); returns how many
    were added. `progress` gets the running total after each batch; a set `stop` ends the work
    after the current batch; with `foreground`, each batch first waits out the acks in
    flight."""
    from bot.embedding import to_blob

    complaints = ComplaintStore(store)
    total = 0
    while (stop is None or not stop.is_set()) and (limit is None or total < limit):
        size = batch if limit is None else min(batch, limit - total)
        rows = complaints.missing_vectors(size, table=table)
        if not rows:
            break
        if foreground is not None:
            foreground.wait_quiet()
        vectors = embedder.encode([t for _, t in rows])
        complaints.put_vectors([(rid, to_blob(v)) for (rid, _), v in zip(rows, vectors,
                                                                         strict=True)],
                               table=table)
        total += len(rows)
        if progress is not None:
            progress(total)
    return total


SENTENCE_BATCH = 64  # the sentence encoder's rows per commit: a few seconds of work
BACKGROUND_BLAS_THREADS = 1


class VectorBuilder:
    """Builds the missing vectors on a daemon thread, so an import returns as soon as its rows
    are searchable: the static model's first (fast), then the sentence encoder's. Until a row
    has its vectors, the retriever ranks it lexically (and encodes it with the static model on
    the fly when it is a lexical candidate, Retriever._add_semantic)."""

    def __init__(self, store: Store, embedder: Encoder | None, *, batch: int = 2000,
                 encoder: Encoder | None = None, foreground: Foreground | None = None) -> None:
        self.store, self.embedder, self.encoder, self.batch = store, embedder, encoder, batch
        self.foreground = foreground
        self.added = 0
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vector-builder", daemon=True)

    def start(self) -> VectorBuilder:
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            if self.embedder is not None:
                self.added += index_vectors(self.store, self.embedder, batch=self.batch,
                                            stop=self._stop)
            if self.encoder is not None:
                from threadpoolctl import threadpool_limits

                # One BLAS thread (process-wide, so a search's own encoding gets one too while
                # the build lasts): the build takes minutes to hours, a core must stay free for
                # acks and answers, and two BLAS pools on two cores thrash.
                with threadpool_limits(limits=BACKGROUND_BLAS_THREADS, user_api="blas"):
                    self.added += index_vectors(
                        self.store, self.encoder, batch=min(self.batch, SENTENCE_BATCH),
                        stop=self._stop, table="sentence_vectors", foreground=self.foreground)
        except Exception as exc:  # the bot keeps answering lexically; say why in the log
            self.error = exc
            log.warning("background vector build stopped: %s", exc)

    def stop(self, timeout: float | None = None) -> None:
        self._stop.set()
        self.wait(timeout)

    def wait(self, timeout: float | None = None) -> bool:
        """True when the build has finished (or was never started)."""
        if self._thread.ident is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()


__all__ = ["FtsHit", "Retrieval", "Retriever", "VectorBuilder", "index_vectors", "query_terms"]

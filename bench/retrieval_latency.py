"""Retrieval latency: p50/p99 of Retriever.search on 10k, 100k and 1M synthetic complaints."""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import (
    add_synthetic,
    emit,
    load_embedder,
    load_encoder,
    note,
    percentile,
    proposals,
    ratio,
    run_reported,  # bench/common.py: the script's folder is on sys.path
)

DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (10_000, 100_000)
# p99 targets per store size (issue 9): everything a proposal costs, embedding included.
TARGETS_P99_MS = {100_000: 250.0, 1_000_000: 300.0}
LIMIT = 12  # what the service asks for (bot.service.RETRIEVE)
# Where the time goes, by function (cProfile cumulative time, so nested parts overlap).
PARTS = {
    "fts": ("complaints.py", "fts"),
    "fts.row_to_complaint": ("complaints.py", "row_to_complaint"),
    "expand_terms": ("embedding.py", "expand_terms"),
    "semantic": ("retrieval.py", "_add_semantic"),
    "semantic.encode": ("embedding.py", "encode"),
    "semantic.vectors_for": ("complaints.py", "vectors_for"),
    "by_rowids": ("complaints.py", "by_rowids"),
    "score": ("retrieval.py", "_score"),
    "diversify": ("retrieval.py", "_diversify"),
    "best_passage": ("retrieval.py", "best_passage"),
}


def build(path: Path, n: int, embedder: Any | None, reuse: bool,
          encoder: Any | None = None) -> Any:
    """A store of n synthetic complaints (and their vectors); reused when it already holds n.
    Sentence vectors are built for the newest SEMANTIC_SCAN_CAP complaints only: that is all a
    search reads, and what `serve`'s background build covers first (newest first)."""
    from bot.retrieval import SEMANTIC_SCAN_CAP, SENTENCE_BATCH, index_vectors
    from bot.store.complaints import ComplaintStore
    from bot.store.db import Store

    store = Store(path)
    have = ComplaintStore(store).count()
    if reuse and have == n:
        emit(f"retrieval.{n}.reused", str(path))
    else:
        if have:
            store.close()
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)
            store = Store(path)
        started = time.perf_counter()
        inserted = add_synthetic(store, n)
        elapsed = time.perf_counter() - started
        emit(f"retrieval.{n}.insert.seconds", elapsed)
        emit(f"retrieval.{n}.insert.rows_per_s", round(inserted / elapsed))
    if embedder is not None:
        started = time.perf_counter()
        added = index_vectors(store, embedder)
        elapsed = time.perf_counter() - started
        if added:
            emit(f"retrieval.{n}.vectors.seconds", elapsed)
            emit(f"retrieval.{n}.vectors.per_s", round(added / elapsed))
    if encoder is not None:
        have = store.conn.execute("SELECT count(*) FROM sentence_vectors").fetchone()[0]
        started = time.perf_counter()
        added = index_vectors(store, encoder, table="sentence_vectors", batch=SENTENCE_BATCH,
                              limit=max(0, min(n, SEMANTIC_SCAN_CAP) - have))
        elapsed = time.perf_counter() - started
        emit(f"retrieval.{n}.sentence_vectors", have + added)
        if added:
            emit(f"retrieval.{n}.sentence_vectors.seconds", elapsed)
            emit(f"retrieval.{n}.sentence_vectors.per_s", round(added / elapsed, 1))
    emit(f"retrieval.{n}.db_mb", round(path.stat().st_size / 2**20, 1))
    return store


def measure(name: str, retriever: Any, texts: list[str]) -> list[float]:
    """Warm once (caches, vocabulary), then time every proposal once."""
    retriever.search(texts[0], limit=LIMIT)
    times = []
    considered = []
    for text in texts:
        started = time.perf_counter()
        found = retriever.search(text, limit=LIMIT)
        times.append((time.perf_counter() - started) * 1000)
        considered.append(found.considered)
    emit(f"{name}.queries", len(texts))
    emit(f"{name}.p50_ms", percentile(times, 50))
    emit(f"{name}.p99_ms", percentile(times, 99))
    emit(f"{name}.max_ms", max(times))
    emit(f"{name}.considered.p50", percentile(considered, 50))
    return times


def fts_matches(store: Any, texts: list[str], since_days: int) -> tuple[float, float]:
    """How many stored rows the primary OR query matches (all time, and in the window):
    BM25 has to score every one of them before ORDER BY rank LIMIT can keep 300."""
    from datetime import UTC, datetime, timedelta

    from bot.retrieval import fts_or_query, query_terms
    from bot.store.complaints import to_iso

    since = to_iso(datetime.now(UTC) - timedelta(days=since_days))
    total, window = [], []
    for text in texts:
        terms = query_terms(text)
        if not terms:
            continue
        match = fts_or_query(terms)
        total.append(store.conn.execute(
            "SELECT count(*) FROM complaints_fts WHERE complaints_fts MATCH ?", [match]
        ).fetchone()[0])
        window.append(store.conn.execute(
            "SELECT count(*) FROM complaints_fts JOIN complaints c ON c.rowid = "
            "complaints_fts.rowid WHERE complaints_fts MATCH ? AND c.created_at >= ?",
            [match, since],
        ).fetchone()[0])
    return percentile(total, 50), percentile(window, 50)


def profile(name: str, retriever: Any, texts: list[str]) -> None:
    """cProfile over the proposals: share of search time per part, and the top functions."""
    profiler = cProfile.Profile()
    profiler.enable()
    for text in texts:
        retriever.search(text, limit=LIMIT)
    profiler.disable()
    stats = pstats.Stats(profiler)
    raw: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    total = next((v[3] for (f, _, fn), v in raw.items()
                  if fn == "search" and f.endswith("retrieval.py")), 0.0)
    emit(f"{name}.profile.search_ms_per_query", 1000 * total / len(texts))
    for part, (filename, func) in PARTS.items():
        cum = sum(v[3] for (f, _, fn), v in raw.items() if fn == func and f.endswith(filename))
        calls = sum(v[1] for (f, _, fn), v in raw.items() if fn == func and f.endswith(filename))
        emit(f"{name}.profile.{part}.share", ratio(cum, total))
        emit(f"{name}.profile.{part}.calls_per_query", calls / len(texts))
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(12)
    note(f"{name}: top functions by own time (cProfile, {len(texts)} searches)")
    lines = [ln for ln in out.getvalue().splitlines() if ln.strip()]
    start = next((i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls")), 0)
    for line in lines[start:]:
        note("  " + line.strip()[:150])


def run(sizes: list[int], queries: int, workdir: Path | None, do_profile: bool) -> None:
    from bot.retrieval import Retriever

    texts = proposals(queries)
    started = time.perf_counter()
    embedder, description = load_embedder()
    emit("embedder", description)
    encoder, description = load_encoder()
    emit("sentence_encoder", description)
    emit("models.load.seconds", time.perf_counter() - started)
    emit("retrieval.limit", LIMIT)
    for size, target in TARGETS_P99_MS.items():
        emit(f"retrieval.{size}.target.p99_ms", target)
    p50: dict[int, float] = {}
    p99: dict[int, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-retrieval-") as tmp:
        folder = workdir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for n in sizes:
            name = f"retrieval.{n}"
            store = build(folder / f"retrieval-{n}.db", n, embedder, reuse=workdir is not None,
                          encoder=encoder)
            try:
                retriever = Retriever(store, embedder, encoder=encoder)
                if n == sizes[0]:
                    emit("retrieval.window_days", retriever.window_days)
                times = measure(name, retriever, texts)
                p50[n], p99[n] = percentile(times, 50), percentile(times, 99)
                total, window = fts_matches(store, texts[:20], retriever.window_days)
                emit(f"{name}.fts_matches.p50", total)
                emit(f"{name}.fts_matches_in_window.p50", window)
                if do_profile and n == max(sizes):
                    profile(name, retriever, texts)
            finally:
                store.close()
    smallest = min(sizes)
    for n in sizes:
        if n == smallest:
            continue
        label = f"{_short(n)}_over_{_short(smallest)}"
        emit(f"retrieval.p50_ratio_{label}", ratio(p50[n], p50[smallest]))
        emit(f"retrieval.p99_ratio_{label}", ratio(p99[n], p99[smallest]))
        emit(f"retrieval.size_ratio_{label}", n / smallest)
    for n in sizes:
        if n in TARGETS_P99_MS:
            emit(f"retrieval.{n}.p99_over_target", p99[n] / TARGETS_P99_MS[n])


def _short(n: int) -> str:
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}m"
    if n % 1000 == 0:
        return f"{n // 1000}k"
    return str(n)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", help="comma-separated store sizes (default 10000,100000,"
                        "1000000; --quick: 10000,100000)")
    parser.add_argument("--quick", action="store_true", help="smaller stores")
    parser.add_argument("--queries", type=int, default=100, help="proposals timed per store")
    parser.add_argument("--workdir", type=Path,
                        help="keep the stores here and reuse them on the next run")
    parser.add_argument("--no-profile", action="store_true", help="skip the cProfile pass")
    args = parser.parse_args(argv)
    if args.sizes:
        sizes = sorted({int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()})
    else:
        sizes = list(QUICK_SIZES if args.quick else DEFAULT_SIZES)
    return run_reported(
        "retrieval", lambda: run(sizes, max(1, args.queries), args.workdir, not args.no_profile)
    )


if __name__ == "__main__":
    sys.exit(main())

"""Retrieval quality: recall@10 and @50 of the project's retriever versus plain BM25."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/retrieval_quality.py` from anywhere
    sys.path.insert(0, str(ROOT))

WINDOW_DAYS = 36_500  # the whole corpus is in the window: recall, not recency, is measured here
KS = (10, 50)
DEFAULT_SAMPLE = ROOT / "data" / "sample_complaints.csv"
DEFAULT_CFPB = ROOT.parent / "shared" / "data" / "cfpb_complaints.csv"
LABELS = {
    "sample": ROOT / "bench" / "labels_sample.json",
    "cfpb": ROOT / "bench" / "labels_cfpb.json",
}
# Internal decisions no customer complaint bears on: whatever the bot would show for them is a
# false customer signal (the design promises "it never invents a customer").
OFF_TOPIC = (
    "Repaint the office kitchen in blue",
    "Move the engineering stand-up to 9:30",
    "Upgrade the CI build runners to larger machines",
    "Rename the quarterly finance spreadsheet tabs",
    "Order new chairs for the design studio",
    "Translate the careers page into German",
    "Switch the team's video calls from Zoom to Google Meet",
    "Archive last year's design mockups",
)
SHOWN_LIMIT = 12  # what the service retrieves per proposal before keeping `Retrieval.relevant`
DEFINITION = (
    "recall@k = |relevant ∩ top k| / min(k, |relevant|), averaged over proposals; "
    "ratio = retriever / bm25; shown = hits the bot keeps (Retrieval.relevant of "
    f"search(limit={SHOWN_LIMIT}))"
)

Ranker = Callable[[str, int], list[str]]


@dataclass
class Label:
    proposal: str
    relevant: set[str]


@dataclass
class Corpus:
    name: str
    csv: Path
    rebase: bool  # shift dates so the newest row is "now" (what the demo does with the sample)
    labels: list[Label] = field(default_factory=list)


def emit(name: str, value: object) -> None:
    if isinstance(value, float):
        value = f"{value:.3f}"
    print(f"{name}: {value}", flush=True)


def load_labels(path: Path) -> list[Label]:
    items = json.loads(path.read_text(encoding="utf-8"))
    return [Label(item["proposal"], set(item["relevant"])) for item in items]


def recall_at(ranked: list[str], relevant: set[str], k: int) -> float:
    if not relevant:
        return 0.0
    return len(relevant.intersection(ranked[:k])) / min(k, len(relevant))


def load_embedder() -> tuple[Any | None, str]:
    """The project's embedder when the module and its model are available, else None."""
    try:
        from bot.embedding import load_embedder as load
    except ImportError as exc:
        return None, f"unavailable ({exc.name or exc})"
    try:
        embedder = load()
    except Exception as exc:  # a missing model or extra must not stop the benchmark
        return None, f"unavailable ({type(exc).__name__}: {exc})"
    if embedder is None:
        return None, "unavailable (load_embedder returned None)"
    return embedder, type(embedder).__name__


def build_store(corpus: Corpus, workdir: Path) -> Any:
    """A fresh SQLite store holding the corpus; the CSV is linked, never copied or written to."""
    from bot.importer import run_import
    from bot.store.db import Store

    linked = workdir / corpus.csv.name  # rejects reports land here, not next to the source
    linked.symlink_to(corpus.csv.resolve())
    store = Store(workdir / f"{corpus.name}.db")
    started = time.perf_counter()
    summary = run_import(store, linked, rebase_to=datetime.now(UTC) if corpus.rebase else None)
    emit(f"{corpus.name}.import.seconds", time.perf_counter() - started)
    emit(f"{corpus.name}.rows", summary.imported)
    for what in ("duplicates", "rejected"):
        if getattr(summary, what):
            emit(f"{corpus.name}.{what}", getattr(summary, what))
    return store


def rankers(retriever: Any) -> dict[str, Ranker]:
    def search(diverse: bool) -> Ranker:
        def rank(text: str, k: int) -> list[str]:
            found = retriever.search(text, limit=k, since_days=WINDOW_DAYS, diverse=diverse)
            return [hit.complaint.id for hit in found.hits]

        return rank

    def bm25(text: str, k: int) -> list[str]:
        return [c.id for c in retriever.bm25_baseline(text, limit=k, since_days=WINDOW_DAYS)]

    return {"retriever": search(True), "retriever_nodiverse": search(False), "bm25": bm25}


def report_shown(name: str, retriever: Any, labels: list[Label]) -> None:
    """What the bot would cite: its relevance rule on labelled and on off-topic proposals."""
    shown = hits = 0
    for label in labels:
        kept = retriever.search(label.proposal, limit=SHOWN_LIMIT, since_days=WINDOW_DAYS).relevant
        shown += len(kept)
        hits += sum(h.complaint.id in label.relevant for h in kept)
    emit(f"{name}.shown.per_proposal", shown / len(labels))
    emit(f"{name}.shown.precision", hits / shown if shown else "n/a")
    leaked = [
        len(retriever.search(text, limit=SHOWN_LIMIT, since_days=WINDOW_DAYS).relevant)
        for text in OFF_TOPIC
    ]
    emit(f"{name}.offtopic.proposals", len(OFF_TOPIC))
    emit(f"{name}.offtopic.shown", sum(leaked))
    emit(f"{name}.offtopic.with_signal", sum(1 for n in leaked if n))


def evaluate(corpus: Corpus, store: Any, embedder: Any | None, verbose: bool) -> None:
    from bot.retrieval import Retriever, index_vectors

    name = corpus.name
    if embedder is not None:
        started = time.perf_counter()
        added = index_vectors(store, embedder)
        emit(f"{name}.vectors.seconds", time.perf_counter() - started)
        emit(f"{name}.vectors", added)
    retriever = Retriever(store, embedder, window_days=WINDOW_DAYS)
    methods = rankers(retriever)
    scores: dict[tuple[str, int], list[float]] = {(m, k): [] for m in methods for k in KS}
    for method, rank in methods.items():
        started = time.perf_counter()
        for i, label in enumerate(corpus.labels, 1):
            for k in KS:
                ranked = rank(label.proposal, k)
                value = recall_at(ranked, label.relevant, k)
                scores[(method, k)].append(value)
                if verbose:
                    emit(f"{name}.p{i:02d}.recall@{k}.{method}", value)
        elapsed = time.perf_counter() - started
        emit(f"{name}.query.{method}.seconds", elapsed)
        emit(f"{name}.query.{method}.ms_per_query", 1000 * elapsed / (len(corpus.labels) * len(KS)))
    if verbose:
        for i, label in enumerate(corpus.labels, 1):
            emit(f"{name}.p{i:02d}.proposal", f"{label.proposal} ({len(label.relevant)} relevant)")
    for k in KS:
        means = {m: sum(scores[(m, k)]) / len(scores[(m, k)]) for m in methods}
        for method, mean in means.items():
            emit(f"{name}.recall@{k}.{method}", mean)
        for method in ("retriever", "retriever_nodiverse"):
            suffix = "ratio" if method == "retriever" else "ratio_nodiverse"
            base = means["bm25"]
            emit(f"{name}.recall@{k}.{suffix}", means[method] / base if base else "n/a")
    started = time.perf_counter()
    report_shown(name, retriever, corpus.labels)
    emit(f"{name}.shown.seconds", time.perf_counter() - started)


def run(corpora: list[Corpus], verbose: bool) -> None:
    emit("definition", DEFINITION)
    emit("window_days", WINDOW_DAYS)
    started = time.perf_counter()
    embedder, note = load_embedder()
    emit("embedder", note)
    emit("embedder.load.seconds", time.perf_counter() - started)
    for corpus in corpora:
        if not corpus.csv.exists():
            emit(f"{corpus.name}.skipped", f"{corpus.csv} not found")
            continue
        corpus.labels = load_labels(LABELS[corpus.name])
        emit(f"{corpus.name}.proposals", len(corpus.labels))
        emit(f"{corpus.name}.relevant", sum(len(label.relevant) for label in corpus.labels))
        with tempfile.TemporaryDirectory(prefix=f"bench-{corpus.name}-") as tmp:
            started = time.perf_counter()
            store = build_store(corpus, Path(tmp))
            try:
                evaluate(corpus, store, embedder, verbose)
            finally:
                store.close()
            emit(f"{corpus.name}.total.seconds", time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sample", type=Path, default=DEFAULT_SAMPLE, help="sample complaints CSV")
    parser.add_argument("--cfpb", type=Path, default=DEFAULT_CFPB, help="CFPB complaints CSV")
    parser.add_argument("--only", choices=sorted(LABELS), help="run one corpus")
    parser.add_argument("--verbose", action="store_true", help="per-proposal lines too")
    args = parser.parse_args(argv)
    corpora = [Corpus("sample", args.sample, rebase=True), Corpus("cfpb", args.cfpb, rebase=False)]
    if args.only:
        corpora = [c for c in corpora if c.name == args.only]
    try:
        run(corpora, args.verbose)
    except Exception as exc:  # a benchmark reports, it does not fail the build
        emit("error", f"{type(exc).__name__}: {exc}")
        traceback.print_exc(file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

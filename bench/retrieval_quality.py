"""Retrieval quality on the dev set: the test half's recall and precision beside plain BM25."""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/retrieval_quality.py` from anywhere
    sys.path.insert(0, str(ROOT))

WINDOW_DAYS = 36_500  # the whole corpus is in the window: recall, not recency, is measured here
KS = (10, 50)
DEV = ROOT / "bench" / "dev"
CORPORA = {
    "sample": ROOT / "data" / "sample_complaints.csv",
    "cfpb": ROOT.parent / "shared" / "data" / "cfpb_complaints.csv",
}
# Labels written before the dev set, with the sample data and while tuning the first retriever:
# tuned on, so they may only ever join the tune half.
OLD_LABELS = {"sample": ROOT / "bench" / "labels_sample.json",
              "cfpb": ROOT / "bench" / "labels_cfpb.json"}
# Internal decisions no customer complaint bears on: whatever the bot would cite for them is a
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
DEFINITION = (
    "recall@k = |relevant ∩ top k| / min(k, |relevant|), macro-averaged over the split's "
    "proposals; retriever = the ranking `emptychair search` prints; ratio = retriever / bm25 "
    "in this run; bm25 = SQLite FTS5 BM25 (porter) over the "
    "complaint text alone, the proposal's content words OR'd; cited.precision = share of the "
    "complaints the offline answer cites that are judged relevant (unjudged counts as not)"
)

Ranker = Callable[[str, int], list[str]]


@dataclass
class Label:
    pid: str
    proposal: str
    split: str
    relevant: set[str]
    judged: set[str] = field(default_factory=set)
    round: int = 1  # the pooling round that drew the proposal (bench/dev/README.md)


def emit(name: str, value: object) -> None:
    if isinstance(value, float):
        value = f"{value:.3f}"
    print(f"{name}: {value}", flush=True)


def load_labels(corpus: str, with_old: bool) -> list[Label]:
    proposals = json.loads((DEV / "proposals.json").read_text(encoding="utf-8"))
    labels = []
    for p in proposals:
        if p["corpus"] != corpus:
            continue
        relevant: set[str] = set()
        ids: set[str] = set()
        for rnd in ("", "2", "3", "4", "5"):  # the pooling rounds (bench/dev/README.md)
            judged = DEV / f"judgments{rnd}" / f"{p['id']}.json"
            pool = DEV / f"pools{rnd}" / f"{p['id']}.jsonl"
            if not judged.exists():
                continue
            relevant |= set(json.loads(judged.read_text(encoding="utf-8"))["relevant"])
            ids |= {json.loads(line)["id"]
                    for line in pool.read_text(encoding="utf-8").splitlines()}
        labels.append(Label(p["id"], p["proposal"], p["split"], relevant, ids,
                            p.get("round", 1)))
    if with_old:
        for i, item in enumerate(json.loads(OLD_LABELS[corpus].read_text(encoding="utf-8"))):
            labels.append(Label(f"{corpus}-old{i:02d}", item["proposal"], "tune",
                                set(item["relevant"])))
    return labels


def recall_at(ranked: list[str], relevant: set[str], k: int) -> float:
    return len(relevant.intersection(ranked[:k])) / min(k, len(relevant))


def build_store(name: str, csv: Path, workdir: Path) -> Any:
    """A fresh SQLite store holding the corpus; the CSV is linked, never copied or written to."""
    from bot.importer import run_import
    from bot.store.db import Store

    linked = workdir / csv.name  # rejects reports land here, not next to the source
    linked.symlink_to(csv.resolve())
    store = Store(workdir / f"{name}.db")
    started = time.perf_counter()
    summary = run_import(store, linked, rebase_to=datetime.now(UTC) if name == "sample" else None)
    emit(f"{name}.import.seconds", time.perf_counter() - started)
    emit(f"{name}.rows", summary.imported)
    return store


def splits(labels: list[Label]) -> Iterator[tuple[str, list[Label]]]:
    """The tune half, the test half (headline), the test half as it stood before fresh
    proposals joined it, and each round of fresh proposals alone."""
    yield "tune", [lab for lab in labels if lab.split == "tune"]
    test = [lab for lab in labels if lab.split == "test"]
    yield "test", test
    fresh = sorted({lab.round for lab in test if lab.round >= 4})
    if fresh:
        yield "test_rounds1to3", [lab for lab in test if lab.round < 4]
    for rnd in fresh:
        yield f"test_round{rnd}", [lab for lab in test if lab.round == rnd]


def plain_bm25(store: Any) -> Ranker:
    """The baseline, built apart from the project's index so nothing of ours can help it."""
    from bot.retrieval import fts_or_query, query_terms

    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(cid UNINDEXED, body, tokenize='porter')")
    conn.executemany("INSERT INTO t VALUES (?, ?)",
                     store.conn.execute("SELECT id, text FROM complaints"))

    def rank(text: str, k: int) -> list[str]:
        terms = query_terms(text)
        if not terms:
            return []
        return [r[0] for r in conn.execute(
            "SELECT cid FROM t WHERE t MATCH ? ORDER BY bm25(t) LIMIT ?",
            [fts_or_query(terms), k])]

    return rank


def evaluate(name: str, store: Any, embedder: Any | None, labels: list[Label],
             verbose: bool, encoder: Any | None = None) -> None:
    from common import build_sentence_vectors

    from bot.prompts import PromptLibrary
    from bot.retrieval import Retriever, index_vectors
    from bot.service import ChairService

    if embedder is not None:
        started = time.perf_counter()
        emit(f"{name}.vectors", index_vectors(store, embedder))
        emit(f"{name}.vectors.seconds", time.perf_counter() - started)
    build_sentence_vectors(store, encoder, name)
    retriever = Retriever(store, embedder, window_days=WINDOW_DAYS, encoder=encoder)

    def ours(text: str, k: int) -> list[str]:
        # The order `emptychair search` prints: best first, without the theme diversity the
        # answers add when they pick what to cite (cited.precision measures those).
        return [h.complaint.id for h in retriever.search(text, limit=k, diverse=False).hits]

    methods: dict[str, Ranker] = {"retriever": ours, "bm25": plain_bm25(store)}
    service = ChairService(store=store, retriever=retriever, llm=None,
                           prompts=PromptLibrary(ROOT / "prompts"), window_days=WINDOW_DAYS)
    for split, members in splits(labels):
        group = [lab for lab in members if lab.relevant]
        if not group:
            continue
        prefix = f"{name}.{split}"
        emit(f"{prefix}.proposals", len(group))
        emit(f"{prefix}.proposals_without_relevant",
             sum(1 for lab in members if not lab.relevant))
        means: dict[tuple[str, int], float] = {}
        for method, rank in methods.items():
            started = time.perf_counter()
            per: dict[int, list[float]] = {k: [] for k in KS}
            for lab in group:
                ranked = rank(lab.proposal, max(KS))
                for k in KS:
                    per[k].append(recall_at(ranked, lab.relevant, k))
                    if verbose:
                        emit(f"{prefix}.{lab.pid}.recall@{k}.{method}", per[k][-1])
            for k in KS:
                means[(method, k)] = sum(per[k]) / len(per[k])
            emit(f"{prefix}.{method}.ms_per_query",
                 1000 * (time.perf_counter() - started) / len(group))
        for k in KS:
            for method in methods:
                emit(f"{prefix}.recall@{k}.{method}", means[(method, k)])
            base = means[("bm25", k)]
            emit(f"{prefix}.recall@{k}.ratio", means[("retriever", k)] / base if base else "n/a")
        cited = good = unjudged = first_good = answered = 0
        for lab in group:
            response = service.challenge(lab.proposal)
            ids = [cid for ch in response.challenges for cid in ch.complaint_ids]
            cited += len(ids)
            good += sum(cid in lab.relevant for cid in ids)
            unjudged += sum(cid not in lab.judged for cid in ids) if lab.judged else 0
            if response.challenges:
                answered += 1
                first_good += response.challenges[0].complaint_ids[0] in lab.relevant
            if verbose:
                emit(f"{prefix}.{lab.pid}.cited", f"{sum(c in lab.relevant for c in ids)}/"
                     f"{len(ids)} {lab.proposal}")
        emit(f"{prefix}.cited.per_proposal", cited / len(group))
        emit(f"{prefix}.cited.precision", good / cited if cited else "n/a")
        emit(f"{prefix}.cited.unjudged", unjudged)
        emit(f"{prefix}.answered", f"{answered}/{len(group)}")
        emit(f"{prefix}.first_citation_relevant", f"{first_good}/{len(group)}")
    leaked = [len(service.challenge(text).citations) for text in OFF_TOPIC]
    emit(f"{name}.offtopic.proposals", len(OFF_TOPIC))
    emit(f"{name}.offtopic.cited", sum(leaked))
    emit(f"{name}.offtopic.with_signal", sum(1 for n in leaked if n))


def corpora(only: str | None) -> Iterator[tuple[str, Path]]:
    """The corpora to measure: all, or `only` one; a missing file is said and skipped."""
    for name, csv in CORPORA.items():
        if only and name != only:
            continue
        if not csv.exists():
            emit(f"{name}.skipped", f"{csv} not found")
            continue
        yield name, csv


def run(only: str | None, with_old: bool, verbose: bool) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    from common import load_embedder, load_encoder

    emit("definition", DEFINITION)
    emit("window_days", WINDOW_DAYS)
    started = time.perf_counter()
    embedder, note = load_embedder()
    emit("embedder", note)
    encoder, note = load_encoder()
    emit("sentence_encoder", note)
    emit("models.load.seconds", time.perf_counter() - started)
    for name, csv in corpora(only):
        labels = load_labels(name, with_old)
        with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp:
            started = time.perf_counter()
            store = build_store(name, csv, Path(tmp))
            try:
                evaluate(name, store, embedder, labels, verbose, encoder)
            finally:
                store.close()
            emit(f"{name}.total.seconds", time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", choices=sorted(CORPORA), help="run one corpus")
    parser.add_argument("--with-old-labels", action="store_true",
                        help="add the pre-dev-set labels to the tune half")
    parser.add_argument("--verbose", action="store_true", help="per-proposal lines too")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT / "bench"))
    from common import run_reported

    return run_reported("quality", lambda: run(args.only, args.with_old_labels, args.verbose))


if __name__ == "__main__":
    sys.exit(main())

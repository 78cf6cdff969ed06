"""Pools for relevance judging: the union of the top 20 of four different systems per proposal."""

from __future__ import annotations

import csv
import json
import sqlite3
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bot.retrieval import fts_or_query, query_terms  # noqa: E402

CORPORA = {
    "cfpb": ROOT.parent / "shared" / "data" / "cfpb_complaints.csv",
    "sample": ROOT / "data" / "sample_complaints.csv",
}
DEPTH = 20
FIELDS = {"cfpb": ("product", "sub_product", "issue"), "sample": ("product",)}


def lexical_index(rows: list[dict[str, str]], fields: tuple[str, ...]) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(cid UNINDEXED, body, tokenize='porter')")
    conn.executemany(
        "INSERT INTO t VALUES (?, ?)",
        [(r["id"], " ".join([r["text"], *(r.get(f, "") for f in fields)])) for r in rows],
    )
    return conn


def bm25(conn: sqlite3.Connection, text: str, k: int) -> list[str]:
    terms = query_terms(text)
    if not terms:
        return []
    cur = conn.execute(
        "SELECT cid FROM t WHERE t MATCH ? ORDER BY bm25(t) LIMIT ?", [fts_or_query(terms), k]
    )
    return [r[0] for r in cur]


@dataclass
class Corpus:
    """One corpus, indexed every way the pooling systems need."""

    name: str
    by_id: dict[str, dict[str, str]]
    plain: sqlite3.Connection
    fielded: sqlite3.Connection
    ids: list[str]
    vectors: Any
    retriever: Any
    embedder: Any


def corpora() -> Iterator[Corpus]:
    from bot.embedding import load_embedder
    from bot.importer import run_import
    from bot.retrieval import Retriever, index_vectors
    from bot.store.db import Store

    embedder = load_embedder()
    assert embedder is not None
    for name, path in CORPORA.items():
        rows = list(csv.DictReader(path.open(encoding="utf-8")))
        with tempfile.TemporaryDirectory() as tmp:
            link = Path(tmp) / path.name
            link.symlink_to(path.resolve())
            store = Store(Path(tmp) / "x.db")
            run_import(store, link, rebase_to=datetime.now(UTC) if name == "sample" else None)
            index_vectors(store, embedder)
            yield Corpus(name, {r["id"]: r for r in rows}, lexical_index(rows, ()),
                         lexical_index(rows, FIELDS[name]), [r["id"] for r in rows],
                         embedder.encode([r["text"] for r in rows]),
                         Retriever(store, embedder, window_days=36_500), embedder)
            store.close()


def dense(corpus: Corpus, text: str, k: int) -> list[str]:
    q = corpus.embedder.encode([text])[0]
    return [corpus.ids[i] for i in (-(corpus.vectors @ q)).argsort()[:k]]


def sentence_matrix(store: Any, encoder: Any) -> tuple[list[str], np.ndarray]:
    """Every complaint's MiniLM vector (built where missing), ids in rowid order."""
    from bot.embedding import from_blob
    from bot.retrieval import SENTENCE_BATCH, index_vectors

    index_vectors(store, encoder, table="sentence_vectors", batch=SENTENCE_BATCH)
    rows = store.conn.execute(
        "SELECT c.id, v.vector FROM complaints c JOIN sentence_vectors v "
        "ON v.rowid = c.rowid ORDER BY c.rowid").fetchall()
    return [cid for cid, _ in rows], np.vstack([from_blob(b, encoder.dim) for _, b in rows])


def write_pool(path: Path, corpus: Corpus, pool: dict[str, list[str]]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for cid in sorted(pool):
            r = corpus.by_id[cid]
            item: dict[str, Any] = {"id": cid}
            if pool[cid]:  # a blind pool leaves them out
                item["systems"] = pool[cid]
            item.update({f: r.get(f, "") for f in FIELDS[corpus.name]})
            item["text"] = r["text"]
            fh.write(json.dumps(item, ensure_ascii=False) + "\n")


def draw(out: str, systems: Callable[[Corpus, str], dict[str, list[str]]],
         judged: Callable[[str], set[str]] | None = None) -> None:
    """Write `bench/dev/<out>/<id>.jsonl` for every proposal: the union of what `systems`
    rank for it, less what `judged(id)` says was judged before."""
    proposals = json.loads((ROOT / "bench/dev/proposals.json").read_text())
    out_dir = ROOT / "bench/dev" / out
    out_dir.mkdir(exist_ok=True)
    for corpus in corpora():
        for p in (p for p in proposals if p["corpus"] == corpus.name):
            seen = judged(p["id"]) if judged else set()
            pool: dict[str, list[str]] = {}
            for system, ranked in systems(corpus, p["proposal"]).items():
                for cid in ranked:
                    if cid not in seen:
                        pool.setdefault(cid, []).append(system)
            write_pool(out_dir / f"{p['id']}.jsonl", corpus, pool)
            print(p["id"], len(pool), flush=True)


def round_one(corpus: Corpus, text: str) -> dict[str, list[str]]:
    return {
        "bm25": bm25(corpus.plain, text, DEPTH),
        "bm25_fields": bm25(corpus.fielded, text, DEPTH),
        "hybrid": [h.complaint.id for h in
                   corpus.retriever.search(text, limit=DEPTH, since_days=36_500).hits],
        "dense": dense(corpus, text, DEPTH),
    }


if __name__ == "__main__":
    draw("pools", round_one)

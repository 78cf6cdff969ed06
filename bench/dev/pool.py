"""Pools for relevance judging: the union of the top 20 of four different systems per proposal."""

from __future__ import annotations

import csv
import json
import sqlite3
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

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


def main() -> None:
    from bot.embedding import load_embedder
    from bot.importer import run_import
    from bot.retrieval import Retriever, index_vectors
    from bot.store.db import Store

    proposals = json.loads((ROOT / "bench/dev/proposals.json").read_text())
    embedder = load_embedder()
    assert embedder is not None
    out_dir = ROOT / "bench/dev/pools"
    out_dir.mkdir(exist_ok=True)
    for name, path in CORPORA.items():
        rows = list(csv.DictReader(path.open(encoding="utf-8")))
        by_id = {r["id"]: r for r in rows}
        plain = lexical_index(rows, ())
        fielded = lexical_index(rows, FIELDS[name])
        vecs = embedder.encode([r["text"] for r in rows])
        ids = [r["id"] for r in rows]
        with tempfile.TemporaryDirectory() as tmp:
            link = Path(tmp) / path.name
            link.symlink_to(path.resolve())
            store = Store(Path(tmp) / "x.db")
            run_import(store, link, rebase_to=datetime.now(UTC) if name == "sample" else None)
            index_vectors(store, embedder)
            retriever = Retriever(store, embedder, window_days=36_500)
            for p in (p for p in proposals if p["corpus"] == name):
                text = p["proposal"]
                q = embedder.encode([text])[0]
                dense = [ids[i] for i in (-(vecs @ q)).argsort()[:DEPTH]]
                systems = {
                    "bm25": bm25(plain, text, DEPTH),
                    "bm25_fields": bm25(fielded, text, DEPTH),
                    "hybrid": [
                        h.complaint.id
                        for h in retriever.search(text, limit=DEPTH, since_days=36_500).hits
                    ],
                    "dense": dense,
                }
                pool: dict[str, list[str]] = {}
                for system, ranked in systems.items():
                    for cid in ranked:
                        pool.setdefault(cid, []).append(system)
                with (out_dir / f"{p['id']}.jsonl").open("w", encoding="utf-8") as fh:
                    for cid in sorted(pool):
                        r = by_id[cid]
                        item = {"id": cid, "systems": pool[cid]}
                        item.update({f: r.get(f, "") for f in FIELDS[name]})
                        item["text"] = r["text"]
                        fh.write(json.dumps(item, ensure_ascii=False) + "\n")
                print(p["id"], len(pool), flush=True)
            store.close()


if __name__ == "__main__":
    main()

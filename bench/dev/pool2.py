"""Second pooling round: deeper lists of more systems, so recall@50 is not capped by the pool."""

from __future__ import annotations

import csv
import json
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "dev"))

from pool import CORPORA, FIELDS, bm25, lexical_index  # noqa: E402

DEPTH = 50


def main() -> None:
    from bot.embedding import load_embedder
    from bot.importer import run_import
    from bot.retrieval import Retriever, index_vectors
    from bot.store.db import Store

    proposals = json.loads((ROOT / "bench/dev/proposals.json").read_text())
    embedder = load_embedder()
    assert embedder is not None
    out_dir = ROOT / "bench/dev/pools2"
    out_dir.mkdir(exist_ok=True)
    for name, path in CORPORA.items():
        rows = list(csv.DictReader(path.open(encoding="utf-8")))
        by_id = {r["id"]: r for r in rows}
        plain, fielded = lexical_index(rows, ()), lexical_index(rows, FIELDS[name])
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
                judged = {json.loads(line)["id"] for line in
                          (ROOT / f"bench/dev/pools/{p['id']}.jsonl").read_text().splitlines()}
                q = embedder.encode([text])[0]
                systems = {
                    "bm25": bm25(plain, text, DEPTH),
                    "bm25_fields": bm25(fielded, text, DEPTH),
                    "fusion": [h.complaint.id for h in
                               retriever.search(text, limit=DEPTH, diverse=False).hits],
                    "dense": [ids[i] for i in (-(vecs @ q)).argsort()[:30]],
                }
                new: dict[str, list[str]] = {}
                for system, ranked in systems.items():
                    for cid in ranked:
                        if cid not in judged:
                            new.setdefault(cid, []).append(system)
                with (out_dir / f"{p['id']}.jsonl").open("w", encoding="utf-8") as fh:
                    for cid in sorted(new):
                        r = by_id[cid]
                        item = {"id": cid, "systems": new[cid]}
                        item.update({f: r.get(f, "") for f in FIELDS[name]})
                        item["text"] = r["text"]
                        fh.write(json.dumps(item, ensure_ascii=False) + "\n")
                print(p["id"], len(new), flush=True)
            store.close()


if __name__ == "__main__":
    main()

"""Second pooling round: deeper lists of more systems, so recall@50 is not capped by the pool."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "dev"))

from pool import bm25, corpora, dense, write_pool  # noqa: E402

DEPTH = 50


def main() -> None:
    proposals = json.loads((ROOT / "bench/dev/proposals.json").read_text())
    out_dir = ROOT / "bench/dev/pools2"
    out_dir.mkdir(exist_ok=True)
    for corpus in corpora():
        for p in (p for p in proposals if p["corpus"] == corpus.name):
            text = p["proposal"]
            judged = {json.loads(line)["id"] for line in
                      (ROOT / f"bench/dev/pools/{p['id']}.jsonl").read_text().splitlines()}
            systems = {
                "bm25": bm25(corpus.plain, text, DEPTH),
                "bm25_fields": bm25(corpus.fielded, text, DEPTH),
                "fusion": [h.complaint.id for h in
                           corpus.retriever.search(text, limit=DEPTH, diverse=False).hits],
                "dense": dense(corpus, text, 30),
            }
            new: dict[str, list[str]] = {}
            for system, ranked in systems.items():
                for cid in ranked:
                    if cid not in judged:
                        new.setdefault(cid, []).append(system)
            write_pool(out_dir / f"{p['id']}.jsonl", corpus, new)
            print(p["id"], len(new), flush=True)


if __name__ == "__main__":
    main()

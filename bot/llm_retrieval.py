"""Where an LLM pays most in retrieval: customers' words for the query, and a re-ranked top 50."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

from pydantic import BaseModel, Field

from bot.errors import LLMError
from bot.llm import LLMClient
from bot.models import ScoredComplaint
from bot.prompts import PromptLibrary
from bot.safety import clean

log = logging.getLogger(__name__)

MAX_QUERIES = 3
QUERY_CHARS = 200
RERANK_DEPTH = 50  # the lexical-and-semantic top this many is what the model re-orders
PASSAGE_CHARS = 300


class QueryRewrite(BaseModel):
    """Search phrases in the words customers use."""

    queries: list[str] = Field(default_factory=list, max_length=MAX_QUERIES * 2)


class Rerank(BaseModel):
    """Complaint ids that bear on the proposal, most first."""

    ids: list[str] = Field(default_factory=list, max_length=RERANK_DEPTH * 2)


def rewrite(llm: LLMClient, prompts: PromptLibrary, proposal: str) -> list[str]:
    """Up to MAX_QUERIES phrases a customer would write; [] when the model cannot help."""
    try:
        answer = llm.complete(
            prompts.render("rewrite_system", max_queries=MAX_QUERIES),
            prompts.render("rewrite_user", proposal=proposal, max_queries=MAX_QUERIES),
            QueryRewrite, schema_name="query_rewrite",
        )
    except LLMError as exc:
        log.info("query rewrite skipped: %s", exc)
        return []
    # Search input only, but still the model's text: redacted and inert like any other.
    out = [clean(" ".join(q.split()))[:QUERY_CHARS] for q in answer.queries]
    return [q for q in out if q][:MAX_QUERIES]


def rerank(
    llm: LLMClient, prompts: PromptLibrary, proposal: str, hits: Sequence[ScoredComplaint]
) -> list[ScoredComplaint]:
    """The hits re-ordered by the model: the ids it names first, in its order, then the rest
    in the offline order. Unknown ids are ignored; any failure keeps the offline order."""
    head = list(hits[:RERANK_DEPTH])
    if len(head) < 2:
        return list(hits)
    lines = [
        json.dumps({"id": h.complaint.id,
                    "passage": (h.passage or h.complaint.text)[:PASSAGE_CHARS]},
                   ensure_ascii=False)
        for h in head
    ]
    try:
        answer = llm.complete(
            prompts.render("rerank_system"),
            prompts.render("rerank_user", proposal=proposal, count=len(lines),
                           complaints="\n".join(lines)),
            Rerank, schema_name="rerank",
        )
    except LLMError as exc:
        log.info("re-ranking skipped, offline order kept: %s", exc)
        return list(hits)
    by_id = {h.complaint.id: h for h in head}
    named = [by_id[i] for i in dict.fromkeys(answer.ids) if i in by_id]
    unknown = len(set(answer.ids) - set(by_id))
    if unknown:
        log.info("re-ranking named %d complaint(s) it was not shown; ignored", unknown)
    first = {h.complaint.id for h in named}
    return named + [h for h in hits if h.complaint.id not in first]

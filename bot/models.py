"""Pydantic models shared by every layer: complaints, proposals, challenges, briefs, schedules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Severity(StrEnum):
    """How much a challenge matters to customers."""

    low = "low"
    medium = "medium"
    high = "high"


class Complaint(BaseModel):
    """One customer complaint as stored (text already redacted)."""

    model_config = ConfigDict(frozen=True)

    id: str
    created_at: datetime  # timezone-aware UTC
    text: str
    theme: str = "general"
    sub_theme: str = ""  # the source's finer category (CFPB issue, a second tag …)
    channel: str = ""  # where the customer spoke: email, phone, app_review, chat, slack …
    segment: str = ""  # customer segment, e.g. "consumer", "business", "premium"
    severity: str = ""  # as given by the source, free text ("high", "3", "urgent" …)
    source: str = ""  # the file or system it came from
    source_ref: str = ""  # where inside the source, e.g. "line 42"
    url: str = ""  # the ticket or message this came from, when the source has one
    attributes: dict[str, str] = Field(default_factory=dict)  # unmapped source columns
    visible_in: str = ""  # '' quotable anywhere; else only in this Slack conversation


class ScoredComplaint(BaseModel):
    """A complaint with its retrieval score (higher is more relevant) and the parts behind it."""

    complaint: Complaint
    score: float
    bm25: float = 0.0
    semantic: float = 0.0
    dense: float | None = None  # the sentence encoder's cosine, where its vector is built
    recency: float = 0.0
    coverage: float = 0.0  # share of the proposal's content words its best passage contains
    matched: int = 0  # how many of them
    passage: str = ""  # the one or two sentences that bear on the proposal most


class Proposal(BaseModel):
    """What a team is about to decide, and where it came from."""

    text: str
    context: str = ""  # the thread the proposal came from, already trimmed and redacted
    channel_id: str = ""
    user_id: str = ""


class Citation(BaseModel):
    """A complaint cited as evidence, as shown to users."""

    id: str
    created_at: date
    theme: str
    quote: str  # the sentence that bears on the proposal, redacted
    url: str = ""  # the source ticket or message, when the data has one
    same_quote: list[str] = Field(default_factory=list)  # other cited ids saying the same


class TopicFacts(BaseModel):
    """Counts over every stored complaint in the window, for the topic one challenge is about.

    A complaint bears on the topic when it is filed under the theme (and sub-theme, when set)
    and its text holds at least two of `terms` (one when there are one or two), stemmed. The
    terms are the proposal's words and retrieval's related words that the cited complaints
    use (the proposal's own when fewer than two of those remain)."""

    theme: str
    sub_theme: str = ""
    terms: list[str] = Field(default_factory=list)
    matching: int  # complaints in the window that bear on the topic
    theme_total: int  # complaints in the window under the theme (and sub-theme)
    window_total: int  # all complaints in the window
    share_pct: float  # matching / window_total, in percent
    previous: int  # matching in the period of the same length before the window
    change_pct: float | None  # None when the previous period had none
    segments: dict[str, int] = Field(default_factory=dict)  # of the matching complaints
    severities: dict[str, int] = Field(default_factory=dict)
    channels: dict[str, int] = Field(default_factory=dict)


class Challenge(BaseModel):
    """A question the customer in the empty chair would ask about a proposal: one real risk,
    its evidence, a guardrail that would reduce the harm and the metric that would settle it."""

    question: str  # first person, plain words, specific to how the proposal changes things
    why_it_matters: str  # the evidence: store-wide volume, trend, share
    severity: Severity
    complaint_ids: list[str] = Field(min_length=1)
    what_would_answer_it: str  # the metric, with a threshold, that would settle the question
    guardrail: str = ""
    change_kind: str = ""  # what kind of change the offline writer took the proposal for
    facts: TopicFacts | None = None


Writer = Literal["llm", "offline"]
Verdict = Literal["proceed", "proceed_with_guardrails", "rethink", "no_signal"]
VERDICT_LABELS: dict[str, str] = {
    "proceed": "Proceed",
    "proceed_with_guardrails": "Proceed with guardrails",
    "rethink": "Rethink",
    "no_signal": "No customer signal",
}


class ChairResponse(BaseModel):
    """The empty chair's answer to a proposal: a verdict and 0–3 grounded challenges."""

    proposal: str
    verdict: Verdict = "no_signal"
    verdict_reason: str = ""  # the one fact that drives the verdict
    challenges: list[Challenge] = Field(default_factory=list, max_length=3)
    citations: list[Citation] = Field(default_factory=list)
    considered: int = 0  # complaints retrieved and weighed
    window_days: int
    period_start: date
    period_end: date
    writer: Writer
    model: str | None = None
    no_signal: str | None = None  # set when there is nothing to cite; said plainly to the user
    stale: str | None = None  # set when the newest stored complaint is older than the window
    window_total: int = 0  # complaints stored for the window
    fallback_reason: str | None = None  # why the offline writer answered instead of the LLM

    def citation(self, complaint_id: str) -> Citation | None:
        return next(
            (c for c in self.citations if c.id == complaint_id or complaint_id in c.same_quote),
            None,
        )


class ThemeCount(BaseModel):
    """Complaint volume of one theme in the current and previous period."""

    theme: str
    count: int
    previous: int
    change_pct: float | None  # None when the previous period had none


class Brief(BaseModel):
    """A pre-meeting customer brief for one channel."""

    channel_id: str
    period_start: datetime
    period_end: datetime
    total: int
    previous_total: int
    change_pct: float | None
    themes: list[ThemeCount] = Field(default_factory=list)
    quotes: list[Citation] = Field(default_factory=list)
    open_challenges: list[str] = Field(default_factory=list)
    summary: str = ""
    writer: Writer = "offline"
    daily: dict[str, dict[str, int]] = Field(default_factory=dict)  # theme -> ISO day -> count
    stale: str | None = None  # set when the newest stored complaint is older than the period


class Schedule(BaseModel):
    """A channel's recurring brief: a cron expression in a timezone, or a calendar feed."""

    id: int | None = None
    channel_id: str
    kind: Literal["cron", "calendar"] = "cron"
    cron: str = ""  # five-field crontab: minute hour day month day_of_week
    timezone: str = "UTC"
    calendar_url: str = ""
    minutes_before: int = 15
    created_by: str = ""
    created_at: datetime | None = None


@dataclass(frozen=True)
class HomeSummary:
    """What the App Home shows about the store: size, freshness, recent top themes, writer."""

    total: int
    newest: datetime | None
    days: int
    top_themes: list[tuple[str, int]]
    llm: str | None  # the model's name, None for the offline writer


@dataclass(frozen=True)
class OpenChallenge:
    """A posted challenge nobody has marked addressed or not relevant yet."""

    channel_id: str
    message_ts: str
    idx: int
    question: str
    proposal: str
    created_at: str

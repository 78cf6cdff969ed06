"""The empty chair's jobs: challenge a proposal, log a complaint; retrieval → writer → grounding."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel

from bot.briefs import BriefWriter
from bot.errors import EmptyChairError, LLMError, ScheduleError
from bot.llm import LLMClient
from bot.models import (
    Brief,
    ChairResponse,
    Challenge,
    Citation,
    Complaint,
    Schedule,
    ScoredComplaint,
    Severity,
)
from bot.offline import MAX_CHALLENGES, first_sentence, write_challenges
from bot.prompts import PromptLibrary, estimate_tokens
from bot.redact import redact
from bot.retrieval import Retrieval, Retriever
from bot.schedule_spec import describe, next_runs, parse_schedule
from bot.store.complaints import ComplaintStore
from bot.store.db import Store
from bot.store.events import EventLog
from bot.store.feedback import FeedbackStore, OpenChallenge
from bot.store.schedules import ScheduleStore

log = logging.getLogger(__name__)

RETRIEVE = 12  # complaints weighed per proposal
COMPLAINT_CHARS = 700  # per complaint in a prompt
QUOTE_CHARS = 160  # per quote shown to users
CONTEXT_SHARE = 0.25  # of the token budget the thread may use
MAX_PROPOSAL_CHARS = 4000


class ChallengeDraft(BaseModel):
    """One challenge as the LLM writes it (checked before it becomes a Challenge)."""

    question: str
    why_it_matters: str
    severity: Literal["low", "medium", "high"]
    complaint_ids: list[str]
    what_would_answer_it: str


class ChallengeDrafts(BaseModel):
    challenges: list[ChallengeDraft]


def short_quote(text: str, limit: int = QUOTE_CHARS) -> str:
    return first_sentence(redact(text), limit)


def trim_to_tokens(text: str, budget: int) -> str:
    """Keep the end of a long text (the newest replies of a thread matter most)."""
    if estimate_tokens(text) <= budget:
        return text
    keep = int(budget * 3.6)
    return "…" + text[-keep:]


class ChairService:
    """Everything the Slack handlers, the CLI and the scheduler ask of the empty chair."""

    def __init__(
        self,
        *,
        store: Store,
        retriever: Retriever,
        llm: LLMClient | None,
        prompts: PromptLibrary,
        window_days: int = 90,
        token_budget: int = 6000,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.store = store
        self.retriever = retriever
        self.llm = llm
        self.prompts = prompts
        self.window_days = window_days
        self.token_budget = token_budget
        self.clock = clock or (lambda: datetime.now(UTC))
        self.complaints = ComplaintStore(store)
        self.feedback = FeedbackStore(store)
        self.events = EventLog(store)
        self.schedules = ScheduleStore(store)
        self.briefs = BriefWriter(store, llm=llm, prompts=prompts, clock=self.clock)

    # -- challenge ---------------------------------------------------------------------------
    def challenge(self, proposal: str, context: str | None = None) -> ChairResponse:
        """Up to four grounded customer challenges to `proposal` (never an exception for LLM
        trouble: the offline writer answers instead and says why)."""
        # A 40,000-character paste is still one proposal; its head says what it is.
        proposal = redact(" ".join(proposal.split())[:MAX_PROPOSAL_CHARS])
        if not proposal:
            raise EmptyChairError("Tell me the proposal, e.g. `/emptychair Cut the free-returns "
                                  "window from 30 to 14 days`.")
        context = redact(context or "")
        started = time.perf_counter()
        found = self.retriever.search(
            proposal if not context else f"{proposal}\n{context[-1500:]}",
            limit=RETRIEVE, since_days=self.window_days,
        )
        relevant = found.relevant
        base: dict[str, Any] = {
            "proposal": proposal,
            "considered": found.considered,
            "window_days": self.window_days,
            "period_start": found.since.date(),
            "period_end": found.until.date(),
        }
        if not relevant:
            return ChairResponse(
                **base,
                writer="offline",
                no_signal=(
                    f"No customer signal on this in the last {self.window_days} days: none of "
                    f"the {self.complaints.count(found.since):,} complaints stored for that "
                    "period bears on it, so I will not make one up."
                ),
            )
        challenges: list[Challenge] = []
        fallback: str | None = None
        writer: Literal["llm", "offline"] = "offline"
        if self.llm is not None:
            try:
                challenges = self._llm_challenges(proposal, context, relevant, found)
                writer = "llm"
                if not challenges:
                    fallback = "the model's answer cited none of the retrieved complaints"
            except LLMError as exc:
                fallback = str(exc)
                log.warning("llm failed, answering offline: %s", exc)
        if not challenges:
            writer = "offline"
            challenges = write_challenges(
                proposal, relevant, window_days=self.window_days, now=found.until
            )
        cited = {cid for c in challenges for cid in c.complaint_ids}
        citations = [
            Citation(
                id=h.complaint.id, created_at=h.complaint.created_at.date(),
                theme=h.complaint.theme, quote=short_quote(h.complaint.text),
            )
            for h in relevant
            if h.complaint.id in cited
        ]
        log.info(
            "challenge answered writer=%s challenges=%d considered=%d ms=%.0f",
            writer, len(challenges), found.considered, (time.perf_counter() - started) * 1000,
        )
        return ChairResponse(
            **base,
            challenges=challenges,
            citations=citations,
            writer=writer,
            model=self.llm.model if writer == "llm" and self.llm is not None else None,
            fallback_reason=fallback,
        )

    def _llm_challenges(
        self, proposal: str, context: str, hits: Sequence[ScoredComplaint], found: Retrieval
    ) -> list[Challenge]:
        assert self.llm is not None
        system = self.prompts.render("challenge_system")
        context = trim_to_tokens(context, int(self.token_budget * CONTEXT_SHARE)) or "(none)"
        budget = self.token_budget - estimate_tokens(system) - estimate_tokens(context) - 400
        lines: list[str] = []
        for hit in hits:
            c = hit.complaint
            line = json.dumps(
                {
                    "id": c.id, "date": c.created_at.date().isoformat(), "theme": c.theme,
                    "channel": c.channel, "text": redact(c.text)[:COMPLAINT_CHARS],
                },
                ensure_ascii=False,
            )
            if estimate_tokens(line) > budget:
                break
            budget -= estimate_tokens(line)
            lines.append(line)
        allowed = {json.loads(line)["id"] for line in lines}
        user = self.prompts.render(
            "challenge_user",
            proposal=proposal,
            context=context,
            count=len(lines),
            period_start=found.since.date().isoformat(),
            period_end=found.until.date().isoformat(),
            complaints="\n".join(lines),
            max_challenges=MAX_CHALLENGES,
        )
        drafts = self.llm.complete(system, user, ChallengeDrafts, schema_name="challenges")
        return ground(drafts.challenges, allowed)

    # -- complaints from Slack ---------------------------------------------------------------
    def log_complaint(
        self, text: str, *, user_id: str, channel_id: str, theme: str = "general"
    ) -> tuple[Complaint, bool]:
        """Store a complaint someone relayed in Slack; returns it and whether it was new."""
        clean = redact(" ".join(text.split()))
        if len(clean) < 5:
            raise EmptyChairError(
                "Give me the complaint's words, e.g. `/emptychair log Customer says the app "
                "logs them out at checkout`."
            )
        now = self.clock()
        digest = hashlib.sha1(f"{channel_id}:{user_id}:{clean}".encode()).hexdigest()[:12]
        complaint = Complaint(
            id=f"slack-{digest}", created_at=now, text=clean, theme=theme, channel="slack",
            source="slack", source_ref=f"channel {channel_id}",
        )
        added = self.complaints.add(complaint)
        return complaint, added


    # -- Slack bookkeeping (plain ids and strings: the service knows nothing of Slack's API) ---
    def claim_event(self, event_id: str) -> bool:
        """True the first time an event id is seen (across retries and processes)."""
        return self.events.claim(event_id)

    def record_posted(
        self, channel_id: str, message_ts: str, thread_ts: str, response: ChairResponse
    ) -> None:
        if response.challenges:
            self.feedback.record_challenges(channel_id, message_ts, thread_ts, response)

    def vote(self, channel_id: str, message_ts: str, idx: int, user_id: str, vote: str) -> None:
        self.feedback.vote(channel_id, message_ts, idx, user_id, vote)

    def open_challenges(self, channel_ids: list[str], limit: int = 10) -> list[OpenChallenge]:
        return self.feedback.open_challenges(channel_ids, limit)

    # -- briefs and their schedules ------------------------------------------------------------
    def brief(
        self, channel_id: str, since: datetime | None = None, *, days: int | None = None
    ) -> Brief:
        """The channel's customer brief since its last one (or the last `days`, or a week)."""
        return self.briefs.build(channel_id, since, days=days)

    def brief_chart(self, brief: Brief) -> bytes:
        from bot.charts import trend_chart

        return trend_chart(brief)

    def record_brief(self, brief: Brief, message_ts: str) -> None:
        self.briefs.record_posted(brief, message_ts)

    def add_schedule(
        self, channel_id: str, args: str, *, user_id: str, default_tz: str
    ) -> tuple[Schedule, str, list[datetime]]:
        """Parse and store a cron-like schedule; returns it, its description and next runs."""
        cron, tz = parse_schedule(args, default_tz)
        schedule = self.schedules.add(
            Schedule(channel_id=channel_id, kind="cron", cron=cron, timezone=tz,
                     created_by=user_id, created_at=self.clock())
        )
        return schedule, describe(cron, tz), next_runs(cron, tz, self.clock(), 3)

    def add_calendar(
        self, channel_id: str, url: str, minutes_before: int, *, user_id: str, default_tz: str
    ) -> Schedule:
        from bot.calendar_feed import check_url

        check_url(url)
        if not 0 <= minutes_before <= 24 * 60:
            raise ScheduleError("minutes-before must be between 0 and 1440.")
        return self.schedules.add(
            Schedule(channel_id=channel_id, kind="calendar", calendar_url=url,
                     minutes_before=minutes_before, timezone=default_tz, created_by=user_id,
                     created_at=self.clock())
        )

    def list_schedules(self, channel_id: str) -> list[tuple[Schedule, str, datetime | None]]:
        """Each schedule of the channel with its description and next run (None: calendar)."""
        out: list[tuple[Schedule, str, datetime | None]] = []
        for sch in self.schedules.list(channel_id):
            if sch.kind == "calendar":
                out.append((sch, f"{sch.minutes_before} min before each calendar event", None))
            else:
                runs = next_runs(sch.cron, sch.timezone, self.clock(), 1)
                out.append((sch, describe(sch.cron, sch.timezone), runs[0] if runs else None))
        return out

    def remove_schedule(self, channel_id: str, schedule_id: int) -> bool:
        return self.schedules.remove(schedule_id, channel_id)

    def home_summary(self, days: int = 7) -> HomeSummary:
        now = self.clock()
        themes = self.complaints.theme_counts(now - timedelta(days=days), now + timedelta(1))
        return HomeSummary(
            total=self.complaints.count(),
            newest=self.complaints.newest(),
            days=days,
            top_themes=list(themes.items())[:5],
            llm=self.llm.model if self.llm is not None else None,
        )


@dataclass(frozen=True)
class HomeSummary:
    total: int
    newest: datetime | None
    days: int
    top_themes: list[tuple[str, int]]
    llm: str | None


def ground(drafts: Sequence[ChallengeDraft], allowed: set[str]) -> list[Challenge]:
    """Keep only citations of retrieved complaints; drop challenges left with none."""
    out: list[Challenge] = []
    for draft in drafts:
        ids = list(dict.fromkeys(i for i in draft.complaint_ids if i in allowed))
        dropped = set(draft.complaint_ids) - allowed
        if dropped:
            log.info("dropped %d citation(s) of complaints that were not retrieved", len(dropped))
        if not ids or not draft.question.strip():
            continue
        out.append(
            Challenge(
                question=draft.question.strip(),
                why_it_matters=draft.why_it_matters.strip(),
                severity=Severity(draft.severity),
                complaint_ids=ids,
                what_would_answer_it=draft.what_would_answer_it.strip(),
            )
        )
        if len(out) == MAX_CHALLENGES:
            break
    return out

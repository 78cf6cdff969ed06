"""The empty chair's jobs: challenge a proposal, log a complaint; retrieval → writer → grounding."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import cached_property, partial
from typing import Any, Literal

from pydantic import BaseModel, Field

from bot.briefs import BriefWriter
from bot.errors import EmptyChairError, LLMContextError, LLMError, ScheduleError
from bot.evidence import topic_facts
from bot.llm import LLMClient
from bot.llm_retrieval import RERANK_DEPTH, rerank, rewrite
from bot.models import (
    VERDICT_LABELS,
    Brief,
    ChairResponse,
    Challenge,
    Citation,
    Complaint,
    HomeSummary,
    Schedule,
    ScoredComplaint,
    Severity,
    TopicFacts,
    Verdict,
)
from bot.offline import (
    MAX_CHALLENGES,
    OfflineAnswer,
    decide,
    group_by_theme,
    same_question,
    write_answer,
)
from bot.prompts import PromptLibrary, estimate_tokens
from bot.quotes import best_quote, looks_like_instructions, quote_key
from bot.redact import redact
from bot.retrieval import Retrieval, Retriever
from bot.safety import clean, drop_unchecked_numbers, numbers_in
from bot.schedule_spec import describe, next_runs, parse_schedule
from bot.store.answers import AnswerStore
from bot.store.complaints import ComplaintStore
from bot.store.db import Store
from bot.store.events import EventLog
from bot.store.feedback import FeedbackStore, OpenChallenge
from bot.store.schedules import ScheduleStore
from bot.store.watches import Watch, WatchStore

log = logging.getLogger(__name__)

RETRIEVE = 12  # complaints weighed per proposal
COMPLAINT_CHARS = 700  # per complaint in a prompt
CONTEXT_SHARE = 0.25  # of the token budget the thread may use
PROMPT_FRAME_TOKENS = 400  # headings and instructions of the user prompt around the data
Answer = OfflineAnswer  # both writers give the same shape: verdict, reason, challenges
MAX_PROPOSAL_CHARS = 4000


class ChallengeDraft(BaseModel):
    """One challenge as the LLM writes it (checked before it becomes a Challenge)."""

    question: str = Field(max_length=600)
    why_it_matters: str = Field("", max_length=1200)  # the evidence, numbers from the facts
    severity: Literal["low", "medium", "high"]
    complaint_ids: list[str] = Field(max_length=8)
    guardrail: str = Field("", max_length=600)
    what_would_answer_it: str = Field("", max_length=600)  # the metric and its threshold


class ChallengeDrafts(BaseModel):
    """The model's whole answer; the verdict is free text so an unknown one can be replaced."""

    verdict: str = Field("", max_length=60)
    verdict_reason: str = Field("", max_length=400)
    challenges: list[ChallengeDraft] = Field(max_length=5)


def cite(hits: Sequence[ScoredComplaint], terms: list[str]) -> list[Citation]:
    """Citations in order, each quoting the sentence that bears; a quote that says what an
    earlier one said is shown once, with the other ids listed under it."""
    out: list[Citation] = []
    seen: dict[str, Citation] = {}
    for hit in hits:
        c = hit.complaint
        quote = best_quote(c.text, terms)
        key = quote_key(quote)
        if key and key in seen:
            seen[key].same_quote.append(c.id)
            continue
        citation = Citation(id=c.id, created_at=c.created_at.date(), theme=c.theme,
                            quote=quote, url=c.url)
        if key:
            seen[key] = citation
        out.append(citation)
    return out


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
        llm_retrieval: bool = False,
        complaints: ComplaintStore | None = None,
        feedback: FeedbackStore | None = None,
        events: EventLog | None = None,
        schedules: ScheduleStore | None = None,
        briefs: BriefWriter | None = None,
    ) -> None:
        """The parts after `clock` are built by bot/app.py; left out, they are made from
        `store` so a test can build a service from a store alone."""
        self.store = store
        self.retriever = retriever
        self.llm = llm
        self.prompts = prompts
        self.window_days = window_days
        self.token_budget = token_budget
        self.llm_retrieval = llm_retrieval
        self.clock = clock or (lambda: datetime.now(UTC))
        self.complaints = complaints or ComplaintStore(store)
        self.feedback = feedback or FeedbackStore(store)
        self.events = events or EventLog(store)
        self.schedules = schedules or ScheduleStore(store)
        self.briefs = briefs or BriefWriter(store, llm=llm, prompts=prompts, clock=self.clock)

    # -- challenge ---------------------------------------------------------------------------
    def challenge(
        self, proposal: str, context: str | None = None, *, audience: str | None = None
    ) -> ChairResponse:
        """Up to four grounded customer challenges to `proposal` (never an exception for LLM
        trouble: the offline writer answers instead and says why). `audience` is the Slack
        conversation asking; complaints logged in another private conversation stay out."""
        # A 40,000-character paste is still one proposal; its head says what it is.
        proposal = redact(" ".join(proposal.split())[:MAX_PROPOSAL_CHARS])
        if not proposal:
            raise EmptyChairError("Tell me the proposal, e.g. `/emptychair Cut the free-returns "
                                  "window from 30 to 14 days`.")
        context = redact(context or "")
        started = time.perf_counter()
        query = proposal if not context else f"{proposal}\n{context[-1500:]}"
        searching = time.monotonic()
        if self.llm is not None and self.llm_retrieval:
            # The model writes the customers' words for the search and re-orders the top 50;
            # every failure leaves the offline retrieval as it is.
            found = self.retriever.search(
                query, limit=RERANK_DEPTH, diverse=False, since_days=self.window_days,
                audience=audience, also=rewrite(self.llm, self.prompts, proposal))
            found.hits = rerank(self.llm, self.prompts, proposal, found.hits)[:RETRIEVE]
        else:
            found = self.retriever.search(query, limit=RETRIEVE, since_days=self.window_days,
                                          audience=audience)
        # A complaint that gives orders to a bot is spam aimed at us, not a customer's voice.
        relevant = [h for h in found.relevant if not looks_like_instructions(h.complaint.text)]
        window_total = self.complaints.count_where(
            since=found.since, until=found.until, audience=audience)[""]
        base: dict[str, Any] = {
            "proposal": proposal,
            "considered": found.considered,
            "window_days": self.window_days,
            "period_start": found.since.date(),
            "period_end": found.until.date(),
            "window_total": window_total,
            "stale": self.stale_note(found.since),
        }
        if not relevant:
            return ChairResponse(**base, writer="offline", no_signal=self._no_signal(base))
        groups = group_by_theme(relevant)
        facts = {
            g[0].complaint.theme: topic_facts(
                self.complaints, found.terms, g, since=found.since, until=found.until,
                audience=audience, related=found.expansion,
                meaning=partial(self.retriever.meaning, query))
            for g in groups
        }
        fallback: str | None = None
        answer: Answer | None = None
        writer: Literal["llm", "offline"] = "offline"
        deadline = getattr(self.llm, "timeout", None)
        if (self.llm is not None and self.llm_retrieval and isinstance(deadline, int | float)
                and time.monotonic() - searching >= deadline / 2):
            # A model that slow while searching would make the answer wait on it once more;
            # the user gets the offline answer now instead.
            fallback = "the language model was too slow while searching"
            log.warning("llm slow during retrieval, answering offline")
        elif self.llm is not None:
            try:
                answer = self._llm_answer(proposal, context, relevant, found, facts)
                writer = "llm"
                if not answer.challenges:
                    answer, fallback = None, "the model's answer cited none of the retrieved " \
                                             "complaints"
            except LLMError as exc:
                fallback = str(exc)
                log.warning("llm failed, answering offline: %s", exc)
        if answer is None:
            writer = "offline"
            answer = write_answer(
                proposal, groups, facts, window_days=self.window_days, terms=found.terms,
            )
        by_id = {h.complaint.id: h for h in relevant}
        challenges = [safe_challenge(c) for c in answer.challenges]
        cited = list(dict.fromkeys(cid for c in challenges for cid in c.complaint_ids))
        citations = cite([by_id[cid] for cid in cited], found.terms)
        log.info(
            "challenge answered writer=%s verdict=%s challenges=%d considered=%d ms=%.0f",
            writer, answer.verdict, len(challenges), found.considered,
            (time.perf_counter() - started) * 1000,
        )
        return ChairResponse(
            **base,
            verdict=answer.verdict,
            verdict_reason=clean(answer.reason),
            challenges=challenges,
            citations=citations,
            writer=writer,
            model=self.llm.model if writer == "llm" and self.llm is not None else None,
            fallback_reason=fallback,
        )

    def stale_note(self, since: datetime) -> str | None:
        """One line when the newest stored complaint is older than the window, else None."""
        newest = self.complaints.newest()
        if newest is None or newest >= since:
            return None
        return (
            f"The newest complaint stored is from {newest.date().isoformat()}, before this "
            f"{self.window_days}-day window: import fresher complaints, or widen the window "
            f"with EMPTYCHAIR_WINDOW_DAYS (`ask --window-days N` on the command line)."
        )

    def _no_signal(self, base: dict[str, Any]) -> str:
        if base["stale"]:
            return base["stale"]
        return (
            f"No customer signal on this in the last {self.window_days} days: none of "
            f"the {base['window_total']:,} complaints stored for that period bears on it, so I "
            "will not make one up."
        )

    def _llm_answer(
        self, proposal: str, context: str, hits: Sequence[ScoredComplaint], found: Retrieval,
        facts: dict[str, TopicFacts],
    ) -> Answer:
        """The model's answer, checked in code; a context-length refusal halves the evidence and
        asks once more."""
        assert self.llm is not None
        sent: list[int] = []
        try:
            return self._ask_llm(proposal, context, hits, found, facts, sent=sent)
        except LLMContextError as exc:
            log.info("the model's context is too small for the evidence, retrying with less: %s",
                     exc)
            return self._ask_llm(proposal, context, hits, found, facts, sent=sent,
                                 max_lines=max(1, (sent[0] if sent else len(hits)) // 2),
                                 passage_chars=COMPLAINT_CHARS // 2)

    def _ask_llm(
        self, proposal: str, context: str, hits: Sequence[ScoredComplaint], found: Retrieval,
        facts: dict[str, TopicFacts], *, sent: list[int], max_lines: int | None = None,
        passage_chars: int = COMPLAINT_CHARS,
    ) -> Answer:
        assert self.llm is not None
        system = self.prompts.render("challenge_system", max_challenges=MAX_CHALLENGES)
        try:
            budget = min(self.token_budget, self.llm.budget_tokens(ChallengeDrafts))
        except LLMError:
            budget = self.token_budget
        context = trim_to_tokens(context, int(budget * CONTEXT_SHARE)) or "(none)"
        fact_lines = "\n".join(
            json.dumps(f.model_dump(exclude={"terms"}), ensure_ascii=False) for f in facts.values()
        )
        left = budget - sum(estimate_tokens(t) for t in (system, context, fact_lines, proposal))
        left -= PROMPT_FRAME_TOKENS
        lines: list[str] = []
        for hit in hits:
            c = hit.complaint
            line = json.dumps(
                {
                    "id": c.id, "date": c.created_at.date().isoformat(), "theme": c.theme,
                    "channel": c.channel, "segment": c.segment,
                    "passage": redact(hit.passage or c.text)[:passage_chars],
                },
                ensure_ascii=False,
            )
            if estimate_tokens(line) > left or len(lines) == (max_lines or len(hits)):
                break
            left -= estimate_tokens(line)
            lines.append(line)
        if not lines:
            raise LLMError("the evidence does not fit the language model's context window")
        sent.append(len(lines))
        allowed = {json.loads(line)["id"] for line in lines}
        user = self.prompts.render(
            "challenge_user",
            proposal=proposal,
            context=context,
            count=len(lines),
            period_start=found.since.date().isoformat(),
            period_end=found.until.date().isoformat(),
            complaints="\n".join(lines),
            facts=fact_lines,
            max_challenges=MAX_CHALLENGES,
        )
        drafts = self.llm.complete(system, user, ChallengeDrafts, schema_name="challenges")
        by_id = {h.complaint.id: h for h in hits}
        known = numbers_in(fact_lines) | numbers_in(proposal) | {str(self.window_days)}
        challenges = ground(drafts.challenges, allowed)
        checked: list[Challenge] = []
        for draft in challenges:
            ch = check_numbers(draft, known | {n for cid in draft.complaint_ids
                                               for n in numbers_in(by_id[cid].complaint.text)})
            if ch is None or any(same_question(ch.question, c.question) for c in checked):
                continue
            theme = by_id[ch.complaint_ids[0]].complaint.theme
            checked.append(ch.model_copy(update={"facts": facts.get(theme)}))
            if len(checked) == MAX_CHALLENGES:
                break
        verdict = parse_verdict(drafts.verdict)
        reason, _ = drop_unchecked_numbers(drafts.verdict_reason, known)
        if verdict is None or not reason.strip():
            verdict, reason = decide(checked, self.window_days)
        return Answer(verdict, reason, checked)

    # -- complaints from Slack ---------------------------------------------------------------
    def log_complaint(
        self, text: str, *, user_id: str, channel_id: str, theme: str = "general",
        private: bool = True,
    ) -> tuple[Complaint, bool]:
        """Store a complaint someone relayed in Slack; returns it and whether it was new.

        From a private channel, a group DM or a DM (`private`), it may be quoted only back in
        that conversation; the caller says False only for a public channel."""
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
            visible_in=channel_id if private else "",
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
            AnswerStore(self.store).save(channel_id, message_ts, response)

    def posted_answer(self, channel_id: str, message_ts: str) -> ChairResponse | None:
        """The answer posted as that message, for its "Full evidence" view."""
        return AnswerStore(self.store).load(channel_id, message_ts)

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
        self, channel_id: str, url: str, minutes_before: int, *, user_id: str, default_tz: str,
        fetch: Callable[[str, float], str] | None = None,
        max_per_channel: int | None = 3,
    ) -> Schedule:
        """Check the feed (fetched now, with `fetch`: safe by default) and store a calendar
        schedule; any problem with the feed gives the same "could not use that calendar"."""
        from bot.calendar_feed import FETCH_DEADLINE, CalendarError, check_url, fetch_ics

        url = check_url(url)
        if not 0 <= minutes_before <= 24 * 60:
            raise ScheduleError("minutes-before must be between 0 and 1440.")
        text = (fetch or fetch_ics)(url, FETCH_DEADLINE)
        if "BEGIN:VCALENDAR" not in text[:4096].upper():
            log.debug("calendar: the feed is not iCalendar")
            raise CalendarError("not iCalendar")
        return self.schedules.add(
            Schedule(channel_id=channel_id, kind="calendar", calendar_url=url,
                     minutes_before=minutes_before, timezone=default_tz, created_by=user_id,
                     created_at=self.clock()),
            max_calendars=max_per_channel,
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

    def remove_schedule(
        self, channel_id: str, schedule_id: int, *, user_id: str | None = None,
        privileged: bool = False,
    ) -> bool:
        """Remove a schedule (or calendar) of the channel; False if there is none.

        A `user_id` may remove only what they created unless `privileged` (workspace admin or
        owner, or a bot admin); no `user_id` is a trusted caller such as the CLI.
        """
        if user_id is None or privileged:
            return self.schedules.remove(schedule_id, channel_id)
        if self.schedules.remove(schedule_id, channel_id, created_by=user_id):
            return True
        existing = self.schedules.get(schedule_id)
        if existing is None or existing.channel_id != channel_id:
            return False
        owner = f"the person who set it up (<@{existing.created_by}>), " if (
            existing.created_by) else ""
        raise ScheduleError(
            f"Only {owner}workspace admins and owners, and the Empty Chair admins can remove "
            f"brief #{schedule_id}. Nothing was changed."
        )

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

    # -- replays and repeated asks (plain ids and strings, like the bookkeeping above) --------
    def claim_request(self, signature: str, request_ts: str) -> bool:
        """True the first time a signed request is seen; a replay of it is not served."""
        return self.events.claim_request(signature, int(request_ts) if request_ts.isdigit()
                                         else 0)

    def claim_ask(self, channel_id: str, user_id: str, text: str, *, window_seconds: float,
                  scope: str = "", answer_ts: str = "") -> str | None:
        """None when this is the user's first such ask in the channel within the window (it is
        now claimed); else the ts of the earlier answer ('' while it is still being posted)."""
        if window_seconds <= 0:
            return None
        return self.events.claim_ask(channel_id, user_id, text, scope=scope,
                                     window=timedelta(seconds=window_seconds),
                                     answer_ts=answer_ts, now=self.clock())

    def answered_ask(self, channel_id: str, user_id: str, text: str, answer_ts: str, *,
                     scope: str = "") -> None:
        self.events.answered_ask(channel_id, user_id, text, answer_ts, scope=scope)

    def release_ask(self, channel_id: str, user_id: str, text: str, *, scope: str = "") -> None:
        self.events.release_ask(channel_id, user_id, text, scope=scope)

    def prune_seen(self) -> dict[str, int]:
        """Forget old event ids, request signatures and asks (the scheduler runs this)."""
        return self.events.prune_all(self.clock())

    # -- reading one complaint, and watched feedback channels ----------------------------------
    def complaint(self, complaint_id: str, audience: str) -> Complaint | None:
        """The stored (redacted) complaint, or None when there is none or `audience` (the Slack
        conversation asking) may not see it: one kept to another conversation reads as absent."""
        found = self.complaints.get([complaint_id]).get(complaint_id)
        if found is None or found.visible_in not in ("", audience):
            return None
        return found

    @cached_property
    def watches(self) -> WatchStore:
        return WatchStore(self.store)

    def watch(self, channel_id: str, *, user_id: str, private: bool) -> bool:
        """Store new top-level messages of the channel as complaints; False if already watched.
        A `private` channel's complaints are quotable only there."""
        return self.watches.add(channel_id, private=private, added_by=user_id, now=self.clock())

    def unwatch(self, channel_id: str) -> bool:
        return self.watches.remove(channel_id)

    def watched(self) -> list[Watch]:
        return self.watches.all()

    def watching(self, channel_id: str) -> Watch | None:
        return self.watches.get(channel_id)

    @staticmethod
    def watched_id(channel_id: str, message_ts: str) -> str:
        return f"slack-{channel_id}-{message_ts}"

    def take_watched_message(
        self, channel_id: str, message_ts: str, text: str, *, url: str,
    ) -> Complaint | None:
        """A new top-level message of a watched channel as a complaint (None: the channel is not
        watched, or too little is left of the message once redacted)."""
        watch = self.watches.get(channel_id)
        clean = redact(" ".join(text.split()))
        if watch is None or len(clean) < 5:
            return None
        try:
            when = datetime.fromtimestamp(float(message_ts), UTC)
        except (ValueError, OverflowError):
            when = self.clock()
        if when < watch.added_at:
            # Events can arrive late: a message posted before `watch` was asked for is not
            # taken, whenever its event comes in ("from now on" means the message's own time).
            return None
        complaint = Complaint(
            id=self.watched_id(channel_id, message_ts), created_at=when, text=clean,
            channel="slack", source="slack", source_ref=channel_id, url=url,
            visible_in=channel_id if watch.private else "",
        )
        self.complaints.add(complaint)
        return complaint

    def edit_watched_message(self, channel_id: str, message_ts: str, text: str) -> bool:
        """An edit replaces the complaint's text (an edit down to nothing removes it)."""
        cid = self.watched_id(channel_id, message_ts)
        if cid not in self.complaints.get([cid]):
            return False
        clean = redact(" ".join(text.split()))
        if len(clean) < 5:
            self.complaints.delete(cid)
        else:
            self.complaints.update_text(cid, clean)
        return True

    def drop_watched_message(self, channel_id: str, message_ts: str) -> bool:
        cid = self.watched_id(channel_id, message_ts)
        if cid not in self.complaints.get([cid]):
            return False
        self.complaints.delete(cid)
        return True


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
                guardrail=draft.guardrail.strip(),
            )
        )
    return out


_VERDICTS = {v.replace("_", " "): v for v in VERDICT_LABELS}


def parse_verdict(text: str) -> Verdict | None:
    """The model's verdict if it is one of ours ("Proceed with guardrails", "rethink" …)."""
    key = " ".join(text.replace("_", " ").replace("-", " ").casefold().split()).strip(" .!")
    return _VERDICTS.get(key)  # type: ignore[return-value]


def check_numbers(ch: Challenge, known: set[str]) -> Challenge | None:
    """Sentences with a number found in neither the facts nor a cited complaint are removed;
    a question left empty takes the challenge with it."""
    fields = ("question", "why_it_matters", "guardrail", "what_would_answer_it")
    update: dict[str, str] = {}
    removed = 0
    for name in fields:
        kept, dropped = drop_unchecked_numbers(getattr(ch, name), known)
        update[name], removed = kept, removed + dropped
    if removed:
        log.info("removed %d sentence(s) with numbers the facts do not hold", removed)
    if not update["question"].strip():
        return None
    return ch.model_copy(update=update)


def safe_challenge(ch: Challenge) -> Challenge:
    """Every reader (Slack, App Home, `ask --json`) gets redacted, inert text."""
    return ch.model_copy(update={
        name: clean(getattr(ch, name))
        for name in ("question", "why_it_matters", "guardrail", "what_would_answer_it")
    })

"""The pre-meeting customer brief: period, theme counts and change, quotes, open challenges."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta

from pydantic import BaseModel

from bot.errors import EmptyChairError, LLMError
from bot.llm import LLMClient
from bot.models import Brief, Citation, Complaint, ThemeCount, Writer
from bot.offline import write_brief_summary
from bot.prompts import PromptLibrary
from bot.quotes import best_quote
from bot.store.complaints import ComplaintStore, from_iso, to_iso
from bot.store.db import Store
from bot.store.feedback import FeedbackStore

log = logging.getLogger(__name__)

DEFAULT_DAYS = 7
MAX_THEMES = 5
MAX_QUOTES = 3
MAX_OPEN = 5
QUOTE_CHARS = 200
# A one-word complaint ("broken") says little in a meeting; prefer ones with some substance.
MIN_QUOTE_CHARS = 40
QUOTE_SOURCE_CHARS = 1000  # what best_quote may hand over for clipping
QUOTE_CANDIDATES = 25  # newest complaints looked at per theme when choosing quotes
PROMPT_QUOTE_CHARS = 400

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")


class BriefSummary(BaseModel):
    """The LLM's part of a brief: the summary only; every figure comes from the store."""

    summary: str


def change_pct(count: int, previous: int) -> float | None:
    """Percent change, one decimal; None when there is nothing to compare with."""
    if previous == 0:
        return None
    return round((count - previous) / previous * 100, 1)


def clip_quote(text: str, limit: int = QUOTE_CHARS) -> str:
    """Whole sentences up to `limit` characters; a first sentence longer than that is cut at a
    word boundary. A cut quote ends with "…" so nobody mistakes it for the full complaint."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    kept = ""
    for sentence in _SENTENCE_END.split(flat):
        candidate = f"{kept} {sentence}" if kept else sentence
        if len(candidate) > limit - 1:  # room for the ellipsis
            break
        kept = candidate
    if not kept:
        head = flat[: limit - 1]
        kept = head.rsplit(" ", 1)[0] if " " in head else head
        kept = kept.rstrip(",;:-–— ")
    return kept + "…"


def _utc(moment: datetime) -> datetime:
    """UTC, whole seconds: the store keeps second precision, so a period boundary must too,
    or the next brief's start would not equal this brief's stored end."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0)


def days_between(start: datetime, end: datetime) -> list[str]:
    """ISO days (UTC) touched by the half-open period [start, end)."""
    last = (end - timedelta(seconds=1)).date()
    day: date = start.date()
    out = []
    while day <= last:
        out.append(day.isoformat())
        day += timedelta(days=1)
    return out


class BriefWriter:
    """Builds a channel's brief from the store; the LLM (if any) only writes the summary."""

    def __init__(
        self,
        store: Store,
        *,
        llm: LLMClient | None,
        prompts: PromptLibrary,
        clock: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.llm = llm
        self.prompts = prompts
        self.clock = clock
        self.complaints = ComplaintStore(store)
        self.feedback = FeedbackStore(store)

    # -- period --------------------------------------------------------------------------------
    def period(
        self, channel_id: str, since: datetime | None = None, *, days: int | None = None
    ) -> tuple[datetime, datetime]:
        """[start, end) of the brief: explicit `since`, else the last `days`, else since the
        channel's previous brief, else the last week."""
        now = _utc(self.clock())
        if since is not None:
            start = _utc(since)
            if start >= now:
                raise EmptyChairError(
                    f"A brief covers the past: {to_iso(start)} is not before now ({to_iso(now)})."
                )
            return start, now
        if days is not None:
            if days <= 0:
                raise EmptyChairError(f"A brief needs a period of at least one day, not {days}.")
            return now - timedelta(days=days), now
        previous_end = self.last_brief_end(channel_id)
        # A brief recorded "in the future" (clock change, a second process) must not give an
        # empty or negative period; the default week is the sensible answer then.
        if previous_end is not None and previous_end < now:
            return previous_end, now
        return now - timedelta(days=DEFAULT_DAYS), now

    # -- build ---------------------------------------------------------------------------------
    def build(
        self, channel_id: str, since: datetime | None = None, *, days: int | None = None
    ) -> Brief:
        start, end = self.period(channel_id, since, days=days)
        previous_start = start - (end - start)

        current = self.complaints.theme_counts(start, end)
        previous = self.complaints.theme_counts(previous_start, start)
        total = sum(current.values())
        previous_total = sum(previous.values())

        themes = rank_themes(current, previous)
        top = themes[:MAX_THEMES]
        # Only themes heard from in this period get quotes and a line on the chart.
        heard = [t.theme for t in top if t.count > 0]

        quotes = self._quotes(heard, start, end)
        open_challenges = self._open_challenges(channel_id)
        daily = self._daily(heard, start, end)

        newest = self.complaints.newest()
        stale = None
        if newest is not None and newest < start:
            stale = (
                f"The newest complaint stored is from {newest.date().isoformat()}, before this "
                "brief's period: import fresher complaints, or cover more days "
                "(`/emptychair brief`, `emptychair brief --days N`)."
            )
        brief = Brief(
            channel_id=channel_id,
            stale=stale,
            period_start=start,
            period_end=end,
            total=total,
            previous_total=previous_total,
            change_pct=change_pct(total, previous_total),
            themes=top,
            quotes=quotes,
            open_challenges=open_challenges,
            daily=daily,
        )
        summary, writer = self._summary(brief)
        return brief.model_copy(update={"summary": summary, "writer": writer})

    def _quotes(self, themes: Sequence[str], start: datetime, end: datetime) -> list[Citation]:
        """Round-robin over the top themes, newest substantial complaint first, so three quotes
        cover up to three themes rather than three voices on one."""
        pools: list[list[Complaint]] = []
        for theme in themes[:MAX_QUOTES]:
            found = self.complaints.recent(
                since=start, until=end, theme=theme, limit=QUOTE_CANDIDATES
            )
            # The store orders by time only; the id settles ties so the choice is repeatable.
            found.sort(key=lambda c: (-c.created_at.timestamp(), c.id))
            substantial: list[Complaint] = []
            short: list[Complaint] = []
            for c in found:
                said = best_quote(c.text, [], limit=QUOTE_SOURCE_CHARS)
                if not said:  # only greetings and boilerplate, or orders to a bot
                    continue
                (substantial if len(said) >= MIN_QUOTE_CHARS else short).append(c)
            pools.append(substantial + short)
        chosen: list[Complaint] = []
        depth = 0
        while len(chosen) < MAX_QUOTES and any(depth < len(p) for p in pools):
            for pool in pools:
                if depth < len(pool) and len(chosen) < MAX_QUOTES:
                    chosen.append(pool[depth])
            depth += 1
        chosen.sort(key=lambda c: (-c.created_at.timestamp(), c.id))
        return [
            Citation(
                id=c.id,
                created_at=c.created_at.astimezone(UTC).date(),
                theme=c.theme,
                # The sentence that says something (redacted, no greeting), then whole sentences.
                quote=clip_quote(best_quote(c.text, [], limit=QUOTE_SOURCE_CHARS)),
            )
            for c in chosen
        ]

    def _open_challenges(self, channel_id: str) -> list[str]:
        found = self.feedback.open_challenges([channel_id], limit=MAX_OPEN * 4)
        # The same question asked in two meetings is one open question.
        questions = list(dict.fromkeys(" ".join(c.question.split()) for c in found))
        return [q for q in questions if q][:MAX_OPEN]

    def _daily(
        self, themes: Sequence[str], start: datetime, end: datetime
    ) -> dict[str, dict[str, int]]:
        counts = self.complaints.daily_counts(start, end)
        days = days_between(start, end)
        return {theme: {d: counts.get(theme, {}).get(d, 0) for d in days} for theme in themes}

    # -- summary -------------------------------------------------------------------------------
    def _summary(self, brief: Brief) -> tuple[str, Writer]:
        # With no complaints there is nothing for a model to say that the figures do not.
        if self.llm is not None and brief.total > 0:
            try:
                text = self._llm_summary(brief)
                if text:
                    return text, "llm"
                log.warning("llm returned an empty brief summary, writing it offline")
            except LLMError as exc:
                log.warning("llm failed on the brief summary, writing it offline: %s", exc)
        return offline_summary(brief), "offline"

    def _llm_summary(self, brief: Brief) -> str:
        assert self.llm is not None
        system = self.prompts.render("brief_system")
        user = self.prompts.render(
            "brief_user",
            period_start=brief.period_start.strftime("%Y-%m-%d %H:%M UTC"),
            period_end=brief.period_end.strftime("%Y-%m-%d %H:%M UTC"),
            total=brief.total,
            previous_total=brief.previous_total,
            themes="\n".join(theme_line(t) for t in brief.themes) or "(none)",
            quotes="\n".join(
                json.dumps(
                    {"id": q.id, "date": q.created_at.isoformat(), "theme": q.theme,
                     "text": q.quote[:PROMPT_QUOTE_CHARS]},
                    ensure_ascii=False,
                )
                for q in brief.quotes
            ) or "(none)",
            open_challenges="\n".join(f"- {q}" for q in brief.open_challenges) or "(none)",
        )
        result = self.llm.complete(system, user, BriefSummary, schema_name="brief_summary")
        return " ".join(result.summary.split())

    # -- bookkeeping ---------------------------------------------------------------------------
    def record_posted(self, brief: Brief, message_ts: str) -> None:
        """Remember a posted brief: the channel's next brief starts where this one ended."""
        with self.store.conn as conn:
            conn.execute(
                "INSERT INTO briefs (channel_id, posted_at, period_start, period_end, message_ts) "
                "VALUES (?, ?, ?, ?, ?)",
                [brief.channel_id, to_iso(self.clock()), to_iso(brief.period_start),
                 to_iso(brief.period_end), message_ts],
            )

    def last_brief_end(self, channel_id: str) -> datetime | None:
        # The latest end, not the latest posted: a re-run over an old period must not rewind.
        value = self.store.conn.execute(
            "SELECT max(period_end) FROM briefs WHERE channel_id = ?", [channel_id]
        ).fetchone()[0]
        return from_iso(value) if value else None


def rank_themes(current: dict[str, int], previous: dict[str, int]) -> list[ThemeCount]:
    """Every theme of either period, rising first: by absolute increase, then this period's
    count, then name (for a stable order)."""
    names = set(current) | set(previous)
    themes = [
        ThemeCount(
            theme=name,
            count=current.get(name, 0),
            previous=previous.get(name, 0),
            change_pct=change_pct(current.get(name, 0), previous.get(name, 0)),
        )
        for name in names
    ]
    themes.sort(key=lambda t: (-(t.count - t.previous), -t.count, t.theme))
    return themes


def theme_line(t: ThemeCount) -> str:
    change = "new" if t.change_pct is None else f"{t.change_pct:+.0f}%"
    if t.count == 0 and t.previous == 0:
        change = "no change"
    return f"- {t.theme}: {t.count} (previous {t.previous}, {change})"


def offline_summary(brief: Brief) -> str:
    rising = [(t.theme, t.count, t.previous) for t in brief.themes if t.count > t.previous]
    # The quote should speak to the theme the summary names first.
    lead = rising[0][0] if rising else None
    quote = next((q.quote for q in brief.quotes if q.theme == lead), None)
    if quote is None and brief.quotes:
        quote = brief.quotes[0].quote
    return write_brief_summary(brief.total, brief.previous_total, rising, quote)

"""Block Kit messages (plain dicts) and plain-text fallbacks, safe for untrusted text."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from typing import Any

from bot.models import (
    VERDICT_LABELS,
    Brief,
    ChairResponse,
    Challenge,
    Citation,
    HomeSummary,
    OpenChallenge,
    Severity,
    TopicFacts,
)
from bot.redact import redact
from bot.safety import neutralize, strip_controls

Block = dict[str, Any]

# Slack's documented limits (Block Kit reference and chat.postMessage). Lengths are counted in
# code points here; every builder below clamps to them so a message is never rejected.
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_CONTEXT_ELEMENTS = 10
MAX_CONTEXT_TEXT = 2000
MAX_BUTTON_TEXT = 75
MAX_HEADER_TEXT = 150
MAX_FALLBACK_TEXT = 40_000

# Interaction ids the handlers listen for; the button value is the 1-based challenge number.
ACTION_ADDRESSED = "chair_addressed"
ACTION_NOT_RELEVANT = "chair_not_relevant"
ACTION_VOTE_UP = "chair_vote_up"
ACTION_VOTE_DOWN = "chair_vote_down"
CHALLENGE_BLOCK_PREFIX = "chair_challenge_"
ACTION_EVIDENCE = "chair_evidence"
# A citation's "View" button; Slack wants action ids unique within a block, so each carries the
# complaint id after the prefix (the value is the id too).
ACTION_VIEW_COMPLAINT = "chair_view_complaint"

ELLIPSIS = "…"

VERDICT_MARK: dict[str, str] = {
    "proceed": "✅",
    "proceed_with_guardrails": "🟠",
    "rethink": "🛑",
    "no_signal": "🪑",
}
SEVERITY_MARK: dict[Severity, str] = {
    Severity.high: "🔴",
    Severity.medium: "🟠",
    Severity.low: "🟡",
}

_INTRO = "🪑 *The customer in the empty chair asks:*"
_NO_SIGNAL_DEFAULT = (
    "I found no customer complaints that bear on this, so I have no customer challenge to raise."
)

# Per-field budgets keep a whole challenge section under MAX_SECTION_TEXT by construction:
# 500 + 1200 + 1200 + the labels (< 100) < 3000.
_QUESTION_LIMIT = 500
_WHY_LIMIT = 1200
_ANSWER_LIMIT = 1200
_QUOTE_LIMIT = 200
_THEME_LIMIT = 40
_ID_LIMIT = 40
_CITATIONS_SHOWN = 3
_COMPACT_LIMIT = 160  # guardrail and metric in the one-screen answer
_COMPACT_QUOTE_LIMIT = 90
_PROPOSAL_LIMIT = 2500
_PROPOSAL_MAX_LINES = 20
_FALLBACK_PROPOSAL_LIMIT = 300

# ---------------------------------------------------------------------------------------------
# Safety helpers
# ---------------------------------------------------------------------------------------------

_ENTITY_MAX = len("&amp;")
_USER_ID = re.compile(r"[UW][A-Z0-9]{1,31}")


def escape(text: str) -> str:
    """Escape the three characters Slack mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _joins(before: str, after: str) -> bool:
    """Whether cutting between these two characters would split one visible character."""
    if before == "\u200d" or after == "\u200d":  # emoji ZWJ sequences
        return True
    if "\U0001f3fb" <= after <= "\U0001f3ff":  # skin-tone modifiers
        return True
    return unicodedata.category(after) in ("Mn", "Mc", "Me")  # accents, variation selectors


def _truncate(text: str, limit: int, force: bool = False) -> str:
    """Cut escaped text to at most `limit` characters at a word boundary, ending in '…'.

    `force` appends the ellipsis even if the text fits, for text already cut upstream.
    """
    if limit <= 0:
        return ""
    if len(text) <= limit and not force:
        return text
    if limit == 1:
        return ELLIPSIS
    cut = min(len(text), limit - 1)
    start = cut
    while 0 < cut < len(text) and _joins(text[cut - 1], text[cut]):
        cut -= 1
    if cut == 0:  # one enormous grapheme (e.g. "zalgo" text): a hard cut beats nothing
        cut = start
    # Every '&' in escaped text starts an entity; never leave half of one behind.
    amp = text.rfind("&", max(0, cut - _ENTITY_MAX + 1), cut)
    if amp != -1 and ";" not in text[amp:cut]:
        cut = amp
    head = text[:cut]
    if cut == len(text) or not text[cut].isspace():  # the cut is inside a word: back off
        space = max(head.rfind(" "), head.rfind("\n"), head.rfind("\t"))
        if space > 0 and space >= cut // 2:  # unless that throws away half the text
            head = head[:space]
    return head.rstrip() + ELLIPSIS


def safe(text: str, limit: int | None = None) -> str:
    """Neutralize, escape and (optionally) truncate untrusted text for mrkdwn or `text=`."""
    forced = False
    if limit is not None:
        # Escaping at most quintuples a character, so a bounded raw prefix is always enough;
        # it also bounds the work spent on huge inputs.
        raw_budget = limit * _ENTITY_MAX + 64
        if len(text) > raw_budget:
            text, forced = text[:raw_budget], True
    out = escape(neutralize(text))
    return out if limit is None else _truncate(out, limit, force=forced)


def _one_line(text: str) -> str:
    return " ".join(strip_controls(text).split())


def _safe_line(text: str | None, limit: int, default: str = "—") -> str:
    """Untrusted text for a single line (bold question, citation, list item)."""
    return safe(_one_line(text or ""), limit) or default


def _safe_block(text: str | None, limit: int, default: str = "—") -> str:
    """Untrusted multi-line text: keep paragraphs, drop trailing spaces and runs of blank lines."""
    return safe(_tidy_lines(text or ""), limit) or default


def _tidy_lines(text: str, max_lines: int | None = None) -> str:
    lines: list[str] = []
    for line in strip_controls(text).split("\n"):
        line = line.rstrip()
        if line or (lines and lines[-1]):
            lines.append(line)
    while lines and not lines[-1]:
        lines.pop()
    if max_lines is not None and len(lines) > max_lines:
        # Each line costs a "> " prefix in a quote; fold the tail so the budget holds.
        lines = lines[: max_lines - 1] + [" ".join(" ".join(lines[max_lines - 1 :]).split())]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Block builders (each clamps to Slack's limits as a last line of defence)
# ---------------------------------------------------------------------------------------------


def _section(text: str, block_id: str | None = None) -> Block:
    block: Block = {
        "type": "section",
        "text": {"type": "mrkdwn", "text": _truncate(text, MAX_SECTION_TEXT) or "—"},
    }
    if block_id:
        block["block_id"] = block_id
    return block


def _context(texts: Sequence[str]) -> Block:
    return {
        "type": "context",
        "elements": [
            {"type": "mrkdwn", "text": _truncate(t, MAX_CONTEXT_TEXT) or "—"}
            for t in texts[:MAX_CONTEXT_ELEMENTS]
        ],
    }


def _header(text: str) -> Block:
    return {
        "type": "header",
        "text": {"type": "plain_text", "text": _truncate(text, MAX_HEADER_TEXT), "emoji": True},
    }


def _button(text: str, action_id: str, value: str, style: str | None = None) -> Block:
    button: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": _truncate(text, MAX_BUTTON_TEXT), "emoji": True},
        "action_id": action_id,
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def _finish(blocks: list[Block], fallback: str) -> tuple[list[Block], str]:
    if len(blocks) > MAX_BLOCKS:  # never by construction; keep the closing context if it happens
        blocks = blocks[: MAX_BLOCKS - 1] + blocks[-1:]
    return blocks, _truncate(fallback, MAX_FALLBACK_TEXT)


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


# ---------------------------------------------------------------------------------------------
# Challenges
# ---------------------------------------------------------------------------------------------


def _code_id(complaint_id: str) -> str:
    # A backtick in an id would close the code span early.
    return _safe_line(complaint_id.replace("`", "'"), _ID_LIMIT, default="?")


_LINKABLE = re.compile(r"https?://[^\s<>|`]{1,1500}")


def _citation_text(c: Citation) -> str:
    ident = f"`{_code_id(c.id)}`"
    if c.url and _LINKABLE.fullmatch(c.url):
        # The source ticket, so a reader can check the quote against the whole complaint.
        ident = f"<{c.url.replace('&', '&amp;')}|{_code_id(c.id)}>"
    same = f" (+{len(c.same_quote)} saying the same)" if c.same_quote else ""
    return (
        f"{ident} · {c.created_at.isoformat()} · "
        f"{_safe_line(c.theme, _THEME_LIMIT, default='general')} · "
        f"“{_safe_line(c.quote, _QUOTE_LIMIT, default='')}”{same}"
    )


def facts_line(f: TopicFacts, window_days: int) -> str:
    """Store-wide volume of a challenge's topic, in one line."""
    theme = _safe_line(f.theme + (f" / {f.sub_theme}" if f.sub_theme else ""), _THEME_LIMIT)
    line = (
        f"📊 {f.matching:,} of {f.theme_total:,} {theme} complaints in {window_days} days bear "
        f"on this · {f.share_pct:g}% of all {f.window_total:,}"
    )
    if f.change_pct is not None:
        arrow = "▲" if f.change_pct >= 0 else "▼"
        line += f" · {arrow}{abs(f.change_pct):.0f}% vs the period before"
    elif f.matching:
        line += " · none the period before"
    return line


def _cited(resp: ChairResponse, challenge: Challenge) -> list[Citation]:
    """The challenge's citations in its order, without duplicates or unknown ids."""
    by_id: dict[str, Citation] = {}
    for c in resp.citations:
        by_id.setdefault(c.id, c)
        for other in c.same_quote:
            by_id.setdefault(other, c)
    cited: list[Citation] = []
    seen: set[str] = set()
    for cid in challenge.complaint_ids:
        if cid in by_id and by_id[cid].id not in seen:
            seen.add(by_id[cid].id)
            cited.append(by_id[cid])
    return cited


def compact_facts(f: TopicFacts) -> str:
    """The facts in a few words, for the one-screen answer."""
    theme = _safe_line(f.theme, _THEME_LIMIT)
    line = f"📊 {f.matching:,} of {f.theme_total:,} {theme} complaints ({f.share_pct:g}% of all)"
    if f.change_pct is not None:
        line += f" · {'▲' if f.change_pct >= 0 else '▼'}{abs(f.change_pct):.0f}%"
    return line


def _challenge_section(i: int, ch: Challenge, window_days: int, lead: Citation | None) -> str:
    """One risk on one screen: the question, the evidence in one line, guardrail and metric;
    only the first risk quotes its customer (every quote is behind "Full evidence")."""
    mark = SEVERITY_MARK.get(ch.severity, "⚪")
    lines = [f"{mark} *{i}. {_safe_line(ch.question, _QUESTION_LIMIT)}*"]
    if ch.facts is not None:
        lines.append(compact_facts(ch.facts))
    else:
        lines.append(f"📊 {_safe_line(ch.why_it_matters, _COMPACT_LIMIT)}")
    if i == 1 and lead is not None and lead.quote:
        lines.append(f"💬 “{_safe_line(lead.quote, _COMPACT_QUOTE_LIMIT, default='')}” "
                     f"(`{_code_id(lead.id)}`)")
    if ch.guardrail:
        lines.append(f"🛡 {_safe_line(ch.guardrail, _COMPACT_LIMIT)}")
    lines.append(f"📏 {_safe_line(ch.what_would_answer_it, _COMPACT_LIMIT)}")
    return "\n".join(lines)


def view_button(complaint_id: str) -> Block:
    """Opens the full redacted complaint behind a citation."""
    return _button(f"View {complaint_id}", f"{ACTION_VIEW_COMPLAINT}:{complaint_id}"[:255],
                   complaint_id[:2000])


def _challenge_actions(i: int, lead: Citation | None = None) -> Block:
    value = str(i)
    buttons = [
        _button("Addressed", ACTION_ADDRESSED, value, style="primary"),
        _button("Not relevant", ACTION_NOT_RELEVANT, value),
        _button("👍", ACTION_VOTE_UP, value),
        _button("👎", ACTION_VOTE_DOWN, value),
    ]
    if lead is not None:
        buttons.append(view_button(lead.id))
    return {"type": "actions", "block_id": f"{CHALLENGE_BLOCK_PREFIX}{i}", "elements": buttons}


def _closing_line(resp: ChairResponse) -> str:
    line = (
        f"Considered {_plural(resp.considered, 'complaint')} from "
        f"{resp.period_start.isoformat()} to {resp.period_end.isoformat()} · "
    )
    if resp.writer == "llm":
        model = _safe_line(resp.model, 80, default="")
        line += f"answered by the LLM ({model})" if model else "answered by the LLM"
    else:
        line += "answered by the offline writer"
    if resp.fallback_reason:
        line += f" (LLM unavailable: {_safe_line(resp.fallback_reason, 300)})"
    return line


def verdict_line(resp: ChairResponse) -> str:
    mark = VERDICT_MARK.get(resp.verdict, "🪑")
    label = VERDICT_LABELS.get(resp.verdict, "No customer signal")
    reason = _safe_line(resp.verdict_reason, 400, default="").rstrip(".")
    return f"{mark} *{label}*" + (f" — {reason}." if reason else "")


def format_challenges(resp: ChairResponse) -> tuple[list[Block], str]:
    """The thread reply: the verdict first, then at most three risks, each on a few lines, and
    a button for the full evidence; (blocks, fallback text)."""
    closing = _closing_line(resp)
    if resp.no_signal or not resp.challenges:
        # Never invent a customer: with nothing to cite, say so plainly and offer no buttons.
        message = resp.no_signal or _NO_SIGNAL_DEFAULT
        no_signal = [_section(f"🪑 {_safe_block(message, 2800)}"), _context([closing])]
        return _finish(no_signal, f"🪑 {_safe_line(message, 2000)}\n{closing}")

    blocks: list[Block] = [_section(f"{verdict_line(resp)}\n{_INTRO}")]
    lines = [verdict_line(resp).replace("*", ""),
             "🪑 The customer in the empty chair asks about: "
             + _safe_line(resp.proposal, _FALLBACK_PROPOSAL_LIMIT)]
    if resp.stale:
        blocks.append(_context([f"⏳ {_safe_line(resp.stale, 400)}"]))
        lines.append(_safe_line(resp.stale, 400))
    for i, ch in enumerate(resp.challenges[:3], start=1):
        cited = _cited(resp, ch)
        section = _challenge_section(i, ch, resp.window_days, cited[0] if cited else None)
        blocks.append(_section(section))
        blocks.append(_challenge_actions(i, cited[0] if cited else None))
        lines.append(section.replace("*", ""))
    blocks.append({
        "type": "actions",
        "block_id": "chair_evidence",
        "elements": [_button("Full evidence", ACTION_EVIDENCE, "all")],
    })
    blocks.append(_context([closing]))
    lines.append(closing)
    return _finish(blocks, "\n".join(lines))


def evidence_modal(resp: ChairResponse) -> dict[str, Any]:
    """The "Full evidence" modal (views.open)."""
    return {
        "type": "modal",
        "callback_id": "chair_evidence",
        "title": {"type": "plain_text", "text": "Full evidence"},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": format_evidence(resp),
    }


def format_evidence(resp: ChairResponse) -> list[Block]:
    """Every fact and citation behind an answer, for the "Full evidence" modal."""
    blocks: list[Block] = [_section(verdict_line(resp)),
                           _context([f"Proposal: {_safe_line(resp.proposal, 500)}"])]
    for i, ch in enumerate(resp.challenges[:3], start=1):
        text = (f"*{i}. {_safe_line(ch.question, _QUESTION_LIMIT)}*\n"
                f"*Evidence:* {_safe_line(ch.why_it_matters, _WHY_LIMIT)}\n"
                + (f"*Guardrail:* {_safe_line(ch.guardrail, _ANSWER_LIMIT)}\n" if ch.guardrail
                   else "")
                + f"*Metric:* {_safe_line(ch.what_would_answer_it, _ANSWER_LIMIT)}")
        blocks.append(_section(text))
        if ch.facts is not None:
            f = ch.facts
            splits = [
                f"{name}: " + ", ".join(f"{_safe_line(k, 30)} {v:,}" for k, v in values.items())
                for name, values in (("segments", f.segments), ("severity", f.severities),
                                     ("channels", f.channels)) if values
            ]
            facts = [facts_line(f, resp.window_days), *splits]
            blocks.append(_context(facts[:MAX_CONTEXT_ELEMENTS]))
        for c in _cited(resp, ch)[:6]:
            block = _section(_citation_text(c))
            block["accessory"] = view_button(c.id)
            blocks.append(block)
    blocks.append(_context([_closing_line(resp)]))
    return blocks[:MAX_BLOCKS]


# ---------------------------------------------------------------------------------------------
# Parent message, help, errors, acknowledgements
# ---------------------------------------------------------------------------------------------


def format_proposal_parent(proposal: str, user_id: str) -> tuple[list[Block], str]:
    """The channel message that quotes a `/emptychair <proposal>`; challenges go in its thread."""
    # Our own mention of the asker must survive, so it is built here from a validated id and
    # never passes through neutralize().
    who = f"<@{user_id}>" if _USER_ID.fullmatch(user_id) else "Someone"
    # The channel sees the proposal redacted, like everything else the bot posts.
    proposal = redact(proposal)
    body = safe(_tidy_lines(proposal, _PROPOSAL_MAX_LINES), _PROPOSAL_LIMIT)
    quoted = "\n".join(f"> {line}" for line in body.split("\n")) if body else "> _(no text)_"
    blocks = [
        _section(f"{who} asked the empty chair about:\n{quoted}"),
        _context(["Challenges follow in the thread ↓"]),
    ]
    fallback = (
        f"{who} asked the empty chair about: "
        f"{_safe_line(proposal, _FALLBACK_PROPOSAL_LIMIT, default='(no text)')}"
    )
    return _finish(blocks, fallback)


def format_error(message: str) -> tuple[list[Block], str]:
    """A short, friendly failure message."""
    # Our message, but it may quote user input (a schedule id, a timezone), so treat it as unsafe.
    default = "Something went wrong."
    text = f":warning: {_safe_block(message, 2800, default)}"
    return _finish([_section(text)], f":warning: {_safe_line(message, 2800, default)}")


_ACKS: dict[str, str] = {
    "addressed": "✅ Marked as addressed — thanks for closing the loop.",
    "not_relevant": "Thanks — noted as not relevant.",
    "vote_up": "Thanks for the 👍 — noted.",
    "vote_down": "Thanks for the 👎 — noted; it helps the empty chair ask better questions.",
}
_ACK_ALIASES: dict[str, str] = {
    "up": "vote_up",
    "down": "vote_down",
    "not relevant": "not_relevant",
}


def format_vote_ack(kind: str) -> str:
    """Ephemeral confirmation of a button click; `kind` is an action id or its short name."""
    key = kind.strip().lower().removeprefix("chair_")
    return _ACKS.get(_ACK_ALIASES.get(key, key), "Thanks — noted.")


# ---------------------------------------------------------------------------------------------
# Brief
# ---------------------------------------------------------------------------------------------

_BRIEF_THEMES = 8
_BRIEF_QUOTES = 3
_BRIEF_QUOTE_LIMIT = 400
_BRIEF_OPEN = 5
_BRIEF_OPEN_LIMIT = 300


def _change_text(pct: float | None, previous: int, current: int) -> str:
    """`change_pct` is in percent (12.5 means +12.5 %); None means the previous period had none."""
    if previous == 0:
        return "new" if current > 0 else "no change"
    if pct is None or not math.isfinite(pct):  # inconsistent input: trust the counts
        pct = (current - previous) / previous * 100
    if round(pct) == 0:
        return "no change"
    return f"{'▲' if pct > 0 else '▼'} {abs(pct):,.0f}%"


def format_brief(brief: Brief) -> tuple[list[Block], str]:
    """The pre-meeting customer brief: (blocks, fallback text)."""
    start, end = brief.period_start.date(), brief.period_end.date()
    days = max(1, round((brief.period_end - brief.period_start).total_seconds() / 86400))
    title = "Customer brief for the week" if 6 <= days <= 8 else f"Customer brief, last {days} days"
    change = _change_text(brief.change_pct, brief.previous_total, brief.total)
    vs = (
        "none the period before"
        if change == "new"
        else f"{change} vs the period before ({brief.previous_total:,})"
    )
    overview = f"*{start} to {end}* · *{_plural(brief.total, 'complaint')}* · {vs}"

    blocks: list[Block] = [_header(f"📋 {title}"), _section(overview)]
    if brief.stale:
        blocks.append(_context([f"⏳ {_safe_line(brief.stale, 400)}"]))
    if brief.summary.strip():
        blocks.append(_section(_safe_block(brief.summary, 2900)))

    theme_lines: list[str] = []
    for t in brief.themes[:_BRIEF_THEMES]:
        theme = _safe_line(t.theme, _THEME_LIMIT, default="general")
        theme_lines.append(
            f"• *{theme}* — {t.count:,} ({_change_text(t.change_pct, t.previous, t.count)})"
        )
    if len(brief.themes) > _BRIEF_THEMES:
        theme_lines.append(f"+{len(brief.themes) - _BRIEF_THEMES} more themes")
    if theme_lines:
        blocks.append(_section("*Rising themes*\n" + "\n".join(theme_lines)))

    quote_lines = [
        f"> “{_safe_line(q.quote, _BRIEF_QUOTE_LIMIT, default='')}”\n"
        f"> — `{_code_id(q.id)}` · {q.created_at.isoformat()} · "
        f"{_safe_line(q.theme, _THEME_LIMIT, default='general')}"
        for q in brief.quotes[:_BRIEF_QUOTES]
    ]
    if quote_lines:
        blocks.append(_section("*In their words*\n" + "\n".join(quote_lines)))

    open_lines = [
        f"• {_safe_line(c, _BRIEF_OPEN_LIMIT)}" for c in brief.open_challenges[:_BRIEF_OPEN]
    ]
    if len(brief.open_challenges) > _BRIEF_OPEN:
        open_lines.append(f"+{len(brief.open_challenges) - _BRIEF_OPEN} more")
    if open_lines:
        blocks.append(_section("*Challenges still open*\n" + "\n".join(open_lines)))

    writer = "the LLM" if brief.writer == "llm" else "the offline writer"
    blocks.append(_context([f"Written by {writer} · `/emptychair brief` for a fresh one"]))

    rising = ", ".join(
        f"{_safe_line(t.theme, _THEME_LIMIT, default='general')} {t.count:,} "
        f"({_change_text(t.change_pct, t.previous, t.count)})"
        for t in brief.themes[:_BRIEF_THEMES]
    )
    fallback = f"📋 {title}, {start} to {end}: {_plural(brief.total, 'complaint')} ({change})."
    if rising:
        fallback += f" Rising: {rising}."
    if brief.summary.strip():
        fallback += " " + _safe_line(brief.summary, 2000)
    return _finish(blocks, fallback)


def format_home(summary: HomeSummary, open_challenges: Sequence[OpenChallenge]) -> dict[str, Any]:
    """The App Home view: how to use the bot, the store's size and freshness, the last days'
    top themes and the open challenges of the user's channels."""
    newest = summary.newest.date().isoformat() if summary.newest else "never"
    writer = f"the LLM `{safe(summary.llm, 60)}`" if summary.llm else "the offline writer"
    blocks: list[Block] = [
        _header("🪑 Empty Chair"),
        _section(
            "I keep the customer in your meetings. Ask me about a proposal with "
            "`/emptychair <proposal>`, mention me in a decision thread, or use the "
            "*Ask the empty chair* shortcut on any message. `/emptychair help` lists everything."
        ),
        {"type": "divider"},
        _section(
            f"*Complaint store:* {summary.total:,} complaints, newest from {newest}. "
            f"Answers are written by {writer}."
        ),
    ]
    if summary.top_themes:
        lines = "\n".join(
            f"• {safe(theme, _THEME_LIMIT)}: {count:,}" for theme, count in summary.top_themes
        )
        blocks.append(_section(f"*Top themes, last {summary.days} days:*\n{lines}"))
    else:
        blocks.append(_section(f"*Top themes, last {summary.days} days:* no complaints."))
    blocks.append({"type": "divider"})
    if open_challenges:
        lines = "\n".join(
            f"• <#{c.channel_id}> {safe(_one_line(c.question), 200)}"
            for c in list(open_challenges)[:10]
            if re.fullmatch(r"[CG][A-Z0-9]{1,31}", c.channel_id)
        )
        blocks.append(_section(f"*Open challenges in your channels:*\n{lines}"))
    else:
        blocks.append(_section("*Open challenges in your channels:* none. 🎉"))
    return {"type": "home", "blocks": blocks[:MAX_BLOCKS]}

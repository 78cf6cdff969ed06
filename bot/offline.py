"""The extractive writer: deterministic, grounded challenges and brief summaries with no LLM."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from bot.models import Challenge, ScoredComplaint, Severity, TopicFacts
from bot.quotes import best_quote
from bot.redact import redact

MAX_CHALLENGES = 4

_ANSWERS = {
    "delivery": "On-time delivery and lost-parcel rates for the affected orders, measured in a "
    "pilot before and after the change.",
    "returns": "The return rate and the share of returns that would fall outside the new rules, "
    "and what a customer in that position can still do.",
    "refunds": "How long refunds take end to end today and after the change, and how customers "
    "are told where their money is.",
    "support": "Contact volume, wait times and unanswered contacts by hour and weekday, and who "
    "picks up when a customer needs a person.",
    "billing": "How many customers are charged in error today, and how fast a wrong charge is "
    "put right after this change.",
    "product_quality": "Defect and damage rates for the affected products and how a customer "
    "gets a replacement quickly.",
    "app": "Crash and failure rates of the affected flows, and a fallback that still lets the "
    "customer finish what they came to do.",
    "account": "How many customers get locked out today and how they get back in without "
    "waiting on support.",
}
_QUESTIONS = {
    "delivery": "who makes sure my parcel actually reaches me?",
    "returns": "what do I do when I can't send it back in time?",
    "refunds": "how long will I wait for my money then?",
    "support": "who do I reach when I need a person?",
    "billing": "how do I get a wrong charge put right?",
    "product_quality": "what happens when what you send me is faulty?",
    "app": "can I still finish my order when the app fails me?",
    "account": "how do I get back into my account?",
}
_DEFAULT_QUESTION = "what happens to me the next time this goes wrong?"
_DEFAULT_ANSWER = (
    "Evidence that the customers behind these complaints are better off: the metric they "
    "complain about, before and after a small pilot."
)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_LEADING_NON_VERB = frozenset(
    [
        "we", "i", "our", "the", "a", "an", "this", "that", "it", "they", "should", "could",
        "would", "can", "let's", "lets", "maybe", "what", "how", "why", "proposal", "idea",
    ]
)


def theme_label(theme: str) -> str:
    return theme.replace("_", " ").strip() or "general"


def first_sentence(text: str, limit: int = 180) -> str:
    """The opening sentence of a complaint, redacted and cut at a word boundary.

    Stored complaints are redacted on import; redacting again costs little and covers rows that
    reached the store another way."""
    flat = " ".join(redact(text).split())
    sentence = _SENTENCE.split(flat, maxsplit=1)[0]
    if len(sentence) > limit:
        sentence = sentence[:limit].rsplit(" ", 1)[0].rstrip(",;:") + "…"
    return sentence


_LABEL = re.compile(
    r"^(?:proposal|idea|plan|decision|suggestion|rfc|q)\s*[:\-–—]\s*"
    r"|^(?:let's|lets|we should|we could|we will|we'll|what if we|should we|i propose(?: we)?|"
    r"i suggest(?: we)?|how about we)\s+",
    re.IGNORECASE,
)


def proposal_clause(proposal: str) -> str:
    """"Cut the returns window" → "you cut the returns window"; other phrasings are quoted."""
    flat = " ".join(proposal.split()).rstrip(".!?")
    for _ in range(2):  # "Proposal: let's …" carries two labels
        flat = _LABEL.sub("", flat, count=1)
    flat = re.split(r"[,;]\s+(?:to|so|because|which|in order)\b", flat, maxsplit=1)[0]
    if len(flat) > 140:
        flat = flat[:140].rsplit(" ", 1)[0] + "…"
    words = flat.split(" ", 1)
    if words and words[0].casefold() not in _LEADING_NON_VERB and words[0][:1].isalpha():
        return "you " + flat[:1].lower() + flat[1:]
    return f"you go ahead with “{flat}”"


def group_by_theme(hits: Sequence[ScoredComplaint]) -> list[list[ScoredComplaint]]:
    """Themes ordered by their best complaint (volume lives in the facts, not in this order);
    each group best complaint first."""
    groups: dict[str, list[ScoredComplaint]] = {}
    for hit in hits:
        groups.setdefault(hit.complaint.theme, []).append(hit)
    ordered = sorted(
        groups.values(),
        key=lambda g: (-max(h.score for h in g), -sum(h.score for h in g), g[0].complaint.id),
    )
    return [sorted(g, key=lambda h: (-h.score, h.complaint.id)) for g in ordered]


def _severity(group: Sequence[ScoredComplaint], total: int) -> Severity:
    share = len(group) / max(total, 1)
    flagged_high = sum(1 for h in group if h.complaint.severity.casefold() in {"high", "urgent"})
    if share >= 0.4 or flagged_high * 2 >= len(group) > 1:
        return Severity.high
    if share >= 0.2 or flagged_high:
        return Severity.medium
    return Severity.low


def describe_facts(facts: TopicFacts, window_days: int) -> str:
    """The store-wide volume of a topic in one or two plain sentences."""
    label = theme_label(facts.theme) + (f" ({facts.sub_theme})" if facts.sub_theme else "")
    words = ", ".join(f"“{t}”" for t in facts.terms)
    n = facts.matching
    text = (
        f"{n:,} of the {facts.theme_total:,} {label} complaints of the last {window_days} days "
        f"{'bears' if n == 1 else 'bear'} on this"
        + (f" (they mention two of {words})" if len(facts.terms) > 2
           else f" (they mention {words.replace(', ', ' or ')})" if facts.terms else "")
        + f": {facts.share_pct:g}% of all {facts.window_total:,}."
    )
    if facts.change_pct is not None:
        direction = "up" if facts.change_pct >= 0 else "down"
        text += (f" That is {direction} {abs(facts.change_pct):.0f}% on the {window_days} days "
                 f"before ({facts.previous:,}).")
    elif n:
        text += f" None in the {window_days} days before."
    return text


def write_challenges(
    proposal: str,
    groups: Sequence[Sequence[ScoredComplaint]],
    facts: Mapping[str, TopicFacts],
    *,
    window_days: int,
    terms: list[str],
) -> list[Challenge]:
    """One challenge per theme among the relevant complaints, worded as the customer's question."""
    if not groups:
        return []
    clause = proposal_clause(proposal)
    challenges = []
    top = max(h.score for g in groups for h in g)
    total = sum(len(g) for g in groups)
    # A lone, weaker complaint in a side theme is a footnote, not a challenge.
    groups = [g for i, g in enumerate(groups) if i == 0 or len(g) > 1 or g[0].score >= 0.8 * top]
    for group in groups[:MAX_CHALLENGES]:
        quoted = [(h, best_quote(h.complaint.text, terms)) for h in group]
        quoted = [(h, q) for h, q in quoted if q] or [(group[0], "")]
        lead, quote = quoted[0]
        theme = lead.complaint.theme
        question = (
            (f"I told you: “{quote}” " if quote else "")
            + f"If {clause}, {_QUESTIONS.get(theme, _DEFAULT_QUESTION)}"
        )
        fact = facts.get(theme)
        why = describe_facts(fact, window_days) if fact else (
            f"{len(group)} of the complaints I found bear on this."
        )
        if len(quoted) > 1:
            why += f" Another customer wrote: “{quoted[1][1]}”"
        challenges.append(
            Challenge(
                question=question,
                why_it_matters=why,
                severity=_severity(group, total),
                complaint_ids=[lead.complaint.id]
                + [h.complaint.id for h in group if h is not lead][:4],
                what_would_answer_it=_ANSWERS.get(theme, _DEFAULT_ANSWER),
                facts=fact,
            )
        )
    return challenges


def write_brief_summary(
    total: int, previous_total: int, rising: Sequence[tuple[str, int, int]], quote: str | None
) -> str:
    """A short first-person summary built from the brief's own figures."""
    if total == 0:
        return "You heard nothing from us this period: no complaints were recorded."
    if previous_total:
        change = (total - previous_total) / previous_total * 100
        trend = f"{'up' if change >= 0 else 'down'} {abs(change):.0f}% on the period before"
    else:
        trend = "with none in the period before"
    text = f"We complained {total} times this period, {trend}."
    if rising:
        theme, count, previous = rising[0]
        text += (
            f" Most of the growth is about {theme_label(theme)}: {count} complaints "
            f"against {previous} before."
        )
    if quote:
        text += f" In our words: “{first_sentence(quote, 160)}”"
    return text

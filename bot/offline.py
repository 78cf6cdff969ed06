"""The extractive writer: deterministic, grounded challenges and brief summaries with no LLM."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.change_kinds import classify
from bot.models import Challenge, ScoredComplaint, Severity, TopicFacts, Verdict
from bot.quotes import best_quote
from bot.redact import redact
from bot.retrieval import COVERAGE_STRONG, MATCHED_MIN

MAX_CHALLENGES = 3

# A second or third challenge asks about the harm its own theme reports, never the first
# challenge's question again.
_THEME_QUESTIONS = {
    "delivery": "who makes sure my parcel still reaches me?",
    "returns": "what do I do when I can't send it back in time?",
    "refunds": "how long will I wait for my money then?",
    "support": "who do I reach when I need a person?",
    "billing": "how do I get a wrong charge put right?",
    "product_quality": "what happens when what you send me is faulty?",
    "app": "can I still finish my order when the app fails me?",
    "account": "how do I get back into my account?",
}
# Thresholds of the verdict, on the store-wide facts of the leading topic.
RETHINK_SHARE_PCT = 5.0  # of every complaint in the window
RETHINK_RISE_PCT = 25.0  # against the period before, with at least RETHINK_RISE_MIN complaints
RETHINK_RISE_MIN = 5
THIN_EVIDENCE = 2  # complaints: below this and nothing severe, the change may go ahead
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


GROUP_DISCOUNT = 0.15  # weight of a theme's 2nd best complaint; the 3rd gets its square …


def _group_weight(group: Sequence[ScoredComplaint]) -> float:
    scores = sorted((h.score for h in group), reverse=True)
    return sum(score * GROUP_DISCOUNT ** i for i, score in enumerate(scores))


def group_by_theme(hits: Sequence[ScoredComplaint]) -> list[list[ScoredComplaint]]:
    """Themes ordered by their complaints' scores, each one counting half the one before: the
    best complaint leads, but a theme several complaints bear on outranks a lone one;
    each group best complaint first."""
    groups: dict[str, list[ScoredComplaint]] = {}
    for hit in hits:
        groups.setdefault(hit.complaint.theme, []).append(hit)
    ordered = sorted(groups.values(), key=lambda g: (-_group_weight(g), g[0].complaint.id))
    return [sorted(g, key=lambda h: (-h.score, h.complaint.id)) for g in ordered]


def _severity(group: Sequence[ScoredComplaint], facts: TopicFacts | None) -> Severity:
    """From the store-wide facts: how much of everything customers say is about this, and
    whether the source flagged it as urgent. The answer's own few hits are no volume."""
    flagged_high = sum(1 for h in group if h.complaint.severity.casefold() in {"high", "urgent"})
    matching = facts.matching if facts is not None else len(group)
    share = facts.share_pct if facts is not None else 0.0
    if matching >= THIN_EVIDENCE and (share >= 2.0 or flagged_high * 2 >= len(group) > 1):
        return Severity.high
    if matching >= THIN_EVIDENCE and (share >= 0.5 or flagged_high):
        return Severity.medium
    return Severity.low


def describe_facts(facts: TopicFacts, window_days: int) -> str:
    """The store-wide volume of a topic in one or two plain sentences."""
    label = topic_label(facts)
    words = ", ".join(f"“{t}”" for t in facts.terms[:4]) + (", …" if len(facts.terms) > 4
                                                              else "")
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


def topic_label(facts: TopicFacts) -> str:
    return theme_label(facts.theme) + (f" ({facts.sub_theme})" if facts.sub_theme else "")


@dataclass(frozen=True)
class OfflineAnswer:
    verdict: Verdict
    reason: str  # the one fact that drives the verdict
    challenges: list[Challenge]


def same_question(a: str, b: str) -> bool:
    wa, wb = set(a.casefold().split()), set(b.casefold().split())
    return len(wa & wb) / max(1, len(wa | wb)) >= 0.8


def write_answer(
    proposal: str,
    groups: Sequence[Sequence[ScoredComplaint]],
    facts: Mapping[str, TopicFacts],
    *,
    window_days: int,
    terms: list[str],
) -> OfflineAnswer:
    """A bar raiser's answer from the relevant complaints: a verdict and at most three
    challenges, each a question for its own risk with evidence, a guardrail and a metric."""
    if not groups:
        return OfflineAnswer("no_signal", "no complaint bears on it", [])
    kind = classify(proposal)
    clause = proposal_clause(proposal)
    top = max(h.score for g in groups for h in g)
    challenges: list[Challenge] = []
    for i, group in enumerate(groups):
        if len(challenges) == MAX_CHALLENGES:
            break
        theme = group[0].complaint.theme
        fact = facts.get(theme)
        if i > 0:
            # Another theme's complaints that pass the relevance rule are mostly about another
            # problem sharing the proposal's words; a side risk stands only on passages that
            # hold most of those words.
            group = [h for h in group if h.matched >= MATCHED_MIN
                     and h.coverage >= COVERAGE_STRONG]
            # A lone, weaker complaint in a side theme, or a side theme the store barely
            # holds, is a footnote, not a risk of its own.
            if (not group or (len(group) < 2 and group[0].score < 0.8 * top)
                    or (fact is not None and fact.matching < THIN_EVIDENCE)):
                continue
        quoted = [h for h in group if best_quote(h.complaint.text, terms)] or list(group)
        lead = quoted[0]
        if not challenges:
            question = kind.question.format(clause=clause)
            guardrail = kind.guardrail
        else:
            harm = _THEME_QUESTIONS.get(theme) or (
                f"will more of us end up complaining about {topic_label(fact).lower()}?"
                if fact is not None else "what happens to me the next time this goes wrong?")
            question = f"If {clause}, {harm}"
            guardrail = (f"Pilot first; pause if {theme_label(theme)} complaints rise above "
                         "today's level.")
        if any(same_question(question, c.question) for c in challenges):
            continue
        baseline = f"{fact.matching:,}" if fact is not None else f"{len(group)}"
        metric = kind.metric.format(topic=theme_label(theme).capitalize(), baseline=baseline,
                                    days=window_days)
        evidence = describe_facts(fact, window_days) if fact is not None else (
            f"{len(group)} of the complaints I found bear on this.")
        challenges.append(Challenge(
            question=question,
            why_it_matters=evidence,
            severity=_severity(group, fact),
            complaint_ids=[lead.complaint.id]
            + [h.complaint.id for h in quoted if h is not lead][:4],
            what_would_answer_it=metric,
            guardrail=guardrail,
            change_kind=kind.name,
            facts=fact,
        ))
    verdict, reason = decide(challenges, window_days)
    return OfflineAnswer(verdict, reason, challenges)


def decide(challenges: Sequence[Challenge], window_days: int) -> tuple[Verdict, str]:
    """The verdict and the one fact behind it, from the leading challenge's store-wide facts."""
    if not challenges:
        return "no_signal", "no complaint bears on it"
    lead = challenges[0]
    f = lead.facts
    highs = sum(1 for c in challenges if c.severity == Severity.high)
    if f is None:
        return "proceed_with_guardrails", f"{len(lead.complaint_ids)} complaints bear on it"
    fact = (f"{f.matching:,} of the {f.window_total:,} complaints of the last {window_days} days "
            f"({f.share_pct:g}%) bear on {topic_label(f)}")
    if f.change_pct is not None:
        fact += f", {'up' if f.change_pct >= 0 else 'down'} {abs(f.change_pct):.0f}% on the " \
                f"period before"
    rising = (f.change_pct is not None and f.change_pct >= RETHINK_RISE_PCT
              and f.matching >= RETHINK_RISE_MIN)
    if f.share_pct >= RETHINK_SHARE_PCT or rising or highs >= 2:
        return "rethink", fact
    if len(challenges) == 1 and f.matching < THIN_EVIDENCE and lead.severity == Severity.low:
        return "proceed", (f"only {f.matching} of the {f.window_total:,} complaints of the last "
                           f"{window_days} days bears on {topic_label(f)}")
    return "proceed_with_guardrails", fact


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

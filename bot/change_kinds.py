"""What kind of change a proposal is, by a small rule set, and what a bar raiser asks of it."""

# Rules are tried in order; the first whose pattern matches the proposal wins. Each kind carries
# the customer's question (with `{clause}`: "you cut the returns window"), the guardrail that
# would reduce the harm, and the metric that would settle it (`{topic}`, `{baseline}` and
# `{days}` come from the store-wide facts, so every threshold is a number the store holds).

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class ChangeKind:
    name: str
    label: str  # "a new or higher fee"
    pattern: re.Pattern[str]
    question: str
    guardrail: str
    metric: str


def _p(text: str) -> re.Pattern[str]:
    return re.compile(text, re.IGNORECASE)


KINDS: tuple[ChangeKind, ...] = (
    ChangeKind(
        "automation", "automation replacing people",
        _p(r"\b(?:chat ?bot|bot|automat\w*|self[- ]service|ai\b|no human|without (?:a )?human|"
           r"no (?:human )?review|algorithm\w*|model)\b"),
        "If {clause}, who do I reach when the machine gets my case wrong?",
        "Keep a one-step route to a person, and review a sample of its decisions weekly.",
        "{topic} complaints stay at or below today's {baseline} per {days} days.",
    ),
    ChangeKind(
        "outsourcing", "outsourcing to a third party",
        _p(r"\b(?:outsourc\w*|third[- ]part\w*|offshore|vendor|agency|agencies|debt buyers?|"
           r"sell\w* (?:our |the )?(?:\w+ )?(?:debts?|servicing|balances?|accounts?)|hand\w* "
           r"(?:every|all|the)?\s*\w* ?(?:accounts?|debts?) to)\b"),
        "If {clause}, who answers for it when the new company gets my account wrong?",
        "Put accuracy and complaint duties in the contract; keep a named owner here.",
        "{topic} complaints stay at or below today's {baseline} per {days} days, checked monthly.",
    ),
    ChangeKind(
        "fee", "a new or higher fee",
        _p(r"\b(?:fees?|surcharges?|charg\w+ (?:a|an|for|customers|borrowers|\$)|penalt\w+)"),
        "If {clause}, what will I pay that I don't pay today, and will I know before I'm charged?",
        "Show the fee before I commit; waive it when you caused the problem.",
        "{topic} complaints stay at or below today's {baseline} per {days} days.",
    ),
    ChangeKind(
        "enforcement", "stricter enforcement against customers",
        _p(r"\b(?:report\w*|repossess\w*|sue|court|judgment|collect\w*|freez\w*|lock\w*|"
           r"suspend\w*|close\w* (?:\w+ )?(?:accounts?|cards?)|cancel\w*|forfeit\w*|"
           r"delet\w+|merge)\b"),
        "If {clause}, how do I put it right when you act against me by mistake?",
        "Warn me first with a way to fix it; reverse mistakes within days.",
        "{topic} complaints stay at or below today's {baseline} per {days} days.",
    ),
    ChangeKind(
        "channel_cut", "a channel removed or hours cut",
        _p(r"\b(?:phone|line|calls?|chat|email|branch\w*|desk|support|agents?)\b.*\bonly\b|"
           r"\b(?:close|closing|shut|retire|remov\w+|drop|end|only|cap|limit\w*|route|"
           r"stop \w+ing|no longer)\b.*"
           r"\b(?:phone|line|calls?|chat|email|mail|branch\w*|store|desk|support|weekends?|"
           r"hours|agents?|paper|checks?)\b"),
        "If {clause}, how do I reach you when something goes wrong at the time I can?",
        "Keep a fallback route (callback or next-day reply) and say where it is.",
        "{topic} complaints stay at or below today's {baseline} per {days} days.",
    ),
    ChangeKind(
        "deadline", "a deadline or threshold tightened",
        _p(r"\b(?:window|deadline|within|days?|hours?|hold|overdue|"
           r"from \d+ to \d+|once a|minutes?|weeks?|months?)\b|after (?:a|one|\d+)\b"),
        "If {clause}, what happens to me when life gets in the way of your new timing?",
        "Give notice, a grace period on the first miss, and a way to ask for time.",
        "{topic} complaints stay at or below today's {baseline} per {days} days.",
    ),
    ChangeKind(
        "eligibility", "eligibility narrowed or checks added",
        _p(r"\b(?:require\w*|must|verify\w*|verification|deny|declin\w*|only (?:for|if)|"
           r"minimum|eligib\w*|approv\w+|check\w*|inquir\w*|documentation|in writing)\b"
           r"|\blimit\w*\b.*\bto (?:one|\d+)\b"),
        "If {clause}, what happens to me if I can't meet the new requirement?",
        "Offer a second way to qualify, and have a person review every refusal.",
        "{topic} complaints stay at or below today's {baseline} per {days} days.",
    ),
    ChangeKind(
        "price_rise", "a price or rate rise",
        _p(r"\b(?:rais\w+|increas\w+|higher|hike)\b.*\b(?:rates?|interest|apr|prices?|"
           r"minimum|limits?)\b|\b(?:interest|apr|rate)\b"),
        "If {clause}, how much more will this cost me, and when will I find out?",
        "State the new cost in plain numbers first; spare customers in hardship.",
        "{topic} complaints stay at or below today's {baseline} per {days} days.",
    ),
    ChangeKind(
        "default", "a default changed",
        _p(r"\b(?:by default|default|opt[- ]?out|auto(?:matic(?:ally)?)?[- ]?(?:renew|enrol|"
           r"enroll|debit|roll)\w*|bundl\w+)\b"),
        "If {clause}, how will I know it happened, and how do I undo it?",
        "Ask first, remind before it applies, and let me undo it in one step.",
        "{topic} complaints stay at or below today's {baseline} per {days} days.",
    ),
)
GENERAL = ChangeKind(
    "change", "a change to what customers get", _p(r"$^"),
    "If {clause}, what gets worse for me, and who do I tell when it does?",
    "Pilot it with a small group that has a direct way to report problems.",
    "{topic} complaints stay at or below today's {baseline} per {days} days in the pilot.",
)


def classify(proposal: str) -> ChangeKind:
    """The first kind whose rule matches the proposal; GENERAL when none does."""
    return next((k for k in KINDS if k.pattern.search(proposal)), GENERAL)

"""The sentence of a complaint that bears on a proposal, never a greeting or a bot order."""

from __future__ import annotations

import re

from bot.redact import redact
from bot.text import sentences, stem, words

QUOTE_CHARS = 220
MIN_WORDS = 5

# Openers and closers of letters and tickets: true, but they tell a team nothing.
# A salutation opening a sentence is cut off; what follows it may still be worth quoting.
_SALUTATION = re.compile(
    r"^\W*(?:(?:hi|hello|hey|greetings|good (?:morning|afternoon|evening)|"
    r"to whom it may concern|dear [^,.:;!?]{0,40})\b[\s,.:;!-]*)+",
    re.IGNORECASE,
)
_BOILERPLATE = re.compile(
    r"^\W*(?:thanks?(?: you)?|thank you for .*|sincerely|regards|best regards|"
    r"kind regards|respectfully|cheers)\W*$"
    r"|^\W*(?:i ?am|i'm) writing (?:to|this|in regards?|regarding|because)"
    r"|^\W*(?:please find|please see|see attached|attached (?:is|are)|this (?:letter|complaint) is)"
    r"|^\W*my complaint is (?:with|about|against|regarding)\b[^.]{0,60}\.?$"
    r"|^\W*(?:i would like to|i want to|i wish to) (?:file|submit|make|lodge) a complaint"
    r"|^\W*(?:\d(?:\.\d)?\s*(?:/\s*5|stars?|out of 5)|[★☆*]{1,5})\W*$",
    re.IGNORECASE,
)
# A sentence citing a statute ("15 U.S.C. 1681s-2", "et seq.", "§ 1024.35") is the template
# many credit-repair letters copy, not the customer's experience.
_STATUTE = re.compile(
    r"§|\bet\.? seq\b|\b\d+\s*U\.?\s?S\.?\s?C\b|\bU\.?S\.?C\.?\s*(?:§\s*)?\d"
    r"|\bO\.R\.C\b|\bC\.F\.R\b|\b\d+\s*CFR\b",
    re.IGNORECASE,
)
# Exports that escaped their line breaks ("\\n" as two characters) and runs of the CFPB's
# redaction masks ("XXXX XXXX XXXX") are no one's words: a break is a break, a run is cut.
_ESCAPED_BREAKS = re.compile(r"(?:\\[nr])+")
_MASK_RUN = re.compile(r"(?:(?<!\S)\S*X{2,}\S*(?:\s+|$)){3,}")
# Text that addresses a bot or tries to steer one is never quoted or cited as a customer's words.
_INSTRUCTIONS = re.compile(
    r"\b(?:ignore|disregard|forget|override) (?:all |any |the |your )?(?:previous|prior|above|"
    r"earlier|preceding|system)?\s*(?:instructions?|prompts?|rules|messages?|directions)\b"
    r"|\b(?:system prompt|you are now|act as (?:an?|the) |as an ai\b|jailbreak|"
    r"developer mode|new instructions?:)"
    r"|<!(?:channel|here|everyone)>|(?:^|\s)@(?:channel|here|everyone)\b"
    r"|\bpost (?:this|the following) (?:to|in|on)\b",
    re.IGNORECASE,
)


def looks_like_instructions(text: str) -> bool:
    """True when a complaint reads as orders to a bot (prompt injection, mass mentions)."""
    return bool(_INSTRUCTIONS.search(text))


def is_boilerplate(sentence: str) -> bool:
    flat = " ".join(sentence.split())
    return (bool(_BOILERPLATE.search(flat) or _STATUTE.search(flat))
            or len(words(flat)) < MIN_WORDS)


def _cut(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    return flat[:limit].rsplit(" ", 1)[0].rstrip(",;:") + "…"


def best_quote(text: str, terms: list[str], limit: int = QUOTE_CHARS) -> str:
    """The sentence (or two short ones) of `text` holding most of `terms`, redacted.

    Ties go to the earlier sentence. When no sentence holds a term, the first sentence that is
    not boilerplate; when every sentence is boilerplate, an empty string (nothing to quote)."""
    if looks_like_instructions(text):
        return ""
    query = {stem(t) for t in terms if not t.isdigit()}
    text = _ESCAPED_BREAKS.sub("\n\n", text)
    parts = [_SALUTATION.sub("", _MASK_RUN.sub("… ", s).strip(" …"))
             for s in sentences(redact(text))]
    parts = [s for s in parts if not is_boilerplate(s)]
    if not parts:
        return ""
    best_i, best_score = 0, -1
    for i, part in enumerate(parts):
        score = len({stem(w) for w in words(part)} & query)
        if score > best_score:
            best_i, best_score = i, score
    quote = parts[best_i]
    if len(quote) < 60 and best_i + 1 < len(parts):  # a clipped "It broke." needs its neighbour
        quote = f"{quote} {parts[best_i + 1]}"
    return _cut(quote, limit)


def quote_key(quote: str) -> str:
    """Near-identical quotes (case, punctuation, digits, redaction tags) share a key."""
    return " ".join(w for w in words(re.sub(r"\[[a-z_]+\]", " ", quote)) if not w.isdigit())

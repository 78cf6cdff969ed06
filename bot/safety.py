"""Untrusted text made safe anywhere: markup inert, PII redacted, unchecked numbers removed."""

from __future__ import annotations

import re
from collections.abc import Iterable

from bot.redact import redact
from bot.text import sentences

ZWSP = "\u200b"

# All of Unicode's Cc except \t and \n, lone surrogates (they cannot be encoded as UTF-8, so
# Slack's API would reject the whole message) and the bidi marks, embeddings, overrides and
# isolates (Trojan Source): a quoted complaint could otherwise make a reader see reversed text.
_CONTROL = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
_NEWLINES = re.compile("\r\n?|[\u2028\u2029\x85]")
# Slack's angle-bracket markup: <!channel>, <@U123|name>, <#C1|general>, <http://x|label> …
_TOKEN = re.compile(r"<([^<>]*)>")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:\S")
# A '<' that could still open markup once more text is appended after it.
_OPEN_MARKUP = re.compile(r"<(?=[!@#]|[A-Za-z][A-Za-z0-9+.\-]*:)")
_BROADCAST = re.compile(r"@(?=channel|here|everyone)", re.IGNORECASE)
# Nested tokens are unwrapped one layer per pass; a few passes cover real text, and whatever
# deeper nesting remains is made inert by _OPEN_MARKUP, which keeps neutralize() linear.
_TOKEN_PASSES = 4


def strip_controls(text: str) -> str:
    return _CONTROL.sub("", _NEWLINES.sub("\n", text))


def _bare(name: str) -> str:
    # Nested tokens would otherwise pile up "@\u200b@\u200b…" once per layer.
    return name.lstrip("@" + ZWSP)


def _render_token(match: re.Match[str]) -> str:
    body, _, label = match.group(1).partition("|")
    if body.startswith("@"):  # user ping <@U123> / <@U123|alice>
        return "@" + ZWSP + (_bare(label) or _bare(body[1:]))
    if body.startswith("#"):  # channel link <#C123|general>
        return "#" + (label.lstrip("#") or body[1:])
    if body.startswith("!"):  # <!here>, <!channel>, <!subteam^S1|@team>, <!date^…|fallback>
        kind, _, rest = body[1:].partition("^")
        if kind == "date":
            return label or "(a date)"
        name = _bare(label) or (rest.partition("^")[0] if kind == "subteam" else kind)
        return "@" + ZWSP + name
    if _SCHEME.match(body):  # <http://evil|click>: show where the link goes, never disguise it
        return f"{label} ({body})" if label and label != body else body
    return match.group(0)  # "<3 and >", "<none>" …: plain text, escape() will handle it


def neutralize(text: str) -> str:
    """Make mentions, broadcasts and links in untrusted text inert, before any escaping."""
    text = strip_controls(text)
    for _ in range(_TOKEN_PASSES):
        unwrapped = _TOKEN.sub(_render_token, text)
        if unwrapped == text:
            break
        text = unwrapped
    text = _OPEN_MARKUP.sub("<" + ZWSP, text)
    # Last, so that broadcasts produced by unwrapping a label are caught as well.
    return _BROADCAST.sub("@" + ZWSP, text)




def clean(text: str) -> str:
    """Model or complaint text for any reader: redacted, then markup made inert."""
    return neutralize(redact(text)).strip()


_NUMBER = re.compile(r"(?<![\w.])\$?\d[\d,]*(?:\.\d+)?(?!\w)")
# Denominators a metric may name without the store having counted them ("per 1,000 orders").
UNIT_NUMBERS = frozenset({"100", "1000", "10000"})


def numbers_in(text: str) -> set[str]:
    """Numbers as written, normalised: "$1,200.00" and "1200" are both "1200"."""
    out = set()
    for match in _NUMBER.finditer(text):
        value = match.group(0).lstrip("$").replace(",", "")
        if "." in value:
            value = value.rstrip("0").rstrip(".")
        out.add(value)
    return out


def drop_unchecked_numbers(text: str, allowed: Iterable[str]) -> tuple[str, int]:
    """Remove every sentence holding a number found in none of `allowed`; returns the text
    left and how many sentences went."""
    known = set(allowed) | UNIT_NUMBERS
    kept, dropped = [], 0
    for sentence in sentences(text) or [text]:
        if numbers_in(sentence) - known:
            dropped += 1
            continue
        kept.append(sentence)
    return " ".join(kept), dropped

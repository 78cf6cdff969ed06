"""Store-wide facts for a challenge's topic: volume, share, trend and splits over the window."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from itertools import combinations

from bot.briefs import change_pct
from bot.models import ScoredComplaint, TopicFacts
from bot.retrieval import DENSE_MIN
from bot.store.complaints import ComplaintStore
from bot.text import stem, stems

MAX_TOPIC_TERMS = 8  # pairs of 8 words: 28 FTS5 clauses, cheap even at a million rows
SPLIT_VALUES = 5
# A word found in more than this share of all complaints ("charge", "fee", "account") names no
# topic, and neither does a pair of two such words; see topic_match.
COMMON_SHARE = 0.1
# The sentence encoder's cosine of the proposal to each of some complaints (rowids), or None.
Meaning = Callable[[Sequence[int]], dict[int, float] | None]
# Most complaints whose vectors one count reads (a few words typed in Slack must not load a
# million vectors); a broader topic is counted by its words alone.
MEANING_CAP = 20_000


def topic_terms(
    terms: Sequence[str], group: Sequence[ScoredComplaint] = (), related: Sequence[str] = ()
) -> list[str]:
    """The words that define a challenge's topic: the proposal's content words and the related
    words retrieval found, kept when the cited customers use them ("weekdays" in a proposal,
    "weekend" and "saturday" in the complaints). No numbers, one word per stem."""
    proposal: dict[str, str] = {}
    for term in terms:
        if not term.isdigit():
            proposal.setdefault(stem(term), term)
    if not group:
        return list(proposal.values())[:MAX_TOPIC_TERMS]
    used = set().union(*(stems(h.passage or h.complaint.text) for h in group))
    kept = {s: t for s, t in proposal.items() if s in used}
    for term in related:
        s = stem(term)
        if s in used and not term.isdigit():
            kept.setdefault(s, term)
    if len(kept) < 2:  # the customers' words say too little: the proposal's own define it
        return list(proposal.values())[:MAX_TOPIC_TERMS]
    return list(kept.values())[:MAX_TOPIC_TERMS]


def topic_match(terms: Sequence[str], common: Collection[str] = ()) -> str | None:
    """An FTS5 expression on the text column: at least two of `terms` (one of one or two), and
    not two `common` words (stems) alone: "charge" and "fee" together are in most card
    complaints, "fee" and "secured" are a topic. When every word is common, three of them."""
    quoted = {t: '"' + t.replace('"', '""') + '"' for t in terms}
    if not quoted:
        return None
    if len(quoted) <= 2:
        return "text : (" + " OR ".join(quoted.values()) + ")"
    words = list(quoted)
    specific = [t for t in words if stem(t) not in common]
    if specific:
        clauses = [f"({quoted[a]} AND {quoted[b]})" for i, a in enumerate(words)
                   for b in words[i + 1:] if a in specific or b in specific]
    else:
        clauses = ["(" + " AND ".join(quoted[t] for t in trio) + ")"
                   for trio in combinations(words, 3)]
    return "text : (" + " OR ".join(clauses) + ")"


def common_stems(store: ComplaintStore, terms: Sequence[str]) -> set[str]:
    """The stems of `terms` that more than COMMON_SHARE of all stored complaints hold."""
    total, freqs = store.doc_freqs(sorted({stem(t) for t in terms}))
    return {s for s, n in freqs.items() if n > COMMON_SHARE * total}


def topic_of(group: Sequence[ScoredComplaint]) -> tuple[str, str]:
    """(theme, sub-theme) of a group of cited complaints; the sub-theme only when at least
    three of them, and most, share it (one complaint's sub-theme is not yet a topic)."""
    theme = Counter(h.complaint.theme for h in group).most_common(1)[0][0]
    subs = Counter(h.complaint.sub_theme for h in group if h.complaint.theme == theme)
    sub, n = subs.most_common(1)[0]
    return theme, sub if sub and n >= 3 and n * 2 > len(group) else ""


def topic_facts(
    store: ComplaintStore,
    terms: Sequence[str],
    group: Sequence[ScoredComplaint],
    *,
    since: datetime,
    until: datetime,
    audience: str | None = None,
    related: Sequence[str] = (),
    meaning: Meaning | None = None,
) -> TopicFacts:
    """`meaning` gives the sentence encoder's cosine to the proposal of each complaint (None
    when one lacks a vector): where it can, the count keeps only the complaints the relevance
    rule could cite, those within DENSE_MIN of the proposal."""
    theme, sub_theme = topic_of(group)
    words = topic_terms(terms, group, related)
    match = topic_match(words, common_stems(store, words))
    span = until - since
    window_total = store.count_where(since=since, until=until, audience=audience)[""]

    def count(
        start: datetime, end: datetime, match: str | None, group_by: str | None = None
    ) -> dict[str, int]:
        return store.count_where(since=start, until=end, match=match, theme=theme,
                                 sub_theme=sub_theme, audience=audience, group_by=group_by)

    theme_total = count(since, until, None)[""]
    near = _near_in_meaning(store, meaning, match, theme, sub_theme, audience,
                            since - span, until)
    if near is None:
        matching = count(since, until, match)[""]
        previous = count(since - span, since, match)[""]

        def split(column: str) -> dict[str, int]:
            return dict(list(count(since, until, match, column).items())[:SPLIT_VALUES])
    else:
        start = since.replace(microsecond=0)  # stored times are whole seconds
        current = [values for at, values in near if at >= start]
        matching, previous = len(current), len(near) - len(current)

        def split(column: str) -> dict[str, int]:
            counts = Counter(v[column] for v in current if v[column])
            return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:SPLIT_VALUES])

    return TopicFacts(
        theme=theme,
        sub_theme=sub_theme,
        terms=words,
        matching=matching,
        theme_total=theme_total,
        window_total=window_total,
        share_pct=round(100 * matching / window_total, 1) if window_total else 0.0,
        previous=previous,
        change_pct=change_pct(matching, previous),
        segments=split("segment"),
        severities=split("severity"),
        channels=split("channel"),
    )


def _near_in_meaning(
    store: ComplaintStore, meaning: Meaning | None, match: str | None, theme: str,
    sub_theme: str, audience: str | None, since: datetime, until: datetime,
) -> list[tuple[datetime, dict[str, str]]] | None:
    """The topic's complaints of [since, until) that are near the proposal in meaning, or None
    when that cannot be said of every one of them (then the words alone decide)."""
    if meaning is None or match is None:
        return None
    if store.count_where(since=since, until=until, match=match, theme=theme,
                         sub_theme=sub_theme, audience=audience)[""] > MEANING_CAP:
        return None
    rows = store.rows_where(since=since, until=until, match=match, theme=theme,
                            sub_theme=sub_theme, audience=audience)
    sims = meaning([rowid for rowid, _, _ in rows])
    if sims is None:
        return None
    return [(at, values) for rowid, at, values in rows if sims[rowid] >= DENSE_MIN]

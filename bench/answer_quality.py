"""Answer quality on the dev set: what code can score of each writer's answers, per split."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for extra in (ROOT, ROOT / "bench"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from retrieval_quality import (  # noqa: E402
    CORPORA,
    WINDOW_DAYS,
    build_store,
    corpora,
    emit,
    load_labels,
    splits,
)

WORD = re.compile(r"[\w’'%.,$-]*\w")
DEFINITION = (
    "first_cites_relevant = the first challenge cites at least one complaint judged relevant; "
    "quote_on_topic = share of shown quotes holding a content word of the proposal (stemmed); "
    "distinct = answers whose questions are pairwise distinct; words = words of the one-screen "
    "Slack answer (sections, emoji excluded); numbers_checked = answers whose every number is "
    "in the facts, a cited complaint or the proposal; verdict = answers with a verdict; "
    "cited_relevant = judged-relevant citations / citations, of first and of other challenges; "
    "facts = the first challenge's store-wide count of complaints that bear on it, against the "
    "proposal's judged-relevant set: counted_per_relevant = count / relevant, judged_precision "
    "= relevant / judged among the counted, relevant_counted = share of the relevant counted"
)


def topic_ids(store: Any, facts: Any, since: Any, until: Any, meaning: Any) -> set[str]:
    """The ids the first challenge's "bear on this" count counted, by the same rule: the
    words, then the sentence encoder's cosine where every one has a vector."""
    from bot.evidence import common_stems, topic_match
    from bot.retrieval import DENSE_MIN
    from bot.store.complaints import ComplaintStore, to_iso

    match = topic_match(facts.terms, common_stems(ComplaintStore(store), facts.terms))
    if match is None:
        return set()
    sql = ("SELECT c.rowid, c.id FROM complaints c JOIN complaints_fts f ON f.rowid = c.rowid "
           "WHERE complaints_fts MATCH ? AND c.theme = ? AND c.created_at >= ? "
           "AND c.created_at < ?")
    params = [match, facts.theme, to_iso(since), to_iso(until)]
    if facts.sub_theme:
        sql += " AND c.sub_theme = ?"
        params.append(facts.sub_theme)
    rows = store.conn.execute(sql, params).fetchall()
    sims = meaning([rowid for rowid, _ in rows])
    return {cid for rowid, cid in rows if sims is None or sims[rowid] >= DENSE_MIN}


def score(resp: Any, relevant: set[str], texts: dict[str, str]) -> dict[str, Any]:
    from bot.formatting import format_challenges
    from bot.offline import same_question
    from bot.safety import UNIT_NUMBERS, numbers_in
    from bot.text import content_terms, stems

    out: dict[str, Any] = {"answered": bool(resp.challenges)}
    if not resp.challenges:
        return out
    out["first_cites_relevant"] = bool(set(resp.challenges[0].complaint_ids) & relevant)
    for role, group in (("first", resp.challenges[:1]), ("other", resp.challenges[1:])):
        ids = [cid for ch in group for cid in ch.complaint_ids]
        out[f"{role}_cited"] = [sum(cid in relevant for cid in ids), len(ids)]
    proposal = {s for t in content_terms(resp.proposal) for s in stems(t)}
    quotes = [c.quote for c in resp.citations if c.quote]
    out["quotes"] = len(quotes)
    out["quotes_on_topic"] = sum(bool(stems(q) & proposal) for q in quotes)
    questions = [c.question for c in resp.challenges]
    out["distinct"] = not any(same_question(a, b) for i, a in enumerate(questions)
                              for b in questions[i + 1:])
    blocks, _ = format_challenges(resp)
    shown = " ".join(b["text"]["text"] for b in blocks if b["type"] == "section")
    out["words"] = len(WORD.findall(shown))
    known = set(UNIT_NUMBERS) | numbers_in(resp.proposal) | {str(resp.window_days)}
    for ch in resp.challenges:
        if ch.facts is not None:
            known |= numbers_in(ch.facts.model_dump_json())
        for cid in ch.complaint_ids:
            known |= numbers_in(texts.get(cid, ""))
    written = " ".join(
        f"{c.question} {c.why_it_matters} {c.guardrail} {c.what_would_answer_it}"
        for c in resp.challenges
    ) + " " + resp.verdict_reason
    out["numbers_checked"] = not (numbers_in(written) - known)
    out["verdict"] = resp.verdict != "no_signal"
    return out


def report(prefix: str, rows: list[dict[str, Any]]) -> None:
    n = len(rows)
    answered = [r for r in rows if r["answered"]]
    emit(f"{prefix}.proposals", n)
    emit(f"{prefix}.answered", f"{len(answered)}/{n}")
    if not answered:
        return
    first = sum(r["first_cites_relevant"] for r in answered)
    emit(f"{prefix}.first_cites_relevant", f"{first}/{n}")
    emit(f"{prefix}.first_cites_relevant.share", first / n)
    quotes = sum(r["quotes"] for r in answered)
    emit(f"{prefix}.quote_on_topic", sum(r["quotes_on_topic"] for r in answered) / quotes
         if quotes else "n/a")
    emit(f"{prefix}.distinct", f"{sum(r['distinct'] for r in answered)}/{len(answered)}")
    words = [r["words"] for r in answered]
    emit(f"{prefix}.words.mean", sum(words) / len(words))
    emit(f"{prefix}.words.max", max(words))
    emit(f"{prefix}.numbers_checked",
         f"{sum(r['numbers_checked'] for r in answered)}/{len(answered)}")
    emit(f"{prefix}.verdict", f"{sum(r['verdict'] for r in answered)}/{len(answered)}")
    for role in ("first", "other"):
        rel, cited = (sum(r[f"{role}_cited"][i] for r in answered) for i in (0, 1))
        emit(f"{prefix}.{role}_challenges.cited_relevant", f"{rel}/{cited}")
    facts = [r["facts"] for r in answered if "facts" in r]
    if facts:
        counted, judged, both, labelled = (sum(f[k] for f in facts) for k in
                                           ("counted", "judged", "relevant", "labelled"))
        emit(f"{prefix}.facts.counted_per_relevant", counted / labelled if labelled else "n/a")
        emit(f"{prefix}.facts.judged_precision", both / judged if judged else "n/a")
        emit(f"{prefix}.facts.relevant_counted", both / labelled if labelled else "n/a")


def run(only: str | None, verbose: bool) -> None:
    from common import build_sentence_vectors, load_embedder, load_encoder

    from bot.config import DEFAULT_PROMPTS
    from bot.prompts import PromptLibrary
    from bot.retrieval import Retriever, index_vectors
    from bot.service import ChairService

    emit("definition", DEFINITION)
    embedder, note = load_embedder()
    emit("embedder", note)
    encoder, note = load_encoder()
    emit("sentence_encoder", note)
    writers: dict[str, Any] = {"offline": None}
    if os.environ.get("OPENAI_BASE_URL"):
        from bot.config import load_settings
        from bot.llm import build_llm

        writers["llm"] = build_llm(load_settings())
    emit("writers", ", ".join(writers))
    for name, csv in corpora(only):
        labels = [lab for lab in load_labels(name, with_old=False) if lab.relevant]
        with tempfile.TemporaryDirectory(prefix=f"bench-answers-{name}-") as tmp:
            store = build_store(name, csv, Path(tmp))
            try:
                if embedder is not None:
                    index_vectors(store, embedder)
                build_sentence_vectors(store, encoder, name)
                texts = dict(store.conn.execute("SELECT id, text FROM complaints"))
                for writer, llm in writers.items():
                    service = ChairService(
                        store=store, llm=llm, prompts=PromptLibrary(DEFAULT_PROMPTS),
                        retriever=Retriever(store, embedder, window_days=WINDOW_DAYS,
                                            encoder=encoder),
                        window_days=WINDOW_DAYS)
                    for split, group in splits(labels):
                        started = time.perf_counter()
                        rows = []
                        for lab in group:
                            resp = service.challenge(lab.proposal)
                            rows.append(score(resp, lab.relevant, texts))
                            facts = resp.challenges[0].facts if resp.challenges else None
                            if facts is not None:
                                now = datetime.now(UTC)
                                ids = topic_ids(
                                    store, facts, now - timedelta(days=WINDOW_DAYS), now,
                                    partial(service.retriever.meaning, lab.proposal))
                                rows[-1]["facts"] = {
                                    "counted": facts.matching, "labelled": len(lab.relevant),
                                    "judged": len(ids & lab.judged),
                                    "relevant": len(ids & lab.relevant)}
                            if verbose:
                                emit(f"{name}.{writer}.{split}.{lab.pid}",
                                     json.dumps(rows[-1]) + " " + lab.proposal)
                        report(f"{name}.{writer}.{split}", rows)
                        emit(f"{name}.{writer}.{split}.seconds", time.perf_counter() - started)
            finally:
                store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", choices=sorted(CORPORA), help="run one corpus")
    parser.add_argument("--verbose", action="store_true", help="one line per proposal")
    args = parser.parse_args(argv)
    from common import run_reported

    return run_reported("answers", lambda: run(args.only, args.verbose))


if __name__ == "__main__":
    sys.exit(main())

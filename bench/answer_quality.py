"""Answer quality on the dev set: what code can score of each writer's answers, per split."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
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
)

WORD = re.compile(r"[\w’'%.,$-]*\w")
DEFINITION = (
    "first_cites_relevant = the first challenge cites at least one complaint judged relevant; "
    "quote_on_topic = share of shown quotes holding a content word of the proposal (stemmed); "
    "distinct = answers whose questions are pairwise distinct; words = words of the one-screen "
    "Slack answer (sections, emoji excluded); numbers_checked = answers whose every number is "
    "in the facts, a cited complaint or the proposal; verdict = answers with a verdict"
)


def score(resp: Any, relevant: set[str], texts: dict[str, str]) -> dict[str, Any]:
    from bot.formatting import format_challenges
    from bot.offline import same_question
    from bot.safety import UNIT_NUMBERS, numbers_in
    from bot.text import content_terms, stems

    out: dict[str, Any] = {"answered": bool(resp.challenges)}
    if not resp.challenges:
        return out
    out["first_cites_relevant"] = bool(set(resp.challenges[0].complaint_ids) & relevant)
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
                    for split in ("tune", "test"):
                        group = [lab for lab in labels if lab.split == split]
                        started = time.perf_counter()
                        rows = []
                        for lab in group:
                            resp = service.challenge(lab.proposal)
                            rows.append(score(resp, lab.relevant, texts))
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

"""PII corpus: per-category leak rate and over-redaction of `redact` on hand-written variants."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from bot.redact import redact

CORPUS = Path(__file__).parent / "data" / "pii_corpus.jsonl"
MAX_LEAK = 0.02
MAX_OVER_REDACTION = 0.05

# Words that may stay when the value around them is gone: street types, titles, spelled-out
# "at"/"dot" and top-level domains carry nothing personal on their own.
_GENERIC_WORDS = "street st avenue ave road rd lane drive terrace apt suite box com org net dot at"
GENERIC = frozenset(_GENERIC_WORDS.split())
_TOKEN = re.compile(r"\w+")


def _load() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rows = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line]
    return ([r for r in rows if r["category"] != "keep"],
            [r for r in rows if r["category"] == "keep"])


def _leaks(row: dict[str, Any], out: str) -> list[str]:
    # A value leaks when any meaningful piece of it (three or more characters) is still in the
    # output as a whole token: half a card number or a surname alone is still a leak.
    leaked = []
    for pii in row["pii"]:
        for tok in _TOKEN.findall(pii):
            if len(tok) < 3 or tok.lower() in GENERIC:
                continue
            if re.search(rf"(?<!\w){re.escape(tok)}(?!\w)", out):
                leaked.append(tok)
    return leaked


def _report() -> tuple[dict[str, float], float, list[str]]:
    pii_rows, keep_rows = _load()
    totals: dict[str, int] = defaultdict(int)
    leaks: dict[str, int] = defaultdict(int)
    lines = []
    for row in pii_rows:
        out = redact(row["text"])
        totals[row["category"]] += 1
        if bad := _leaks(row, out):
            leaks[row["category"]] += 1
            lines.append(f"LEAK {row['category']}: {out!r} keeps {bad}")
    over = 0
    for row in keep_rows:
        out = redact(row["text"])
        if lost := [k for k in row["keep"] if k not in out]:
            over += 1
            lines.append(f"OVER {row['kind']}: {out!r} lost {lost}")
    rates = {cat: leaks[cat] / n for cat, n in sorted(totals.items())}
    return rates, over / len(keep_rows), lines


def test_corpus_is_big_and_varied() -> None:
    pii_rows, keep_rows = _load()
    cats = {r["category"] for r in pii_rows}
    assert len(pii_rows) >= 150 and len(keep_rows) >= 40
    assert cats == {"email", "phone", "card", "iban", "ssn", "ip", "address", "name", "account",
                    "dob", "password"}
    assert any(":" in p for r in pii_rows if r["category"] == "ip" for p in r["pii"])  # IPv6


def test_leak_and_over_redaction_rates(record_property: pytest.RecordProperty) -> None:
    rates, over, lines = _report()
    summary = [f"leak {cat:9s} {rate:6.1%}" for cat, rate in rates.items()]
    summary.append(f"over-redaction (keep set) {over:6.1%}")
    # printed for `pytest -s` and `-rA` (captured stdout of a passing test), and recorded as
    # properties for the junit report
    print("\n".join(["", *summary, *lines]))
    for cat, rate in rates.items():
        record_property(f"leak_{cat}", f"{rate:.3f}")
    record_property("over_redaction", f"{over:.3f}")
    worst = {cat: rate for cat, rate in rates.items() if rate > MAX_LEAK}
    assert not worst, f"leak rate above {MAX_LEAK:.0%}: {worst}\n" + "\n".join(lines)
    assert over <= MAX_OVER_REDACTION, "\n".join(lines)


def test_redacted_corpus_is_stable() -> None:
    pii_rows, keep_rows = _load()
    for row in pii_rows + keep_rows:
        once = redact(row["text"])
        assert redact(once) == once, row["text"]

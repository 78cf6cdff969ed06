"""The bundled sample complaints and benchmark labels: well-formed, deterministic, demo-ready."""

from __future__ import annotations

import csv
import importlib.util
import json
import re
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import ROOT, SAMPLE_CSV

GENERATOR = ROOT / "scripts" / "make_sample_data.py"
LABELS = ROOT / "bench" / "labels_sample.json"


@pytest.fixture(scope="module")
def gen() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_sample_data", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    with SAMPLE_CSV.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == [
            "id", "created_at", "product", "channel", "segment", "severity", "text"]
        return list(reader)


def _when(row: dict[str, str]) -> datetime:
    return datetime.strptime(row["created_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def test_rows_are_well_formed_and_unique(rows: list[dict[str, str]], gen: ModuleType) -> None:
    assert len(rows) == 400
    ids = [r["id"] for r in rows]
    assert len(set(ids)) == 400
    assert all(re.fullmatch(r"SC-\d{4}", i) for i in ids)
    assert len({r["text"] for r in rows}) == 400
    assert {r["product"] for r in rows} == set(gen.THEMES)
    assert {r["channel"] for r in rows} <= set(gen.CHANNELS)
    assert {r["segment"] for r in rows} <= set(gen.SEGMENTS)
    assert {r["severity"] for r in rows} <= set(gen.SEVERITIES)
    assert all(r["text"].strip() for r in rows)


def test_dates_fall_in_the_90_day_window(rows: list[dict[str, str]], gen: ModuleType) -> None:
    start = gen.ANCHOR - timedelta(days=90)
    assert all(start < _when(r) <= gen.ANCHOR for r in rows)
    assert max(_when(r) for r in rows) > gen.ANCHOR - timedelta(days=1)


def test_recent_spikes_give_the_brief_something_to_say(
    rows: list[dict[str, str]], gen: ModuleType
) -> None:
    def week(weeks_back: int) -> Counter[str]:
        end = gen.ANCHOR - timedelta(weeks=weeks_back)
        return Counter(r["product"] for r in rows if end - timedelta(weeks=1) < _when(r) <= end)

    this_week, last_week, earlier = week(0), week(1), week(4)
    for theme in ("delivery", "app"):
        assert this_week[theme] > last_week[theme] > earlier[theme]


def test_personal_data_and_one_injection_are_present(rows: list[dict[str, str]]) -> None:
    texts = [r["text"] for r in rows]
    assert sum("@example." in t for t in texts) >= 8
    assert any("4111 1111 1111 1111" in t for t in texts)
    assert any("DE89 3704 0044 0532 0130 00" in t for t in texts)
    assert any("123-45-6789" in t for t in texts)
    assert sum("<!channel>" in t for t in texts) == 1
    assert sum("ignore previous instructions" in t.lower() for t in texts) == 1


def test_labels_cite_existing_rows(rows: list[dict[str, str]]) -> None:
    labels = json.loads(LABELS.read_text(encoding="utf-8"))
    ids = {r["id"] for r in rows}
    assert len(labels) == 15
    assert len({item["proposal"] for item in labels}) == 15
    for item in labels:
        assert set(item) == {"proposal", "relevant"}
        assert 5 <= len(item["relevant"]) <= 40, item["proposal"]
        assert len(set(item["relevant"])) == len(item["relevant"])
        assert set(item["relevant"]) <= ids


def test_generator_is_deterministic(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(GENERATOR), "--out-dir", str(tmp_path)],
        check=True, capture_output=True, timeout=60,
    )
    assert (tmp_path / "data" / "sample_complaints.csv").read_bytes() == SAMPLE_CSV.read_bytes()
    assert (tmp_path / "bench" / "labels_sample.json").read_bytes() == LABELS.read_bytes()

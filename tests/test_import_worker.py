"""Large-import paths: the redaction worker and the first import's one-pass FTS build."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

import bot.importer as importer
from bot.importer import run_import
from bot.store.db import Store

ROWS = [
    ("a1", "2026-01-05T10:00:00Z", "billing", "Call me on 020 7946 0958 about the refund"),
    ("a2", "2026-01-06T10:00:00Z", "delivery", "My email is ann.lee@example.com, parcel lost"),
    ("a3", "2026-01-07T10:00:00Z", "account", "My name is Jane Doe and my password is hunter22x"),
    ("a4", "2026-01-08T10:00:00Z", "billing", "Card 4111 1111 1111 1111 was charged twice"),
    ("a5", "2026-01-09T10:00:00Z", "delivery", "Plain words about a late parcel, nothing else"),
    ("", "2026-01-10T10:00:00Z", "delivery", "No id of its own, 10 Downing Street, London"),
    ("a6", "not a date", "billing", "rejected row with SSN 123-45-6789"),
] * 3  # duplicate ids and texts: de-duplication still applies


def _write(path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "created_at", "product", "text"])
        writer.writerows(ROWS)
    return path


def _import(tmp_path: Path, name: str, worker: bool,
            monkeypatch: pytest.MonkeyPatch) -> tuple[list[tuple[object, ...]], str]:
    monkeypatch.setattr(importer, "PARALLEL_REDACT_BYTES", 0 if worker else 1 << 62)
    store = Store(tmp_path / f"{name}.db")
    summary = run_import(store, _write(tmp_path / f"{name}.csv"))
    rows = store.conn.execute(
        "SELECT id, created_at, text, theme FROM complaints ORDER BY rowid").fetchall()
    conn = store.conn
    conn.execute("INSERT INTO complaints_fts (complaints_fts) VALUES ('integrity-check')")
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert {"complaints_ai", "idx_complaints_created_at",
            "idx_complaints_theme_created_at"} <= names
    assert conn.execute(
        "SELECT count(*) FROM complaints_fts_config WHERE k = 'hashsize'").fetchone()[0] == 0
    hits = conn.execute(
        "SELECT count(*) FROM complaints_fts WHERE complaints_fts MATCH 'parcel'").fetchone()[0]
    assert hits == 2
    store.close()
    return rows, summary.line()


def test_worker_and_in_process_redaction_store_the_same_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here, here_line = _import(tmp_path, "here", False, monkeypatch)
    there, there_line = _import(tmp_path, "there", True, monkeypatch)
    assert here == there
    assert here_line.startswith("imported 6, duplicates skipped 12, rejected 3")
    assert here_line.split(" (")[0] == there_line.split(" (")[0]
    stored = " ".join(str(r[2]) for r in there)
    for secret in ("7946", "ann.lee", "Jane Doe", "hunter22x", "4111", "Downing"):
        assert secret not in stored


def test_a_later_import_keeps_the_trigger_and_indexes_the_new_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importer, "PARALLEL_REDACT_BYTES", 0)
    store = Store(tmp_path / "s.db")
    run_import(store, _write(tmp_path / "first.csv"))
    later = tmp_path / "later.csv"
    with later.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "created_at", "text"])
        writer.writerow(["b1", "2026-02-01T00:00:00Z", "A zeppelin delivered nothing"])
    assert run_import(store, later).imported == 1
    conn = store.conn
    assert conn.execute("SELECT count(*) FROM complaints_fts WHERE complaints_fts "
                        "MATCH 'zeppelin'").fetchone()[0] == 1
    conn.execute("INSERT INTO complaints_fts (complaints_fts) VALUES ('integrity-check')")
    store.close()

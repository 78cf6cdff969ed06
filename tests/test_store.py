"""The SQLite store: migrations, de-duplication, FTS sync, WAL and concurrent use."""

from __future__ import annotations

import threading
from pathlib import Path

from bot.store.complaints import ComplaintStore
from bot.store.db import Store
from bot.store.events import EventLog
from bot.store.feedback import FeedbackStore
from bot.store.migrations import apply_migrations
from tests.conftest import complaint


def test_migrations_apply_once_and_twice_is_harmless(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    first = Store(path)
    names = [r[0] for r in first.conn.execute(
        "SELECT name FROM _sqlite_migrations ORDER BY rowid")]
    assert names == ["m001_complaints", "m002_vectors", "m003_slack_state", "m004_schedules",
                     "m005_drop_text_hash_index", "m006_structure_and_visibility",
                     "m007_sync_state", "m008_answers", "m009_sentence_vectors"]
    apply_migrations(first.db)
    second = Store(path)
    again = [r[0] for r in second.conn.execute("SELECT name FROM _sqlite_migrations")]
    assert again == names
    tables = set(second.db.table_names())
    assert {"complaints", "complaints_fts", "complaint_vectors", "sentence_vectors",
            "seen_events", "challenges",
            "votes", "schedules", "brief_runs", "briefs"} <= tables


def test_wal_mode_and_busy_timeout(store: Store) -> None:
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.conn.execute("PRAGMA busy_timeout").fetchone()[0] == 30000


def test_add_many_deduplicates_by_id(store: Store) -> None:
    cs = ComplaintStore(store)
    result = cs.add_many([
        complaint("a", "Nobody answered the phone on Saturday."),
        complaint("b", "Nobody answered the phone on Saturday."),  # own id: a second complaint
        complaint("a", "A different text under an existing id."),
        complaint("c", "My refund took five weeks."),
    ])
    assert (result.inserted, result.duplicates) == (3, 1)
    rows = list(store.db["complaints"].rows_where(select="id, text", order_by="id"))
    assert rows == [
        {"id": "a", "text": "Nobody answered the phone on Saturday."},
        {"id": "b", "text": "Nobody answered the phone on Saturday."},
        {"id": "c", "text": "My refund took five weeks."},
    ]
    again = cs.add_many([complaint("c", "My refund took five weeks.")])
    assert (again.inserted, again.duplicates) == (0, 1)


def test_fts_stays_in_sync_after_update_and_delete(store: Store) -> None:
    cs = ComplaintStore(store)
    cs.add_many([complaint("a", "The courier threw my parcel over the fence."),
                 complaint("b", "The app crashed at checkout.")])
    assert [h.complaint.id for h in cs.fts('"parcel"')] == ["a"]
    cs.update_text("a", "The delivery driver left it with a neighbour.")
    assert cs.fts('"parcel"') == []
    assert [h.complaint.id for h in cs.fts('"neighbour"')] == ["a"]
    cs.delete("b")
    assert cs.fts('"checkout"') == []
    assert cs.count() == 1


def test_porter_stemming_matches_word_forms(store: Store) -> None:
    cs = ComplaintStore(store)
    cs.add_many([complaint("a", "Support is closed on weekends.")])
    assert [h.complaint.id for h in cs.fts('"weekend"')] == ["a"]


def test_concurrent_reads_during_import_never_fail(store: Store) -> None:
    cs = ComplaintStore(store)
    cs.add_many([complaint("seed", "The parcel never arrived.")])
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        local = ComplaintStore(store)  # each thread opens its own connection
        try:
            while not stop.is_set():
                assert local.fts('"parcel"')
                local.count()
        except BaseException as exc:  # noqa: BLE001 - the test reports any failure
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(8)]
    for t in threads:
        t.start()
    for batch in range(20):
        cs.add_many([complaint(f"c{batch}-{i}", f"Parcel {batch}-{i} arrived late and broken.")
                     for i in range(200)])
    stop.set()
    for t in threads:
        t.join()
    assert errors == []
    assert cs.count() == 4001


def test_event_log_claims_each_id_once(store: Store) -> None:
    log = EventLog(store)
    assert log.claim("Ev1") is True
    assert log.claim("Ev1") is False
    assert EventLog(Store(store.path)).claim("Ev1") is False  # another process, same file


def test_votes_keep_latest_thumb_and_settle_challenges(store: Store) -> None:
    from datetime import date

    from bot.models import ChairResponse, Challenge, Severity

    fb = FeedbackStore(store)
    resp = ChairResponse(
        proposal="p", window_days=90, period_start=date(2026, 1, 1),
        period_end=date(2026, 3, 1), writer="offline",
        challenges=[Challenge(question="q1", why_it_matters="w", severity=Severity.high,
                              complaint_ids=["a"], what_would_answer_it="x"),
                    Challenge(question="q2", why_it_matters="w", severity=Severity.low,
                              complaint_ids=["b"], what_would_answer_it="x")],
    )
    fb.record_challenges("C1", "111.1", "100.0", resp)
    fb.vote("C1", "111.1", 1, "U1", "up")
    fb.vote("C1", "111.1", 1, "U1", "down")
    fb.vote("C1", "111.1", 2, "U1", "addressed")
    assert fb.votes("C1", "111.1") == [(1, "U1", "down"), (2, "U1", "addressed")]
    assert [c.question for c in fb.open_challenges(["C1"])] == ["q1"]
    assert fb.open_challenges(["C2"]) == []

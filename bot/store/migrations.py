"""Schema migrations (sqlite-utils Migrations): applying them twice is harmless."""

from __future__ import annotations

import sqlite_utils
from sqlite_utils.migrations import Migrations

migrations = Migrations("emptychair")


@migrations()
def m001_complaints(db: sqlite_utils.Database) -> None:
    db["complaints"].create(  # type: ignore[union-attr]
        {
            "id": str,
            "created_at": str,  # ISO-8601 UTC, "YYYY-MM-DDTHH:MM:SSZ": sorts as text
            "text": str,
            "theme": str,
            "channel": str,
            "segment": str,
            "severity": str,
            "source": str,
            "source_ref": str,
            "text_hash": str,
            "imported_at": str,
        },
        pk="id",
        not_null={"created_at", "text", "theme", "text_hash"},
        defaults={"theme": "general", "channel": "", "segment": "", "severity": "",
                  "source": "", "source_ref": ""},
    )
    # Not unique: two complaints with their own ids may share words (one customer writing to two
    # companies). Rows with no id of their own get an id derived from their text, which is what
    # de-duplicates identical text on import.
    db["complaints"].create_index(["text_hash"])  # type: ignore[union-attr]
    db["complaints"].create_index(["created_at"])  # type: ignore[union-attr]
    db["complaints"].create_index(["theme", "created_at"])  # type: ignore[union-attr]
    # Porter stemming so "weekends" finds "weekend"; triggers keep the index in sync.
    db["complaints"].enable_fts(  # type: ignore[union-attr]
        ["text", "theme"], fts_version="FTS5", create_triggers=True,
        tokenize="porter unicode61 remove_diacritics 2",
    )


@migrations()
def m002_vectors(db: sqlite_utils.Database) -> None:
    db.execute(
        "CREATE TABLE complaint_vectors (rowid INTEGER PRIMARY KEY, vector BLOB NOT NULL)"
    )
    db.execute(
        "CREATE TRIGGER complaints_vectors_ad AFTER DELETE ON complaints BEGIN "
        "DELETE FROM complaint_vectors WHERE rowid = old.rowid; END"
    )
    db.execute(
        "CREATE TRIGGER complaints_vectors_au AFTER UPDATE OF text ON complaints BEGIN "
        "DELETE FROM complaint_vectors WHERE rowid = old.rowid; END"
    )


@migrations()
def m003_slack_state(db: sqlite_utils.Database) -> None:
    # Seen event ids: Slack retries and duplicate deliveries must not produce a second answer.
    db.execute(
        "CREATE TABLE seen_events (event_id TEXT PRIMARY KEY, seen_at TEXT NOT NULL)"
    )
    # One row per posted challenge, so votes and "open challenges" have something to refer to.
    db.execute(
        """CREATE TABLE challenges (
            channel_id TEXT NOT NULL, message_ts TEXT NOT NULL, idx INTEGER NOT NULL,
            thread_ts TEXT NOT NULL DEFAULT '', question TEXT NOT NULL,
            severity TEXT NOT NULL, complaint_ids TEXT NOT NULL, proposal TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'open', created_at TEXT NOT NULL,
            PRIMARY KEY (channel_id, message_ts, idx))"""
    )
    db.execute(
        """CREATE TABLE votes (
            channel_id TEXT NOT NULL, message_ts TEXT NOT NULL, idx INTEGER NOT NULL,
            user_id TEXT NOT NULL, vote TEXT NOT NULL, voted_at TEXT NOT NULL,
            PRIMARY KEY (channel_id, message_ts, idx, user_id, vote))"""
    )


@migrations()
def m004_schedules(db: sqlite_utils.Database) -> None:
    db.execute(
        """CREATE TABLE schedules (
            id INTEGER PRIMARY KEY, channel_id TEXT NOT NULL, kind TEXT NOT NULL,
            cron TEXT NOT NULL DEFAULT '', timezone TEXT NOT NULL DEFAULT 'UTC',
            calendar_url TEXT NOT NULL DEFAULT '', minutes_before INTEGER NOT NULL DEFAULT 15,
            created_by TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL)"""
    )
    # Claiming an occurrence is an INSERT that only one process can win.
    db.execute(
        """CREATE TABLE brief_runs (
            schedule_id INTEGER NOT NULL, occurrence TEXT NOT NULL, claimed_at TEXT NOT NULL,
            claimed_by TEXT NOT NULL, posted_ts TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (schedule_id, occurrence))"""
    )
    db.execute(
        """CREATE TABLE briefs (
            channel_id TEXT NOT NULL, posted_at TEXT NOT NULL, period_start TEXT NOT NULL,
            period_end TEXT NOT NULL, message_ts TEXT NOT NULL DEFAULT '')"""
    )


@migrations()
def m005_drop_text_hash_index(db: sqlite_utils.Database) -> None:
    # De-duplication is by id (an id-less row's id is derived from its text and date), so
    # nothing looks rows up by text_hash; the index cost a fifth of every import.
    db.execute("DROP INDEX IF EXISTS idx_complaints_text_hash")


@migrations()
def m006_structure_and_visibility(db: sqlite_utils.Database) -> None:
    # The source's own structure (sub-theme, ticket URL, unmapped columns as JSON) and where a
    # complaint may be quoted: '' everywhere, else only in that Slack conversation.
    for column, default in (("sub_theme", ""), ("url", ""), ("attributes", "{}"),
                            ("visible_in", "")):
        db.execute(
            f"ALTER TABLE complaints ADD COLUMN {column} TEXT NOT NULL DEFAULT '{default}'"
        )
    db.execute("ALTER TABLE complaints DROP COLUMN text_hash")
    # Categories are words customers' complaints are filed under: indexing them lets a proposal
    # about "overdraft fees" find a narrative that never says "overdraft".
    db["complaints"].disable_fts()  # type: ignore[union-attr]
    db["complaints"].enable_fts(  # type: ignore[union-attr]
        ["text", "theme", "sub_theme"], fts_version="FTS5", create_triggers=True,
        tokenize="porter unicode61 remove_diacritics 2",
    )


@migrations()
def m007_sync_state(db: sqlite_utils.Database) -> None:
    # Where each help-desk sync stands. Written in the same transaction as the page of tickets
    # it follows, so a run stopped anywhere resumes without losing or repeating a page.
    # cursor: the next page (Zendesk's after_cursor; Intercom's starting_after mid-run);
    # run_floor: the updated_at lower bound of the query the cursor belongs to (Intercom);
    # high_water: the newest updated_at stored so far (Unix seconds).
    db.execute(
        """CREATE TABLE sync_state (
            source TEXT PRIMARY KEY, cursor TEXT NOT NULL DEFAULT '',
            run_floor INTEGER NOT NULL DEFAULT 0, high_water INTEGER NOT NULL DEFAULT 0,
            updated_at TEXT NOT NULL)"""
    )


@migrations()
def m008_answers(db: sqlite_utils.Database) -> None:
    # The whole checked answer behind a posted reply, for its "Full evidence" view; its text is
    # the same redacted, neutralised text that was posted.
    db.execute(
        """CREATE TABLE answers (
            channel_id TEXT NOT NULL, message_ts TEXT NOT NULL, response TEXT NOT NULL,
            created_at TEXT NOT NULL, PRIMARY KEY (channel_id, message_ts))"""
    )


@migrations()
def m009_sentence_vectors(db: sqlite_utils.Database) -> None:
    # The sentence encoder's vectors, apart from the static model's: the two are built at very
    # different speeds, and either may be missing while the other is complete.
    db.execute(
        "CREATE TABLE sentence_vectors (rowid INTEGER PRIMARY KEY, vector BLOB NOT NULL)"
    )
    db.execute(
        "CREATE TRIGGER complaints_sentence_vectors_ad AFTER DELETE ON complaints BEGIN "
        "DELETE FROM sentence_vectors WHERE rowid = old.rowid; END"
    )
    db.execute(
        "CREATE TRIGGER complaints_sentence_vectors_au AFTER UPDATE OF text ON complaints BEGIN "
        "DELETE FROM sentence_vectors WHERE rowid = old.rowid; END"
    )


def apply_migrations(db: sqlite_utils.Database) -> None:
    """Bring the schema up to date; a no-op when it already is."""
    migrations.apply(db)

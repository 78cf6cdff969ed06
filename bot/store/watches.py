"""Watched Slack channels: their new top-level messages are stored as complaints."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.store.complaints import from_iso
from bot.store.db import Store

# Created on first use rather than by a migration: one small table of settings, and the
# migration sequence is owned elsewhere; CREATE TABLE IF NOT EXISTS is safe from every process.
_TABLE = """CREATE TABLE IF NOT EXISTS watched_channels (
    channel_id TEXT PRIMARY KEY, private INTEGER NOT NULL DEFAULT 1,
    added_by TEXT NOT NULL DEFAULT '', added_at TEXT NOT NULL)"""


@dataclass(frozen=True)
class Watch:
    channel_id: str
    private: bool  # its complaints are quotable only in that channel
    added_by: str
    added_at: datetime


class WatchStore:
    """The `watched_channels` table."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._ready = False

    def _conn(self) -> sqlite3.Connection:
        conn = self.store.conn
        if not self._ready:
            with conn:
                conn.execute(_TABLE)
            self._ready = True
        return conn

    def add(self, channel_id: str, *, private: bool, added_by: str,
            now: datetime | None = None) -> bool:
        """Watch a channel; False when it already was (its privacy is refreshed)."""
        conn = self._conn()
        with conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO watched_channels (channel_id, private, added_by, added_at) "
                "VALUES (?, ?, ?, ?)",
                # To the microsecond, as Slack's message timestamps are: the watch starts
                # between two messages of the same second.
                [channel_id, int(private), added_by,
                 (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="microseconds")],
            )
            if cur.rowcount == 0:
                conn.execute("UPDATE watched_channels SET private = ? WHERE channel_id = ?",
                             [int(private), channel_id])
        return cur.rowcount == 1

    def remove(self, channel_id: str) -> bool:
        conn = self._conn()
        with conn:
            cur = conn.execute("DELETE FROM watched_channels WHERE channel_id = ?", [channel_id])
        return cur.rowcount == 1

    def get(self, channel_id: str) -> Watch | None:
        row = self._conn().execute(
            "SELECT channel_id, private, added_by, added_at FROM watched_channels "
            "WHERE channel_id = ?", [channel_id]).fetchone()
        return _watch(row) if row else None

    def all(self) -> list[Watch]:
        rows = self._conn().execute(
            "SELECT channel_id, private, added_by, added_at FROM watched_channels "
            "ORDER BY added_at, channel_id").fetchall()
        return [_watch(r) for r in rows]


def _watch(row: tuple) -> Watch:
    return Watch(channel_id=row[0], private=bool(row[1]), added_by=row[2],
                 added_at=from_iso(row[3]))

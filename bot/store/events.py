"""Seen Slack event ids, signed requests and recent asks: each is served once, across processes."""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import UTC, datetime, timedelta

from bot.store.complaints import to_iso
from bot.store.db import Store

# Slack retries an event for about an hour; a week of ids is a generous margin.
SEEN_EVENTS_KEPT = timedelta(days=7)
# Slack refuses timestamps older than five minutes, so a signature older than that can never
# be replayed successfully; the margin covers clock skew.
SEEN_REQUESTS_KEPT = timedelta(minutes=15)
# Longer than any duplicate window a setting allows.
RECENT_ASKS_KEPT = timedelta(days=1)

# New tables live here rather than in a migration: they are small, derived, disposable
# bookkeeping, created on first use and safe to lose.
_TABLES = (
    """CREATE TABLE IF NOT EXISTS seen_requests (
        signature TEXT PRIMARY KEY, request_ts INTEGER NOT NULL, seen_at TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS recent_asks (
        ask_key TEXT PRIMARY KEY, channel_id TEXT NOT NULL, user_id TEXT NOT NULL,
        asked_at TEXT NOT NULL, answer_ts TEXT NOT NULL DEFAULT '')""",
)


def ask_key(channel_id: str, user_id: str, text: str, scope: str = "") -> str:
    """The same words from the same person in the same place, however they were spaced or
    capitalised; the proposal's text itself is not stored."""
    words = " ".join(text.casefold().replace("-", " ").split())
    raw = "\x00".join((channel_id, user_id, scope, words))
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


class EventLog:
    """Claims with an INSERT that only the first caller wins."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._ready = False

    def _tables(self) -> sqlite3.Connection:
        conn = self.store.conn
        if not self._ready:
            with conn:
                for sql in _TABLES:
                    conn.execute(sql)
            self._ready = True
        return conn

    # -- event ids -----------------------------------------------------------------------
    def claim(self, event_id: str, now: datetime | None = None) -> bool:
        """True for the first sighting of `event_id`, False for every later one."""
        moment = to_iso(now or datetime.now(UTC))
        try:
            with self.store.conn as conn:
                conn.execute(
                    "INSERT INTO seen_events (event_id, seen_at) VALUES (?, ?)", [event_id, moment]
                )
        except sqlite3.IntegrityError:
            return False
        return True

    def prune(self, older_than: timedelta = SEEN_EVENTS_KEPT, now: datetime | None = None
              ) -> int:
        """Forget event ids first seen before `now - older_than`; returns how many."""
        cutoff = to_iso((now or datetime.now(UTC)) - older_than)
        with self.store.conn as conn:
            return conn.execute("DELETE FROM seen_events WHERE seen_at < ?", [cutoff]).rowcount

    # -- signed requests -----------------------------------------------------------------
    def claim_request(self, signature: str, request_ts: int, now: datetime | None = None
                      ) -> bool:
        """True the first time a signature is seen: a captured request sent again is not."""
        moment = to_iso(now or datetime.now(UTC))
        try:
            with self._tables() as conn:
                conn.execute(
                    "INSERT INTO seen_requests (signature, request_ts, seen_at) VALUES (?, ?, ?)",
                    [signature, request_ts, moment],
                )
        except sqlite3.IntegrityError:
            return False
        return True

    # -- repeated asks ---------------------------------------------------------------------
    def claim_ask(
        self, channel_id: str, user_id: str, text: str, *, window: timedelta, scope: str = "",
        answer_ts: str = "", now: datetime | None = None,
    ) -> str | None:
        """None when this ask is new within `window` (it is now claimed); otherwise the ts of
        the answer to the earlier one ('' while that answer is still being posted)."""
        key = ask_key(channel_id, user_id, text, scope)
        moment = now or datetime.now(UTC)
        conn = self._tables()
        with conn:
            # One statement decides, so two deliveries racing each other cannot both win.
            won = conn.execute(
                "INSERT INTO recent_asks (ask_key, channel_id, user_id, asked_at, answer_ts) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (ask_key) DO UPDATE SET "
                "asked_at = excluded.asked_at, answer_ts = excluded.answer_ts "
                "WHERE recent_asks.asked_at < ?",
                [key, channel_id, user_id, to_iso(moment), answer_ts, to_iso(moment - window)],
            ).rowcount
            if won:
                return None
            row = conn.execute("SELECT answer_ts FROM recent_asks WHERE ask_key = ?",
                               [key]).fetchone()
        return str(row[0]) if row else ""

    def answered_ask(self, channel_id: str, user_id: str, text: str, answer_ts: str, *,
                     scope: str = "") -> None:
        with self._tables() as conn:
            conn.execute("UPDATE recent_asks SET answer_ts = ? WHERE ask_key = ?",
                         [answer_ts, ask_key(channel_id, user_id, text, scope)])

    def release_ask(self, channel_id: str, user_id: str, text: str, *, scope: str = "") -> None:
        """The answer never reached the channel: the same ask may be made again at once."""
        with self._tables() as conn:
            conn.execute("DELETE FROM recent_asks WHERE ask_key = ?",
                         [ask_key(channel_id, user_id, text, scope)])

    # -- housekeeping ----------------------------------------------------------------------
    def prune_all(self, now: datetime | None = None) -> dict[str, int]:
        """Drop every row too old to matter; returns rows removed per table."""
        moment = now or datetime.now(UTC)
        conn = self._tables()
        removed = {"seen_events": self.prune(SEEN_EVENTS_KEPT, moment)}
        with conn:
            for table, column, kept in (("seen_requests", "seen_at", SEEN_REQUESTS_KEPT),
                                        ("recent_asks", "asked_at", RECENT_ASKS_KEPT)):
                removed[table] = conn.execute(
                    f"DELETE FROM {table} WHERE {column} < ?", [to_iso(moment - kept)]
                ).rowcount
        return removed


def prune_seen(store: Store, now: datetime | None = None) -> dict[str, int]:
    """The scheduled clean-up of Slack bookkeeping (for the scheduler's periodic job)."""
    return EventLog(store).prune_all(now)

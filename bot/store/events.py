"""Seen Slack event ids: a retried or duplicated delivery is answered once, across processes."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

from bot.store.complaints import to_iso
from bot.store.db import Store


class EventLog:
    """Claims event ids with an INSERT that only the first caller wins."""

    def __init__(self, store: Store) -> None:
        self.store = store

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

    def prune(self, older_than: timedelta = timedelta(days=2)) -> int:
        """Slack retries for minutes, not days: old ids can go."""
        cutoff = to_iso(datetime.now(UTC) - older_than)
        with self.store.conn as conn:
            return conn.execute("DELETE FROM seen_events WHERE seen_at < ?", [cutoff]).rowcount

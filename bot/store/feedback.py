"""Posted challenges and the votes on them (Addressed, Not relevant, 👍, 👎)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from bot.errors import EmptyChairError
from bot.models import ChairResponse, OpenChallenge
from bot.store.complaints import to_iso
from bot.store.db import Store

VOTES = ("addressed", "not_relevant", "up", "down")
# Addressed / Not relevant settle a challenge; thumbs are opinions about its quality.
_STATUS_FOR = {"addressed": "addressed", "not_relevant": "not_relevant"}


class NoSuchChallenge(EmptyChairError):
    """A vote names a challenge that was never posted on that message."""

    def __init__(self) -> None:
        super().__init__("That button is no longer valid: it does not match a challenge on "
                         "this message. Ask again for a fresh answer.")


class FeedbackStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    def record_challenges(
        self, channel_id: str, message_ts: str, thread_ts: str, response: ChairResponse
    ) -> None:
        now = to_iso(datetime.now(UTC))
        rows = [
            (channel_id, message_ts, i, thread_ts, c.question, c.severity.value,
             json.dumps(c.complaint_ids), response.proposal, now)
            for i, c in enumerate(response.challenges, start=1)
        ]
        with self.store.conn as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO challenges (channel_id, message_ts, idx, thread_ts, "
                "question, severity, complaint_ids, proposal, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def vote(self, channel_id: str, message_ts: str, idx: int, user_id: str, vote: str) -> None:
        """Store a user's latest vote: 👍 replaces 👎 and vice versa; the settling votes update
        the challenge's status. A button value is whatever the click says, so it must name a
        challenge recorded on that very message (NoSuchChallenge otherwise)."""
        if vote not in VOTES:
            raise ValueError(f"unknown vote {vote!r}")
        now = to_iso(datetime.now(UTC))
        with self.store.conn as conn:
            known = conn.execute(
                "SELECT 1 FROM challenges WHERE channel_id = ? AND message_ts = ? AND idx = ?",
                [channel_id, message_ts, idx],
            ).fetchone()
            if known is None:
                raise NoSuchChallenge()
            if vote in ("up", "down"):
                conn.execute(
                    "DELETE FROM votes WHERE channel_id = ? AND message_ts = ? AND idx = ? "
                    "AND user_id = ? AND vote IN ('up', 'down')",
                    [channel_id, message_ts, idx, user_id],
                )
            conn.execute(
                "INSERT OR REPLACE INTO votes (channel_id, message_ts, idx, user_id, vote, "
                "voted_at) VALUES (?, ?, ?, ?, ?, ?)",
                [channel_id, message_ts, idx, user_id, vote, now],
            )
            if vote in _STATUS_FOR:
                conn.execute(
                    "UPDATE challenges SET status = ? WHERE channel_id = ? AND message_ts = ? "
                    "AND idx = ?",
                    [_STATUS_FOR[vote], channel_id, message_ts, idx],
                )

    def votes(self, channel_id: str, message_ts: str) -> list[tuple[int, str, str]]:
        cur = self.store.conn.execute(
            "SELECT idx, user_id, vote FROM votes WHERE channel_id = ? AND message_ts = ? "
            "ORDER BY idx, user_id, vote",
            [channel_id, message_ts],
        )
        return [(int(i), u, v) for i, u, v in cur]

    def open_challenges(self, channel_ids: list[str], limit: int = 10) -> list[OpenChallenge]:
        if not channel_ids:
            return []
        marks = ",".join("?" * len(channel_ids))
        cur = self.store.conn.execute(
            "SELECT channel_id, message_ts, idx, question, proposal, created_at FROM challenges "
            f"WHERE status = 'open' AND channel_id IN ({marks}) "
            "ORDER BY created_at DESC, message_ts DESC, idx LIMIT ?",
            [*channel_ids, limit],
        )
        return [OpenChallenge(c, m, int(i), q, p, t) for c, m, i, q, p, t in cur]

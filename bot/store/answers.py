"""Posted answers kept whole, so "Full evidence" shows exactly what was checked and posted."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.models import ChairResponse
from bot.store.complaints import to_iso
from bot.store.db import Store


class AnswerStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    def save(self, channel_id: str, message_ts: str, response: ChairResponse) -> None:
        with self.store.conn as conn:
            conn.execute(
                "INSERT OR REPLACE INTO answers (channel_id, message_ts, response, created_at) "
                "VALUES (?, ?, ?, ?)",
                [channel_id, message_ts, response.model_dump_json(), to_iso(datetime.now(UTC))],
            )

    def load(self, channel_id: str, message_ts: str) -> ChairResponse | None:
        row = self.store.conn.execute(
            "SELECT response FROM answers WHERE channel_id = ? AND message_ts = ?",
            [channel_id, message_ts],
        ).fetchone()
        return ChairResponse.model_validate_json(row[0]) if row else None

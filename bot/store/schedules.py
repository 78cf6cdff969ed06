"""Brief schedules and their claimed occurrences: at most one brief per schedule and occurrence."""

from __future__ import annotations

import builtins
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.errors import ScheduleError
from bot.models import Schedule
from bot.store.complaints import from_iso, to_iso
from bot.store.db import Store

_COLUMNS = (
    "id", "channel_id", "kind", "cron", "timezone", "calendar_url", "minutes_before",
    "created_by", "created_at",
)
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM schedules"


@dataclass(frozen=True)
class BriefRun:
    """One claimed occurrence; `posted_ts` stays empty until the post succeeded and returned one."""

    schedule_id: int
    occurrence: datetime
    claimed_at: datetime
    claimed_by: str
    posted_ts: str


def occurrence_key(occurrence: datetime) -> str:
    """The claim key of an occurrence: ISO UTC to the second, the same from every process."""
    if occurrence.tzinfo is None:
        raise ValueError("an occurrence must be timezone-aware")
    return to_iso(occurrence)


def _row_to_schedule(row: tuple) -> Schedule:
    values = dict(zip(_COLUMNS, row, strict=True))
    values["created_at"] = from_iso(values["created_at"]) if values["created_at"] else None
    return Schedule(**values)


class ScheduleStore:
    """The `schedules` and `brief_runs` tables."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def add(self, schedule: Schedule, *, max_calendars: int | None = None) -> Schedule:
        """Insert a schedule and return it with its id (never the id of one that has claims).

        With `max_calendars`, a calendar schedule is refused (ScheduleError) when its channel
        already has that many; the count and the insert are one statement, so two people adding
        at once cannot both slip under the limit.
        """
        if schedule.kind == "cron" and not schedule.cron.strip():
            raise ScheduleError("A cron schedule needs a cron expression.")
        if schedule.kind == "calendar" and not schedule.calendar_url.strip():
            raise ScheduleError("A calendar schedule needs the calendar's URL.")
        if schedule.minutes_before < 0:
            raise ScheduleError("minutes_before cannot be negative.")
        created_at = schedule.created_at or datetime.now(UTC)
        values = schedule.model_dump(exclude={"id"})
        values["created_at"] = to_iso(created_at)
        names = [c for c in _COLUMNS if c != "id"]
        # The id is one past every id ever used, counting claims of removed schedules too, so a new
        # schedule never inherits an old one's claimed occurrences. One statement: atomic.
        sql = (
            f"INSERT INTO schedules (id, {', '.join(names)}) SELECT "
            "(SELECT COALESCE(MAX(id), 0) + 1 FROM (SELECT id FROM schedules "
            "UNION ALL SELECT schedule_id FROM brief_runs)), "
            f"{', '.join('?' for _ in names)}"
        )
        params: builtins.list[object] = [values[n] for n in names]
        limited = schedule.kind == "calendar" and max_calendars is not None
        if limited:
            sql += (" WHERE (SELECT COUNT(*) FROM schedules WHERE channel_id = ? "
                    "AND kind = 'calendar') < ?")
            params += [schedule.channel_id, max_calendars]
        with self.store.conn as conn:
            cursor = conn.execute(sql, params)
        if limited and cursor.rowcount == 0:
            raise ScheduleError(
                f"This channel already has {max_calendars} calendar"
                f"{'s' if max_calendars != 1 else ''}, the most it can have. Remove one with "
                "`/emptychair unschedule <id>` first (`/emptychair schedules` lists them)."
            )
        return schedule.model_copy(
            update={"id": cursor.lastrowid, "created_at": from_iso(values["created_at"])}
        )

    def get(self, schedule_id: int) -> Schedule | None:
        row = self.store.conn.execute(f"{_SELECT} WHERE id = ?", [schedule_id]).fetchone()
        return _row_to_schedule(row) if row else None

    def list(self, channel_id: str | None = None) -> list[Schedule]:
        """Every schedule, or one channel's, oldest first."""
        if channel_id is None:
            rows = self.store.conn.execute(f"{_SELECT} ORDER BY id").fetchall()
        else:
            rows = self.store.conn.execute(
                f"{_SELECT} WHERE channel_id = ? ORDER BY id", [channel_id]
            ).fetchall()
        return [_row_to_schedule(row) for row in rows]

    def remove(self, schedule_id: int, channel_id: str, *, created_by: str | None = None) -> bool:
        """Delete a schedule of `channel_id` (only if `created_by` made it, when given); False if
        there is no such schedule."""
        # Claims stay: they are the record of what was posted, and another process may be firing
        # this schedule right now; deleting its claim would let it post the occurrence again.
        sql = "DELETE FROM schedules WHERE id = ? AND channel_id = ?"
        params: builtins.list[object] = [schedule_id, channel_id]
        if created_by is not None:
            sql += " AND created_by = ?"
            params.append(created_by)
        with self.store.conn as conn:
            deleted = conn.execute(sql, params).rowcount
        return deleted > 0

    def claim_occurrence(
        self, schedule_id: int, occurrence: datetime, claimed_by: str,
        claimed_at: datetime | None = None,
    ) -> bool:
        """True for the first claimer of (schedule, occurrence) across threads and processes."""
        moment = to_iso(claimed_at or datetime.now(UTC))
        # The primary key decides: SQLite serialises writers, so exactly one INSERT inserts a row.
        with self.store.conn as conn:
            inserted = conn.execute(
                "INSERT OR IGNORE INTO brief_runs "
                "(schedule_id, occurrence, claimed_at, claimed_by) VALUES (?, ?, ?, ?)",
                [schedule_id, occurrence_key(occurrence), moment, claimed_by],
            ).rowcount
        return inserted == 1

    def mark_posted(self, schedule_id: int, occurrence: datetime, ts: str) -> None:
        """Record the Slack message ts of a posted brief."""
        with self.store.conn as conn:
            conn.execute(
                "UPDATE brief_runs SET posted_ts = ? WHERE schedule_id = ? AND occurrence = ?",
                [ts, schedule_id, occurrence_key(occurrence)],
            )

    def last_occurrence(self, schedule_id: int) -> datetime | None:
        """The latest claimed occurrence of a schedule: everything up to it has been decided."""
        row = self.store.conn.execute(
            "SELECT MAX(occurrence) FROM brief_runs WHERE schedule_id = ?", [schedule_id]
        ).fetchone()
        return from_iso(row[0]) if row and row[0] else None

    def runs(self, schedule_id: int | None = None) -> builtins.list[BriefRun]:
        """Claimed occurrences, oldest first (all schedules, or one)."""
        sql = "SELECT schedule_id, occurrence, claimed_at, claimed_by, posted_ts FROM brief_runs"
        params: builtins.list[object] = []
        if schedule_id is not None:
            sql += " WHERE schedule_id = ?"
            params.append(schedule_id)
        rows: builtins.list[sqlite3.Row | tuple] = self.store.conn.execute(
            sql + " ORDER BY occurrence, schedule_id", params
        ).fetchall()
        return [
            BriefRun(int(r[0]), from_iso(r[1]), from_iso(r[2]), str(r[3]), str(r[4])) for r in rows
        ]

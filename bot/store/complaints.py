"""The complaints table: add, bulk import with de-duplication, FTS5 search, recent, stats."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from bot.models import Complaint
from bot.store.db import Store

COLUMNS = (
    "id", "created_at", "text", "theme", "channel", "segment", "severity", "source", "source_ref",
    "sub_theme", "url", "attributes", "visible_in",
)


VectorTable = Literal["complaint_vectors", "sentence_vectors"]
VECTOR_TABLES: tuple[VectorTable, ...] = ("complaint_vectors", "sentence_vectors")


def _table(name: VectorTable) -> str:
    """The table name, checked: it is spliced into SQL, so only the two known names pass."""
    if name not in VECTOR_TABLES:
        raise ValueError(f"unknown vector table {name!r}")
    return name


def to_iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def from_iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def row_to_complaint(row: sqlite3.Row | dict | tuple) -> Complaint:
    values = dict(zip(COLUMNS, row, strict=False)) if isinstance(row, tuple) else dict(row)
    values["created_at"] = from_iso(values["created_at"])
    values["attributes"] = json.loads(values["attributes"] or "{}")
    return Complaint(**{k: values[k] for k in COLUMNS})


# BM25 weight of text, theme and sub-theme. The categories weigh as much as the customer's own
# words: filed under "overdraft fees" is as good a sign as saying it (set on the tune half).
FTS_WEIGHTS = (1.0, 1.0, 1.0)


SPLITS = ("segment", "severity", "channel")  # the columns a topic's facts are split by


def visible_clause(audience: str | None, prefix: str = "") -> tuple[str, list[object]]:
    """SQL (starting with AND) keeping the complaints `audience` may see; None sees all."""
    if audience is None:
        return "", []
    return f" AND ({prefix}visible_in = '' OR {prefix}visible_in = ?)", [audience]


@dataclass
class AddResult:
    inserted: int = 0
    duplicates: int = 0

    def __iadd__(self, other: AddResult) -> AddResult:
        self.inserted += other.inserted
        self.duplicates += other.duplicates
        return self


@dataclass
class UpsertResult:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0


# What a help-desk sync may rewrite when a ticket changes; visible_in is Slack's, never the sync's.
_UPSERT_COLUMNS = (
    "created_at", "text", "theme", "sub_theme", "channel", "segment", "severity", "source",
    "source_ref", "url", "attributes",
)
_ID_CHUNK = 500  # well under SQLite's bound-parameter limit


@contextmanager
def joined_transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """The caller's open transaction if there is one, else a new one committed at the end.

    A caller that must commit several writes together (a page of tickets and its cursor) opens
    it with `BEGIN IMMEDIATE` and commits once itself.
    """
    if conn.in_transaction:
        yield
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.rollback()
        raise
    conn.commit()


@dataclass(frozen=True)
class FtsHit:
    rowid: int
    complaint: Complaint
    bm25: float  # SQLite's bm25(): lower (more negative) is better


_ROW_COLUMNS = (
    "id", "created_at", "text", "theme", "channel", "segment", "severity", "source",
    "source_ref", "sub_theme", "url", "attributes", "visible_in", "imported_at",
)
_INSERT_JSON = (
    f"INSERT OR IGNORE INTO complaints ({', '.join(_ROW_COLUMNS)}) SELECT "
    + ", ".join(f"json_extract(value, '$[{i}]')" for i in range(len(_ROW_COLUMNS)))
    + " FROM json_each(?)"
)
# Secondary indexes a bulk load into an empty table builds once at the end: kept up to date row
# by row, their random inserts made most of a large import's time.
_DEFERRED_INDEXES = ("idx_complaints_created_at", "idx_complaints_theme_created_at")
APPEND_COMMIT_SECONDS = 1.0  # an import into a populated store commits at least this often


def _iso_utc(moment: datetime) -> str:
    """`to_iso` without strftime, which costs more than the rest of a row's JSON."""
    if moment.tzinfo is UTC and moment.year >= 1000:  # strftime does not pad years below 1000
        return moment.isoformat()[:19] + "Z"  # any microseconds and the offset cut off
    return to_iso(moment)


def row_values(c: Complaint, imported_at: str) -> list[str]:
    """One complaint as the row `add_many`'s statement reads (`imported_at` already ISO)."""
    return [
        c.id, _iso_utc(c.created_at), c.text, c.theme or "general", c.channel, c.segment,
        c.severity, c.source, c.source_ref, c.sub_theme, c.url,
        json.dumps(c.attributes, ensure_ascii=False) if c.attributes else "{}",
        c.visible_in, imported_at,
    ]


def rows_json(complaints: Iterable[Complaint], imported_at: datetime | None = None
              ) -> tuple[str, int]:
    """(the rows as the JSON array `add_many`'s statement reads, how many): built wherever the
    Python time is cheapest, e.g. on an import's reader thread."""
    now = to_iso(imported_at or datetime.now(UTC))
    rows = [row_values(c, now) for c in complaints]
    return json.dumps(rows), len(rows)


_ROW_VALUES = "(" + ", ".join("?" * len(_ROW_COLUMNS)) + ")"
# Rows per INSERT … VALUES statement of a first import: under SQLite's default bound-parameter
# limit (32,766), and large enough that statement overhead does not count.
_ROWS_PER_STATEMENT = 32_766 // len(_ROW_COLUMNS) // 2
# FTS5 flushes its in-memory index to a new segment whenever it outgrows this (1 MB by
# default); larger segments mean less merging later. Set for an import only.
_IMPORT_FTS_HASHSIZE = 16 << 20


def _insert_values_sql(rows: int) -> str:
    return (f"INSERT OR IGNORE INTO complaints ({', '.join(_ROW_COLUMNS)}) VALUES "
            + ", ".join([_ROW_VALUES] * rows))


class BulkWriter:
    """Batches of a large import.

    Into an empty table (`fresh`) the whole import is one transaction: the secondary indexes
    and the FTS insert trigger are dropped first; before the commit the indexes are rebuilt,
    the full-text index is built in one pass ('rebuild') and the trigger is recreated. Rows go
    in as plain multi-row INSERTs, which cost SQLite far less than reading them out of JSON. A
    crash (even kill -9) leaves the store as it was, empty, and never without its indexes or
    trigger. Into a populated table each batch is one JSON statement through the trigger (FTS5
    writes a segment per statement, so statements stay large) and commits about every
    APPEND_COMMIT_SECONDS, so a crash keeps what was committed, FTS included, and other writers
    never wait long for the lock."""

    def __init__(self, complaints: ComplaintStore) -> None:
        self.conn = complaints.store.conn
        self.fresh = False
        self.result = AddResult()
        self._dropped: list[str] = []
        self._trigger = ""
        self._hashsize: object = None
        self._since_commit = 0.0

    def begin(self) -> None:
        conn = self.conn
        if conn.in_transaction:
            conn.commit()
        # IMMEDIATE: no other writer can add a row between the emptiness check and the load
        conn.execute("BEGIN IMMEDIATE")
        self._since_commit = time.monotonic()
        self.fresh = conn.execute("SELECT NOT EXISTS (SELECT 1 FROM complaints)").fetchone()[0]
        if self.fresh:
            row = conn.execute(
                "SELECT v FROM complaints_fts_config WHERE k = 'hashsize'").fetchone()
            self._hashsize = row[0] if row is not None else None
            self._set_hashsize(_IMPORT_FTS_HASHSIZE)
            for name in _DEFERRED_INDEXES:
                row = conn.execute(
                    "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?", [name]
                ).fetchone()
                if row is not None:
                    self._dropped.append(row[0])
                    conn.execute(f'DROP INDEX "{name}"')
            row = conn.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'complaints_ai'"
            ).fetchone()
            if row is not None:
                self._trigger = row[0]
                conn.execute('DROP TRIGGER "complaints_ai"')

    def add(self, rows: Sequence[Sequence[str]]) -> AddResult:
        """Insert one batch of `row_values` rows."""
        conn = self.conn
        if not conn.in_transaction:
            conn.execute("BEGIN IMMEDIATE")
            self._since_commit = time.monotonic()
        count = len(rows)
        if self.fresh:
            inserted = 0
            for start in range(0, count, _ROWS_PER_STATEMENT):
                chunk = rows[start:start + _ROWS_PER_STATEMENT]
                params = [value for row in chunk for value in row]
                inserted += int(conn.execute(_insert_values_sql(len(chunk)), params).rowcount)
        else:
            inserted = int(conn.execute(_INSERT_JSON, [json.dumps(rows)]).rowcount)
        got = AddResult(inserted=inserted, duplicates=count - inserted)
        self.result += got
        if not self.fresh and time.monotonic() - self._since_commit >= APPEND_COMMIT_SECONDS:
            conn.commit()
        return got

    def finish(self) -> None:
        conn = self.conn
        if not conn.in_transaction:
            conn.execute("BEGIN IMMEDIATE")
        if self._trigger:
            conn.execute("INSERT INTO complaints_fts (complaints_fts) VALUES ('rebuild')")
            conn.execute(self._trigger)
            self._trigger = ""
        for sql in self._dropped:
            conn.execute(sql)
        self._dropped = []
        if self.fresh:
            self._restore_hashsize()
        conn.commit()

    def _set_hashsize(self, value: object) -> None:
        self.conn.execute(
            "INSERT INTO complaints_fts (complaints_fts, rank) VALUES ('hashsize', ?)", [value])

    def _restore_hashsize(self) -> None:
        if self._hashsize is None:
            self._set_hashsize(1 << 20)  # FTS5's default, for this connection's later writes
            self.conn.execute("DELETE FROM complaints_fts_config WHERE k = 'hashsize'")
        else:
            self._set_hashsize(self._hashsize)

    def rollback(self) -> None:
        if self.conn.in_transaction:
            # the dropped indexes, the trigger and the stored FTS settings come back with it
            self.conn.rollback()


class ComplaintStore:
    """Reads and writes complaints through this thread's connection of a Store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def add_many(self, complaints: Iterable[Complaint]) -> AddResult:
        """Insert in one transaction; rows whose id is already stored are skipped."""
        payload, count = rows_json(complaints)
        if not count:
            return AddResult()
        with self.store.conn:
            inserted = self._insert_json(payload)
        return AddResult(inserted=inserted, duplicates=count - inserted)

    def _insert_json(self, payload: str) -> int:
        # One statement for the whole batch, not executemany: FTS5 writes its pending index
        # data at every statement boundary, so a row-by-row insert through the FTS trigger
        # wrote one tiny segment per row and then merged them (about 5x slower overall).
        cur = self.store.conn.execute(_INSERT_JSON, [payload])
        return int(cur.rowcount)

    @contextmanager
    def bulk(self) -> Iterator[BulkWriter]:
        """A writer for a large import; see BulkWriter. Rolls back what is not committed when
        the block raises."""
        writer = BulkWriter(self)
        writer.begin()
        try:
            yield writer
        except BaseException:
            writer.rollback()
            raise
        writer.finish()

    def add(self, complaint: Complaint) -> bool:
        """Store one complaint; False when it was a duplicate."""
        return self.add_many([complaint]).inserted == 1

    def get(self, ids: Sequence[str]) -> dict[str, Complaint]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        cur = self.store.conn.execute(
            f"SELECT {', '.join(COLUMNS)} FROM complaints WHERE id IN ({marks})", list(ids)
        )
        return {row[0]: row_to_complaint(row) for row in cur}

    def count(self, since: datetime | None = None) -> int:
        if since is None:
            return int(self.store.conn.execute("SELECT count(*) FROM complaints").fetchone()[0])
        return int(
            self.store.conn.execute(
                "SELECT count(*) FROM complaints WHERE created_at >= ?", [to_iso(since)]
            ).fetchone()[0]
        )

    def newest(self) -> datetime | None:
        value = self.store.conn.execute("SELECT max(created_at) FROM complaints").fetchone()[0]
        return from_iso(value) if value else None

    def update_text(self, complaint_id: str, text: str) -> None:
        with self.store.conn as conn:
            conn.execute(
                "UPDATE complaints SET text = ? WHERE id = ?", [text, complaint_id],
            )

    def delete(self, complaint_id: str) -> None:
        with self.store.conn as conn:
            conn.execute("DELETE FROM complaints WHERE id = ?", [complaint_id])

    def upsert_many(self, complaints: Iterable[Complaint]) -> UpsertResult:
        """Insert new ids; rewrite stored rows whose content differs (an edited help-desk ticket);
        leave identical rows alone. The last of several complaints with one id wins."""
        latest: dict[str, tuple[str, ...]] = {}
        visible: dict[str, str] = {}
        for c in complaints:
            latest[c.id] = (
                to_iso(c.created_at), c.text, c.theme or "general", c.sub_theme, c.channel,
                c.segment, c.severity, c.source, c.source_ref, c.url,
                json.dumps(c.attributes, ensure_ascii=False) if c.attributes else "{}",
            )
            visible[c.id] = c.visible_in
        result = UpsertResult()
        if not latest:
            return result
        conn = self.store.conn
        ids = list(latest)
        with joined_transaction(conn):
            stored: dict[str, tuple[str, ...]] = {}
            for i in range(0, len(ids), _ID_CHUNK):
                chunk = ids[i:i + _ID_CHUNK]
                cur = conn.execute(
                    f"SELECT id, {', '.join(_UPSERT_COLUMNS)} FROM complaints "
                    f"WHERE id IN ({','.join('?' * len(chunk))})", chunk,
                )
                stored.update((row[0], tuple(row[1:])) for row in cur)
            now = to_iso(datetime.now(UTC))
            for cid, values in latest.items():
                before = stored.get(cid)
                if before is None:
                    conn.execute(
                        f"INSERT INTO complaints (id, {', '.join(_UPSERT_COLUMNS)}, visible_in, "
                        f"imported_at) VALUES ({','.join('?' * (len(_UPSERT_COLUMNS) + 3))})",
                        [cid, *values, visible[cid], now],
                    )
                    result.inserted += 1
                elif before != values:
                    conn.execute(
                        f"UPDATE complaints SET {', '.join(c + ' = ?' for c in _UPSERT_COLUMNS)} "
                        "WHERE id = ?", [*values, cid],
                    )
                    result.updated += 1
                else:
                    result.unchanged += 1
        return result

    def delete_ids(self, ids: Iterable[str]) -> int:
        """Delete these complaints (a ticket deleted at its source); how many were stored."""
        wanted = list(dict.fromkeys(ids))
        deleted = 0
        if not wanted:
            return deleted
        conn = self.store.conn
        with joined_transaction(conn):
            for i in range(0, len(wanted), _ID_CHUNK):
                chunk = wanted[i:i + _ID_CHUNK]
                cur = conn.execute(
                    f"DELETE FROM complaints WHERE id IN ({','.join('?' * len(chunk))})", chunk
                )
                deleted += cur.rowcount
        return deleted

    def fts(
        self, match: str, *, since: datetime | None = None, until: datetime | None = None,
        limit: int = 200, audience: str | None = None,
        weights: tuple[float, float, float] = FTS_WEIGHTS,
    ) -> list[FtsHit]:
        """Full-text search with an FTS5 MATCH expression, best BM25 first."""
        where = "complaints_fts MATCH ?"
        params: list[object] = [match]
        if since is not None:
            where += " AND c.created_at >= ?"
            params.append(to_iso(since))
        if until is not None:
            where += " AND c.created_at < ?"
            params.append(to_iso(until))
        vis, vis_params = visible_clause(audience, "c.")
        where += vis
        params.extend(vis_params)
        params.append(limit)
        sql = (
            f"SELECT c.rowid, {', '.join('c.' + col for col in COLUMNS)}, "
            f"bm25(complaints_fts, {float(weights[0])}, {float(weights[1])}, "
            f"{float(weights[2])}) AS rank "
            "FROM complaints_fts JOIN complaints c ON c.rowid = complaints_fts.rowid "
            f"WHERE {where} ORDER BY rank LIMIT ?"
        )
        hits = []
        for row in self.store.conn.execute(sql, params):
            hits.append(FtsHit(rowid=row[0], complaint=row_to_complaint(row[1:-1]), bm25=row[-1]))
        return hits

    def recent(
        self, *, since: datetime, until: datetime | None = None, limit: int | None = None,
        theme: str | None = None,
    ) -> list[Complaint]:
        sql = f"SELECT {', '.join(COLUMNS)} FROM complaints WHERE created_at >= ?"
        params: list[object] = [to_iso(since)]
        if until is not None:
            sql += " AND created_at < ?"
            params.append(to_iso(until))
        if theme is not None:
            sql += " AND theme = ?"
            params.append(theme)
        sql += " ORDER BY created_at DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [row_to_complaint(row) for row in self.store.conn.execute(sql, params)]

    def theme_counts(self, since: datetime, until: datetime) -> dict[str, int]:
        cur = self.store.conn.execute(
            "SELECT theme, count(*) FROM complaints WHERE created_at >= ? AND created_at < ? "
            "GROUP BY theme ORDER BY count(*) DESC, theme",
            [to_iso(since), to_iso(until)],
        )
        return {theme: int(n) for theme, n in cur}

    def daily_counts(self, since: datetime, until: datetime) -> dict[str, dict[str, int]]:
        """theme -> ISO day (UTC) -> count."""
        cur = self.store.conn.execute(
            "SELECT theme, substr(created_at, 1, 10) AS day, count(*) FROM complaints "
            "WHERE created_at >= ? AND created_at < ? GROUP BY theme, day ORDER BY theme, day",
            [to_iso(since), to_iso(until)],
        )
        out: dict[str, dict[str, int]] = {}
        for theme, day, n in cur:
            out.setdefault(theme, {})[day] = int(n)
        return out

    def weekly_stats(self, days: int, now: datetime | None = None) -> list[tuple[str, str, int]]:
        """(ISO week start date, theme, count) for the last `days` days, newest week first."""
        now = now or datetime.now(UTC)
        since = now - timedelta(days=days)
        cur = self.store.conn.execute(
            # Monday of the row's week: weekday 0 is Sunday in strftime('%w').
            "SELECT date(created_at, '-' || ((strftime('%w', created_at) + 6) % 7) || ' days') "
            "AS week, theme, count(*) FROM complaints WHERE created_at >= ? "
            "GROUP BY week, theme ORDER BY week DESC, count(*) DESC, theme",
            [to_iso(since)],
        )
        return [(week, theme, int(n)) for week, theme, n in cur]

    # Vectors for the semantic signals: float16 blobs keyed by the complaint's rowid, in
    # `complaint_vectors` (static model) or `sentence_vectors` (sentence encoder).
    def missing_vectors(
        self, limit: int = 5000, *, table: VectorTable = "complaint_vectors"
    ) -> list[tuple[int, str]]:
        """Complaints without a vector in `table`; the sentence encoder's newest first, so a
        long background build covers the recent window (what searches read) before the past."""
        order = " ORDER BY c.created_at DESC" if table == "sentence_vectors" else ""
        cur = self.store.conn.execute(
            f"SELECT c.rowid, c.text FROM complaints c LEFT JOIN {_table(table)} v "
            f"ON v.rowid = c.rowid WHERE v.rowid IS NULL{order} LIMIT ?",
            [limit],
        )
        return [(int(r), t) for r, t in cur]

    def count_missing_vectors(self, table: VectorTable = "complaint_vectors") -> int:
        row = self.store.conn.execute(
            f"SELECT count(*) FROM complaints c LEFT JOIN {_table(table)} v "
            "ON v.rowid = c.rowid WHERE v.rowid IS NULL").fetchone()
        return int(row[0])

    def put_vectors(
        self, items: Sequence[tuple[int, bytes]], *, table: VectorTable = "complaint_vectors"
    ) -> None:
        with self.store.conn as conn:
            conn.executemany(
                f"INSERT OR REPLACE INTO {_table(table)} (rowid, vector) VALUES (?, ?)", items
            )

    def vectors_since(
        self, since: datetime, limit: int, *, audience: str | None = None,
        table: VectorTable = "complaint_vectors",
    ) -> list[tuple[int, bytes]]:
        vis, vis_params = visible_clause(audience, "c.")
        cur = self.store.conn.execute(
            f"SELECT c.rowid, v.vector FROM complaints c JOIN {_table(table)} v "
            f"ON v.rowid = c.rowid WHERE c.created_at >= ?{vis} "
            "ORDER BY c.created_at DESC LIMIT ?",
            [to_iso(since), *vis_params, limit],
        )
        return [(int(r), bytes(b)) for r, b in cur]

    def vectors_for(
        self, rowids: Sequence[int], *, table: VectorTable = "complaint_vectors"
    ) -> dict[int, bytes]:
        found: dict[int, bytes] = {}
        for start in range(0, len(rowids), 10_000):  # under SQLite's bound-parameter limit
            chunk = list(rowids[start:start + 10_000])
            cur = self.store.conn.execute(
                f"SELECT rowid, vector FROM {_table(table)} "
                f"WHERE rowid IN ({','.join('?' * len(chunk))})", chunk)
            found.update((int(r), bytes(b)) for r, b in cur)
        return found

    def by_rowids(
        self, rowids: Sequence[int], *, audience: str | None = None
    ) -> dict[int, Complaint]:
        if not rowids:
            return {}
        marks = ",".join("?" * len(rowids))
        vis, vis_params = visible_clause(audience)
        cur = self.store.conn.execute(
            f"SELECT rowid, {', '.join(COLUMNS)} FROM complaints WHERE rowid IN ({marks}){vis}",
            [*rowids, *vis_params],
        )
        return {int(row[0]): row_to_complaint(row[1:]) for row in cur}

    def _window_where(
        self, since: datetime, until: datetime, match: str | None, theme: str | None,
        sub_theme: str | None, audience: str | None,
    ) -> tuple[str, str, list[object]]:
        """(FROM, WHERE, params) for complaints in [since, until) by theme, sub-theme and an
        FTS5 MATCH on the text."""
        where = "c.created_at >= ? AND c.created_at < ?"
        params: list[object] = [to_iso(since), to_iso(until)]
        source = "complaints c"
        if match:
            source += " JOIN complaints_fts ON complaints_fts.rowid = c.rowid"
            where += " AND complaints_fts MATCH ?"
            params.append(match)
        if theme is not None:
            where += " AND c.theme = ?"
            params.append(theme)
        if sub_theme:
            where += " AND c.sub_theme = ?"
            params.append(sub_theme)
        vis, vis_params = visible_clause(audience, "c.")
        return source, where + vis, params + vis_params

    def count_where(
        self, *, since: datetime, until: datetime, match: str | None = None,
        theme: str | None = None, sub_theme: str | None = None, audience: str | None = None,
        group_by: str | None = None,
    ) -> dict[str, int]:
        """Complaints in [since, until) by theme, sub-theme and an FTS5 MATCH on the text:
        {"": n}, or n per value of `group_by` (segment, severity or channel)."""
        source, where, params = self._window_where(since, until, match, theme, sub_theme,
                                                   audience)
        if group_by is None:
            row = self.store.conn.execute(f"SELECT count(*) FROM {source} WHERE {where}", params)
            return {"": int(row.fetchone()[0])}
        if group_by not in SPLITS:
            raise ValueError(f"cannot group by {group_by!r}")
        cur = self.store.conn.execute(
            f"SELECT c.{group_by}, count(*) FROM {source} WHERE {where} "
            f"GROUP BY c.{group_by} ORDER BY count(*) DESC, c.{group_by}", params
        )
        return {str(value): int(n) for value, n in cur if value}

    def rows_where(
        self, *, since: datetime, until: datetime, match: str | None = None,
        theme: str | None = None, sub_theme: str | None = None, audience: str | None = None,
    ) -> list[tuple[int, datetime, dict[str, str]]]:
        """The complaints count_where counts: (rowid, created_at, {segment, severity, channel})."""
        source, where, params = self._window_where(since, until, match, theme, sub_theme,
                                                   audience)
        cur = self.store.conn.execute(
            f"SELECT c.rowid, c.created_at, {', '.join('c.' + col for col in SPLITS)} "
            f"FROM {source} WHERE {where}", params)
        return [(int(row[0]), from_iso(row[1]), dict(zip(SPLITS, row[2:], strict=True)))
                for row in cur]

    def doc_freqs(self, stems: Sequence[str]) -> tuple[int, dict[str, int]]:
        """(rows in the index, stem -> rows holding it) from FTS5's own vocabulary."""
        conn = self.store.conn
        conn.execute(
            "CREATE VIRTUAL TABLE IF NOT EXISTS temp.complaints_vocab "
            "USING fts5vocab(main, 'complaints_fts', 'row')"
        )
        total = int(conn.execute("SELECT count(*) FROM complaints_fts_docsize").fetchone()[0])
        freqs = {
            term: int(n)
            for term, n in conn.execute(
                "SELECT term, doc FROM temp.complaints_vocab WHERE term IN "
                f"({','.join('?' * len(stems))})", list(stems),
            )
        } if stems else {}
        return total, freqs

    def data_version(self) -> tuple[int, int]:
        """Changes when any connection commits: cheap cache invalidation for derived data."""
        conn = self.store.conn
        return (
            int(conn.execute("PRAGMA data_version").fetchone()[0]),
            int(conn.total_changes),
        )

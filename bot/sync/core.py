"""What every help-desk sync shares: its stored position, a page committed whole, the summary."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.ingest import complaint_from_record
from bot.models import Complaint
from bot.store.complaints import ComplaintStore, joined_transaction, to_iso
from bot.store.db import Store

log = logging.getLogger("bot.sync")

MAX_REJECTS_SHOWN = 20


@dataclass
class SyncState:
    """Where a source's sync stands (see migration m007_sync_state)."""

    cursor: str = ""
    run_floor: int = 0
    high_water: int = 0


def load_state(store: Store, source: str) -> SyncState:
    row = store.conn.execute(
        "SELECT cursor, run_floor, high_water FROM sync_state WHERE source = ?", [source]
    ).fetchone()
    return SyncState(row[0], int(row[1]), int(row[2])) if row else SyncState()


def _save_state(store: Store, source: str, state: SyncState) -> None:
    store.conn.execute(
        "INSERT INTO sync_state (source, cursor, run_floor, high_water, updated_at) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT(source) DO UPDATE SET cursor = excluded.cursor, "
        "run_floor = excluded.run_floor, high_water = excluded.high_water, "
        "updated_at = excluded.updated_at",
        [source, state.cursor, state.run_floor, state.high_water, to_iso(datetime.now(UTC))],
    )


@dataclass
class SyncSummary:
    source: str
    fetched: int = 0
    imported: int = 0
    updated: int = 0
    deleted: int = 0
    rejected: int = 0
    rejects: list[tuple[str, str]] = field(default_factory=list)  # (source id, reason)

    def line(self) -> str:
        return (
            f"{self.source}: fetched {self.fetched}, imported {self.imported}, "
            f"updated {self.updated}, deleted {self.deleted}, rejected {self.rejected}"
        )

    def reject_lines(self) -> list[str]:
        lines = [f"{self.source}: rejected {ref}: {reason}" for ref, reason in self.rejects]
        if self.rejected > len(self.rejects):
            lines.append(f"{self.source}: … and {self.rejected - len(self.rejects)} more")
        return lines


@dataclass
class Page:
    """One page of a help desk's answer, turned into records for the store."""

    records: list[tuple[str, dict[str, object]]] = field(default_factory=list)  # (ref, record)
    deleted_ids: list[str] = field(default_factory=list)
    fetched: int = 0


def commit_page(store: Store, source: str, page: Page, state: SyncState,
                summary: SyncSummary) -> None:
    """Build, store and delete a page's tickets and save `state`, all in one transaction.

    Records go through the file import's field mapping and redaction (complaint_from_record);
    one that cannot become a complaint is a reject.
    """
    complaints: list[Complaint] = []
    rejects: list[tuple[str, str]] = []
    for ref, record in page.records:
        built = complaint_from_record(record, source=source)
        if isinstance(built, Complaint):
            complaints.append(built.model_copy(update={"source_ref": ref}))
        else:
            rejects.append((ref, built))
    store_ = ComplaintStore(store)
    with joined_transaction(store.conn):
        result = store_.upsert_many(complaints)
        deleted = store_.delete_ids(page.deleted_ids)
        _save_state(store, source, state)
    # Counted only once the page is safely stored: a failed commit changes no number.
    summary.fetched += page.fetched
    summary.imported += result.inserted
    summary.updated += result.updated
    summary.deleted += deleted
    summary.rejected += len(rejects)
    room = MAX_REJECTS_SHOWN - len(summary.rejects)
    summary.rejects.extend(rejects[:max(0, room)])
    for ref, reason in rejects:
        log.info("%s: rejected %s: %s", source, ref, reason)

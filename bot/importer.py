"""Import a complaint export into the store: batches, de-dup counts and a rejects file."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from bot.ingest import Reject, Row, read_complaints
from bot.models import Complaint
from bot.store.complaints import AddResult, ComplaintStore
from bot.store.db import Store

BATCH = 2000


@dataclass
class ImportSummary:
    imported: int = 0
    duplicates: int = 0
    rejected: int = 0
    rejects_path: Path | None = None

    def line(self) -> str:
        text = (
            f"imported {self.imported}, duplicates skipped {self.duplicates}, "
            f"rejected {self.rejected}"
        )
        if self.rejects_path is not None:
            text += f" (see {self.rejects_path})"
        return text


def rejects_path_for(path: Path) -> Path:
    return path.with_name(path.name + ".rejects.csv")


def _newest_date(path: Path, fmt: str | None, mapping: dict[str, str] | None) -> datetime | None:
    newest: datetime | None = None
    for item in read_complaints(path, fmt, mapping):
        if isinstance(item, Row) and (newest is None or item.complaint.created_at > newest):
            newest = item.complaint.created_at
    return newest


def run_import(
    store: Store,
    path: Path,
    *,
    fmt: str | None = None,
    mapping: dict[str, str] | None = None,
    rebase_to: datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Stream `path` into the store. Bad rows go to `<file>.rejects.csv`; good rows always land.

    `rebase_to` shifts every date so the newest row falls on that moment: the bundled sample
    data stays "recent" whenever the demo runs.
    """
    shift = timedelta(0)
    if rebase_to is not None:
        newest = _newest_date(path, fmt, mapping)
        if newest is not None:
            shift = rebase_to - newest
    complaints = ComplaintStore(store)
    summary = ImportSummary()
    result = AddResult()
    rejects_file = rejects_path_for(path)
    writer = None
    handle = None
    batch: list[Complaint] = []
    seen = 0
    try:
        for item in read_complaints(path, fmt, mapping):
            seen += 1
            if isinstance(item, Reject):
                if writer is None:
                    handle = rejects_file.open("w", newline="", encoding="utf-8")
                    writer = csv.writer(handle)
                    writer.writerow(["line", "reason", "raw"])
                writer.writerow([item.line, item.reason, item.raw])
                summary.rejected += 1
                continue
            complaint = item.complaint
            if shift:
                moved = complaint.created_at + shift
                complaint = complaint.model_copy(update={"created_at": moved})
            batch.append(complaint)
            if len(batch) >= BATCH:
                result += complaints.add_many(batch)
                batch.clear()
                if progress is not None:
                    progress(seen)
        if batch:
            result += complaints.add_many(batch)
        if progress is not None:
            progress(seen)
    finally:
        if handle is not None:
            handle.close()
    if writer is None and rejects_file.exists():
        rejects_file.unlink()  # a stale report from an earlier run would mislead
    summary.imported = result.inserted
    summary.duplicates = result.duplicates
    summary.rejects_path = rejects_file if summary.rejected else None
    return summary


def iter_rows(path: Path) -> Iterator[Complaint]:
    """Good rows only: for tools that do not care about rejects (benchmarks)."""
    for item in read_complaints(path):
        if isinstance(item, Row):
            yield item.complaint

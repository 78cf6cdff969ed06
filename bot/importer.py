"""Import a complaint export into the store: batches, de-dup counts and a rejects file."""

from __future__ import annotations

import csv
import os
import pickle
import queue
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.ingest import Reject, Row, read_complaints
from bot.redact import redact_all
from bot.store.complaints import ComplaintStore, row_values, to_iso
from bot.store.db import Store

BATCH = 20_000  # rows per batch: into a populated store, one statement, and FTS5 writes one
# index segment per statement
BATCH_CHARS = 8 << 20  # and at most this much text, so long narratives keep memory bounded
QUEUED_BATCHES = 4  # read ahead of the writer; bounds memory on a file of any size
# Files from this size on are redacted in a worker process; smaller ones are not worth its start.
PARALLEL_REDACT_BYTES = 32 << 20


@dataclass
class ImportSummary:
    imported: int = 0
    duplicates: int = 0
    rejected: int = 0
    rejects_path: Path | None = None
    read: int = 0  # rows that became complaints (imported or duplicates)
    before_window: int = 0  # of those, dated before `window_start`
    newest: datetime | None = None
    rejects_warning: str = ""  # set when the rejects report could not be written

    def line(self) -> str:
        text = (
            f"imported {self.imported}, duplicates skipped {self.duplicates}, "
            f"rejected {self.rejected}"
        )
        if self.rejects_path is not None:
            text += f" (see {self.rejects_path})"
        return text

    def stale_warning(self, window_days: int) -> str | None:
        """A warning when most rows are older than the window the bot answers from."""
        if not self.read or self.before_window * 2 <= self.read:
            return None
        newest = self.newest.date().isoformat() if self.newest else "?"
        return (
            f"warning: {self.before_window:,} of {self.read:,} rows are older than the "
            f"{window_days}-day window the bot answers from (newest {newest}); answers will "
            "not use them unless you widen EMPTYCHAIR_WINDOW_DAYS"
        )


def rejects_path_for(path: Path) -> Path:
    return path.with_name(path.name + ".rejects.csv")


def _newest_date(path: Path, fmt: str | None, mapping: dict[str, str] | None) -> datetime | None:
    newest: datetime | None = None
    for item in read_complaints(path, fmt, mapping):
        if isinstance(item, Row) and (newest is None or item.complaint.created_at > newest):
            newest = item.complaint.created_at
    return newest


_Batch = tuple[list[list[str]], int]  # (rows for BulkWriter.add, records read so far)


class _RedactWorker:
    """`bot.redact.redact_all` in a child process, fed batches of texts over a pipe.

    A fresh interpreter, not a fork: it starts small instead of sharing the importer's pages,
    and it is no multiprocessing child, so the caller's main module is never re-run. Sends and
    receives alternate (the importer sends batch n+1 only after receiving batch n), so neither
    side blocks writing into a full pipe while the other does too. If the parent dies, even
    by kill -9, the worker reads end-of-file and exits."""

    def __init__(self) -> None:
        # The child finds this package where the parent did, whatever its working directory.
        package_root = str(Path(__file__).resolve().parent.parent)
        code = (f"import sys; sys.path.insert(0, {package_root!r}); "
                "from bot.redact import serve_pipe; serve_pipe()")
        self._proc: subprocess.Popen[bytes] | None = subprocess.Popen(
            [sys.executable, "-c", code],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )

    def send(self, texts: list[str]) -> None:
        proc = self._proc
        if proc is None or proc.stdin is None:
            return
        try:
            pickle.dump(texts, proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            proc.stdin.flush()
        except OSError:
            self.close()

    def receive(self) -> list[str] | None:
        """The redacted texts of the oldest batch sent, or None once the worker has failed."""
        proc = self._proc
        if proc is None or proc.stdout is None:
            return None
        try:
            texts = pickle.load(proc.stdout)
        except (OSError, EOFError, pickle.UnpicklingError):
            self.close()
            return None
        return texts if isinstance(texts, list) else None

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                with suppress(OSError):
                    stream.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class _Reader:
    """Reads and validates rows on its own thread, handing batches over a short queue and
    writing rejects as it meets them."""

    def __init__(self, path: Path, fmt: str | None, mapping: dict[str, str] | None,
                 shift: timedelta, rejects_file: Path, summary: ImportSummary,
                 window_start: datetime | None = None) -> None:
        self.path, self.fmt, self.mapping, self.shift = path, fmt, mapping, shift
        self.window_start = window_start
        self.rejects_file = rejects_file
        self.summary = summary
        self.wrote_rejects = False
        self.stop = threading.Event()
        self._worker: _RedactWorker | None = None
        self._queue: queue.Queue[_Batch | BaseException | None] = queue.Queue(
            maxsize=QUEUED_BATCHES
        )

    def run(self) -> None:
        handle = None
        try:
            writer = None
            # rows, not Complaints: a list of strings is all the writer needs, and the
            # Complaint is freed at once instead of living (and being GC-scanned) for a batch
            batch: list[list[str]] = []
            chars = 0
            seen = 0
            now = to_iso(datetime.now(UTC))
            shift = self.shift
            window_start = self.window_start
            summary = self.summary
            worker = self._pool()
            pending: deque[_Batch] = deque()
            for item in read_complaints(self.path, self.fmt, self.mapping,
                                        redact_text=worker is None):
                seen += 1
                if isinstance(item, Reject):
                    if writer is None and not self.summary.rejects_warning:
                        try:
                            handle = self.rejects_file.open("w", newline="", encoding="utf-8")
                        except OSError as exc:
                            # The report is a convenience: good rows still go in.
                            self.summary.rejects_warning = (
                                f"cannot write the rejects report {self.rejects_file} "
                                f"({exc.strerror or exc}); rejected rows are counted but not "
                                "listed")
                        else:
                            writer = csv.writer(handle)
                            writer.writerow(["line", "reason", "raw"])
                            self.wrote_rejects = True
                    if writer is not None:
                        writer.writerow([item.line, item.reason, item.raw])
                    summary.rejected += 1
                    continue
                complaint = item.complaint
                if shift:
                    moved = complaint.created_at + shift
                    complaint = complaint.model_copy(update={"created_at": moved})
                batch.append(row_values(complaint, now))
                chars += len(complaint.text)
                summary.read += 1
                created_at = complaint.created_at
                if summary.newest is None or created_at > summary.newest:
                    summary.newest = created_at
                if window_start is not None and created_at < window_start:
                    summary.before_window += 1
                if len(batch) >= BATCH or chars >= BATCH_CHARS:
                    # the rows are built here, off the writer's thread: the writer then spends
                    # its time inside SQLite, which releases the GIL
                    if not self._hand_over(worker, pending, batch, seen, last=False):
                        return
                    batch = []
                    chars = 0
                    now = to_iso(datetime.now(UTC))
            if self._hand_over(worker, pending, batch, seen, last=True):
                self._put(None)
        except BaseException as exc:  # handed to the writer's thread, which raises it
            self._put(exc)
        finally:
            if handle is not None:
                handle.close()
            if self._worker is not None:
                self._worker.close()

    def _pool(self) -> _RedactWorker | None:
        """A worker process that redacts the texts of a large import, or None (redact here).

        Parsing and redacting are both Python and would share one core under the GIL; in a
        second process the redaction runs beside them."""
        try:
            big = self.path.stat().st_size >= PARALLEL_REDACT_BYTES
        except OSError:
            big = False
        if not big or (os.cpu_count() or 1) < 2:
            return None
        try:
            self._worker = _RedactWorker()
        except OSError:
            return None
        return self._worker

    def _hand_over(self, worker: _RedactWorker | None, pending: deque[_Batch],
                   batch: list[list[str]], seen: int, last: bool) -> bool:
        """Queue `batch` for the writer, through the redacting worker when there is one, which
        redacts it while the next batch is parsed. False when the writer gave up."""
        if worker is None:
            return self._put((batch, seen))
        # receive before sending: the worker is then waiting to read, never blocked writing
        if not self._drain(worker, pending):
            return False
        pending.append((batch, seen))
        worker.send([row[2] for row in batch])
        return self._drain(worker, pending) if last else True

    def _drain(self, worker: _RedactWorker, pending: deque[_Batch]) -> bool:
        while pending:
            rows, upto = pending.popleft()
            texts = worker.receive()
            if texts is None:  # the worker is gone: redact here, as a small import does
                texts = redact_all([row[2] for row in rows])
            for row, text in zip(rows, texts, strict=True):
                row[2] = text
            if not self._put((rows, upto)):
                return False
        return True

    def _put(self, item: _Batch | BaseException | None) -> bool:
        while not self.stop.is_set():
            try:
                self._queue.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False  # the writer gave up (it raised): stop reading

    def next_batch(self) -> _Batch | None:
        item = self._queue.get()
        if isinstance(item, BaseException):
            raise item
        return item


@contextmanager
def _bigger_cache(store: Store) -> Iterator[None]:
    """A 64 MB page cache for the import's connection: the indexes of a large store no longer
    fit SQLite's 2 MB default, and every row touches them at random places."""
    conn = store.conn
    before = conn.execute("PRAGMA cache_size").fetchone()[0]
    conn.execute("PRAGMA cache_size = -65536")
    try:
        yield
    finally:
        conn.execute(f"PRAGMA cache_size = {int(before)}")


def run_import(
    store: Store,
    path: Path,
    *,
    fmt: str | None = None,
    mapping: dict[str, str] | None = None,
    rebase_to: datetime | None = None,
    progress: Callable[[int], None] | None = None,
    window_start: datetime | None = None,
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
    rejects_file = rejects_path_for(path)
    reader = _Reader(path, fmt, mapping, shift, rejects_file, summary, window_start)
    # Parsing and redacting (Python) overlap with SQLite's writes, which release the GIL: on
    # two cores the import takes about the longer of the two instead of their sum.
    thread = threading.Thread(target=reader.run, name="import-reader", daemon=True)
    thread.start()
    try:
        with _bigger_cache(store), complaints.bulk() as bulk:
            while (item := reader.next_batch()) is not None:
                rows, seen = item
                if rows:
                    bulk.add(rows)
                if progress is not None:
                    progress(seen)
            result = bulk.result
    finally:
        reader.stop.set()
        thread.join()
    if not reader.wrote_rejects and rejects_file.exists():
        try:
            rejects_file.unlink()  # a stale report from an earlier run would mislead
        except OSError as exc:
            summary.rejects_warning = summary.rejects_warning or (
                f"cannot remove the old rejects report {rejects_file} ({exc.strerror or exc})")
    summary.imported = result.inserted
    summary.duplicates = result.duplicates
    summary.rejects_path = rejects_file if reader.wrote_rejects else None
    return summary

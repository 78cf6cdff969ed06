"""Ingest: run_import of a synthetic CSV export against `sqlite-utils insert` + `enable-fts`."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from common import (
    ROOT,
    emit,
    note,
    ratio,
    run_reported,  # bench/common.py (script folder)
    write_csv,
)

DEFAULT_ROWS = 1_000_000
QUICK_ROWS = 200_000
TARGET_PEAK_MB = 300.0
SQLITE_UTILS = Path(sys.executable).with_name("sqlite-utils")


@dataclass
class Measured:
    seconds: float
    cpu_seconds: float  # user + system time of the child: robust to a busy machine
    peak_mb: float
    returncode: int
    stdout: str
    stderr: str


def measure(command: list[str]) -> Measured:
    """Run a command in its own process: wall time and that child's peak RSS (wait4)."""
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT)
    # communicate() reaps the child without giving its rusage; read the pipes on threads and
    # reap it ourselves with wait4, which reports that one child's peak RSS.
    out: dict[str, str] = {}

    def drain(name: str) -> None:
        stream = getattr(proc, name)
        out[name] = stream.read()
        stream.close()

    readers = [threading.Thread(target=drain, args=(n,)) for n in ("stdout", "stderr")]
    for reader in readers:
        reader.start()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    for reader in readers:
        reader.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Measured(elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024,
                    proc.returncode, out.get("stdout", ""),
                    out.get("stderr", ""))


def child_import(csv_path: Path, db_path: Path) -> int:
    """In a fresh process: the project's import, as `emptychair import` runs it."""
    from bot.importer import run_import
    from bot.store.db import Store

    started = time.perf_counter()
    store = Store(db_path)
    summary = run_import(store, csv_path)
    store.close()
    import resource

    # any process the import starts: wait4 on this process reports only the largest single
    # process of the tree, so their peak is reported here and added up by the parent
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"imported": summary.imported, "duplicates": summary.duplicates,
                      "rejected": summary.rejected,
                      "seconds": time.perf_counter() - started,
                      "children_peak_mb": children}))
    return 0


def count_rows(db_path: Path, table: str) -> int:
    import sqlite3

    conn = sqlite3.connect(db_path)
    try:
        return int(conn.execute(f"SELECT count(*) FROM [{table}]").fetchone()[0])
    finally:
        conn.close()


def run(rows: int, keep: Path | None) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        folder = keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        csv_path = folder / f"complaints-{rows}.csv"
        started = time.perf_counter()
        size = write_csv(csv_path, rows)
        emit("ingest.rows", rows)
        emit("ingest.csv_mb", round(size / 2**20, 1))
        emit("ingest.generate.seconds", time.perf_counter() - started)

        # --- the project's importer (bot.importer.run_import, no vectors) -------------------
        ours_db = folder / "ours.db"
        for suffix in ("", "-wal", "-shm"):
            Path(str(ours_db) + suffix).unlink(missing_ok=True)
        ours = measure([sys.executable, str(Path(__file__).resolve()), "--child-import",
                        str(csv_path), str(ours_db)])
        if ours.returncode != 0:
            emit("ingest.run_import.error", f"exit {ours.returncode}")
            note(ours.stderr.strip()[-2000:])
            return
        result = json.loads(ours.stdout.strip().splitlines()[-1])
        emit("ingest.run_import.imported", result["imported"])
        emit("ingest.run_import.rejected", result["rejected"])
        emit("ingest.run_import.seconds", ours.seconds)
        emit("ingest.run_import.in_process_seconds", result["seconds"])
        emit("ingest.run_import.rows_per_s", round(result["imported"] / ours.seconds))
        emit("ingest.run_import.cpu_seconds", ours.cpu_seconds)
        # an upper bound: the import's own peak plus its largest worker's, as if they coincided
        ours_peak = ours.peak_mb + result.get("children_peak_mb", 0.0)
        emit("ingest.run_import.peak_mb", round(ours_peak, 1))
        emit("ingest.run_import.db_mb", round(ours_db.stat().st_size / 2**20, 1))

        # --- sqlite-utils: insert the CSV, then build an FTS5 index on text -----------------
        if not SQLITE_UTILS.exists():
            emit("ingest.sqlite_utils.skipped", f"{SQLITE_UTILS} not found")
            return
        theirs_db = folder / "sqlite_utils.db"
        theirs_db.unlink(missing_ok=True)
        insert = measure([str(SQLITE_UTILS), "insert", str(theirs_db), "complaints",
                          str(csv_path), "--csv"])
        fts = measure([str(SQLITE_UTILS), "enable-fts", str(theirs_db), "complaints", "text",
                       "--fts5"])
        for what, m in (("insert", insert), ("enable_fts", fts)):
            if m.returncode != 0:
                emit(f"ingest.sqlite_utils.{what}.error", f"exit {m.returncode}")
                note(m.stderr.strip()[-2000:])
                return
        theirs_rows = count_rows(theirs_db, "complaints")
        theirs_seconds = insert.seconds + fts.seconds
        emit("ingest.sqlite_utils.rows", theirs_rows)
        emit("ingest.sqlite_utils.insert.seconds", insert.seconds)
        emit("ingest.sqlite_utils.enable_fts.seconds", fts.seconds)
        emit("ingest.sqlite_utils.seconds", theirs_seconds)
        emit("ingest.sqlite_utils.cpu_seconds", insert.cpu_seconds + fts.cpu_seconds)
        emit("ingest.sqlite_utils.rows_per_s", round(theirs_rows / theirs_seconds))
        emit("ingest.sqlite_utils.peak_mb", round(max(insert.peak_mb, fts.peak_mb), 1))
        emit("ingest.sqlite_utils.db_mb", round(theirs_db.stat().st_size / 2**20, 1))

        ours_rate = result["imported"] / ours.seconds
        theirs_rate = theirs_rows / theirs_seconds
        emit("ingest.rows_per_s_ratio_ours_over_sqlite_utils", ratio(ours_rate, theirs_rate))
        emit("ingest.cpu_seconds_ratio_ours_over_sqlite_utils",
             ratio(ours.cpu_seconds, insert.cpu_seconds + fts.cpu_seconds))
        emit("ingest.target.rows_per_s_ratio_min", 1.0)
        emit("ingest.target.peak_mb", TARGET_PEAK_MB)
        emit("ingest.run_import.peak_over_target", ours_peak / TARGET_PEAK_MB)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, help=f"CSV rows (default {DEFAULT_ROWS:,}; "
                        f"--quick: {QUICK_ROWS:,})")
    parser.add_argument("--quick", action="store_true", help="a smaller file")
    parser.add_argument("--keep", type=Path, help="write the CSV and databases here, kept")
    parser.add_argument("--child-import", nargs=2, type=Path, metavar=("CSV", "DB"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_import:
        return child_import(*args.child_import)
    rows = args.rows or (QUICK_ROWS if args.quick else DEFAULT_ROWS)
    return run_reported("ingest", lambda: run(max(1, rows), args.keep))


if __name__ == "__main__":
    sys.exit(main())

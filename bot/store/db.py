"""Opening the database: WAL, busy timeout and one connection per thread, migrated on open."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path

import sqlite_utils

from bot.errors import StoreError

BUSY_TIMEOUT_MS = 30_000


class Store:
    """A SQLite file shared by threads: each thread gets its own connection to it."""

    def __init__(self, path: Path | str, *, migrate: bool = True, create: bool = True) -> None:
        self.path = Path(path)
        if not create and not self.path.is_file():
            # Reading commands must not leave an empty database behind a mistyped path.
            raise StoreError(
                f"no database at {self.path}: import complaints first "
                "(emptychair import FILE), or pass --db / set EMPTYCHAIR_DB"
            )
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the folder for {self.path}: {exc.strerror}") from None
        if migrate:
            from bot.store.migrations import apply_migrations

            apply_migrations(self.db)

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                str(self.path), timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False
            )
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            # WAL lets the bot read while an import writes; NORMAL is durable across app crashes.
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise StoreError(f"{self.path}: WAL mode unavailable (got {mode})")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open database {self.path}: {exc}") from None
        with self._lock:
            self._connections.append(conn)
        return conn

    @property
    def db(self) -> sqlite_utils.Database:
        """This thread's sqlite-utils Database."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite_utils.Database(self._connect())
            self._local.db = db
        return db

    @property
    def conn(self) -> sqlite3.Connection:
        return self.db.conn

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            self._connections.clear()
        self._local = threading.local()

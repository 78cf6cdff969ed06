"""The command line on missing databases and stale data: one line, the right exit code."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_cli import run_cli

OLD_ROWS = (
    "id,created_at,product,text\n"
    "A1,2020-01-05,billing,I was charged a late fee although I paid on the due date.\n"
    "A2,2020-02-05,billing,Another late fee the day after my payment was due.\n"
)


@pytest.mark.parametrize("args", [
    ("ask", "Charge a late fee"),
    ("search", "late fee"),
    ("stats",),
    ("brief", "--channel", "C1", "--dry-run"),
])
def test_reading_commands_refuse_a_database_that_does_not_exist(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    missing = tmp_path / "typo.db"
    result = run_cli(tmp_path, missing, *args, "--db", str(missing))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"error: no database at {missing}: import complaints first (emptychair import FILE), "
        "or pass --db / set EMPTYCHAIR_DB\n")
    assert not missing.exists()


def test_old_data_is_named_stale_by_import_search_and_ask(tmp_path: Path) -> None:
    src = tmp_path / "old.csv"
    src.write_text(OLD_ROWS, encoding="utf-8")
    db = tmp_path / "x.db"
    imported = run_cli(tmp_path, db, "import", str(src), "--no-vectors")
    assert imported.returncode == 0
    assert imported.stdout == "imported 2, duplicates skipped 0, rejected 0\n"
    assert imported.stderr == (
        "warning: 2 of 2 rows are older than the 90-day window the bot answers from (newest "
        "2020-02-05); answers will not use them unless you widen EMPTYCHAIR_WINDOW_DAYS\n")

    found = run_cli(tmp_path, db, "search", "late fee", "--json")
    assert found.returncode == 0 and '"A1"' in found.stdout
    assert found.stderr == (
        "note: the newest complaint stored is from 2020-02-05, older than the 90-day window the "
        "bot answers from; widen it with EMPTYCHAIR_WINDOW_DAYS.\n")

    asked = run_cli(tmp_path, db, "ask", "Charge a late fee the day after the due date")
    assert asked.returncode == 0
    assert ("The newest complaint stored is from 2020-02-05, before this 90-day window"
            in asked.stdout)
    assert "none of the 0 complaints" not in asked.stdout

    wider = run_cli(tmp_path, db, "ask", "Charge a late fee the day after the due date",
                    "--window-days", "5000")
    assert "A1" in wider.stdout or "A2" in wider.stdout


def test_import_returns_searchable_and_the_first_search_builds_the_vectors(
    tmp_path: Path,
) -> None:
    import sqlite3
    from contextlib import closing

    from tests.conftest import SAMPLE_CSV

    db = tmp_path / "x.db"
    imported = run_cli(tmp_path, db, "import", str(SAMPLE_CSV), "--rebase-dates")
    assert imported.returncode == 0, imported.stderr

    def counts() -> tuple[int, int]:
        with closing(sqlite3.connect(db)) as conn:
            return (conn.execute("SELECT count(*) FROM complaints").fetchone()[0],
                    conn.execute("SELECT count(*) FROM complaint_vectors").fetchone()[0])

    assert counts() == (400, 0)  # searchable at once: FTS is built with the rows
    found = run_cli(tmp_path, db, "search", "return window", "--json")
    assert found.returncode == 0 and '"SC-' in found.stdout
    assert counts() == (400, 400)

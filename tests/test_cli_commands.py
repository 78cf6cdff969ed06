"""`emptychair --version`, `doctor`, `show`, `stats --json`, id search and one-line failures."""

from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.cli import Progress
from bot.sandbox.fake_llm import FakeLLMServer
from tests.conftest import SAMPLE_CSV
from tests.test_cli import subprocess_env
from tests.test_slack_app import eventually

ROOT = Path(__file__).resolve().parent.parent
DOCTOR_KEYS = {"ok", "problems", "database", "window", "llm", "slack", "heartbeat", "schedules"}


def run(cwd: Path, db: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The real console program, fresh interpreter, with extra environment variables."""
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args], cwd=cwd, env={**subprocess_env(db), **env},
        capture_output=True, text=True, encoding="utf-8", timeout=120, check=False,
    )


def query(db: Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute(sql, params).fetchall()


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: "), proc.stderr
    return proc.stderr.rstrip("\n")


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("sample")
    db = tmp / "sample.db"
    proc = run(tmp, db, "import", str(SAMPLE_CSV), "--rebase-dates")
    assert proc.returncode == 0, proc.stderr
    return db


@pytest.fixture
def fake_llm() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ----------------------------------------------------------------------------- version, help


def test_version(tmp_path: Path) -> None:
    from bot import __version__

    proc = run(tmp_path, tmp_path / "x.db", "--version")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, f"emptychair {__version__}\n", "")


@pytest.mark.parametrize("command", ["import", "search", "stats", "show", "ask", "brief",
                                     "doctor", "serve", "demo"])
def test_help_never_shows_bool(tmp_path: Path, command: str) -> None:
    proc = run(tmp_path, tmp_path / "x.db", command, "--help", COLUMNS="100")
    assert proc.returncode == 0, proc.stderr
    assert "<bool>" not in proc.stdout
    assert "--help" in proc.stdout


# ------------------------------------------------------------------------------------ doctor


def test_doctor_without_llm(tmp_path: Path, sample: Path) -> None:
    proc = run(tmp_path, sample, "doctor", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert set(report) == DOCTOR_KEYS
    assert report["ok"] is True and report["problems"] == []
    (rows, oldest, newest), = query(sample, "SELECT count(*), min(created_at), max(created_at) "
                                            "FROM complaints")
    since = (datetime.now(UTC) - timedelta(days=90)).strftime("%Y-%m-%dT%H:%M:%SZ")
    in_window = query(sample, "SELECT count(*) FROM complaints WHERE created_at >= ?",
                      (since,))[0][0]
    db = report["database"]
    assert db == {"path": str(sample), "exists": True, "rows": rows,
                  "oldest": datetime.fromisoformat(oldest).isoformat(),
                  "newest": datetime.fromisoformat(newest).isoformat(), "error": None}
    assert report["window"] == {"days": 90, "rows": in_window}
    assert report["llm"]["configured"] is False and report["llm"]["answering"] is None
    assert report["slack"] == {"bot_token": False, "signing_secret": False, "app_token": False,
                               "mode": "http", "api_base_url": "https://slack.com/api/"}
    assert report["schedules"] == {"stored": 0, "cron": 0, "calendar": 0}
    assert report["heartbeat"] is None


def test_doctor_plain_lines(tmp_path: Path, sample: Path) -> None:
    proc = run(tmp_path, sample, "doctor", SLACK_BOT_TOKEN="xoxb-1", SLACK_APP_TOKEN="xapp-1")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    (rows,), = query(sample, "SELECT count(*) FROM complaints")
    assert lines[0] == f"database:  {sample} (exists)"
    assert lines[1].startswith(f"rows:      {rows:,} complaints, ")
    assert re.fullmatch(r"window:    last 90 days, [\d,]+ complaints in it", lines[2])
    assert lines[3] == "LLM:       not configured; the offline writer answers"
    assert lines[4] == ("Slack:     Socket Mode (SLACK_BOT_TOKEN set, SLACK_SIGNING_SECRET "
                        "missing, SLACK_APP_TOKEN set)")
    assert lines[5] == "schedules: 0 stored (0 cron, 0 calendar)"
    assert lines[-1] == "status:    ok"


def test_doctor_with_the_llm_answering(tmp_path: Path, sample: Path,
                                       fake_llm: FakeLLMServer) -> None:
    proc = run(tmp_path, sample, "doctor", "--json", OPENAI_BASE_URL=fake_llm.base_url,
               EMPTYCHAIR_MODEL="doctor-model")
    assert proc.returncode == 0, proc.stderr
    llm = json.loads(proc.stdout)["llm"]
    assert llm == {"configured": True, "answering": True, "model": "doctor-model",
                   "base_url": fake_llm.base_url, "detail": "HTTP 200"}
    assert ("GET", "/v1/models") in [(m, p) for m, p, _ in fake_llm.calls]


def test_doctor_with_the_llm_down_still_ok(tmp_path: Path, sample: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    proc = run(tmp_path, sample, "doctor", OPENAI_BASE_URL=url)
    assert proc.returncode == 0, proc.stderr
    llm_line = next(line for line in proc.stdout.splitlines() if line.startswith("LLM:"))
    assert llm_line.startswith(f"LLM:       gpt-4o-mini at {url}: not answering (the offline "
                               "writer answers); ")


def test_doctor_missing_database_exits_1_and_creates_nothing(tmp_path: Path) -> None:
    db = tmp_path / "nowhere.db"
    proc = run(tmp_path, db, "doctor", "--json")
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    assert report["ok"] is False
    assert report["database"]["exists"] is False and report["database"]["rows"] is None
    assert report["problems"] == [f"no database at {db} (run `emptychair import FILE` first)"]
    assert not db.exists()


def test_doctor_stale_heartbeat_fails(tmp_path: Path, sample: Path) -> None:
    beat = sample.with_name(sample.name + ".heartbeat")
    beat.write_text(json.dumps({"at": 0, "connected": True, "mode": "socket"}))
    try:
        proc = run(tmp_path, sample, "doctor", "--json", "--skip-llm")
    finally:
        beat.unlink()
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    assert report["heartbeat"]["fresh"] is False
    assert report["problems"] == [
        "the running bot's heartbeat is stale or it is not connected to Slack"]


# ------------------------------------------------------------------------------ show, search


def test_show_plain_and_json(tmp_path: Path, sample: Path) -> None:
    (cid, created, text, theme), = query(
        sample, "SELECT id, created_at, text, theme FROM complaints WHERE id = 'SC-0247'")
    proc = run(tmp_path, sample, "show", "SC-0247")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:3] == ["id:         SC-0247", f"created_at: {created}", f"theme:      {theme}"]
    assert lines[lines.index("text:") + 1:] and " ".join(
        line.strip() for line in lines[lines.index("text:") + 1:]) == " ".join(text.split())

    data = json.loads(run(tmp_path, sample, "show", "SC-0247", "--json").stdout)
    assert set(data) >= {"id", "created_at", "text", "theme", "sub_theme", "channel", "segment",
                         "severity", "source", "source_ref", "url", "attributes", "visible_in"}
    assert (data["id"], data["text"], data["theme"]) == (cid, text, theme)


def test_show_unknown_id_is_one_line(tmp_path: Path, sample: Path) -> None:
    assert one_line_error(run(tmp_path, sample, "show", "SC-9999")) == (
        "error: no complaint with id 'SC-9999'")


def test_search_by_id_returns_that_complaint_first(tmp_path: Path, sample: Path) -> None:
    hits = json.loads(run(tmp_path, sample, "search", "SC-0247", "--json").stdout)
    assert hits[0]["id"] == "SC-0247"
    assert len({h["id"] for h in hits}) == len(hits)
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True)


# ------------------------------------------------------------------------------------- stats


def test_stats_json_matches_sql(tmp_path: Path, sample: Path) -> None:
    proc = run(tmp_path, sample, "stats", "--json", "--days", "28")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert set(data) == {"total", "newest", "days", "weeks"}
    (total, newest), = query(sample, "SELECT count(*), max(created_at) FROM complaints")
    assert data["total"] == total and data["days"] == 28
    assert data["newest"] == datetime.fromisoformat(newest).isoformat()
    assert all(set(w) == {"week", "theme", "complaints"} for w in data["weeks"])
    since = (datetime.now(UTC) - timedelta(days=28)).strftime("%Y-%m-%dT%H:%M:%SZ")
    (recent,), = query(sample, "SELECT count(*) FROM complaints WHERE created_at >= ?", (since,))
    assert sum(w["complaints"] for w in data["weeks"]) == recent


# ------------------------------------------------------------------------------ import, serve


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root can write anywhere")
def test_unwritable_rejects_file_is_a_warning(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    export = folder / "export.csv"
    export.write_text("id,created_at,text\nA-1,2026-11-01T10:00:00Z,The parcel was late.\n"
                      "A-2,not a date,Broken row.\n", encoding="utf-8")
    folder.chmod(0o555)
    try:
        proc = run(tmp_path, tmp_path / "db.db", "import", str(export))
    finally:
        folder.chmod(0o755)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "imported 1, duplicates skipped 0, rejected 1\n"
    assert proc.stderr.startswith("warning: cannot write the rejects report ")
    assert proc.stderr.count("\n") == 1


def test_unwritable_rejects_file_in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                            ) -> None:
    """The same as root would see it: opening the report fails, the import goes on."""
    from bot.importer import run_import
    from bot.store.db import Store

    export = tmp_path / "export.csv"
    export.write_text("id,created_at,text\nA-1,2026-11-01T10:00:00Z,The parcel was late.\n"
                      "A-2,not a date,Broken row.\n", encoding="utf-8")
    real_open = Path.open

    def refuse(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self.name.endswith(".rejects.csv"):
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", refuse)
    store = Store(tmp_path / "db.db")
    try:
        summary = run_import(store, export)
    finally:
        store.close()
    assert (summary.imported, summary.rejected, summary.rejects_path) == (1, 1, None)
    assert summary.rejects_warning.startswith("cannot write the rejects report ")
    assert summary.line() == "imported 1, duplicates skipped 0, rejected 1"


def test_unreadable_export_is_one_line(tmp_path: Path) -> None:
    export = tmp_path / "export.csv"
    export.write_text("id,created_at,text\n", encoding="utf-8")
    export.chmod(0)
    try:
        if os.access(export, os.R_OK):
            pytest.skip("root reads anything")
        assert one_line_error(run(tmp_path, tmp_path / "db.db", "import", str(export))
                              ).startswith("error: cannot read ")
    finally:
        export.chmod(0o644)


def test_serve_with_slack_unreachable_is_one_line(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}/api/"
    proc = run(tmp_path, tmp_path / "db.db", "serve", "--port", "0", SLACK_BOT_TOKEN="xoxb-1",
               SLACK_SIGNING_SECRET="secret", SLACK_API_BASE_URL=url,
               EMPTYCHAIR_LOG_LEVEL="CRITICAL")
    line = one_line_error(proc)
    assert line.startswith(f"error: cannot reach Slack at {url}")


def test_plain_progress_lines_when_not_a_terminal(capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bot.cli.PLAIN_PROGRESS_EVERY", 0.0)
    progress = Progress(tty=False)
    progress.start("importing rows", 12_000)
    progress.update(5_000)
    progress.update(10_000)
    progress.stop()
    assert capsys.readouterr().err.splitlines() == [
        "importing rows: 5,000 of about 12,000", "importing rows: 10,000 of about 12,000"]


def test_no_progress_lines_for_a_quick_import(capsys: pytest.CaptureFixture[str]) -> None:
    progress = Progress(tty=False)
    progress.start("importing rows", 3)
    progress.update(3)
    progress.stop()
    assert capsys.readouterr().err == ""


def test_socket_mode_serve_keeps_a_heartbeat_doctor_reads(tmp_path: Path, sample: Path) -> None:
    """What the container's health check runs in Socket Mode: doctor, on the heartbeat."""
    from bot.sandbox.emulator import SlackEmulator

    beat = sample.with_name(sample.name + ".heartbeat")
    slack = {"SLACK_BOT_TOKEN": "xoxb-sandbox-token", "SLACK_APP_TOKEN": "xapp-1-sandbox",
             "EMPTYCHAIR_LOG_LEVEL": "WARNING"}
    with SlackEmulator() as emulator:
        env = {**subprocess_env(sample), **slack, "SLACK_API_BASE_URL": emulator.base_url}
        proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve"], cwd=tmp_path,
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            assert eventually(lambda: beat.exists() or proc.poll() is not None, timeout=60)
            assert proc.poll() is None, proc.communicate(timeout=30)
            report = json.loads(run(tmp_path, sample, "doctor", "--json", "--skip-llm",
                                    **slack, SLACK_API_BASE_URL=emulator.base_url).stdout)
            assert report["ok"] is True, report["problems"]
            assert report["heartbeat"]["connected"] is True
            assert report["heartbeat"]["mode"] == "socket"
            assert report["slack"]["mode"] == "socket"
        finally:
            proc.kill()
            proc.wait()
            beat.unlink(missing_ok=True)
